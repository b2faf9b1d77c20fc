"""Running a study's cells: the ledger, submission within the budget, waiting.

:func:`open_ledger` opens ``run_dir``'s ledger and refuses a different study;
:func:`run_cells` records each cell's mixture, submits each distinct job once
(stopping before one that would take the spend over the budget), waits for the
jobs and hands each finished model to the study's measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from dataquality_thresholds.backends import FineTuneJob
from dataquality_thresholds.errors import ConfigError, FineTuneJobError
from dataquality_thresholds.mixing import Mixture
from dataquality_thresholds.study._design import PlannedCell
from dataquality_thresholds.study._ledger import Ledger

if TYPE_CHECKING:
    from dataquality_thresholds.study._study import Study

__all__ = ["open_ledger", "progress_bar", "run_cells", "spent"]


def open_ledger(study: Study) -> Ledger:
    """Open ``study``'s ledger, recording its config or checking it against the recorded one.

    Parameters
    ----------
    study : Study
        The study.

    Returns
    -------
    Ledger

    Raises
    ------
    ConfigError
        ``run_dir`` holds a different study (the library version may differ).
    """
    ledger = Ledger(study.run_dir / "ledger.sqlite")
    config = study.config()
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
                f"{study.run_dir} holds a different study (changed: {', '.join(changed)}); "
                "use a new run_dir, or the same config to resume",
                field="run_dir",
            )
    return ledger


def run_cells(
    study: Study,
    ledger: Ledger,
    planned: list[PlannedCell],
    progress: bool,
    say: Callable[[str], None],
) -> bool:
    """Record, submit, wait for and measure ``planned`` cells.

    Parameters
    ----------
    study : Study
        The study.
    ledger : Ledger
        The open ledger of the run.
    planned : list of PlannedCell
        The cells to run.
    progress : bool
        Show progress bars.
    say : callable
        Receives one line per step.

    Returns
    -------
    bool
        True if the budget stopped it.
    """
    mixtures: dict[str, Mixture] = {}
    for p in planned:
        m = study.mixture(p.cell)
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
    for key in study._bar(keys, progress, "submit"):
        measured = all(
            ledger.get_result(p.cell.key, "domain") is not None
            or ledger.get_result(p.cell.key, "job") is not None
            for p in planned
            if p.job_key == key
        )
        if measured:
            continue
        if ledger.get_job(key) is None and study.budget_usd is not None:
            so_far = study._spent(ledger)
            if so_far + cost_of.get(key, 0.0) > study.budget_usd + 1e-9:
                say(f"budget reached (${so_far:,.2f} spent): not submitting {key}")
                ledger.set_meta("stopped", {"reason": "budget", "spent_usd": so_far})
                stopped = True
                break
        if key in study._jobs and study._jobs[key].done:
            jobs[key] = study._jobs[key]  # shared with a cell measured earlier in this run
            continue
        ledger.mark_submitting(key)
        job = study.backend.submit(
            mixtures[key],
            base_model=study.base_model,
            hyperparameters=study.hyperparameters or None,
            key=key,
        )
        ledger.put_job(job)
        jobs[key] = study._jobs[key] = job
        say(f"submitted {key}: {job.status}")
    for key, job in study._bar(list(jobs.items()), progress, "wait"):
        if not job.done:
            try:
                job = study.backend.wait(job)
            except FineTuneJobError:
                job = study.backend.refresh(job)
            ledger.put_job(job)
            jobs[key] = study._jobs[key] = job
    for p in study._bar(planned, progress, "evaluate"):
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
        study._measure(ledger, p.cell, job.fine_tuned_model)
    return stopped


def spent(ledger: Ledger) -> float:
    """Return the fine-tuning spend so far: each recorded job's cost (actual where known).

    Parameters
    ----------
    ledger : Ledger
        The open ledger of the run.

    Returns
    -------
    float
        US dollars.
    """
    total = 0.0
    for job in ledger.jobs().values():
        if job is not None and job.cost is not None:
            total += float(job.cost.usd)
    return total


def progress_bar(items: Iterable[Any], progress: bool, desc: str) -> Iterator[Any]:
    """Iterate over ``items``, behind a tqdm bar when ``progress`` is set and tqdm imports.

    Parameters
    ----------
    items : iterable
        What to iterate over (read into a list first).
    progress : bool
        Show a bar.
    desc : str
        The bar's label.

    Returns
    -------
    iterator
    """
    seq = list(items)
    if progress and seq:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm comes with datasets
            return iter(seq)
        return iter(tqdm(seq, desc=desc, leave=False))
    return iter(seq)
