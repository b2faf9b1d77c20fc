"""Fine-tuning and sampling prices and OpenAI's default-epochs rule, for cost estimates.

Prices change; this table is dated (:data:`PRICE_TABLE_DATE`) and every
estimate records the date and price it used. Pass your own prices with
``PriceTable({"my-model": 12.5})`` or ``PriceTable.default().with_prices(...)``;
sampling prices with ``with_sampling_prices(...)``. The true cost of a finished
job is its ``trained_tokens`` times the price (:func:`actual_training_cost`).

Sampling is priced per million input and output tokens: a base model at
:data:`SAMPLING_PRICES`, a fine-tuned one (``ft:<base>:...``) at
:data:`FINE_TUNED_SAMPLING_PRICES` of its base.
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
    "FINE_TUNED_SAMPLING_PRICES",
    "MAX_TOKENS_PER_EXAMPLE",
    "PRICE_TABLE_DATE",
    "SAMPLING_PRICES",
    "TRAINING_PRICES",
    "PriceTable",
    "actual_training_cost",
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

#: USD per million (input, output) tokens when sampling a *base* model.
SAMPLING_PRICES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "gpt-4o-2024-08-06": (2.50, 10.00),
        "gpt-4o-mini-2024-07-18": (0.15, 0.60),
        "gpt-4.1-2025-04-14": (2.00, 8.00),
        "gpt-4.1-mini-2025-04-14": (0.40, 1.60),
        "gpt-4.1-nano-2025-04-14": (0.10, 0.40),
        "gpt-3.5-turbo-0125": (0.50, 1.50),
    }
)

#: USD per million (input, output) tokens when sampling a model *fine-tuned* from the
#: named base (``ft:<base>:org::id``); fine-tuned models cost more to sample.
FINE_TUNED_SAMPLING_PRICES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "gpt-4o-2024-08-06": (3.75, 15.00),
        "gpt-4o-mini-2024-07-18": (0.30, 1.20),
        "gpt-4.1-2025-04-14": (3.00, 12.00),
        "gpt-4.1-mini-2025-04-14": (0.80, 3.20),
        "gpt-4.1-nano-2025-04-14": (0.20, 0.80),
        "gpt-3.5-turbo-0125": (3.00, 6.00),
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


def _pair_prices(value: Mapping[str, Any]) -> Mapping[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for model, pair in value.items():
        try:
            inp, outp = (float(p) for p in pair)
        except (TypeError, ValueError):
            raise ConfigError(
                f"sampling price of {model!r} must be (input, output) USD per million, "
                f"got {pair!r}",
                field="sampling_prices",
            ) from None
        for p in (inp, outp):
            if not p >= 0 or p == float("inf"):
                raise ConfigError(
                    f"sampling price of {model!r} must be finite numbers >= 0, got {pair!r}",
                    field="sampling_prices",
                )
        out[str(model)] = (inp, outp)
    return MappingProxyType(dict(sorted(out.items())))


def _base_name(model: str) -> str:
    """Return the base of a fine-tuned name (``ft:<base>:org::id`` -> ``<base>``)."""
    return model.split(":")[1] if model.startswith("ft:") and ":" in model[3:] else model


def _lookup(table: Mapping[str, Any], model: str) -> Any:
    name = _base_name(model)
    for candidate in (model, name):
        if candidate in table:
            return table[candidate]
    matches = [m for m in table if m.startswith(name) or name.startswith(m)]
    if matches:
        return table[max(matches, key=len)]
    return None


@attrs.frozen
class PriceTable:
    """Training and sampling prices in USD per million tokens, by model.

    A fine-tuned model name (``ft:gpt-4o-2024-08-06:org::id``) and a dated
    snapshot are priced as their base: lookup tries the exact name, the base
    after ``ft:``, then the longest table entry the name starts with.

    Parameters
    ----------
    prices : mapping of str to float
        Training: USD per million trained tokens (tokens x epochs).
    date : str, optional
        When the prices were checked (ISO 8601 date).
    sampling : mapping of str to (float, float), optional
        Sampling a base model: USD per million (input, output) tokens. Defaults
        to :data:`SAMPLING_PRICES`.
    fine_tuned_sampling : mapping of str to (float, float), optional
        Sampling a model fine-tuned from the named base. Defaults to
        :data:`FINE_TUNED_SAMPLING_PRICES`.
    """

    prices: Mapping[str, float] = attrs.field(converter=_prices)
    date: str | None = attrs.field(default=None)
    sampling: Mapping[str, tuple[float, float]] = attrs.field(
        default=SAMPLING_PRICES, converter=_pair_prices
    )
    fine_tuned_sampling: Mapping[str, tuple[float, float]] = attrs.field(
        default=FINE_TUNED_SAMPLING_PRICES, converter=_pair_prices
    )

    @classmethod
    def default(cls) -> PriceTable:
        """Return the bundled table (:data:`TRAINING_PRICES`, :data:`PRICE_TABLE_DATE`)."""
        return cls(TRAINING_PRICES, date=PRICE_TABLE_DATE)

    @classmethod
    def of(cls, prices: PriceTable | Mapping[str, float] | None) -> PriceTable:
        """Return ``prices`` as a table.

        None is the default table, a mapping of training prices is merged over it
        (dated ``"user"``), a table is kept.
        """
        if prices is None:
            return cls.default()
        if isinstance(prices, PriceTable):
            return prices
        return cls.default().with_prices(prices, date="user")

    def with_prices(self, prices: Mapping[str, float], *, date: str | None = None) -> PriceTable:
        """Return a table with training ``prices`` added or replaced."""
        return attrs.evolve(
            self, prices={**self.prices, **prices}, date=date if date is not None else self.date
        )

    def with_sampling_prices(
        self,
        prices: Mapping[str, tuple[float, float]],
        *,
        fine_tuned: bool = False,
        date: str | None = None,
    ) -> PriceTable:
        """Return a table with sampling ``prices`` (input, output per million) added or replaced.

        Parameters
        ----------
        prices : mapping of str to (float, float)
            By model (a base model's name; with ``fine_tuned``, the base of the
            fine-tuned models priced).
        fine_tuned : bool
            Set the prices of models fine-tuned from these bases.
        date : str, optional
            The new table's date (kept when None).
        """
        field = "fine_tuned_sampling" if fine_tuned else "sampling"
        merged = {**getattr(self, field), **prices}
        return attrs.evolve(self, **{field: merged}, date=date if date is not None else self.date)

    def price(self, model: str) -> float:
        """USD per million trained tokens for ``model``.

        Raises
        ------
        ConfigError
            The model is not in the table; pass ``prices={...}``.
        """
        found = _lookup(self.prices, model)
        if found is not None:
            return float(found)
        raise ConfigError(
            f"no training price for {model!r} (table dated {self.date}); known: "
            f"{', '.join(self.prices)}. Pass prices={{{model!r}: usd_per_million}}.",
            field="base_model",
        )

    def sampling_price(self, model: str, *, fine_tuned: bool | None = None) -> tuple[float, float]:
        """USD per million (input, output) tokens for sampling ``model``.

        Parameters
        ----------
        model : str
            A base model, or a fine-tuned one (``ft:<base>:...``).
        fine_tuned : bool, optional
            Price as a model fine-tuned from ``model``; by default, names that
            start with ``ft:`` are.

        Raises
        ------
        ConfigError
            The model is not in the table; add it with :meth:`with_sampling_prices`.
        """
        tuned = model.startswith("ft:") if fine_tuned is None else fine_tuned
        table = self.fine_tuned_sampling if tuned else self.sampling
        found = _lookup(table, model)
        if found is not None:
            return float(found[0]), float(found[1])
        kind = "fine-tuned sampling" if tuned else "sampling"
        raise ConfigError(
            f"no {kind} price for {model!r} (table dated {self.date}); known: "
            f"{', '.join(table) or 'none'}. Add it with with_sampling_prices("
            f"{{{_base_name(model)!r}: (input_usd_per_million, output_usd_per_million)}}"
            f"{', fine_tuned=True' if tuned else ''}).",
            field="sampling_prices",
        )

    def sampling_usd(
        self,
        model: str,
        prompt_tokens: float,
        completion_tokens: float,
        *,
        fine_tuned: bool | None = None,
    ) -> float:
        """USD for sampling ``model`` with these token counts (see :meth:`sampling_price`)."""
        inp, out = self.sampling_price(model, fine_tuned=fine_tuned)
        return (float(prompt_tokens) * inp + float(completion_tokens) * out) / 1e6


def price_table(prices: PriceTable | Mapping[str, float] | None) -> PriceTable:
    """Return ``prices`` as a table (see :meth:`PriceTable.of`)."""
    return PriceTable.of(prices)


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
    table = price_table(prices)
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


def actual_training_cost(
    trained_tokens: int,
    *,
    base_model: str,
    epochs: int | str | None = None,
    prices: PriceTable | Mapping[str, float] | None = None,
    n_examples: int = 0,
) -> CostEstimate:
    """Price a finished job from the tokens the provider says it trained on.

    Parameters
    ----------
    trained_tokens : int
        Tokens billed (tokens per epoch x epochs), as the provider reports them.
    base_model : str
        The model fine-tuned.
    epochs : int, optional
        The epochs run (the job's resolved ``n_epochs``); 1 when unknown.
    prices : PriceTable or mapping, optional
        As for :func:`estimate_training_cost`.
    n_examples : int
        Training rows, when known.

    Returns
    -------
    CostEstimate
        With ``actual=True`` and ``usd = trained_tokens x price / 1e6``.
    """
    table = price_table(prices)
    n = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1 else 1
    price = table.price(base_model)
    return CostEstimate(
        tokens=int(trained_tokens) // n,
        epochs=n,
        usd=int(trained_tokens) * price / 1e6,
        base_model=base_model,
        usd_per_million=price,
        price_date=table.date,
        n_examples=n_examples,
        actual=True,
    )
