"""The Together AI backend: hosted LoRA (or full) fine-tuning of open-weight models.

:class:`TogetherBackend` uploads a mixture, creates a Together fine-tune whose
``suffix`` carries the idempotency key (Together jobs have no metadata), adopts
an existing job for a key instead of paying twice, polls, and maps refusals and
failures to the library's records and errors. :class:`TogetherSampler` samples
through the library's OpenAI-compatible sampler pointed at Together; fine-tuned
models are served from dedicated endpoints (:class:`DeploymentRequiredError`
until one is named). It speaks Together's REST API through the ``openai``
client the library already depends on: no extra install. See
``docs/backends_together.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.backends.together._backend import TogetherBackend
from dataquality_thresholds.backends.together._jobs import TogetherLoRA
from dataquality_thresholds.backends.together._pricing import (
    MODEL_SIZES_B,
    SAMPLING_PRICES,
    TOGETHER_PRICE_TABLE_DATE,
    TRAINING_BRACKETS,
    HostingEstimate,
    model_size_b,
    together_price_table,
)
from dataquality_thresholds.backends.together._sampler import (
    DEFAULT_BASE_URL,
    DeploymentRequiredError,
    TogetherSampler,
)
from dataquality_thresholds.backends.together._settings import (
    DEFAULT_BASE_MODEL,
    DEFAULT_REJECTION_PATTERN,
)

__all__ = [
    "DEFAULT_BASE_MODEL",
    "DEFAULT_BASE_URL",
    "DEFAULT_REJECTION_PATTERN",
    "MODEL_SIZES_B",
    "SAMPLING_PRICES",
    "TOGETHER_PRICE_TABLE_DATE",
    "TRAINING_BRACKETS",
    "DeploymentRequiredError",
    "HostingEstimate",
    "TogetherBackend",
    "TogetherLoRA",
    "TogetherSampler",
    "model_size_b",
    "together_price_table",
]

publish(__name__, globals(), __all__)
