"""The adaptive design of a study: which runs to add where a threshold is still vague.

After the initial grid, each round (run by :func:`run_rounds
<dataquality_thresholds.study._run.run_rounds>`) takes its cells from
:func:`round_cells`: the choice recorded in the ledger for that round, if any (so a
resumed study replays the same rounds), or else :func:`next_cells`' new runs around
each curve's threshold interval, capped by :func:`within` at ``max_fine_tunes`` and
recorded before they run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

from dataquality_thresholds.study._design import StudyCell, StudySpec
from dataquality_thresholds.study._state import Mixtures, RunState

__all__ = ["next_cells", "round_cells", "within"]


def round_cells(
    spec: StudySpec,
    state: RunState,
    round_no: int,
    done: Sequence[StudyCell],
    seen: set[str],
) -> list[StudyCell]:
    """Return the cells of adaptive round ``round_no``, recording a new choice first.

    Parameters
    ----------
    spec : StudySpec
        The design (``design="adaptive"``).
    state : RunState
        The run (its ledger holds each round's choice).
    round_no : int
        The round, from 1 (the initial grid is round 0).
    done : sequence of StudyCell
        Cells run so far.
    seen : set of str
        Job keys run so far (not modified).

    Returns
    -------
    list of StudyCell
        Empty when no curve needs more runs (or ``max_fine_tunes`` is reached).
    """
    # a round's choice is recorded before it runs, so a resumed study
    # replays the same rounds instead of choosing from later results
    recorded = state.ledger.get_meta(f"adaptive_round_{round_no}")
    if recorded is not None:
        return [StudyCell(**c) for c in recorded]
    new = next_cells(spec, done)
    if spec.max_fine_tunes is not None:
        new = within(state.mixtures, new, seen, spec.max_fine_tunes)
    state.ledger.set_meta(f"adaptive_round_{round_no}", [attrs.asdict(c) for c in new])
    return new


def within(
    mixtures: Mixtures, cells: Sequence[StudyCell], seen: set[str], limit: int
) -> list[StudyCell]:
    """Return the first ``cells`` that fit in ``limit`` distinct fine-tunes.

    Cells that share a job already counted are free.

    Parameters
    ----------
    mixtures : Mixtures
        The design's mixture memo (mixtures and job keys).
    cells : sequence of StudyCell
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
        key = mixtures.job_key(mixtures.mixture(c))
        if key not in keys and len(keys) >= limit:
            break
        keys.add(key)
        out.append(c)
    return out


def next_cells(spec: StudySpec, done: Sequence[StudyCell]) -> list[StudyCell]:
    """Return new runs where each curve's threshold interval is still too wide.

    Parameters
    ----------
    spec : StudySpec
        The design, with results recorded in its ``run_dir``'s ledger.
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
    from dataquality_thresholds.study._results import StudyResults

    table = StudyResults.from_run_dir(spec.run_dir).fit(spec.adaptive_metric)
    lo_f, hi_f = min(spec.fractions), max(spec.fractions)
    new: list[StudyCell] = []
    used: dict[tuple[str, str, float], int] = {}
    for c in done:
        if c.fraction is not None:
            k = (c.domain, c.corruption, round(c.fraction, 4))
            used[k] = max(used.get(k, 0), c.replicate + 1)
    for row in table:
        if row.fit is None:
            targets = list(spec.fractions)
        else:
            lo, hi = row.fit.conf_int()
            if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
                targets = list(spec.fractions)
            elif (hi - lo) / 2 <= spec.target_half_width:
                continue
            else:
                targets = [lo, row.fit.threshold, hi, hi_f]
        # on the mixture's own resolution (a share of correct rows is k / size), so two
        # proposals never make the same training file
        step = max(0.01, 1.0 / spec.size)
        chosen = sorted({round(round(min(hi_f, max(lo_f, t)) / step) * step, 4) for t in targets})
        for f in chosen:
            k = (row.domain, row.corruption, round(f, 4))
            rep = used.get(k, 0)
            used[k] = rep + 1
            new.append(StudyCell(row.domain, row.corruption, f, rep))
    return new
