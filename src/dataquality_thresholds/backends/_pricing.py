"""Fine-tuning prices and OpenAI's default-epochs rule, for cost estimates.

Prices change; this table is dated (:data:`PRICE_TABLE_DATE`) and every
estimate records the date and price it used. Pass your own prices with
``PriceTable({"my-model": 12.5})`` or ``PriceTable.default().with_prices(...)``.
The true cost of a finished job is its ``trained_tokens`` times the price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from dataquality_thresholds.backends._records import CostEstimate
from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.records import Message

__all__ = [
    "MAX_TOKENS_PER_EXAMPLE",
    "PRICE_TABLE_DATE",
    "TRAINING_PRICES",
    "PriceTable",
    "count_mixture_tokens",
    "default_epochs",
    "estimate_training_cost",
]

#: When the prices below were last checked against OpenAI's pricing page.
PRICE_TABLE_DATE = "2025-06-01"

#: USD per million *trained* tokens (tokens x epochs), supervised fine-tuning.
TRAINING_PRICES: Mapping[str, float] = MappingProxyType(
    {
        "gpt-4o-2024-08-06": 25.00,
        "gpt-4o-mini-2024-07-18": 3.00,
        "gpt-4.1-2025-04-14": 25.00,
        "gpt-4.1-mini-2025-04-14": 5.00,
        "gpt-4.1-nano-2025-04-14": 1.50,
        "gpt-3.5-turbo-0125": 8.00,
    }
)

#: Tokens of one training row beyond this are not trained on (nor billed).
MAX_TOKENS_PER_EXAMPLE = 65_536

# OpenAI's documented default-epochs rule targets between these numbers of
# trained examples (examples x epochs), with 3 epochs in between.
_TARGET_EPOCHS = 3
_MIN_TARGET_EXAMPLES = 100
_MAX_TARGET_EXAMPLES = 25_000
_MIN_DEFAULT_EPOCHS = 1
_MAX_DEFAULT_EPOCHS = 25


def default_epochs(n_examples: int) -> int:
    """Epochs OpenAI picks when ``n_epochs`` is ``"auto"``.

    Three epochs, raised for small files so that about 100 examples are
    trained (at most 25 epochs), and lowered for large ones so that about
    25,000 are (at least 1 epoch). Both adjustments round down.

    Parameters
    ----------
    n_examples : int
        Rows in the training file.

    Returns
    -------
    int

    Examples
    --------
    >>> default_epochs(10), default_epochs(100), default_epochs(20_000)
    (10, 3, 1)
    """
    if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 1:
        raise ConfigError(f"n_examples must be an int >= 1, got {n_examples!r}", field="n_examples")
    if n_examples * _TARGET_EPOCHS < _MIN_TARGET_EXAMPLES:
        return min(_MAX_DEFAULT_EPOCHS, _MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * _TARGET_EPOCHS > _MAX_TARGET_EXAMPLES:
        return max(_MIN_DEFAULT_EPOCHS, _MAX_TARGET_EXAMPLES // n_examples)
    return _TARGET_EPOCHS


def _prices(value: Mapping[str, float]) -> Mapping[str, float]:
    out = {}
    for model, price in value.items():
        p = float(price)
        if not p >= 0 or p == float("inf"):
            raise ConfigError(f"price of {model!r} must be a finite number >= 0, got {price!r}")
        out[str(model)] = p
    return MappingProxyType(dict(sorted(out.items())))


@attrs.frozen
class PriceTable:
    """Training prices in USD per million trained tokens, by model.

    A fine-tuned model name (``ft:gpt-4o-2024-08-06:org::id``) and a dated
    snapshot are priced as their base: lookup tries the exact name, the base
    after ``ft:``, then the longest table entry the name starts with.

    Parameters
    ----------
    prices : mapping of str to float
        USD per million tokens.
    date : str, optional
        When the prices were checked (ISO 8601 date).
    """

    prices: Mapping[str, float] = attrs.field(converter=_prices)
    date: str | None = attrs.field(default=None)

    @classmethod
    def default(cls) -> PriceTable:
        """Return the bundled table (:data:`TRAINING_PRICES`, :data:`PRICE_TABLE_DATE`)."""
        return cls(TRAINING_PRICES, date=PRICE_TABLE_DATE)

    def with_prices(self, prices: Mapping[str, float], *, date: str | None = None) -> PriceTable:
        """Return a table with ``prices`` added or replaced."""
        return PriceTable({**self.prices, **prices}, date=date if date is not None else self.date)

    def price(self, model: str) -> float:
        """USD per million trained tokens for ``model``.

        Raises
        ------
        ConfigError
            The model is not in the table; pass ``prices={...}``.
        """
        name = model
        if name.startswith("ft:"):
            name = name.split(":")[1]
        for candidate in (model, name):
            if candidate in self.prices:
                return self.prices[candidate]
        matches = [m for m in self.prices if m.startswith(name) or name.startswith(m)]
        if matches:
            return self.prices[max(matches, key=len)]
        raise ConfigError(
            f"no training price for {model!r} (table dated {self.date}); known: "
            f"{', '.join(self.prices)}. Pass prices={{{model!r}: usd_per_million}}.",
            field="base_model",
        )


def count_mixture_tokens(
    rows: Iterable[Iterable[Message | Mapping[str, Any]]],
    tokenizer: Any = None,
    *,
    max_tokens_per_example: int = MAX_TOKENS_PER_EXAMPLE,
) -> tuple[int, int]:
    """Count billable tokens of training conversations.

    Parameters
    ----------
    rows : iterable of conversations
        Each a sequence of messages.
    tokenizer : Tokenizer, optional
        Defaults to ``o200k_base`` (:func:`dataquality_thresholds.tokens.get_tokenizer`).
    max_tokens_per_example : int
        Tokens of a row beyond this are not billed.

    Returns
    -------
    (tokens, n_examples) : tuple of int
    """
    from dataquality_thresholds.tokens import count_chat_tokens, get_tokenizer

    tok = tokenizer if tokenizer is not None else get_tokenizer()
    total = 0
    n = 0
    for messages in rows:
        total += min(max_tokens_per_example, count_chat_tokens(messages, tok))  # type: ignore[arg-type]
        n += 1
    return total, n


def estimate_training_cost(
    tokens: int,
    n_examples: int,
    *,
    base_model: str,
    n_epochs: int | str | None = None,
    prices: PriceTable | Mapping[str, float] | None = None,
) -> CostEstimate:
    """Price ``tokens`` trained for ``n_epochs`` on ``base_model``.

    Parameters
    ----------
    tokens : int
        Billable tokens in one pass over the file.
    n_examples : int
        Rows in the file (decides the default epochs).
    base_model : str
        The model.
    n_epochs : int, "auto" or None
        Epochs; ``"auto"``/None applies :func:`default_epochs`.
    prices : PriceTable or mapping, optional
        Overrides; a mapping is merged over the default table.

    Returns
    -------
    CostEstimate
    """
    if prices is None:
        table = PriceTable.default()
    elif isinstance(prices, PriceTable):
        table = prices
    else:
        table = PriceTable.default().with_prices(prices, date="user")
    if n_epochs is None or n_epochs == "auto":
        epochs = default_epochs(n_examples)
    elif isinstance(n_epochs, int) and not isinstance(n_epochs, bool) and n_epochs >= 1:
        epochs = n_epochs
    else:
        raise ConfigError(
            f"n_epochs must be an int >= 1 or 'auto', got {n_epochs!r}", field="n_epochs"
        )
    price = table.price(base_model)
    return CostEstimate(
        tokens=tokens,
        epochs=epochs,
        usd=tokens * epochs * price / 1e6,
        base_model=base_model,
        usd_per_million=price,
        price_date=table.date,
        n_examples=n_examples,
    )
