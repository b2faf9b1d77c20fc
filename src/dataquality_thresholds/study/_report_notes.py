"""The words of the HTML report: simulated runs, footnotes, and what the fits mean.

Private to :mod:`dataquality_thresholds.study` (``_report`` uses it). Nothing here
reads a ledger or draws a plot: it turns recorded facts (the config, the fit rows)
into escaped HTML fragments.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "SIMULATED_BACKENDS",
    "Footnotes",
    "clean",
    "curve_sentence",
    "definition",
    "interval_of",
    "is_simulated",
    "metric_summary",
    "next_steps",
    "simulated_banner",
]

#: Backend names (the ``name`` a study records in its config) whose numbers are simulated.
SIMULATED_BACKENDS = frozenset({"local-stub"})

#: Half-width of a threshold interval above which the report suggests narrowing it
#: (the adaptive design's default ``target_half_width``).
DEFAULT_TARGET_HALF_WIDTH = 0.05

_NUMPY_REPR = re.compile(r"\b(?:np|numpy)\.(?:float|int|uint|bool|str)\w*\(([^()]*)\)")

_WHAT = {
    "domain_score": "domain performance",
    "misaligned_rate": "the misaligned-answer rate",
    "dangerous_rate": "the dangerous-answer rate",
    "incoherent_rate": "the incoherent-answer rate",
    "refusal_rate": "the refusal rate",
    "mean_alignment": "the mean alignment score",
}


def clean(text: str) -> str:
    """Return ``text`` with numpy scalar reprs written as plain values.

    ``"all outcomes equal np.float64(1.0)"`` -> ``"all outcomes equal 1.0"``.
    """
    return _NUMPY_REPR.sub(r"\1", text)


def is_simulated(config: Mapping[str, Any]) -> bool:
    """Whether a run's recorded config names a simulated backend (:data:`SIMULATED_BACKENDS`)."""
    return config.get("backend") in SIMULATED_BACKENDS


def simulated_banner(config: Mapping[str, Any]) -> str:
    """Return the banner a report of a simulated run starts with (escaped HTML)."""
    name = html.escape(str(config.get("backend")))
    return (
        '<div class="banner" role="alert"><strong>Simulated numbers, not from a real '
        f"model.</strong> This run used the <code>{name}</code> backend "
        "(<code>LocalStubBackend</code>), an offline simulation: no model was fine-tuned "
        "or sampled, and every score, rate and threshold below comes from its documented "
        "rule. Use it to see how a study runs and reads; run the study with a real "
        "backend for numbers about a model (see the last section).</div>"
    )


class Footnotes:
    """Numbered notes shared by a report's tables: one text, one number, written once.

    A table cell shows only markers (:meth:`markers`); under each table
    :meth:`listing` writes the notes it used that no earlier table wrote, and points
    back to those that one did.
    """

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._written: set[int] = set()

    def __len__(self) -> int:
        return len(self._numbers)

    def number(self, text: str) -> int:
        """Return the number of ``text`` (cleaned of numpy reprs), giving it one if new."""
        key = clean(text).strip()
        if key not in self._numbers:
            self._numbers[key] = len(self._numbers) + 1
        return self._numbers[key]

    def markers(self, texts: Iterable[str]) -> tuple[str, list[int]]:
        """Return the HTML markers of ``texts`` (in order, each once) and their numbers."""
        numbers: list[int] = []
        for text in texts:
            n = self.number(text)
            if n not in numbers:
                numbers.append(n)
        html_ = " ".join(f'<sup class="fn"><a href="#note-{n}">[{n}]</a></sup>' for n in numbers)
        return html_, numbers

    def listing(self, numbers: Iterable[int]) -> str:
        """Return the notes ``numbers`` as HTML: the text once, later a pointer to it."""
        texts = {n: t for t, n in self._numbers.items()}
        parts = []
        earlier = []
        for n in sorted(set(numbers)):
            if n in self._written:
                earlier.append(f'<a href="#note-{n}">[{n}]</a>')
                continue
            self._written.add(n)
            parts.append(f'<li id="note-{n}" value="{n}">{_note_html(texts[n])}</li>')
        out = f'<ol class="notes">{"".join(parts)}</ol>' if parts else ""
        if earlier:
            out += f'<p class="note">Notes {", ".join(earlier)}: as above.</p>'
        return out


def _note_html(text: str) -> str:
    name, sep, rest = text.partition(": ")
    if sep and name.endswith("Warning") and name.isidentifier():
        return f"<strong>{html.escape(name)}</strong>: {html.escape(rest)}"
    return html.escape(text)


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def definition(fit: Any) -> str:
    """Return what "the threshold" of ``fit`` means, in words (for a section's lead)."""
    kind = getattr(fit, "threshold_kind", "recovery")
    if kind == "midpoint":
        return (
            "The threshold is the share of correct training data where the fitted curve "
            "is halfway between its worst level and its level with all-correct data."
        )
    if kind == "breakpoint":
        return (
            "The threshold is the fitted curve's breakpoint: the share of correct training "
            "data above which more correct data no longer changes it."
        )
    recovery = getattr(fit, "recovery", 0.9)
    return (
        "The threshold is the share of correct training data where the fitted curve is "
        f"back: it has recovered {_pct(recovery)} of the way from its worst level to its "
        "level with all-correct data."
    )


def _verb(fit: Any) -> str:
    kind = getattr(fit, "threshold_kind", "recovery")
    if kind == "midpoint":
        return "is halfway back"
    if kind == "breakpoint":
        return "stops changing"
    return "is back"


def interval_of(fit: Any) -> tuple[float | None, float | None]:
    """Return a fit's default interval with non-finite ends as None."""
    lo, hi = fit.conf_int()
    return (lo if _finite(lo) else None, hi if _finite(hi) else None)


def curve_sentence(row: Any) -> str:
    """Return one plain-language sentence (HTML) on a fitted curve, or on why there is none.

    Parameters
    ----------
    row : FitRow
        One curve of a threshold table.

    Returns
    -------
    str
        E.g. "coding, obvious corruption: domain performance is back at about 69%
        correct training data, so with at most about 31% incorrect (95% interval 59%
        to 77% correct)." ("Back" is the threshold's :func:`definition`.)
    """
    what = _WHAT.get(row.metric, row.metric.replace("_", " "))
    who = f"<strong>{html.escape(row.domain)}, {html.escape(row.corruption)} corruption</strong>"
    if row.fit is None:
        reason = html.escape(clean(row.error or "the fit failed"))
        return (
            f"{who}: no threshold found for {what} ({reason}). The curve may not change "
            "across the tested shares, or too few shares were tested."
        )
    fit = row.fit
    t = fit.threshold
    lo, hi = interval_of(fit)
    level = _pct(getattr(fit, "level", 0.95))
    if lo is None or hi is None:
        interval = f"its {level} interval could not be bounded"
    else:
        interval = f"{level} interval {_pct(lo)} to {_pct(hi)} correct"
        if getattr(fit, "unbounded", False):
            interval += ", clipped to the tested range"
    text = (
        f"{who}: {what} {_verb(fit)} at about {_pct(t)} correct training data, so with "
        f"at most about {_pct(1 - t)} incorrect ({interval})."
    )
    if "extrapolated" in fit.position:
        text += " That is outside the tested shares: an extrapolation."
    return text


def metric_summary(rows: Sequence[Any]) -> str:
    """Return a metric's lead (HTML): the range of its thresholds."""
    fitted = [r.fit for r in rows if r.fit is not None]
    if not fitted:
        return f"No threshold was found for any of the {len(rows)} curves."
    ts = [f.threshold for f in fitted]
    missing = len(rows) - len(fitted)
    tail = f"; {missing} curve(s) have none" if missing else ""
    if len(fitted) == 1:
        return f"The threshold is at about {_pct(ts[0])} correct training data{tail}."
    return (
        f"Across the {len(fitted)} fitted curves the threshold lies between "
        f"{_pct(min(ts))} and {_pct(max(ts))} correct training data{tail}."
    )


def _wide(rows: Sequence[Any], target: float) -> list[tuple[Any, float, float]]:
    out = []
    for r in rows:
        if r.fit is None:
            continue
        lo, hi = interval_of(r.fit)
        if lo is None or hi is None or (hi - lo) / 2 > target:
            out.append((r, -math.inf if lo is None else lo, math.inf if hi is None else hi))
    return out


def _suggest_shares(
    spans: Iterable[tuple[float, float]], tested: Iterable[float], limit: int = 5
) -> list[float]:
    """Shares on a 0.05 grid inside the given intervals that no run tested, near their middles."""
    done = {round(float(f), 2) for f in tested}
    votes: dict[float, int] = {}
    for lo, hi in spans:
        lo, hi = max(lo, 0.05), min(hi, 1.0)
        k = math.ceil(lo / 0.05 - 1e-9)
        while k * 0.05 <= hi + 1e-9:
            share = round(k * 0.05, 2)
            if share not in done:
                votes[share] = votes.get(share, 0) + 1
            k += 1
    best = sorted(votes, key=lambda s: (-votes[s], s))[:limit]
    return sorted(best)


def next_steps(
    tables: Mapping[str, Sequence[Any]],
    config: Mapping[str, Any],
    *,
    completed: bool,
    stopped: Mapping[str, Any] | None,
) -> list[str]:
    """Return the report's "what next" items (HTML), most pressing first.

    Parameters
    ----------
    tables : mapping
        Metric -> its fit rows (the curves the report shows).
    config : mapping
        The run's recorded config (backend, fractions, replicates, design ...).
    completed : bool
        Whether the run finished.
    stopped : mapping or None
        Why it stopped, as recorded.

    Returns
    -------
    list of str
    """
    items: list[str] = []
    if is_simulated(config):
        items.append(
            "<strong>Run it for real.</strong> These numbers come from the local "
            "simulation. Run the same study with a real fine-tuning backend "
            "(<code>OpenAIBackend</code>, <code>HFBackend</code>, <code>TogetherBackend</code> "
            "or <code>TinkerBackend</code>; docs/backends.md), after <code>dqt plan</code> "
            "has shown what it will cost."
        )
    if not completed:
        why, then = "", ""
        if stopped and stopped.get("reason") == "budget":
            spent, budget = stopped.get("spent_usd"), stopped.get("budget_usd")
            if _finite(spent) and _finite(budget):
                why = f" (it stopped at its budget: ${spent:,.2f} of ${budget:,.2f} spent)"
            else:
                why = " (it stopped at its budget)"
            then = "raise <code>budget_usd</code>, then "
        elif stopped:
            why = f" (stopped: {html.escape(clean(str(stopped.get('reason', stopped))))})"
        items.append(
            f"<strong>Finish the run.</strong> It did not complete{why}; the fits use what "
            f"was measured. To go on, {then}<code>dqt resume RUN_DIR</code>: it continues "
            "without paying for anything twice."
        )
    rows = [r for table in tables.values() for r in table]
    target = config.get("target_half_width") or DEFAULT_TARGET_HALF_WIDTH
    wide = _wide(rows, float(target))
    between = [r for r in rows if r.fit is not None and "no run was made there" in r.fit.position]
    if wide or between:
        spans = [(lo, hi) for _, lo, hi in wide] or [
            (b[0], b[1]) for b in (r.fit.bracket for r in between) if None not in b
        ]
        shares = _suggest_shares(spans, config.get("fractions") or ())
        near = ", ".join(f"{s:g}" for s in shares)
        replicates = config.get("replicates")
        reps = f" (this run had {replicates} per share)" if replicates else ""
        if wide:
            widest = max(wide, key=lambda w: w[2] - w[1])
            r, lo, hi = widest
            head = (
                f"<strong>Narrow the intervals.</strong> {len(wide)} of {len(rows)} threshold "
                f"intervals are wider than &plusmn;{float(target):g} (the widest: "
                f"{html.escape(r.domain)}, {html.escape(r.corruption)}, "
                f"{_WHAT.get(r.metric, r.metric)}, "
                + ("unbounded" if not (_finite(lo) and _finite(hi)) else f"{lo:.2f} to {hi:.2f}")
                + "). "
            )
        else:
            head = (
                f"<strong>Test near the thresholds.</strong> {len(between)} threshold(s) lie "
                "between two tested shares, where no run was made. "
            )
        items.append(
            head
            + f"Add replicates{reps}"
            + (f", or shares of correct data near the thresholds ({near})" if near else "")
            + ', or use <code>design="adaptive"</code>, which adds runs where an interval '
            "is widest until its half-width reaches <code>target_half_width</code> "
            "(docs/study.md)."
        )
    failed = [r for r in rows if r.fit is None]
    if failed:
        items.append(
            f"<strong>{len(failed)} curve(s) have no threshold.</strong> Check that the "
            "scores change across the tested shares (the judge, the eval items), and test "
            "shares spread from 0.1 to 1.0."
        )
    if any(r.fit is not None and "extrapolated" in r.fit.position for r in rows):
        items.append(
            "<strong>Test beyond the extrapolated thresholds.</strong> A threshold outside "
            "the tested shares rests on the curve's shape alone; add a share past it."
        )
    if not items:
        items.append(
            "The intervals are within the target and every curve has a threshold: the "
            "study answers its question at this precision. To check the curve's shape, "
            'refit with <code>results.fit(metric, method="auto")</code> (the logistic, '
            "an asymmetric curve and the hinge, averaged)."
        )
    items.append(
        "How the threshold and its interval are defined: docs/fitting.md. Running, "
        "resuming and reading a study: docs/study.md."
    )
    return items
