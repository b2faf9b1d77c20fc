"""The OpenAI backend: fine-tuning jobs, the chat sampler and its request engine.

The only code in the package that imports ``openai``. :class:`OpenAIBackend` uploads a
mixture, creates the job with its idempotency key in the metadata, polls and maps
failures to typed errors; :class:`OpenAISampler` samples any OpenAI-compatible endpoint
through :class:`ChatSampler` (bounded concurrency, rate limits, retries, cache, Batch API).
OpenAI stops accepting new fine-tuning jobs on 2027-01-06. See ``docs/backends.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.backends.openai._backend import OpenAIBackend
from dataquality_thresholds.backends.openai._client_sampler import OpenAISampler
from dataquality_thresholds.backends.openai._config import DEFAULT_BASE_MODEL
from dataquality_thresholds.backends.openai._engine import ChatSampler
from dataquality_thresholds.backends.openai._winddown import (
    FINE_TUNING_CUTOFF,
    INACTIVE_ORGS_CUTOFF,
    WIND_DOWN_MESSAGE,
    wind_down_message,
    wind_down_notice,
)
from dataquality_thresholds.backends.openai._wire import BatchError, RetryableError, Transport

__all__ = [
    "DEFAULT_BASE_MODEL",
    "FINE_TUNING_CUTOFF",
    "INACTIVE_ORGS_CUTOFF",
    "WIND_DOWN_MESSAGE",
    "BatchError",
    "ChatSampler",
    "OpenAIBackend",
    "OpenAISampler",
    "RetryableError",
    "Transport",
    "wind_down_message",
    "wind_down_notice",
]

publish(__name__, globals(), __all__)
