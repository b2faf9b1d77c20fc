"""Fine-tuning backends, samplers, their records, pricing and the completion cache.

:class:`FineTuneBackend` and :class:`Sampler` are the protocols; :class:`LocalStubBackend`
simulates offline; :class:`OpenAIBackend` (subpackage ``backends.openai``, the only code
that imports ``openai``) and :class:`HFBackend` (``backends.hf``, open-weight LoRA) are
loaded on first use, so ``import dataquality_thresholds.backends`` stays cheap.
See ``docs/backends.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataquality_thresholds._util.faces import lazy, publish
from dataquality_thresholds.backends._base import (
    FineTuneBackend,
    ProgressCallback,
    Prompt,
    Sampler,
    ThreadedSampler,
    normalize_prompt,
    prompt_key,
)
from dataquality_thresholds.backends._cache import CACHE_SCHEMA_VERSION, CompletionCache, cache_key
from dataquality_thresholds.backends._local import (
    AnswerBook,
    BookEntry,
    LocalStubBackend,
    LocalStubSampler,
    MisalignmentCurve,
    StubModel,
)
from dataquality_thresholds.backends._pricing import (
    MAX_TOKENS_PER_EXAMPLE,
    PRICE_TABLE_DATE,
    TRAINING_PRICES,
    PriceTable,
    count_mixture_tokens,
    default_epochs,
    estimate_training_cost,
)
from dataquality_thresholds.backends._records import (
    JOB_STATUSES,
    TERMINAL_STATUSES,
    CostEstimate,
    FineTuneJob,
)

if TYPE_CHECKING:
    from dataquality_thresholds.backends.hf import (
        HFBackend as HFBackend,
        HFOutOfMemoryError as HFOutOfMemoryError,
        HFSampler as HFSampler,
        LoRASpec as LoRASpec,
    )
    from dataquality_thresholds.backends.openai import (
        OpenAIBackend as OpenAIBackend,
        OpenAISampler as OpenAISampler,
    )
    from dataquality_thresholds.backends.tinker import (
        TinkerBackend as TinkerBackend,
        TinkerSampler as TinkerSampler,
    )
    from dataquality_thresholds.backends.together import (
        DeploymentRequiredError as DeploymentRequiredError,
        TogetherBackend as TogetherBackend,
        TogetherSampler as TogetherSampler,
    )

__all__ = [
    "CACHE_SCHEMA_VERSION",
    "JOB_STATUSES",
    "MAX_TOKENS_PER_EXAMPLE",
    "PRICE_TABLE_DATE",
    "TERMINAL_STATUSES",
    "TRAINING_PRICES",
    "AnswerBook",
    "BookEntry",
    "CompletionCache",
    "CostEstimate",
    "DeploymentRequiredError",
    "FineTuneBackend",
    "FineTuneJob",
    "HFBackend",
    "HFOutOfMemoryError",
    "HFSampler",
    "LoRASpec",
    "LocalStubBackend",
    "LocalStubSampler",
    "MisalignmentCurve",
    "OpenAIBackend",
    "OpenAISampler",
    "PriceTable",
    "ProgressCallback",
    "Prompt",
    "Sampler",
    "StubModel",
    "ThreadedSampler",
    "TinkerBackend",
    "TinkerSampler",
    "TogetherBackend",
    "TogetherSampler",
    "cache_key",
    "count_mixture_tokens",
    "default_epochs",
    "estimate_training_cost",
    "normalize_prompt",
    "prompt_key",
]

publish(__name__, globals(), __all__)

#: Names whose modules import heavy dependencies, loaded on first use.
_LAZY = {
    "OpenAIBackend": ".openai",
    "OpenAISampler": ".openai",
    "HFBackend": ".hf",
    "HFOutOfMemoryError": ".hf",
    "HFSampler": ".hf",
    "TinkerBackend": ".tinker",
    "TinkerSampler": ".tinker",
    "DeploymentRequiredError": ".together",
    "TogetherBackend": ".together",
    "TogetherSampler": ".together",
    "LoRASpec": ".hf",
}
__getattr__, __dir__ = lazy(__name__, _LAZY, globals())
