"""The OpenAI backend: fine-tuning jobs, the chat sampler and its request engine.

The only code in the package that imports ``openai`` (loaded with :class:`OpenAIBackend`
or :class:`OpenAISampler`, on first use). :class:`OpenAIBackend` uploads a
mixture, creates the job with its idempotency key in the metadata, polls and maps
failures to typed errors; :class:`OpenAISampler` samples any OpenAI-compatible endpoint
through :class:`ChatSampler` (bounded concurrency, rate limits, retries, cache, Batch API).
:func:`check_hyperparameters` is the rule for the hyperparameters a job accepts
(:data:`HP_NAMES`), which study configs check too. OpenAI stops accepting new
fine-tuning jobs on 2027-01-06. See ``docs/backends.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataquality_thresholds._util.faces import lazy, publish
from dataquality_thresholds.backends.openai._config import DEFAULT_BASE_MODEL
from dataquality_thresholds.backends.openai._engine import ChatSampler
from dataquality_thresholds.backends.openai._jobs import HP_NAMES, check_hyperparameters
from dataquality_thresholds.backends.openai._winddown import (
    FINE_TUNING_CUTOFF,
    INACTIVE_ORGS_CUTOFF,
    WIND_DOWN_MESSAGE,
    wind_down_message,
    wind_down_notice,
)
from dataquality_thresholds.backends.openai._wire import BatchError, RetryableError, Transport

if TYPE_CHECKING:
    from dataquality_thresholds.backends.openai._backend import OpenAIBackend as OpenAIBackend
    from dataquality_thresholds.backends.openai._client_sampler import (
        OpenAISampler as OpenAISampler,
    )

__all__ = [
    "DEFAULT_BASE_MODEL",
    "FINE_TUNING_CUTOFF",
    "HP_NAMES",
    "INACTIVE_ORGS_CUTOFF",
    "WIND_DOWN_MESSAGE",
    "BatchError",
    "ChatSampler",
    "OpenAIBackend",
    "OpenAISampler",
    "RetryableError",
    "Transport",
    "check_hyperparameters",
    "wind_down_message",
    "wind_down_notice",
]

publish(__name__, globals(), __all__)

#: The names whose modules import ``openai``, loaded on first use: importing this face
#: (for the hyperparameter rule, the wind-down dates) stays cheap.
_LAZY = {"OpenAIBackend": "._backend", "OpenAISampler": "._client_sampler"}
__getattr__, __dir__ = lazy(__name__, _LAZY, globals())
