"""The settings half of :class:`~dataquality_thresholds.backends.openai.OpenAIBackend`.

:class:`OpenAIBackendSettings` holds what an ``OpenAIBackend`` is configured
with (a client or how to build one, the jobs' defaults, the polling, retry and
rate-limit budgets, prices) and what it can do with that alone: its repr and
the training-cost estimate. The subclass in
:mod:`~dataquality_thresholds.backends.openai` adds every call to OpenAI. The
client's type is a type parameter (``openai.OpenAI`` there), so nothing here
imports ``openai`` and the public signature stays exact.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from dataquality_thresholds.backends._pricing import (
    PriceTable,
    count_mixture_tokens,
    estimate_training_cost,
)
from dataquality_thresholds.backends._records import CostEstimate
from dataquality_thresholds.backends.openai._jobs import check_hyperparameters
from dataquality_thresholds.backends.openai._secret import Secret
from dataquality_thresholds.mixing import Mixture

__all__ = ["DEFAULT_BASE_MODEL", "DEFAULT_REJECTION_PATTERN", "OpenAIBackendSettings"]

#: The model fine-tuned when neither the backend nor ``submit`` names one.
DEFAULT_BASE_MODEL = "gpt-4o-2024-08-06"

#: A failed job whose error code or message matches this is ``rejected`` (a safety
#: decision about the data or the trained model), not ``failed``.
DEFAULT_REJECTION_PATTERN = r"moderation|safety|unsafe|usage polic|content polic|flagged"

ClientT = TypeVar("ClientT")


class OpenAIBackendSettings(Generic[ClientT]):
    """:class:`~dataquality_thresholds.backends.openai.OpenAIBackend` without its API calls.

    The parameters are documented on ``OpenAIBackend``; ``ClientT`` is the
    type of the client it takes (``openai.OpenAI``).
    """

    def __init__(
        self,
        client: ClientT | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        base_model: str = DEFAULT_BASE_MODEL,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        poll_interval: float = 30.0,
        max_poll_interval: float = 300.0,
        backoff: float = 1.5,
        jitter: float = 0.1,
        max_active_jobs: int | None = None,
        rate_limit_wait: float = 3600.0,
        create_attempts: int = 5,
        file_poll_interval: float = 2.0,
        file_timeout: float = 1800.0,
        max_poll_failures: int = 10,
        prices: PriceTable | Mapping[str, float] | None = None,
        tokenizer: Any = None,
        rejection_pattern: str = DEFAULT_REJECTION_PATTERN,
        work_dir: str | Path | None = None,
        seed: int = 0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._base_url = base_url
        self._api_key = Secret(api_key)
        self.base_model = base_model
        self.hyperparameters = check_hyperparameters(hyperparameters)
        self.suffix = suffix
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.backoff = float(backoff)
        self.jitter = float(jitter)
        self.max_active_jobs = max_active_jobs
        self.rate_limit_wait = float(rate_limit_wait)
        self.create_attempts = int(create_attempts)
        self.file_poll_interval = float(file_poll_interval)
        self.file_timeout = float(file_timeout)
        self.max_poll_failures = int(max_poll_failures)
        self.prices = prices
        self._tokenizer = tokenizer
        self._rejection = re.compile(rejection_pattern, re.IGNORECASE)
        self.work_dir = None if work_dir is None else Path(work_dir)
        self.seed = seed
        self._sleep = sleep if sleep is not None else time.sleep
        self._clock = clock if clock is not None else time.monotonic
        #: cost estimates by (fingerprint, base model, epochs), made once per backend
        self._estimates: dict[tuple[str, str, str], CostEstimate | None] = {}

    def __repr__(self) -> str:
        where = self._base_url or "default endpoint"
        return f"OpenAIBackend(base_model={self.base_model!r}, base_url={where!r})"

    def __reduce__(self) -> Any:
        raise TypeError("OpenAIBackend holds a client and credentials; build it again instead")

    @property
    def price_table(self) -> PriceTable:
        """The prices this backend estimates with (``prices`` over the bundled table)."""
        return PriceTable.of(self.prices)

    def estimate_cost(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        n_epochs: int | str | None = None,
        prices: PriceTable | Mapping[str, float] | None = None,
        tokenizer: Any = None,
    ) -> CostEstimate:
        """Estimate the training cost: o200k_base tokens x epochs x price.

        ``n_epochs`` defaults to the backend's hyperparameters, then OpenAI's
        default-epochs rule (:func:`~dataquality_thresholds.backends.default_epochs`).
        """
        tokens, n = count_mixture_tokens(
            (ex.messages for ex in mixture.iter_examples()), tokenizer or self._tokenizer
        )
        return estimate_training_cost(
            tokens,
            n,
            base_model=base_model or self.base_model,
            n_epochs=n_epochs if n_epochs is not None else self.hyperparameters.get("n_epochs"),
            prices=prices if prices is not None else self.prices,
        )
