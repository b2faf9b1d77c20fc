"""OpenAI's fine-tuning wind-down: the dates, and what the library says about them.

OpenAI stops accepting new fine-tuning jobs on 2027-01-06; since 2026-07-02 organisations
without recent fine-tuning activity are refused already (403 on job creation). Existing
fine-tuned models can still be sampled. The open-weight backends keep a study running.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "FINE_TUNING_CUTOFF",
    "INACTIVE_ORGS_CUTOFF",
    "WIND_DOWN_MESSAGE",
    "wind_down_message",
    "wind_down_notice",
]

#: The last day before which OpenAI accepts new fine-tuning jobs.
FINE_TUNING_CUTOFF = dt.date(2027, 1, 6)
#: Since this day organisations without recent fine-tuning activity are refused.
INACTIVE_ORGS_CUTOFF = dt.date(2026, 7, 2)

_ALTERNATIVES = (
    "To keep fine-tuning, use an open-weight backend: HFBackend (your own GPUs), "
    "TinkerBackend or TogetherBackend (hosted LoRA fine-tuning); docs/backends.md compares "
    "them."
)

#: Explanation attached to a 403 on job creation (before the cut-off).
WIND_DOWN_MESSAGE = (
    "OpenAI refused to create the fine-tuning job (403 permission denied). OpenAI is "
    "winding down self-serve fine-tuning: since 2026-07-02 organisations without recent "
    "fine-tuning activity cannot start new jobs, and from 2027-01-06 no one can. Existing "
    "fine-tuned models can still be sampled. " + _ALTERNATIVES
)


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def wind_down_message(today: dt.date | None = None) -> str:
    """Return the explanation for a refused job creation on ``today`` (UTC; default now).

    Parameters
    ----------
    today : datetime.date, optional
        The day of the refusal.

    Returns
    -------
    str
        :data:`WIND_DOWN_MESSAGE` before the cut-off; from 2027-01-06 on, a message
        that says no organisation can start a job any more, with the alternatives.
    """
    day = today or _today()
    if day < FINE_TUNING_CUTOFF:
        return WIND_DOWN_MESSAGE
    return (
        "OpenAI refused to create the fine-tuning job: OpenAI accepts no new fine-tuning "
        f"jobs since {FINE_TUNING_CUTOFF.isoformat()}. Existing fine-tuned models can still "
        "be sampled (OpenAISampler). " + _ALTERNATIVES
    )


def wind_down_notice(today: dt.date | None = None, *, warn_days: int = 60) -> str | None:
    """Return a warning for a plan that fine-tunes on OpenAI, or None when none is due.

    Parameters
    ----------
    today : datetime.date, optional
        The day of planning (UTC; default now).
    warn_days : int
        Warn this many days before the cut-off, and every day after it.

    Returns
    -------
    str or None
    """
    day = today or _today()
    left = (FINE_TUNING_CUTOFF - day).days
    if left > warn_days:
        return None
    if left > 0:
        return (
            f"OpenAI stops accepting new fine-tuning jobs on {FINE_TUNING_CUTOFF.isoformat()} "
            f"({left} day{'s' if left != 1 else ''} from now): jobs not created by then cannot "
            "be, and organisations without recent fine-tuning activity are refused already. "
            + _ALTERNATIVES
        )
    return wind_down_message(day)
