"""Fine-tuning backends and samplers.

:class:`FineTuneBackend` and :class:`Sampler` are the protocols;
:class:`LocalStubBackend` simulates offline, :class:`OpenAIBackend` talks to
OpenAI (it is the only module that imports ``openai``, lazily).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import FineTuneBackend, JobTimeoutError, Prompt, Sampler, normalize_prompt
from .local import AnswerBook, LocalStubBackend, LocalStubSampler, MisalignmentCurve, StubModel
from .pricing import PRICE_TABLE_DATE, TRAINING_PRICES, PriceTable, default_epochs

if TYPE_CHECKING:
    from ._hf_sampler import HFSampler
    from .hf import HFBackend, HFOutOfMemoryError, LoRASpec
    from .openai import OpenAIBackend, OpenAISampler

__all__ = [
    "PRICE_TABLE_DATE",
    "TRAINING_PRICES",
    "AnswerBook",
    "FineTuneBackend",
    "HFBackend",
    "HFOutOfMemoryError",
    "HFSampler",
    "JobTimeoutError",
    "LoRASpec",
    "LocalStubBackend",
    "LocalStubSampler",
    "MisalignmentCurve",
    "OpenAIBackend",
    "OpenAISampler",
    "PriceTable",
    "Prompt",
    "Sampler",
    "StubModel",
    "default_epochs",
    "normalize_prompt",
]


def __getattr__(name: str) -> Any:
    # OpenAIBackend lives in a module that imports ``openai``; load it on first use
    # so ``import dataquality_thresholds.backends`` stays cheap.
    if name in ("OpenAIBackend", "OpenAISampler"):
        from . import openai as _openai

        return getattr(_openai, name)
    if name in ("HFBackend", "HFOutOfMemoryError", "LoRASpec"):
        from . import hf as _hf

        return getattr(_hf, name)
    if name == "HFSampler":
        from ._hf_sampler import HFSampler

        return HFSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
