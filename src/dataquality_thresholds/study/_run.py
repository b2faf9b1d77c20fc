"""Running a study: the ledger, submission within the budget, waiting, the rounds.

:func:`run_study` runs (or resumes) a whole design
(:meth:`Study.run <dataquality_thresholds.study.Study.run>`): it checks the plan
against the budget, opens the ledger with :func:`open_ledger` (which refuses a
different study), measures the base model, runs the grid's cells with
:func:`run_cells` and, for the adaptive design, the rounds with :func:`run_rounds`.
:func:`run_cells` records each cell's mixture, submits each distinct job once
(stopping before one that would take the spend over the budget), waits for the jobs
and measures each finished model. Every function takes the design
(:class:`StudySpec`) and the run's state (:class:`RunState`), never the facade.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dataquality_thresholds.backends import FineTuneJob
from dataquality_thresholds.errors import BudgetExceededError, ConfigError, FineTuneJobError
from dataquality_thresholds.mixing import Mixture
from dataquality_thresholds.study._adaptive import round_cells
from dataquality_thresholds.study._design import BASE, PlannedCell, StudyCell, StudyPlan, StudySpec
from dataquality_thresholds.study._ledger import Ledger
from dataquality_thresholds.study._measure import index_measurements, measure
from dataquality_thresholds.study._plan import build_plan, plan_cells
from dataquality_thresholds.study._state import Mixtures, RunState

if TYPE_CHECKING:
    from dataquality_thresholds.study._results import StudyResults

__all__ = ["open_ledger", "run_cells", "run_rounds", "run_study"]


def run_study(
    spec: StudySpec,
    mixtures: Mixtures | None = None,
    *,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    jobs: dict[str, FineTuneJob] | None = None,
) -> StudyResults:
    """Run (or resume) the study a design describes and return its results.

    Parameters
    ----------
    spec : StudySpec
        The design.
    mixtures : Mixtures, optional
        The design's mixture memo (one a plan already filled); a new one if None.
    progress : bool
        Show progress bars (tqdm) on the long steps.
    log : callable, optional
        Receives one line per step (for the CLI).
    jobs : dict of str to FineTuneJob, optional
        Jobs this process already submitted or adopted, by key; updated in place.

    Returns
    -------
    StudyResults

    Raises
    ------
    BudgetExceededError
        The plan costs more than ``budget_usd`` (nothing was submitted).
    ConfigError
        ``run_dir`` holds a different study, or ``mixtures`` belongs to another design.
    """
    from dataquality_thresholds.study._results import StudyResults

    if mixtures is None:
        mixtures = Mixtures(spec)
    elif mixtures.spec is not spec:
        raise ConfigError("mixtures were built for another design", field="mixtures")
    plan = build_plan(spec, mixtures)
    if spec.budget_usd is not None and plan.total_usd > spec.budget_usd + 1e-9:
        raise BudgetExceededError(
            f"the plan's estimated cost ${plan.total_usd:,.2f} exceeds the budget "
            f"${spec.budget_usd:,.2f}; lower the grid or raise budget_usd",
            planned_usd=plan.total_usd,
            budget_usd=spec.budget_usd,
        )
    with open_ledger(spec) as ledger:
        # one sampler per run (its cache and connections are shared)
        state = RunState(
            ledger, mixtures, sampler=spec.backend.sampler, progress=progress, log=log, jobs=jobs
        )
        index_measurements(state)
        # the base model, as the reference row of every domain
        if spec.base_model is not None:
            for domain in state.bar(spec.domains, "base model"):
                measure(spec, state, StudyCell(domain, BASE, None, 0), spec.base_model)
        stopped = run_cells(spec, state, list(plan.cells))
        if spec.design == "adaptive" and not stopped:
            stopped = run_rounds(spec, state, plan)
        if not stopped:
            ledger.set_meta("completed", True)
    return StudyResults.from_run_dir(spec.run_dir)


def open_ledger(spec: StudySpec) -> Ledger:
    """Open the design's ledger, recording its config or checking it against the recorded one.

    Parameters
    ----------
    spec : StudySpec
        The design (its ``run_dir`` and :meth:`~StudySpec.config`).

    Returns
    -------
    Ledger

    Raises
    ------
    ConfigError
        ``run_dir`` holds a different study (the library version may differ).
    """
    ledger = Ledger(spec.run_dir / "ledger.sqlite")
    config = spec.config()
    recorded = ledger.get_meta("config")
    if recorded is None:
        ledger.set_meta("config", config)
    else:
        mine = {k: v for k, v in config.items() if k != "library_version"}
        theirs = {k: v for k, v in recorded.items() if k != "library_version"}
        if mine != theirs:
            changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            ledger.close()
            raise ConfigError(
                f"{spec.run_dir} holds a different study (changed: {', '.join(changed)}); "
                "use a new run_dir, or the same config to resume",
                field="run_dir",
            )
    return ledger


def run_rounds(spec: StudySpec, state: RunState, plan: StudyPlan) -> bool:
    """Run the adaptive rounds that follow ``plan``'s initial grid.

    Parameters
    ----------
    spec : StudySpec
        The design (``design="adaptive"``), its initial grid already run.
    state : RunState
        The run.
    plan : StudyPlan
        The initial grid's plan.

    Returns
    -------
    bool
        True if the budget stopped the study.
    """
    stopped = False
    seen = {p.job_key for p in plan.cells}
    all_cells = list(plan.cells)
    for round_no in range(1, spec.max_rounds + 1):
        new = round_cells(spec, state, round_no, [p.cell for p in all_cells], seen)
        if not new:
            break
        planned = plan_cells(spec, state.mixtures, new, seen)
        all_cells.extend(planned)
        state.log(f"adaptive round {round_no}: {len(planned)} new runs")
        state.ledger.set_meta("adaptive_rounds", round_no)
        stopped = run_cells(spec, state, planned)
        if stopped:
            break
    return stopped


def run_cells(spec: StudySpec, state: RunState, planned: list[PlannedCell]) -> bool:
    """Record, submit, wait for and measure ``planned`` cells.

    Parameters
    ----------
    spec : StudySpec
        The design.
    state : RunState
        The run (its ledger, jobs, sampler, progress and log).
    planned : list of PlannedCell
        The cells to run.

    Returns
    -------
    bool
        True if the budget stopped it.
    """
    ledger = state.ledger
    mixtures: dict[str, Mixture] = {}
    for p in planned:
        m = state.mixtures.mixture(p.cell)
        mixtures[p.job_key] = m
        ledger.put_mixture(
            p.cell.key,
            fingerprint=p.fingerprint,
            job_key=p.job_key,
            manifest=m.manifest,
            tokens=p.tokens,
            est_usd=p.usd,
        )
    keys = list(dict.fromkeys(p.job_key for p in planned))
    cost_of: dict[str, float] = {}
    for p in planned:
        cost_of[p.job_key] = max(cost_of.get(p.job_key, 0.0), p.usd)
    jobs: dict[str, FineTuneJob] = {}
    stopped = False
    for key in state.bar(keys, "submit"):
        measured = all(
            ledger.get_result(p.cell.key, "domain") is not None
            or ledger.get_result(p.cell.key, "job") is not None
            for p in planned
            if p.job_key == key
        )
        if measured:
            continue
        if ledger.get_job(key) is None and spec.budget_usd is not None:
            so_far = state.spent()
            if so_far + cost_of.get(key, 0.0) > spec.budget_usd + 1e-9:
                state.log(f"budget reached (${so_far:,.2f} spent): not submitting {key}")
                ledger.set_meta("stopped", {"reason": "budget", "spent_usd": so_far})
                stopped = True
                break
        if key in state.jobs and state.jobs[key].done:
            jobs[key] = state.jobs[key]  # shared with a cell measured earlier in this run
            continue
        ledger.mark_submitting(key)
        job = spec.backend.submit(
            mixtures[key],
            base_model=spec.base_model,
            hyperparameters=spec.hyperparameters or None,
            key=key,
        )
        ledger.put_job(job)
        jobs[key] = state.jobs[key] = job
        state.log(f"submitted {key}: {job.status}")
    for key, job in state.bar(list(jobs.items()), "wait"):
        if not job.done:
            try:
                job = spec.backend.wait(job)
            except FineTuneJobError:
                job = spec.backend.refresh(job)
            ledger.put_job(job)
            jobs[key] = state.jobs[key] = job
    for p in state.bar(planned, "evaluate"):
        found = jobs.get(p.job_key)
        if found is None:
            continue  # already measured, or not submitted (budget)
        job = found
        if not job.succeeded:
            ledger.put_result(
                p.cell.key,
                "job",
                {
                    "status": job.status,
                    "error_code": job.error_code,
                    "error_message": job.error_message,
                },
            )
            continue
        assert job.fine_tuned_model is not None
        measure(spec, state, p.cell, job.fine_tuned_model)
    return stopped
