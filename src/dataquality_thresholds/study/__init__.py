"""The study: plan, run, resume and report a sweep from mixtures to thresholds.

:class:`Study` declares the grid (domains x corruptions x correct shares x replicates),
plans it with a cost estimate, runs it with every step in a SQLite :class:`Ledger`,
resumes without paying twice and stops at a budget; :class:`StudyResults` gives tidy
rows, threshold fits (:class:`ThresholdTable`), plots and an HTML report.
:class:`StudySpec` is the frozen design record a :class:`Study` is a facade over.
One process writes a run directory at a time (:class:`RunLock`);
:func:`run_status` reads where one stands (jobs, :class:`Spend`, budget left,
the lock's holder) without disturbing it.
See ``docs/study.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.study._design import (
    PROBE_MAX_TOKENS,
    DomainSpec,
    PlannedCell,
    StudyCell,
    StudyPlan,
    StudySpec,
)
from dataquality_thresholds.study._ledger import Ledger
from dataquality_thresholds.study._lock import LockHolder, RunLock, lock_holder
from dataquality_thresholds.study._money import Spend
from dataquality_thresholds.study._report import write_report
from dataquality_thresholds.study._results import FitRow, StudyResults, ThresholdTable
from dataquality_thresholds.study._status import RunningJob, RunStatus, run_status
from dataquality_thresholds.study._study import Study

__all__ = [
    "PROBE_MAX_TOKENS",
    "DomainSpec",
    "FitRow",
    "Ledger",
    "LockHolder",
    "PlannedCell",
    "RunLock",
    "RunStatus",
    "RunningJob",
    "Spend",
    "Study",
    "StudyCell",
    "StudyPlan",
    "StudyResults",
    "StudySpec",
    "ThresholdTable",
    "lock_holder",
    "run_status",
    "write_report",
]

publish(__name__, globals(), __all__)
