"""Tinker's prices as one :class:`~dataquality_thresholds.backends.PriceTable`.

Tinker bills every token a call processes: a forward/backward pass bills all
tokens of each datum at the *train* rate (prompt tokens included, whatever their
loss weight); a sample bills the prompt at the *prefill* rate and the generated
tokens at the *sample* rate. Sampling a LoRA fine-tune costs what sampling its base
costs. So the table has the train rates as training prices and
``(prefill, sample)`` as the sampling prices of both base and fine-tuned models.

The rates are dated (:data:`TINKER_PRICE_TABLE_DATE`): check them in the Tinker
console before a paid study and override them with
``TinkerBackend(prices=..., sampling_prices=...)`` or a whole ``PriceTable``.
Lookups match a name exactly or by the longest table entry it starts with
(``meta-llama/Llama-3.1-8B-Instruct`` is priced as ``meta-llama/Llama-3.1-8B``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from dataquality_thresholds.backends._pricing import PriceTable

__all__ = [
    "TINKER_PRICE_TABLE_DATE",
    "TINKER_SAMPLING_PRICES",
    "TINKER_TRAINING_PRICES",
    "tinker_price_table",
]

#: The date of Tinker's published rates transcribed below.
TINKER_PRICE_TABLE_DATE = "2026-01-05"

# model: (prefill, sample, train), USD per million tokens.
_RATES: dict[str, tuple[float, float, float]] = {
    "Qwen/Qwen3-4B-Instruct-2507": (0.07, 0.22, 0.22),
    "Qwen/Qwen3-8B": (0.13, 0.40, 0.40),
    "Qwen/Qwen3-30B-A3B": (0.12, 0.30, 0.36),
    "Qwen/Qwen3-VL-30B-A3B-Instruct": (0.18, 0.44, 0.53),
    "Qwen/Qwen3-32B": (0.49, 1.47, 1.47),
    "Qwen/Qwen3-235B-A22B-Instruct-2507": (0.68, 1.70, 2.04),
    "Qwen/Qwen3-VL-235B-A22B-Instruct": (1.02, 2.56, 3.07),
    "meta-llama/Llama-3.2-1B": (0.03, 0.09, 0.09),
    "meta-llama/Llama-3.2-3B": (0.06, 0.18, 0.18),
    "meta-llama/Llama-3.1-8B": (0.13, 0.40, 0.40),
    "meta-llama/Llama-3.1-70B": (1.05, 3.16, 3.16),
    "deepseek-ai/DeepSeek-V3.1": (1.13, 2.81, 3.38),
    "openai/gpt-oss-20b": (0.12, 0.30, 0.36),
    "openai/gpt-oss-120b": (0.18, 0.44, 0.52),
}

#: USD per million *trained* tokens (every token of every datum, each epoch).
TINKER_TRAINING_PRICES: Mapping[str, float] = MappingProxyType({m: r[2] for m, r in _RATES.items()})
#: USD per million (prompt, generated) tokens when sampling, base or fine-tuned.
TINKER_SAMPLING_PRICES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {m: (r[0], r[1]) for m, r in _RATES.items()}
)


def tinker_price_table(
    prices: PriceTable | Mapping[str, float] | None = None,
    sampling_prices: Mapping[str, tuple[float, float]] | None = None,
) -> PriceTable:
    """Return Tinker's price table with overrides.

    Parameters
    ----------
    prices : PriceTable or mapping, optional
        A :class:`PriceTable` replaces the bundled table; a mapping of training
        prices is merged over it (and the table's date becomes ``"user"``).
    sampling_prices : mapping of str to (float, float), optional
        ``(prefill, sample)`` prices merged over the sampling prices of base and
        fine-tuned models (date ``"user"``).

    Returns
    -------
    PriceTable

    Examples
    --------
    >>> table = tinker_price_table()
    >>> table.price("Qwen/Qwen3-8B"), table.sampling_price("Qwen/Qwen3-8B", fine_tuned=True)
    (0.4, (0.13, 0.4))
    >>> tinker_price_table({"Qwen/Qwen3-8B": 0.5}).date
    'user'
    """
    if isinstance(prices, PriceTable):
        table = prices
    else:
        table = PriceTable(
            TINKER_TRAINING_PRICES,
            date=TINKER_PRICE_TABLE_DATE,
            sampling=TINKER_SAMPLING_PRICES,
            fine_tuned_sampling=TINKER_SAMPLING_PRICES,
        )
        if prices:
            table = table.with_prices(prices, date="user")
    if sampling_prices:
        table = table.with_sampling_prices(sampling_prices, date="user")
        table = table.with_sampling_prices(sampling_prices, fine_tuned=True)
    return table
