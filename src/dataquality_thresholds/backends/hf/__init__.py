"""Open-weight fine-tuning with Hugging Face transformers, PEFT and TRL (LoRA by default).

Needs the ``[hf]`` extra. :class:`HFBackend` trains each mixture in a worker process and
:class:`HFSampler` samples the trained adapters locally; :class:`VLLMSampler` samples them
through vLLM's OpenAI-compatible server (:meth:`HFBackend.serve_command`), loading each
adapter on first use, and :class:`ServedHFBackend` gives a ``Study`` that sampler. See
``docs/backends.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataquality_thresholds._util.faces import lazy, publish
from dataquality_thresholds.backends.hf._backend import HFBackend
from dataquality_thresholds.backends.hf._common import (
    SMOLLM2,
    HFOutOfMemoryError,
    smollm2_gguf_path,
)
from dataquality_thresholds.backends.hf._lora import LoRASpec
from dataquality_thresholds.backends.hf._sampler import HFSampler
from dataquality_thresholds.backends.hf._serve import (
    VLLM_LORA_RANKS,
    AdapterLoadError,
    VLLMAdmin,
    vllm_serve_command,
)

if TYPE_CHECKING:
    from dataquality_thresholds.backends.hf._served import (
        ServedHFBackend as ServedHFBackend,
        VLLMSampler as VLLMSampler,
    )

__all__ = [
    "SMOLLM2",
    "VLLM_LORA_RANKS",
    "AdapterLoadError",
    "HFBackend",
    "HFOutOfMemoryError",
    "HFSampler",
    "LoRASpec",
    "ServedHFBackend",
    "VLLMAdmin",
    "VLLMSampler",
    "smollm2_gguf_path",
    "vllm_serve_command",
]

publish(__name__, globals(), __all__)

#: Names whose module imports ``openai`` (through OpenAISampler), loaded on first use.
_LAZY = {"ServedHFBackend": "._served", "VLLMSampler": "._served"}
__getattr__, __dir__ = lazy(__name__, _LAZY, globals())
