"""Cost planning of a study: job keys, token counts, the sampling volume and its price.

:func:`plan_cells` prices cells (cells whose training data is identical share one
fine-tune and cost nothing more) with the design's hyperparameters (its
``n_epochs``) and base model; :func:`build_plan` prices a design's whole grid
(:meth:`Study.plan <dataquality_thresholds.study.Study.plan>`): fine-tunes, domain
and probe sampling, and judge calls (:class:`~._money.CostModel`). Both take the
design and its mixture memo, never the facade.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dataquality_thresholds.study._design import PlannedCell, StudyCell, StudyPlan, StudySpec
from dataquality_thresholds.study._money import Cost, CostModel
from dataquality_thresholds.study._state import Mixtures

__all__ = ["build_plan", "estimate_options", "plan_cells"]


def estimate_options(spec: StudySpec) -> dict[str, Any]:
    """Return the keyword arguments of ``backend.estimate_cost`` under this design.

    The base model and the hyperparameters' ``n_epochs``, where the design sets
    them, so a plan prices the jobs the run will submit.
    """
    options: dict[str, Any] = {}
    if spec.base_model is not None:
        options["base_model"] = spec.base_model
    if spec.hyperparameters.get("n_epochs") is not None:
        options["n_epochs"] = spec.hyperparameters["n_epochs"]
    return options


def plan_cells(
    spec: StudySpec, mixtures: Mixtures, cells: Sequence[StudyCell], seen: set[str]
) -> list[PlannedCell]:
    """Return the mixtures' job keys and costs of ``cells``.

    Parameters
    ----------
    spec : StudySpec
        The design (its backend prices the mixtures).
    mixtures : Mixtures
        The design's mixture memo.
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
    options = estimate_options(spec)
    for cell in cells:
        m = mixtures.mixture(cell)
        key = mixtures.job_key(m)
        if key in seen:
            planned.append(
                PlannedCell(cell=cell, fingerprint=m.fingerprint, job_key=key, tokens=0, usd=0.0)
            )
            continue
        seen.add(key)
        est = spec.backend.estimate_cost(m, **options)
        planned.append(
            PlannedCell(
                cell=cell,
                fingerprint=m.fingerprint,
                job_key=key,
                tokens=int(est.tokens),
                usd=float(est.usd),
                estimate=est,
            )
        )
    return planned


def build_plan(spec: StudySpec, mixtures: Mixtures, costs: CostModel | None = None) -> StudyPlan:
    """Return every fine-tune of the design's grid with its cost, and the sampling and its cost.

    Parameters
    ----------
    spec : StudySpec
        The design to plan.
    mixtures : Mixtures
        The design's mixture memo.
    costs : CostModel, optional
        Prices the measurements (a new one if None).

    Returns
    -------
    StudyPlan
    """
    costs = CostModel(spec) if costs is None else costs
    seen: set[str] = set()
    planned = plan_cells(spec, mixtures, spec.cells(), seen)
    # a model is measured once: each distinct fine-tune on its own domain, the
    # base model on every domain; the probe once per model
    distinct = {p.job_key: p.cell.domain for p in planned}
    base = spec.base_model is not None
    items = sum(len(s.eval_items) for s in spec.domains.values()) if base else 0
    domain_requests = spec.eval_samples * (
        sum(len(spec.domains[d].eval_items) for d in distinct.values()) + items
    )
    n_q = 0 if spec.probe is None else len(spec.probe.questions)
    probe_requests = spec.probe_samples * n_q * (len(distinct) + int(base))
    domain = probe = Cost()
    for d in distinct.values():
        domain += costs.domain(d, tuned=True)
        probe += costs.probe(tuned=True)
    if base:
        for d in spec.domains:
            domain += costs.domain(d, tuned=False)
        probe += costs.probe(tuned=False)
    return StudyPlan(
        cells=tuple(planned),
        n_fine_tunes=len(seen),
        training_tokens=sum(p.tokens for p in planned),
        finetune_usd=sum(p.usd for p in planned),
        n_models=len(seen) + len(spec.domains),
        domain_requests=domain_requests,
        probe_requests=probe_requests,
        judge_calls=domain_requests + 2 * probe_requests,
        budget_usd=spec.budget_usd,
        domain_usd=domain.sampling_usd,
        probe_usd=probe.sampling_usd,
        judge_usd=domain.judge_usd + probe.judge_usd,
        sampling_priced=costs.table is not None,
        notes=tuple(costs.notes),
        price_date=None if costs.table is None else costs.table.date,
        probe_max_tokens=spec.probe_cap,
    )
