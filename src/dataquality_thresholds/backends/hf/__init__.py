"""Open-weight fine-tuning with Hugging Face transformers, PEFT and TRL (LoRA by default).

Needs the ``[hf]`` extra. :class:`HFBackend` trains each mixture in a worker process and
:class:`HFSampler` samples the trained adapters locally. See ``docs/backends.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.backends.hf._backend import HFBackend
from dataquality_thresholds.backends.hf._common import (
    SMOLLM2,
    HFOutOfMemoryError,
    smollm2_gguf_path,
)
from dataquality_thresholds.backends.hf._lora import LoRASpec
from dataquality_thresholds.backends.hf._sampler import HFSampler

__all__ = [
    "SMOLLM2",
    "HFBackend",
    "HFOutOfMemoryError",
    "HFSampler",
    "LoRASpec",
    "smollm2_gguf_path",
]

publish(__name__, globals(), __all__)
