"""The adaptive design of a study: rounds of new runs where a threshold is still vague.

After the initial grid, :func:`run_rounds` asks :func:`next_cells` for new runs
around each curve's threshold interval, caps them with :func:`within` at
``max_fine_tunes``, records each round's choice in the ledger before running it
(so a resumed study replays the same rounds) and stops at ``max_rounds``, at the
budget, or when every interval is narrow enough.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from dataquality_thresholds.study._design import StudyCell, StudyPlan

if TYPE_CHECKING:
    from dataquality_thresholds.study._ledger import Ledger
    from dataquality_thresholds.study._study import Study

__all__ = ["next_cells", "run_rounds", "within"]


def run_rounds(
    study: Study,
    ledger: Ledger,
    plan: StudyPlan,
    progress: bool,
    say: Callable[[str], None],
) -> bool:
    """Run the adaptive rounds that follow ``plan``'s initial grid.

    Parameters
    ----------
    study : Study
        The study (``design="adaptive"``), its initial grid already run.
    ledger : Ledger
        The open ledger of the run.
    plan : StudyPlan
        The initial grid's plan.
    progress : bool
        Show progress bars.
    say : callable
        Receives one line per step.

    Returns
    -------
    bool
        True if the budget stopped the study.
    """
    stopped = False
    seen = {p.job_key for p in plan.cells}
    all_cells = list(plan.cells)
    for round_no in range(1, study.max_rounds + 1):
        # a round's choice is recorded before it runs, so a resumed study
        # replays the same rounds instead of choosing from later results
        recorded = ledger.get_meta(f"adaptive_round_{round_no}")
        if recorded is not None:
            new = [StudyCell(**c) for c in recorded]
        else:
            new = study._next_cells([p.cell for p in all_cells])
            if study.max_fine_tunes is not None:
                new = study._within(new, seen, study.max_fine_tunes)
            ledger.set_meta(f"adaptive_round_{round_no}", [attrs.asdict(c) for c in new])
        if not new:
            break
        planned = study._plan_cells(new, seen)
        all_cells.extend(planned)
        say(f"adaptive round {round_no}: {len(planned)} new runs")
        ledger.set_meta("adaptive_rounds", round_no)
        stopped = study._run_cells(ledger, planned, progress, say)
        if stopped:
            break
    return stopped


def within(study: Study, cells: list[StudyCell], seen: set[str], limit: int) -> list[StudyCell]:
    """Return the first ``cells`` that fit in ``limit`` distinct fine-tunes.

    Cells that share a job already counted are free.

    Parameters
    ----------
    study : Study
        The study whose mixtures and job keys are used.
    cells : list of StudyCell
        Proposed cells, in order of preference.
    seen : set of str
        Job keys already counted (not modified).
    limit : int
        Most distinct fine-tunes, ``seen`` included.

    Returns
    -------
    list of StudyCell
    """
    keys = set(seen)
    out = []
    for c in cells:
        key = study.job_key(study.mixture(c))
        if key not in keys and len(keys) >= limit:
            break
        keys.add(key)
        out.append(c)
    return out


def next_cells(study: Study, done: Sequence[StudyCell]) -> list[StudyCell]:
    """Return new runs where each curve's threshold interval is still too wide.

    Parameters
    ----------
    study : Study
        The study, with results recorded in its ledger.
    done : sequence of StudyCell
        Cells run so far (their replicate indices are not reused).

    Returns
    -------
    list of StudyCell

    Notes
    -----
    For every (domain, corruption) whose interval half-width exceeds
    ``target_half_width``, one new run at each end of the interval, one at
    the estimate and one at the ceiling (the largest tested share), rounded
    to the mixtures' resolution (``1 / size``, at least 0.01) within the tested
    range. The recovery threshold solves
    ``mu(T) = floor + q (mu(ceiling) - floor)``, so its variance is driven by
    the curve around ``T`` and (weighted by ``q``) at the ceiling; the floor
    enters with weight ``1 - q`` and keeps its initial runs. A curve that
    cannot be fitted gets one new run at each tested fraction instead.
    """
    results = study.results()
    table = results.fit(study.adaptive_metric)
    lo_f, hi_f = min(study.fractions), max(study.fractions)
    new: list[StudyCell] = []
    used: dict[tuple[str, str, float], int] = {}
    for c in done:
        if c.fraction is not None:
            k = (c.domain, c.corruption, round(c.fraction, 4))
            used[k] = max(used.get(k, 0), c.replicate + 1)
    for row in table:
        if row.fit is None:
            targets = list(study.fractions)
        else:
            lo, hi = row.fit.conf_int()
            if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
                targets = list(study.fractions)
            elif (hi - lo) / 2 <= study.target_half_width:
                continue
            else:
                targets = [lo, row.fit.threshold, hi, hi_f]
        # on the mixture's own resolution (a share of correct rows is k / size), so two
        # proposals never make the same training file
        step = max(0.01, 1.0 / study.size)
        chosen = sorted({round(round(min(hi_f, max(lo_f, t)) / step) * step, 4) for t in targets})
        for f in chosen:
            k = (row.domain, row.corruption, round(f, 4))
            rep = used.get(k, 0)
            used[k] = rep + 1
            new.append(StudyCell(row.domain, row.corruption, f, rep))
    return new
