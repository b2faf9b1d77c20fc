"""Together AI's prices: training by model size and method, serverless sampling, hosting.

Together bills supervised fine-tuning per million *processed* tokens
(``n_epochs x tokens of the training file``, plus evaluation passes), at a rate
set by the model's size bracket and by LoRA vs full fine-tuning. This module
turns that into the library's :class:`~dataquality_thresholds.backends.PriceTable`
(one price per model name), so :func:`~dataquality_thresholds.backends.estimate_training_cost`
prices a Together job exactly as it prices an OpenAI one.

The numbers are dated (:data:`TOGETHER_PRICE_TABLE_DATE`) and every estimate
records the date it used. They were not checked against a live copy of
together.ai/pricing when this table was written: check them before a paid
study and override them (``TogetherBackend(prices=...)``). A finished job
reports its true price, which replaces the estimate on the job's record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from dataquality_thresholds._util.validators import nonempty_str, nonneg_number
from dataquality_thresholds.backends._pricing import PriceTable
from dataquality_thresholds.errors import ConfigError

__all__ = [
    "MODEL_SIZES_B",
    "SAMPLING_PRICES",
    "TOGETHER_PRICE_TABLE_DATE",
    "TRAINING_BRACKETS",
    "HostingEstimate",
    "model_size_b",
    "together_price_table",
    "training_price",
]

#: When the prices below were written down (not re-checked against the live page since).
TOGETHER_PRICE_TABLE_DATE = "2025-11-01"

#: USD per million processed tokens for supervised fine-tuning, by size bracket:
#: ``(upper bound in billions of parameters, LoRA price, full fine-tuning price)``.
TRAINING_BRACKETS: tuple[tuple[float, float, float], ...] = (
    (16.0, 0.48, 0.54),
    (69.0, 1.50, 1.65),
    (100.0, 2.90, 3.20),
)

#: Parameters (billions) of base models commonly fine-tuned on Together. A model not
#: listed is sized from a ``<n>B`` in its name (``Qwen/Qwen2.5-14B-Instruct`` -> 14).
MODEL_SIZES_B: Mapping[str, float] = MappingProxyType(
    {
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": 8.0,
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference": 70.0,
        "meta-llama/Llama-3.2-3B-Instruct": 3.0,
        "meta-llama/Llama-3.3-70B-Instruct-Reference": 70.0,
        "Qwen/Qwen2.5-7B-Instruct": 7.6,
        "Qwen/Qwen2.5-72B-Instruct": 72.7,
        "Qwen/Qwen3-8B": 8.2,
        "Qwen/Qwen3-32B": 32.8,
        "google/gemma-3-12b-it": 12.0,
        "mistralai/Mistral-7B-Instruct-v0.2": 7.2,
    }
)

#: Serverless sampling of base models, USD per million ``(input, output)`` tokens. A
#: fine-tuned model on a dedicated endpoint is billed by the hour instead.
SAMPLING_PRICES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": (0.18, 0.18),
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo": (0.88, 0.88),
        "meta-llama/Llama-3.3-70B-Instruct-Turbo": (0.88, 0.88),
        "Qwen/Qwen2.5-7B-Instruct-Turbo": (0.30, 0.30),
        "Qwen/Qwen2.5-72B-Instruct-Turbo": (1.20, 1.20),
    }
)

_SIZE_IN_NAME = re.compile(r"(?<![0-9.])(\d+(?:\.\d+)?)[bB](?![a-zA-Z])")


def model_size_b(model: str, sizes: Mapping[str, float] | None = None) -> float:
    """Return a base model's size in billions of parameters.

    Parameters
    ----------
    model : str
        The model name (a ``-Reference`` suffix and a ``:suffix:job`` tail are ignored).
    sizes : mapping, optional
        Overrides of :data:`MODEL_SIZES_B`.

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        Neither the table nor the name gives a size.

    Examples
    --------
    >>> model_size_b("Qwen/Qwen2.5-14B-Instruct")
    14.0
    """
    table = {**MODEL_SIZES_B, **(sizes or {})}
    base = model.split(":")[0]
    if base in table:
        return float(table[base])
    if base.removesuffix("-Reference") in table:
        return float(table[base.removesuffix("-Reference")])
    found = _SIZE_IN_NAME.findall(base.split("/")[-1])
    if found:
        return float(found[-1])
    raise ConfigError(
        f"cannot tell the size of {model!r} (not in MODEL_SIZES_B and no '<n>B' in its "
        "name); pass model_sizes={name: billions} or prices={name: usd_per_million}",
        field="base_model",
    )


def training_price(size_b: float, *, lora: bool) -> float:
    """USD per million processed tokens for a model of ``size_b`` billion parameters.

    Raises
    ------
    ConfigError
        The model is larger than the largest bracket.
    """
    for upper, lora_price, full_price in TRAINING_BRACKETS:
        if size_b <= upper:
            return lora_price if lora else full_price
    raise ConfigError(
        f"no Together training price for a {size_b:g}B model (the table stops at "
        f"{TRAINING_BRACKETS[-1][0]:g}B); pass prices={{model: usd_per_million}}",
        field="base_model",
    )


def together_price_table(
    models: Mapping[str, float] | None = None,
    *,
    lora: bool = True,
    date: str | None = TOGETHER_PRICE_TABLE_DATE,
) -> PriceTable:
    """Return the training :class:`PriceTable` of the known models, LoRA or full.

    Parameters
    ----------
    models : mapping of str to float, optional
        Model name -> size in billions; default :data:`MODEL_SIZES_B`.
    lora : bool
        LoRA (default) or full fine-tuning prices.
    date : str, optional
        The table's date.

    Returns
    -------
    PriceTable
    """
    sizes = MODEL_SIZES_B if models is None else models
    return PriceTable(
        {name: training_price(size, lora=lora) for name, size in sizes.items()}, date=date
    )


@attrs.frozen(kw_only=True)
class HostingEstimate:
    """What serving fine-tuned models on dedicated endpoints is expected to cost.

    Together serves a fine-tuned model from a dedicated endpoint billed by the
    minute while it runs, whether or not it is sampled; this is separate from
    the training cost in :class:`~dataquality_thresholds.backends.CostEstimate`.

    Parameters
    ----------
    n_models : int
        Models to serve.
    hours_per_model : float
        How long each endpoint runs (start-up and idle time included).
    usd_per_hour : float
        The endpoint's hardware price.
    hardware : str
        The hardware id priced (e.g. ``1x_nvidia_h100_80gb_sxm``).
    usd : float
        ``n_models * hours_per_model * usd_per_hour``.
    """

    n_models: int = attrs.field(validator=nonneg_number)
    hours_per_model: float = attrs.field(converter=float, validator=nonneg_number)
    usd_per_hour: float = attrs.field(converter=float, validator=nonneg_number)
    hardware: str = attrs.field(validator=nonempty_str)
    usd: float = attrs.field(converter=float, validator=nonneg_number)
