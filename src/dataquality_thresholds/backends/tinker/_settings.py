"""The settings half of :class:`~dataquality_thresholds.backends.tinker.TinkerBackend`.

Constructor checks, the training settings after a submit's hyperparameters
(:meth:`TinkerSettings.settings`) and the training spec a key is adopted by
(:meth:`TinkerSettings.training_spec`). No SDK and no files here.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataquality_thresholds.backends._cache import CompletionCache
from dataquality_thresholds.backends._pricing import PriceTable
from dataquality_thresholds.backends.tinker._prices import tinker_price_table
from dataquality_thresholds.backends.tinker._render import tokenizer_id
from dataquality_thresholds.backends.tinker._service import ApiKey
from dataquality_thresholds.errors import ConfigError

__all__ = ["DEFAULT_BASE_MODEL", "TinkerSettings"]

#: The model fine-tuned when none is named.
DEFAULT_BASE_MODEL = "Qwen/Qwen3-8B"

# hyperparameter name -> (setting, type); OpenAI's n_epochs is accepted as epochs.
_HYPERPARAMETERS: dict[str, tuple[str, type]] = {
    "epochs": ("epochs", int),
    "n_epochs": ("epochs", int),
    "learning_rate": ("learning_rate", float),
    "batch_size": ("batch_size", int),
    "lora_rank": ("lora_rank", int),
    "max_seq_len": ("max_seq_len", int),
}


def _positive(field: str, value: Any, kind: type) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{field} must be a positive number, got {value!r}", field=field)
    if kind is int and (not float(value).is_integer() or value < 1):
        raise ConfigError(f"{field} must be an int >= 1, got {value!r}", field=field)
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{field} must be a positive number, got {value!r}", field=field)
    return int(value) if kind is int else float(value)


class TinkerSettings:
    """Settings of a Tinker backend; see :class:`TinkerBackend` for the parameters."""

    def __init__(
        self,
        base_model: str = DEFAULT_BASE_MODEL,
        *,
        output_dir: str | Path,
        api_key: str | None = None,
        base_url: str | None = None,
        epochs: int = 3,
        learning_rate: float = 1e-4,
        batch_size: int = 8,
        lora_rank: int = 32,
        max_seq_len: int = 2048,
        lr_schedule: str = "linear",
        seed: int = 0,
        save_every: int | None = None,
        tokenizer: str | None = None,
        template_kwargs: Mapping[str, Any] | None = None,
        max_concurrent: int = 4,
        max_restarts: int = 2,
        poll_interval: float = 5.0,
        prices: PriceTable | Mapping[str, float] | None = None,
        sampling_prices: Mapping[str, tuple[float, float]] | None = None,
        cache: CompletionCache | str | Path | None = None,
        python: str | None = None,
    ) -> None:
        if not isinstance(base_model, str) or not base_model.strip():
            raise ConfigError("base_model must be a non-empty string", field="base_model")
        self.base_model = base_model
        self.output_dir = Path(output_dir)
        self._api_key = ApiKey(api_key)
        self.base_url = base_url
        self.epochs = int(_positive("epochs", epochs, int))
        self.learning_rate = float(_positive("learning_rate", learning_rate, float))
        self.batch_size = int(_positive("batch_size", batch_size, int))
        self.lora_rank = int(_positive("lora_rank", lora_rank, int))
        self.max_seq_len = int(_positive("max_seq_len", max_seq_len, int))
        if lr_schedule not in ("linear", "constant"):
            raise ConfigError("lr_schedule must be 'linear' or 'constant'", field="lr_schedule")
        self.lr_schedule = lr_schedule
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed must be an int, got {seed!r}", field="seed")
        self.seed = seed
        self.save_every = None if save_every is None else int(
            _positive("save_every", save_every, int)
        )  # fmt: skip
        self.tokenizer_name = tokenizer
        self.template_kwargs = dict(template_kwargs or {})
        self.max_concurrent = int(_positive("max_concurrent", max_concurrent, int))
        self.max_restarts = int(max_restarts)
        self.poll_interval = float(_positive("poll_interval", poll_interval, float))
        #: Training and sampling prices (the dated Tinker table with the overrides).
        self.price_table = tinker_price_table(prices, sampling_prices)
        self.cache = cache
        self.python = python or sys.executable
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._tokenizer: Any = None
        self._sampler: Any = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.base_model!r}, lora_rank={self.lora_rank}, "
            f"epochs={self.epochs}, output_dir={str(self.output_dir)!r}, api_key={self._api_key!r})"
        )

    def __reduce__(self) -> Any:
        raise TypeError(
            "a TinkerBackend holds an API key and is not pickled; build it again in the new process"
        )

    def settings(self, hyperparameters: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return the training settings after ``hyperparameters``.

        Raises
        ------
        ConfigError
            An unknown hyperparameter or a bad value (``"auto"`` included: Tinker
            has no automatic choice).
        """
        out: dict[str, Any] = {
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            "lora_rank": self.lora_rank,
            "max_seq_len": self.max_seq_len,
        }
        for name, value in (hyperparameters or {}).items():
            if name not in _HYPERPARAMETERS:
                raise ConfigError(
                    f"unknown Tinker hyperparameter {name!r}; known: "
                    f"{', '.join(sorted(_HYPERPARAMETERS))}",
                    field="hyperparameters",
                )
            setting, kind = _HYPERPARAMETERS[name]
            out[setting] = _positive(name, value, kind)
        return out

    def training_spec(self, fingerprint: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Return what determines a job's weights (``SPEC_FIELDS``): the adoption check."""
        return {
            "base_model": self.base_model,
            "fingerprint": fingerprint,
            "tokenizer": tokenizer_id(self.base_model, self.tokenizer_name),
            "template_kwargs": dict(sorted(self.template_kwargs.items())),
            "epochs": int(settings["epochs"]),
            "batch_size": int(settings["batch_size"]),
            "learning_rate": float(settings["learning_rate"]),
            "lr_schedule": self.lr_schedule,
            "lora_rank": int(settings["lora_rank"]),
            "max_seq_len": int(settings["max_seq_len"]),
            "seed": self.seed,
        }
