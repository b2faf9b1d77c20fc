"""Backend-facing records: fine-tuning jobs, their cost estimates, sampled completions.

Private: import these from :mod:`dataquality_thresholds.records` (or the package
root), which re-exports them under their public module path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

from dataquality_thresholds._util.validators import (
    nonempty_str,
    nonneg_number,
    one_of,
    optional_int,
    optional_nonempty_str,
    optional_nonneg_int,
)
from dataquality_thresholds.errors import ConfigError

__all__ = [
    "JOB_STATUSES",
    "TERMINAL_STATUSES",
    "CostEstimate",
    "FineTuneJob",
]

#: Statuses of a :class:`FineTuneJob`. ``rejected`` means the provider refused the
#: training data or the trained model on safety grounds: a result, not a crash.
JOB_STATUSES: tuple[str, ...] = (
    "pending",
    "validating",
    "queued",
    "running",
    "succeeded",
    "failed",
    "rejected",
    "cancelled",
)
#: Statuses after which a job never changes again.
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "rejected", "cancelled"})


def _to_str_tuple(value: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _to_float(value: Any) -> float:
    return float(value)


def _utc_or_none(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() != timedelta(0):
        raise ConfigError(
            f"{attribute.name} must be a timezone-aware UTC datetime, got {value!r}",
            field=attribute.name,
        )


def _freeze_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping, got {type(value).__name__}")
    return MappingProxyType({str(k): value[k] for k in sorted(value)})


@attrs.frozen(kw_only=True)
class CostEstimate:
    """What a fine-tuning job is expected to cost, before it is paid.

    Parameters
    ----------
    tokens : int
        Billable tokens in one pass over the training file.
    epochs : int
        Passes over the file (the provider's default when not set).
    usd : float
        ``tokens * epochs * usd_per_million / 1e6``.
    base_model : str
        The model priced.
    usd_per_million : float
        Training price per million tokens that was used.
    price_date : str, optional
        Date (ISO 8601) of the price table the price came from.
    n_examples : int
        Training rows counted.
    actual : bool
        True when ``usd`` is what the job cost (the provider's trained tokens x
        the price, or the provider's own figure), False for an estimate.
    """

    tokens: int = attrs.field(validator=nonneg_number)
    epochs: int = attrs.field(validator=nonneg_number)
    usd: float = attrs.field(converter=_to_float, validator=nonneg_number)
    base_model: str = attrs.field(validator=nonempty_str)
    usd_per_million: float = attrs.field(converter=_to_float, validator=nonneg_number)
    price_date: str | None = attrs.field(default=None)
    n_examples: int = attrs.field(default=0, validator=nonneg_number)
    actual: bool = attrs.field(default=False, converter=bool)

    @property
    def trained_tokens(self) -> int:
        """Tokens the provider is expected to bill: ``tokens * epochs``."""
        return self.tokens * self.epochs


@attrs.frozen(kw_only=True)
class FineTuneJob:
    """A fine-tuning job as this library knows it: what was sent and what came back.

    Jobs are values: :meth:`FineTuneBackend.refresh` returns a new record.

    Parameters
    ----------
    key : str
        The caller's idempotency key; a backend never starts two jobs for one key.
    backend : str
        Name of the backend that ran it (``"openai"``, ``"local-stub"``).
    base_model : str
        The model fine-tuned.
    fingerprint : str
        :attr:`Mixture.fingerprint` of the training data.
    status : str
        One of :data:`JOB_STATUSES`.
    job_id : str, optional
        The provider's job id (None until the job exists remotely).
    file_id : str, optional
        The provider's id of the uploaded training file.
    fine_tuned_model : str, optional
        The model to sample, once the job succeeded.
    error_code, error_message : str, optional
        The provider's reason for a failed or rejected job.
    trained_tokens : int, optional
        Tokens the provider billed (the true cost), once known.
    hyperparameters : mapping
        The hyperparameters that were sent (``n_epochs``, ``batch_size``,
        ``learning_rate_multiplier``).
    created_at, finished_at : datetime, optional
        UTC timestamps.
    events : tuple of str
        Event messages seen so far, oldest first.
    metrics : mapping of str to float
        The latest training metrics (e.g. ``train_loss``), when the provider reports them.
    cost : CostEstimate, optional
        What the job costs: the estimate made before submitting, replaced by the
        actual cost (``cost.actual``) once the provider reports trained tokens.
    """

    key: str = attrs.field(validator=nonempty_str)
    backend: str = attrs.field(validator=nonempty_str)
    base_model: str = attrs.field(validator=nonempty_str)
    fingerprint: str = attrs.field(validator=nonempty_str)
    status: str = attrs.field(validator=one_of(JOB_STATUSES))
    job_id: str | None = attrs.field(default=None, validator=optional_nonempty_str)
    file_id: str | None = attrs.field(default=None, validator=optional_nonempty_str)
    fine_tuned_model: str | None = attrs.field(default=None, validator=optional_nonempty_str)
    error_code: str | None = attrs.field(default=None)
    error_message: str | None = attrs.field(default=None)
    trained_tokens: int | None = attrs.field(
        default=None, converter=optional_int, validator=optional_nonneg_int
    )
    hyperparameters: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_freeze_mapping, hash=False
    )
    created_at: datetime | None = attrs.field(default=None, validator=_utc_or_none)
    finished_at: datetime | None = attrs.field(default=None, validator=_utc_or_none)
    events: tuple[str, ...] = attrs.field(default=(), converter=_to_str_tuple)
    metrics: Mapping[str, float] = attrs.field(factory=dict, converter=_freeze_mapping, hash=False)
    cost: CostEstimate | None = attrs.field(default=None)

    @property
    def done(self) -> bool:
        """Whether the job reached a terminal status."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        """Whether the job finished and produced a model."""
        return self.status == "succeeded"
