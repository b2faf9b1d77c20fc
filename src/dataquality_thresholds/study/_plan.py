"""Cost planning of a study: job keys, token counts and the sampling volume.

:func:`plan_cells` prices cells (cells whose training data is identical share one
fine-tune and cost nothing more); :func:`build_plan` is
:meth:`Study.plan <dataquality_thresholds.study.Study.plan>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataquality_thresholds.study._design import PlannedCell, StudyCell, StudyPlan

if TYPE_CHECKING:
    from dataquality_thresholds.study._study import Study

__all__ = ["build_plan", "plan_cells"]


def plan_cells(study: Study, cells: Sequence[StudyCell], seen: set[str]) -> list[PlannedCell]:
    """Return the mixtures' job keys and costs of ``cells``.

    Parameters
    ----------
    study : Study
        The study whose mixtures, job keys and backend are used.
    cells : sequence of StudyCell
        The cells to price.
    seen : set of str
        Job keys already planned; they cost nothing more. Updated in place with
        the new keys.

    Returns
    -------
    list of PlannedCell
    """
    planned: list[PlannedCell] = []
    for cell in cells:
        m = study.mixture(cell)
        key = study.job_key(m)
        if key in seen:
            planned.append(
                PlannedCell(cell=cell, fingerprint=m.fingerprint, job_key=key, tokens=0, usd=0.0)
            )
            continue
        seen.add(key)
        est = study.backend.estimate_cost(m)
        planned.append(
            PlannedCell(
                cell=cell,
                fingerprint=m.fingerprint,
                job_key=key,
                tokens=int(est.tokens),
                usd=float(est.usd),
            )
        )
    return planned


def build_plan(study: Study) -> StudyPlan:
    """Return every fine-tune of ``study``'s grid with its cost, and the sampling volume.

    Parameters
    ----------
    study : Study
        The study to plan.

    Returns
    -------
    StudyPlan
    """
    seen: set[str] = set()
    planned = study._plan_cells(study.cells(), seen)
    # a model is measured once: each distinct fine-tune on its own domain, the
    # base model on every domain; the probe once per model
    distinct = {p.job_key: p.cell.domain for p in planned}
    base = study.base_model is not None
    items = sum(len(s.eval_items) for s in study.domains.values()) if base else 0
    domain_requests = study.eval_samples * (
        sum(len(study.domains[d].eval_items) for d in distinct.values()) + items
    )
    n_q = 0 if study.probe is None else len(study.probe.questions)
    probe_requests = study.probe_samples * n_q * (len(distinct) + int(base))
    return StudyPlan(
        cells=tuple(planned),
        n_fine_tunes=len(seen),
        training_tokens=sum(p.tokens for p in planned),
        finetune_usd=sum(p.usd for p in planned),
        n_models=len(seen) + len(study.domains),
        domain_requests=domain_requests,
        probe_requests=probe_requests,
        judge_calls=domain_requests + 2 * probe_requests,
        budget_usd=study.budget_usd,
    )
