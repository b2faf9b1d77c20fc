"""LoRA fine-tuning of open-weight models on Thinking Machines' Tinker.

Needs the ``[tinker]`` extra (the ``tinker`` SDK). :class:`TinkerBackend` drives the
supervised LoRA loop from a worker process, finds a key's runs again through the
service (never training one key twice) and resumes a crashed run from its last
checkpoint; :class:`TinkerSampler` samples the trained weights through the completion
cache. Prices are dated tables (:data:`TINKER_PRICE_TABLE_DATE`). See
``docs/backends_tinker.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.backends.tinker._backend import TinkerBackend
from dataquality_thresholds.backends.tinker._prices import (
    TINKER_PRICE_TABLE_DATE,
    TINKER_SAMPLING_PRICES,
    TINKER_TRAINING_PRICES,
    tinker_price_table,
)
from dataquality_thresholds.backends.tinker._sampler import TinkerSampler
from dataquality_thresholds.backends.tinker._service import TinkerSurvey
from dataquality_thresholds.backends.tinker._settings import DEFAULT_BASE_MODEL

__all__ = [
    "DEFAULT_BASE_MODEL",
    "TINKER_PRICE_TABLE_DATE",
    "TINKER_SAMPLING_PRICES",
    "TINKER_TRAINING_PRICES",
    "TinkerBackend",
    "TinkerSampler",
    "TinkerSurvey",
    "tinker_price_table",
]

publish(__name__, globals(), __all__)
