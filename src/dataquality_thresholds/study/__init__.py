"""The study: plan, run, resume and report a sweep from mixtures to thresholds.

:class:`Study` declares the grid (domains x corruptions x correct shares x replicates),
plans it with a cost estimate, runs it with every step in a SQLite :class:`Ledger`,
resumes without paying twice and stops at a budget; :class:`StudyResults` gives tidy
rows, threshold fits (:class:`ThresholdTable`), plots and an HTML report.
:class:`StudySpec` is the frozen design record a :class:`Study` is a facade over.
See ``docs/study.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.study._design import (
    DomainSpec,
    PlannedCell,
    StudyCell,
    StudyPlan,
    StudySpec,
)
from dataquality_thresholds.study._ledger import Ledger
from dataquality_thresholds.study._report import write_report
from dataquality_thresholds.study._results import FitRow, StudyResults, ThresholdTable
from dataquality_thresholds.study._study import Study

__all__ = [
    "DomainSpec",
    "FitRow",
    "Ledger",
    "PlannedCell",
    "Study",
    "StudyCell",
    "StudyPlan",
    "StudyResults",
    "StudySpec",
    "ThresholdTable",
    "write_report",
]

publish(__name__, globals(), __all__)
