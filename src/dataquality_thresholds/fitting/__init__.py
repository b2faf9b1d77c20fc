"""Fit the share of correct data at which a fine-tuned model recovers.

:class:`ThresholdFitter` turns run-level performance at several shares of correct training
data into a threshold with an interval; :class:`ThresholdFit` is the frozen, JSON-safe
result. The curve models are plain functions usable alone: :func:`logistic4`,
:func:`gompertz4`, :func:`hinge` and :func:`segmented`. See ``docs/fitting.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.fitting._fitter import ThresholdFitter
from dataquality_thresholds.fitting._models import gompertz4, hinge, logistic4, segmented
from dataquality_thresholds.fitting._result import ThresholdFit

__all__ = [
    "ThresholdFit",
    "ThresholdFitter",
    "gompertz4",
    "hinge",
    "logistic4",
    "segmented",
]

publish(__name__, globals(), __all__)
