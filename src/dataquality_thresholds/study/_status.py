"""Where a run directory stands: jobs, spend, what is left, who holds it.

:func:`run_status` reads a run directory without taking its lock or writing
anything (the ledger is opened read-only), so it works beside a running study:
it is what ``dqt status RUN_DIR`` prints (:meth:`RunStatus.summary_lines`) and
what a Ctrl-C message names (:attr:`RunStatus.running`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds.backends import CompletionCache, PriceTable
from dataquality_thresholds.errors import DataError
from dataquality_thresholds.study._design import BASE
from dataquality_thresholds.study._ledger import Ledger
from dataquality_thresholds.study._lock import LockHolder, lock_holder
from dataquality_thresholds.study._money import Spend, job_spend, sampling_spend
from dataquality_thresholds.study._sampling import CACHE_FILE

__all__ = ["RunStatus", "RunningJob", "run_status"]


@attrs.frozen(kw_only=True)
class RunningJob:
    """A job that may still be running (and charging) at the provider.

    Parameters
    ----------
    key : str
        The fine-tuning key.
    cell : str or None
        The first cell it serves (``finance/subtle/f0.2500/r1``).
    status : str
        ``submitting`` (asked, no answer recorded), ``validating``, ``queued`` or ``running``.
    job_id : str or None
        The provider's id, once known.
    """

    key: str
    cell: str | None
    status: str
    job_id: str | None


@attrs.frozen(kw_only=True)
class RunStatus:
    """A run directory's state, read without disturbing a running study.

    Parameters
    ----------
    run_dir : Path
        The run directory.
    completed : bool
        Every cell has every measurement.
    stopped : mapping, optional
        Why the last run stopped early (``reason``, ``spent_usd``, ``next`` ...).
    jobs : mapping of str to int
        Jobs by status (``submitting`` included).
    running : tuple of RunningJob
        Jobs that may still be running at the provider.
    cells : int
        Cells recorded (the base rows aside).
    cells_complete : int
        Of those, cells with every measurement.
    spend : Spend
        Committed spend (jobs actual and estimated, completions bought).
    budget_usd : float, optional
        The study's budget.
    planned_usd : float, optional
        The plan's estimated total, as recorded by the last run.
    holder : LockHolder, optional
        Who holds the run directory now (None: nobody).
    """

    run_dir: Path
    completed: bool
    stopped: Mapping[str, Any] | None
    jobs: Mapping[str, int]
    running: tuple[RunningJob, ...]
    cells: int
    cells_complete: int
    spend: Spend
    budget_usd: float | None
    planned_usd: float | None
    holder: LockHolder | None

    @property
    def left_usd(self) -> float | None:
        """Budget not yet committed (None without a budget)."""
        return None if self.budget_usd is None else self.budget_usd - self.spend.total

    def interrupted_lines(self) -> list[str]:
        """Return what to tell someone who just stopped a run (Ctrl-C): what still runs.

        Jobs at the provider keep training (and charging) after the process stops;
        the lines name them and the two ways on: resume, or cancel them.
        """
        lines = [f"stopped; the ledger in {self.run_dir} is consistent."]
        if self.running:
            lines.append(f"{len(self.running)} job(s) may still be running at the provider:")
            lines += [
                f"  {j.cell or j.key} ({j.job_id or 'no id yet'}): {j.status}" for j in self.running
            ]
        else:
            lines.append("no job is running at the provider.")
        lines.append(f"resume with: dqt resume {self.run_dir}")
        if self.running:
            lines.append(f"or cancel them with: dqt cancel {self.run_dir}")
        return lines

    def summary_lines(self) -> list[str]:
        """Return the status as lines of text (what ``dqt status`` prints)."""
        state = "completed" if self.completed else "not completed"
        if self.stopped:
            state += f"; stopped ({self.stopped.get('reason')}) before {self.stopped.get('next')}"
        lines = [f"{self.run_dir}: {state}"]
        lines.append(
            "lock: " + (f"held by {self.holder.describe()}" if self.holder is not None else "free")
        )
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.jobs.items())) or "none"
        lines.append(f"jobs: {counts}")
        lines.append(f"cells measured: {self.cells_complete}/{self.cells}")
        s = self.spend
        lines.append(
            f"spend: ${s.total:,.4f} committed = ${s.jobs_actual:,.4f} jobs (actual) + "
            f"${s.jobs_estimated:,.4f} jobs (estimated, unfinished) + ${s.sampling:,.4f} sampling"
        )
        if self.planned_usd is not None:
            lines.append(f"plan: ${self.planned_usd:,.4f}")
        if self.budget_usd is not None:
            left = self.left_usd
            assert left is not None
            lines.append(f"budget: ${self.budget_usd:,.2f}, ${left:,.4f} left")
        if s.unpriced:
            lines.append(f"not priced: {', '.join(s.unpriced)}")
        for job in self.running:
            lines.append(
                f"at the provider: {job.cell or job.key} ({job.job_id or 'no id yet'}): "
                f"{job.status}"
            )
        return lines


def run_status(run_dir: str | Path, *, prices: PriceTable | None = None) -> RunStatus:
    """Read a run directory's jobs, spend, progress and lock holder.

    Parameters
    ----------
    run_dir : str or Path
        A study's run directory (it may be running in another process).
    prices : PriceTable, optional
        Prices the completions bought; by default the bundled table, and only when
        the run's backend prices sampling (as its ledger records).

    Returns
    -------
    RunStatus

    Raises
    ------
    DataError
        ``run_dir`` holds no ledger, or its ledger is damaged.
    """
    run_dir = Path(run_dir)
    path = run_dir / "ledger.sqlite"
    if not path.exists():
        raise DataError("no ledger.sqlite: not a study run directory", path=run_dir)
    with Ledger(path, readonly=True) as ledger:
        config = ledger.get_meta("config") or {}
        pricing = ledger.get_meta("pricing") or {}
        plan = ledger.get_meta("plan") or {}
        completed = bool(ledger.get_meta("completed"))
        stopped = ledger.get_meta("stopped")
        rows = ledger.job_rows()
        actual, estimated = job_spend(ledger)
        kinds = ledger.kinds()
        cells = [c for c in ledger.mixtures() if not c.endswith(f"/{BASE}")]
    required = {"domain", "probe"} if config.get("probe") else {"domain"}
    complete = sum(
        1 for c in cells if "job" in kinds.get(c, set()) or required <= kinds.get(c, set())
    )
    counts: dict[str, int] = {}
    running = []
    for row in rows:
        status = row["status"]
        counts[status] = counts.get(status, 0) + 1
        if status in ("submitting", "pending", "validating", "queued", "running"):
            job = row["job"]
            running.append(
                RunningJob(
                    key=row["key"],
                    cell=row["cell"],
                    status=status,
                    job_id=None if job is None else job.job_id,
                )
            )
    sampling, unpriced = 0.0, tuple[str, ...]()
    cache_path = run_dir / CACHE_FILE
    if cache_path.exists():
        table = prices if prices is not None else PriceTable.default()
        try:
            with CompletionCache(cache_path) as cache:
                usage = cache.usage()
        except DataError as exc:
            unpriced = (f"{CACHE_FILE} (unreadable: {exc.reason})",)
        else:
            sampling, unpriced = sampling_spend(
                usage,
                table if pricing.get("sampling", False) else None,
                pricing.get("judges", ()),
            )
    return RunStatus(
        run_dir=run_dir,
        completed=completed,
        stopped=stopped,
        jobs=counts,
        running=tuple(running),
        cells=len(cells),
        cells_complete=complete,
        spend=Spend(
            jobs_actual=actual, jobs_estimated=estimated, sampling=sampling, unpriced=unpriced
        ),
        budget_usd=config.get("budget_usd"),
        planned_usd=plan.get("total_usd"),
        holder=lock_holder(run_dir),
    )
