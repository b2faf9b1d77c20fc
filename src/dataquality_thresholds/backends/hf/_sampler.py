"""HFSampler: generate with a base model plus a LoRA adapter (or a fully fine-tuned model)."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from dataquality_thresholds.backends._base import Prompt, ThreadedSampler, normalize_prompt
from dataquality_thresholds.backends.hf._common import (
    HFOutOfMemoryError,
    load_model,
    load_tokenizer,
    pick_device,
    resolve_model_source,
)
from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.records import Completion

__all__ = ["HFSampler", "SamplerHost"]


class SamplerHost(Protocol):
    """What :class:`HFSampler` needs of its backend (:class:`HFBackend` has it)."""

    @property
    def base_model(self) -> str:
        """The base model's name."""

    @property
    def source(self) -> Mapping[str, Any]:
        """Where the base model loads from."""

    @property
    def cache_dir(self) -> Path:
        """Where dequantised models are cached."""

    @property
    def device(self) -> str | None:
        """The requested device (None: pick one)."""

    @property
    def seed(self) -> int:
        """The default sampling seed."""

    def job_dir(self, job_id: str) -> Path:
        """Return the folder of job ``job_id``."""


class HFSampler(ThreadedSampler):
    """Samples the base model and the fine-tunes of an :class:`HFBackend`.

    The base model is loaded once; LoRA adapters are attached to it by name
    (PEFT ``load_adapter``/``set_adapter``), the base model's own answers come
    with the adapters disabled. A fully fine-tuned model is loaded on its own
    (one at a time).

    Parameters
    ----------
    backend : SamplerHost
        Resolves model names (``ft:<base>:<job_id>``) to saved adapters.
    batch_size : int
        Prompts per ``generate`` call.
    max_tokens : int
        Default cap on new tokens.

    Notes
    -----
    Prompts get the tokenizer's chat template with the generation prompt;
    generation stops at EOS (and the template's end-of-turn token). With
    ``temperature == 0`` decoding is greedy (deterministic); otherwise it samples
    with ``torch.manual_seed(seed)`` set before each batch, so the same seed,
    prompts and ``batch_size`` give the same samples.
    """

    def __init__(
        self, backend: SamplerHost, *, batch_size: int = 16, max_tokens: int = 128
    ) -> None:
        if batch_size < 1 or max_tokens < 1:
            raise ConfigError("batch_size and max_tokens must be >= 1", field="batch_size")
        self.backend = backend
        self.batch_size = int(batch_size)
        self.max_tokens = int(max_tokens)
        self._lock = threading.Lock()
        self._base: Any = None  # the base model, wrapped by PEFT once an adapter is loaded
        self._adapters: set[str] = set()
        self._full: tuple[str, Any] | None = None
        self._tok: Any = None
        self._device: str | None = None

    def __repr__(self) -> str:
        return f"HFSampler(base_model={self.backend.base_model!r}, batch_size={self.batch_size})"

    # ------------------------------------------------------------------ models
    def _tokenizer(self) -> Any:
        if self._tok is None:
            tok = load_tokenizer(self.backend.source, self.backend.cache_dir)
            tok.padding_side = "left"
            self._tok = tok
        return self._tok

    def _load_base(self) -> Any:
        if self._base is None:
            self._device = pick_device(self.backend.device)
            model = load_model(self.backend.source, cache_dir=self.backend.cache_dir)
            self._base = model.to(self._device).eval()
        return self._base

    def _resolve(self, model: str) -> tuple[str, Path | None]:
        """Return ``("base", None)``, ``("lora", dir)`` or ``("full", dir)`` for a model name."""
        if model == self.backend.base_model:
            return "base", None
        path: Path | None = None
        job_id = model.rsplit(":", 1)[-1]
        if model.startswith("ft:") and job_id.startswith("hfjob-"):
            path = self.backend.job_dir(job_id) / "model"
        elif Path(model).is_dir():
            path = Path(model)
        if path is None or not path.is_dir():
            raise ConfigError(
                f"unknown model {model!r}: not the base model {self.backend.base_model!r} "
                "nor a finished job of this backend",
                field="model",
            )
        if (path / "adapter_config.json").is_file():
            return "lora", path
        return "full", path

    def _model_for(self, model: str) -> tuple[Any, Any]:
        """Return (model, context manager) ready to generate as ``model``."""
        import contextlib

        kind, path = self._resolve(model)
        if kind == "full":
            assert path is not None
            if self._full is None or self._full[0] != model:
                self._device = pick_device(self.backend.device)
                src = resolve_model_source(str(path))
                self._full = (model, load_model(src).to(self._device).eval())
            return self._full[1], contextlib.nullcontext()
        base = self._load_base()
        if kind == "base":
            if self._adapters:
                return base, base.disable_adapter()
            return base, contextlib.nullcontext()
        assert path is not None
        name = path.parent.name.replace("-", "_").replace(".", "_")
        if not self._adapters:
            from peft import PeftModel

            self._base = base = PeftModel.from_pretrained(base, str(path), adapter_name=name)
            base.to(self._device).eval()
            self._adapters.add(name)
        elif name not in self._adapters:
            base.load_adapter(str(path), adapter_name=name)
            base.to(self._device).eval()
            self._adapters.add(name)
        base.set_adapter(name)
        return base, contextlib.nullcontext()

    # ------------------------------------------------------------------ sampling
    def complete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Return ``n`` completions per prompt, in prompt order.

        Raises
        ------
        ConfigError
            Unknown model, bad ``n`` / ``temperature``.
        HFOutOfMemoryError
            The device ran out of memory (try a smaller ``batch_size``).
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be an int >= 1, got {n!r}", field="n")
        if not temperature >= 0 or math.isinf(temperature):
            raise ConfigError(f"temperature must be >= 0, got {temperature!r}", field="temperature")
        convs = [normalize_prompt(p) for p in prompts]
        if not convs:
            return []
        with self._lock:
            try:
                return self._complete(model, convs, n, temperature, max_tokens, seed)
            except Exception as exc:
                from dataquality_thresholds.backends.hf._worker import _is_oom

                if isinstance(exc, ConfigError) or not _is_oom(exc):
                    raise

                raise HFOutOfMemoryError(
                    f"out of memory while sampling {model!r} ({exc}); use a smaller "
                    "batch_size or max_tokens",
                    code="out_of_memory",
                ) from exc

    def _complete(
        self,
        model: str,
        convs: list[tuple[Any, ...]],
        n: int,
        temperature: float,
        max_tokens: int | None,
        seed: int | None,
    ) -> list[list[Completion]]:
        import torch

        tok = self._tokenizer()
        net, ctx = self._model_for(model)
        limit = int(max_tokens or self.max_tokens)
        stop_ids = {tok.eos_token_id}
        for special in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
            tid = tok.convert_tokens_to_ids(special) if special in tok.get_vocab() else None
            if isinstance(tid, int):
                stop_ids.add(tid)
        stop_ids.discard(None)
        texts = [
            tok.apply_chat_template(
                [{"role": m.role, "content": m.content} for m in conv],
                tokenize=False,
                add_generation_prompt=True,
            )
            for conv in convs
        ]
        out: list[list[Completion]] = []
        base_seed = self.backend.seed if seed is None else int(seed)
        with ctx, torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                chunk = texts[start : start + self.batch_size]
                enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
                enc = {k: v.to(self._device) for k, v in enc.items()}
                kwargs: dict[str, Any] = {
                    "max_new_tokens": limit,
                    "num_return_sequences": n,
                    "eos_token_id": sorted(stop_ids),
                    "pad_token_id": tok.pad_token_id,
                }
                if temperature > 0:
                    torch.manual_seed(base_seed + start)
                    kwargs.update(do_sample=True, temperature=float(temperature), top_k=0,
                                  top_p=1.0)  # fmt: skip
                else:
                    kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
                gen = net.generate(**enc, **kwargs)
                prompt_len = enc["input_ids"].shape[1]
                new = gen[:, prompt_len:].tolist()
                for i in range(len(chunk)):
                    row = []
                    for j in range(n):
                        ids = new[i * n + j]
                        stopped = False
                        kept = []
                        for t in ids:
                            if t in stop_ids:
                                stopped = True
                                break
                            kept.append(t)
                        row.append(
                            Completion(
                                text=tok.decode(kept, skip_special_tokens=True).strip(),
                                model=model,
                                index=j,
                                finish_reason="stop" if stopped else "length",
                                prompt_tokens=int(enc["attention_mask"][i].sum()),
                                completion_tokens=len(kept),
                            )
                        )
                    out.append(row)
        return out
