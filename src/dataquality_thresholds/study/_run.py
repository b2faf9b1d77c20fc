"""Running a study: the lock, the ledger, submission within the budget, waiting, the rounds.

:func:`run_study` runs (or resumes) a whole design
(:meth:`Study.run <dataquality_thresholds.study.Study.run>`): it checks the plan
against the budget, takes the run directory's lock (:class:`~._lock.RunLock`, one
writer per ``run_dir``), opens the ledger with :func:`open_ledger` (which refuses a
different study) and the completion cache, measures the base model, runs the grid's
cells with :func:`run_cells` and, for the adaptive design, the rounds with
:func:`run_rounds`. :func:`run_cells` records each cell's mixture, submits each
distinct job once, waits for the jobs and measures each finished model until every
cell has every measurement the design asks for. Before each job and each paid
sampling batch the committed spend (jobs' costs, actual or estimated, and the
completions bought) is checked against ``budget_usd``; a step that would cross it
stops the run (``stopped`` in the ledger, not ``completed``). A job that a new run
directory finds already made for its key (by an earlier run in another directory, with
the same seed and cell) is adopted and announced: a ``UserWarning`` and a line of the
run's log naming the job, the cell and where it came from. A run that fails in a fresh
run directory before it committed anything (no job asked for, no measurement or answer
stored: no API key, say) removes what it created, so a failed start leaves nothing
behind. Every function takes the design (:class:`StudySpec`) and the run's state
(:class:`RunState`), never the facade.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from dataquality_thresholds._util.leftovers import missing_dirs, remove_empty_dirs, remove_files
from dataquality_thresholds.backends import CompletionCache, CostEstimate, FineTuneJob
from dataquality_thresholds.errors import BudgetExceededError, ConfigError, FineTuneJobError
from dataquality_thresholds.mixing import Mixture
from dataquality_thresholds.study._adaptive import round_cells
from dataquality_thresholds.study._design import BASE, PlannedCell, StudyCell, StudyPlan, StudySpec
from dataquality_thresholds.study._ledger import Ledger
from dataquality_thresholds.study._lock import LOCK_FILE, LOCK_INFO_FILE, RunLock
from dataquality_thresholds.study._measure import (
    cell_complete,
    index_measurements,
    measure,
    required_kinds,
)
from dataquality_thresholds.study._money import CostModel, judge_models
from dataquality_thresholds.study._plan import build_plan, plan_cells
from dataquality_thresholds.study._sampling import CACHE_FILE, lend_cache, make_sampler
from dataquality_thresholds.study._state import BudgetStop, Mixtures, RunState

if TYPE_CHECKING:
    from dataquality_thresholds.study._results import StudyResults

__all__ = ["LEDGER_FILE", "open_ledger", "run_cells", "run_rounds", "run_study"]

#: The ledger of a run directory.
LEDGER_FILE = "ledger.sqlite"
_SQLITE_SIDES = ("", "-wal", "-shm", "-journal")
#: What a run writes into its directory beside the lock: removed again after a failed start.
_STATE_FILES = tuple(f"{db}{side}" for db in (LEDGER_FILE, CACHE_FILE) for side in _SQLITE_SIDES)


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
    RunLockedError
        Another process is running a study in ``run_dir``.
    DataError
        The ledger or the completion cache is damaged, or ``run_dir`` is read-only or
        vanished (the message names the file and what to do).

    Warns
    -----
    UserWarning
        A job made by an earlier run in another run directory was adopted.

    Notes
    -----
    When the run fails in a run directory that held no ledger, before any job was
    asked for and before any measurement or completion was stored, the files and
    folders it created are removed again (what existed before stays).
    """
    from dataquality_thresholds.study._results import StudyResults

    if mixtures is None:
        mixtures = Mixtures(spec)
    elif mixtures.spec is not spec:
        raise ConfigError("mixtures were built for another design", field="mixtures")
    costs = CostModel(spec)
    plan = build_plan(spec, mixtures, costs)
    if spec.budget_usd is not None and plan.total_usd > spec.budget_usd + 1e-9:
        raise BudgetExceededError(
            f"the plan's estimated cost ${plan.total_usd:,.2f} exceeds the budget "
            f"${spec.budget_usd:,.2f}; lower the grid or raise budget_usd",
            planned_usd=plan.total_usd,
            budget_usd=spec.budget_usd,
        )
    made = missing_dirs(spec.run_dir)
    before = {n for n in (*_STATE_FILES, LOCK_FILE, LOCK_INFO_FILE) if (spec.run_dir / n).exists()}
    discard = [False]  # set when a failed start committed nothing: undo what it made
    try:
        with RunLock(spec.run_dir):
            try:
                _run_locked(spec, mixtures, plan, costs, progress, log, jobs, discard)
            except BaseException:
                if discard[0]:
                    remove_files(spec.run_dir, set(_STATE_FILES) - before)
                raise
    except BaseException:
        if discard[0]:
            remove_files(spec.run_dir, {LOCK_FILE, LOCK_INFO_FILE} - before)
            remove_empty_dirs(made)
        raise
    return StudyResults.from_run_dir(spec.run_dir)


def _run_locked(
    spec: StudySpec,
    mixtures: Mixtures,
    plan: StudyPlan,
    costs: CostModel,
    progress: bool,
    log: Callable[[str], None] | None,
    jobs: dict[str, FineTuneJob] | None,
    discard: list[bool],
) -> None:
    """Run the study with the run directory locked; ``discard[0]`` set on a failed start."""
    fresh = not (spec.run_dir / LEDGER_FILE).exists()
    with open_ledger(spec) as ledger:
        cache = CompletionCache(spec.run_dir / CACHE_FILE)
        cached = len(cache)  # answers a copied-in cache brought along are no commitment
        # one sampler per run (its cache and connections are shared)
        state = RunState(
            ledger,
            mixtures,
            sampler=lambda: make_sampler(spec, cache),
            progress=progress,
            log=log,
            jobs=jobs,
            cache=cache,
            costs=costs,
        )
        try:
            _record_plan(ledger, plan, costs, spec)
            index_measurements(state)
            with lend_cache(spec, cache):
                try:
                    _run_all(spec, state, plan)
                except BudgetStop as stop:
                    ledger.set_meta("stopped", stop.record())
                    state.log(f"stopped: {stop.what} would cross the budget")
                else:
                    if all_complete(spec, ledger):
                        ledger.set_meta("completed", True)
        except BaseException:
            with contextlib.suppress(Exception):  # a damaged file is no fresh start to undo
                bought = len(cache) > cached
                discard[0] = fresh and not (ledger.job_rows() or ledger.kinds() or bought)
            raise
        finally:
            with contextlib.suppress(Exception):
                close = getattr(state._sampler, "close", None)
                if callable(close):
                    close()
            cache.close()


def _run_all(spec: StudySpec, state: RunState, plan: StudyPlan) -> None:
    """Run the base model's rows, the grid and (adaptive) the rounds; BudgetStop stops it."""
    if spec.base_model is not None:
        for domain in state.bar(spec.domains, "base model"):
            measure(spec, state, StudyCell(domain, BASE, None, 0), spec.base_model)
    run_cells(spec, state, list(plan.cells))
    if spec.design == "adaptive":
        run_rounds(spec, state, plan)


def _record_plan(ledger: Ledger, plan: StudyPlan, costs: CostModel, spec: StudySpec) -> None:
    """Write what ``dqt status`` needs beside the jobs: the plan's prices and the pricing."""
    ledger.set_meta("stopped", None)  # a new run starts afresh; a stop is recorded again
    ledger.set_meta(
        "plan",
        {
            "total_usd": plan.total_usd,
            "finetune_usd": plan.finetune_usd,
            "domain_usd": plan.domain_usd,
            "probe_usd": plan.probe_usd,
            "judge_usd": plan.judge_usd,
            "n_fine_tunes": plan.n_fine_tunes,
            "cells": len(plan.cells),
            "price_date": plan.price_date,
        },
    )
    ledger.set_meta(
        "pricing",
        {
            "sampling": costs.table is not None,
            "date": None if costs.table is None else costs.table.date,
            "judges": sorted(judge_models(spec)),
        },
    )


def all_complete(spec: StudySpec, ledger: Ledger) -> bool:
    """Whether every recorded cell (and each domain's base row) has every measurement.

    Parameters
    ----------
    spec : StudySpec
        The design (which measurements it asks for, whether it has a base model).
    ledger : Ledger
        The run's ledger.

    Returns
    -------
    bool
    """
    kinds = ledger.kinds()
    required = required_kinds(spec)
    cells = list(ledger.mixtures())
    if spec.base_model is not None:
        cells += [StudyCell(d, BASE, None, 0).key for d in spec.domains]
    return all(cell_complete(kinds.get(c, set()), required) for c in cells)


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
    ledger = Ledger(spec.run_dir / LEDGER_FILE)
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


def run_rounds(spec: StudySpec, state: RunState, plan: StudyPlan) -> None:
    """Run the adaptive rounds that follow ``plan``'s initial grid.

    Each round's jobs and sampling pass the same budget guard as the grid's.

    Parameters
    ----------
    spec : StudySpec
        The design (``design="adaptive"``), its initial grid already run.
    state : RunState
        The run.
    plan : StudyPlan
        The initial grid's plan.

    Raises
    ------
    BudgetStop
        A round's next job or sampling batch would cross the budget.
    """
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
        run_cells(spec, state, planned)


def _takes(fn: Any, name: str) -> bool:
    """Whether ``fn`` names a keyword parameter ``name`` (``**kwargs`` does not count)."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _announce_adoption(state: RunState, job: FineTuneJob, cell: str, origin: str) -> None:
    """Say (a warning and a log line) that a job made elsewhere is adopted for ``cell``."""
    line = (
        f"adopted job {job.job_id or job.key} for {cell} ({job.status}): {origin}, not by "
        "this run directory; its model is measured here as this cell's (a new seed gives "
        "new fine-tunes)"
    )
    warnings.warn(line, UserWarning, stacklevel=4)
    state.log(line)


def _with_cost(job: FineTuneJob, fallback: CostEstimate | None) -> FineTuneJob:
    """Return the job with a cost: its own, else ``fallback`` (the plan's estimate)."""
    if job.cost is None and fallback is not None:
        return attrs.evolve(job, cost=fallback)
    return job


def run_cells(spec: StudySpec, state: RunState, planned: list[PlannedCell]) -> None:
    """Record, submit, wait for and measure ``planned`` cells.

    Parameters
    ----------
    spec : StudySpec
        The design.
    state : RunState
        The run (its ledger, jobs, sampler, budget guard, progress and log).
    planned : list of PlannedCell
        The cells to run.

    Raises
    ------
    BudgetStop
        The next job (with its measurement) or sampling batch would cross the budget.
    """
    ledger = state.ledger
    mixtures: dict[str, Mixture] = {}
    cells_of: dict[str, list[str]] = {}
    domain_of: dict[str, str] = {}
    estimate_of: dict[str, CostEstimate] = {}
    for p in planned:
        m = state.mixtures.mixture(p.cell)
        mixtures[p.job_key] = m
        cells_of.setdefault(p.job_key, []).append(p.cell.key)
        domain_of.setdefault(p.job_key, p.cell.domain)
        if p.estimate is not None:
            estimate_of.setdefault(p.job_key, p.estimate)
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
    required = required_kinds(spec)
    kinds = ledger.kinds()
    incomplete = {
        p.job_key for p in planned if not cell_complete(kinds.get(p.cell.key, set()), required)
    }
    takes = {name: _takes(spec.backend.submit, name) for name in ("label", "run", "on_adopt")}
    jobs: dict[str, FineTuneJob] = {}
    promised = 0.0  # the measurements of the jobs this call will measure, not yet paid
    for key in state.bar(keys, "submit"):
        if key not in incomplete:
            continue  # every cell of this job has every measurement
        measuring = state.costs.model(domain_of[key]).usd
        cell = cells_of[key][0]
        known, new_here = state.jobs.get(key), ledger.get_job(key) is None
        if new_here and known is not None:  # this process made it for another run directory
            ledger.put_job(known, cells_of[key])
            _announce_adoption(state, known, cell, "made by this process for an earlier run")
            new_here = False
        if known is not None and known.done:
            jobs[key] = known  # shared with a cell measured earlier in this run
            promised += measuring
            continue
        if new_here:
            # a new job: its fine-tune and its measurement must fit the budget beside the
            # measurements already promised (a job already marked or made is committed
            # spend, resumed without asking)
            state.reserve(
                cost_of.get(key, 0.0) + measuring + promised,
                f"fine-tune {cells_of[key][0]}",
            )
        promised += measuring
        ledger.mark_submitting(key, cells_of[key])
        adopted: list[str] = []  # where the backend says a job it found came from
        extra: dict[str, Any] = {"label": cell, "run": spec.run_dir.name}
        extra["on_adopt"] = lambda _job, origin, into=adopted: into.append(origin)
        job = spec.backend.submit(
            mixtures[key],
            base_model=spec.base_model,
            hyperparameters=spec.hyperparameters or None,
            key=key,
            **{name: value for name, value in extra.items() if takes[name]},
        )
        job = _with_cost(job, estimate_of.get(key))
        ledger.put_job(job, cells_of[key])
        jobs[key] = state.jobs[key] = job
        if new_here and adopted:
            _announce_adoption(state, job, cell, adopted[0])
        state.log(f"submitted {cell} ({key}): {job.status}")
    for key, job in state.bar(list(jobs.items()), "wait"):
        if not job.done:
            try:
                done = spec.backend.wait(job)
            except FineTuneJobError:
                done = spec.backend.refresh(job)
            done = _with_cost(done, job.cost)
            ledger.put_job(done, cells_of[key])
            jobs[key] = state.jobs[key] = done
    for p in state.bar(planned, "evaluate"):
        found = jobs.get(p.job_key)
        if found is None or cell_complete(kinds.get(p.cell.key, set()), required):
            continue  # already measured
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


def cancel_jobs(spec: StudySpec, *, log: Callable[[str], None] | None = None) -> list[FineTuneJob]:
    """Cancel the run's jobs that may still be running at the provider, and record them.

    Takes the run directory's lock (a running study must be stopped first). A job
    only marked ``submitting`` (asked, no answer recorded) is looked up by its key.

    Parameters
    ----------
    spec : StudySpec
        The design (its backend cancels; its ``run_dir`` holds the ledger).
    log : callable, optional
        Receives one line per job.

    Returns
    -------
    list of FineTuneJob
        The jobs as they stand after cancelling.

    Raises
    ------
    RunLockedError
        The study is running in another process.
    """
    say = log or (lambda line: None)
    out: list[FineTuneJob] = []
    with RunLock(spec.run_dir), Ledger(spec.run_dir / "ledger.sqlite") as ledger:
        fingerprints = {row["job_key"]: row["fingerprint"] for row in ledger.mixtures().values()}
        for row in ledger.job_rows():
            job = row["job"]
            if job is not None and job.done:
                continue
            if job is None:
                job = FineTuneJob(
                    key=row["key"],
                    backend=spec.backend_name,
                    base_model=spec.base_model or "unknown",
                    fingerprint=fingerprints.get(row["key"], "unknown"),
                    status="pending",
                )
            try:
                done = _with_cost(spec.backend.cancel(job), job.cost)
            except FineTuneJobError as exc:
                say(f"{row['cell'] or row['key']}: cannot cancel ({exc})")
                continue
            if done.job_id is not None or done.done:
                ledger.put_job(done)
            say(f"{row['cell'] or row['key']}: {done.status}")
            out.append(done)
    return out
