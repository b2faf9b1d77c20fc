"""The settings half of :class:`~dataquality_thresholds.backends.together.TogetherBackend`.

:class:`TogetherSettings` holds what the backend is configured with (a client or
how to build one, the jobs' defaults, polling and retry budgets, prices, how
fine-tuned models are served) and what it can do with that alone: the cost
estimates, its repr. The subclass in ``_backend`` adds every call to Together.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dataquality_thresholds.backends._pricing import (
    PriceTable,
    count_mixture_tokens,
    estimate_training_cost,
)
from dataquality_thresholds.backends._records import CostEstimate
from dataquality_thresholds.backends.together._jobs import TogetherLoRA, check_hyperparameters
from dataquality_thresholds.backends.together._pricing import (
    TOGETHER_PRICE_TABLE_DATE,
    HostingEstimate,
    model_size_b,
    training_price,
)
from dataquality_thresholds.backends.together._sampler import DEFAULT_BASE_URL, Serving
from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.mixing import Mixture

__all__ = [
    "DEFAULT_BASE_MODEL",
    "DEFAULT_REJECTION_PATTERN",
    "TogetherSettings",
]

#: The model fine-tuned when neither the backend nor ``submit`` names one.
DEFAULT_BASE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"

#: A failed job (or refused file) whose reason matches this is ``rejected``: Together
#: refused the data on safety, policy or validation grounds, a result, not a crash.
DEFAULT_REJECTION_PATTERN = (
    r"moderation|safety|unsafe|usage polic|content polic|acceptable use|flagged|"
    r"invalid_format|invalid format|validation|invalid (?:training )?(?:file|data)"
)


class _Key:
    """Holds the API key out of every repr, str and pickle."""

    __slots__ = ("value",)

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<key>" if self.value else "<no key>"

    def __reduce__(self) -> Any:
        raise TypeError("an API key is not pickled; build the backend again in the new process")


class TogetherSettings:
    """:class:`TogetherBackend` without its API calls (parameters documented there)."""

    def __init__(
        self,
        client: Any = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        base_model: str = DEFAULT_BASE_MODEL,
        hyperparameters: Mapping[str, Any] | None = None,
        lora: TogetherLoRA | None = TogetherLoRA(),  # noqa: B008 - a frozen record
        serving: Serving = "dedicated",
        endpoints: Mapping[str, str] | None = None,
        check_price: bool = True,
        poll_interval: float = 30.0,
        max_poll_interval: float = 300.0,
        backoff: float = 1.5,
        jitter: float = 0.1,
        rate_limit_wait: float = 3600.0,
        create_attempts: int = 5,
        file_poll_interval: float = 2.0,
        file_timeout: float = 1800.0,
        max_poll_failures: int = 10,
        prices: PriceTable | Mapping[str, float] | None = None,
        model_sizes: Mapping[str, float] | None = None,
        hosting_usd_per_hour: float | None = None,
        tokenizer: Any = None,
        rejection_pattern: str = DEFAULT_REJECTION_PATTERN,
        work_dir: str | Path | None = None,
        seed: int = 0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if serving not in ("dedicated", "serverless"):
            raise ConfigError(
                f"serving must be 'dedicated' or 'serverless', got {serving!r}", field="serving"
            )
        if int(create_attempts) < 1:
            raise ConfigError("create_attempts must be >= 1", field="create_attempts")
        self._client = client
        self.base_url = (
            base_url or os.environ.get("TOGETHER_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self._api_key = _Key(api_key)
        self.base_model = base_model
        self.hyperparameters = check_hyperparameters(hyperparameters)
        self.lora = lora
        self.serving: Serving = serving
        self.endpoints = {str(k): str(v) for k, v in (endpoints or {}).items()}
        self.check_price = bool(check_price)
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.backoff = float(backoff)
        self.jitter = float(jitter)
        self.rate_limit_wait = float(rate_limit_wait)
        self.create_attempts = int(create_attempts)
        self.file_poll_interval = float(file_poll_interval)
        self.file_timeout = float(file_timeout)
        self.max_poll_failures = int(max_poll_failures)
        self.prices = prices
        self.model_sizes = dict(model_sizes or {})
        self.hosting_usd_per_hour = hosting_usd_per_hour
        self._tokenizer = tokenizer
        self._rejection = re.compile(rejection_pattern, re.IGNORECASE)
        self.work_dir = None if work_dir is None else Path(work_dir)
        self.seed = int(seed)
        self._sleep = sleep if sleep is not None else time.sleep
        self._clock = clock if clock is not None else time.monotonic

    def __repr__(self) -> str:
        kind = "full" if self.lora is None else f"LoRA r={self.lora.r}"
        return (
            f"TogetherBackend(base_model={self.base_model!r}, {kind}, "
            f"serving={self.serving!r}, base_url={self.base_url!r})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("TogetherBackend holds a client and credentials; build it again instead")

    # ------------------------------------------------------------------ prices
    def price_table(self, base_model: str | None = None) -> PriceTable:
        """Return the training :class:`PriceTable` used for ``base_model`` (LoRA or full, by size).

        ``prices=`` given to the backend win: a :class:`PriceTable` replaces the
        table, a mapping is merged over it.
        """
        if isinstance(self.prices, PriceTable):
            return self.prices
        model = base_model or self.base_model
        table = PriceTable({}, date=TOGETHER_PRICE_TABLE_DATE)
        try:
            size = model_size_b(model, self.model_sizes)
            table = table.with_prices({model: training_price(size, lora=self.lora is not None)})
        except ConfigError:
            if not self.prices or model not in self.prices:
                raise
        if self.prices:
            table = table.with_prices(self.prices, date="user")
        return table

    def _price_or_none(self, model: str) -> float | None:
        try:
            return self.price_table(model).price(model)
        except ConfigError:
            return None

    def estimate_cost(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        n_epochs: int | None = None,
        prices: PriceTable | Mapping[str, float] | None = None,
        tokenizer: Any = None,
    ) -> CostEstimate:
        """Estimate the training cost: tokens x epochs x Together's rate for the model.

        Tokens are counted with ``tokenizer`` (default ``o200k_base``, close to but
        not the model's own tokenizer, so this is an estimate); ``n_epochs``
        defaults to the backend's hyperparameters, then Together's default of 1.
        The rate is the LoRA or full fine-tuning price of the model's size bracket
        (:func:`~dataquality_thresholds.backends.together.together_price_table`).
        """
        model = base_model or self.base_model
        tokens, n = count_mixture_tokens(
            (ex.messages for ex in mixture.iter_examples()), tokenizer or self._tokenizer
        )
        epochs = n_epochs if n_epochs is not None else int(self.hyperparameters.get("n_epochs", 1))
        return estimate_training_cost(
            tokens,
            n,
            base_model=model,
            n_epochs=epochs,
            prices=prices if prices is not None else self.price_table(model),
        )

    def estimate_hosting_cost(
        self,
        n_models: int,
        *,
        hours_per_model: float = 1.0,
        usd_per_hour: float | None = None,
        hardware: str = "1x_nvidia_h100_80gb_sxm",
    ) -> HostingEstimate:
        """Estimate what serving ``n_models`` fine-tunes on dedicated endpoints costs.

        Parameters
        ----------
        n_models : int
            Models to serve (one endpoint each, one after the other).
        hours_per_model : float
            How long each endpoint runs, start-up and idle time included.
        usd_per_hour : float, optional
            The hardware's hourly price (together.ai/pricing, "Dedicated
            endpoints"); default the backend's ``hosting_usd_per_hour``.
        hardware : str
            The hardware id, for the record.

        Returns
        -------
        HostingEstimate

        Raises
        ------
        ConfigError
            No hourly price was given: the library bundles none, as hardware
            prices were not checked when it was written.
        """
        rate = usd_per_hour if usd_per_hour is not None else self.hosting_usd_per_hour
        if rate is None:
            raise ConfigError(
                "no hourly price for dedicated endpoints: pass usd_per_hour=... (or "
                "TogetherBackend(hosting_usd_per_hour=...)) from together.ai/pricing",
                field="usd_per_hour",
            )
        if self.serving == "serverless":
            n_models = 0
        return HostingEstimate(
            n_models=int(n_models),
            hours_per_model=hours_per_model,
            usd_per_hour=rate,
            hardware=hardware,
            usd=int(n_models) * float(hours_per_model) * float(rate),
        )
