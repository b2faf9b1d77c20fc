"""Backend-facing records: fine-tuning jobs, their cost estimates, sampled completions.

Private: import these from :mod:`dataquality_thresholds.records` (or the package
root), which re-exports them under their public module path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

from ._records_fields import _nonempty_str, _optional_nonempty_str
from .errors import ConfigError

__all__ = [
    "JOB_STATUSES",
    "TERMINAL_STATUSES",
    "Completion",
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


def _one_of(choices: Sequence[str]) -> Any:
    def check(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in choices:
            raise ConfigError(
                f"{attribute.name} must be one of {', '.join(choices)}, got {value!r}",
                field=attribute.name,
            )

    return check


def _nonneg_number(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(
            f"{attribute.name} must be a number >= 0, got {value!r}", field=attribute.name
        )
    if isinstance(value, float) and math.isinf(value):
        raise ConfigError(f"{attribute.name} must be finite, got {value!r}", field=attribute.name)


def _optional_nonneg_int(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{attribute.name} must be an int >= 0, got {value!r}", field=attribute.name
        )


def _to_int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


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
    """

    tokens: int = attrs.field(validator=_nonneg_number)
    epochs: int = attrs.field(validator=_nonneg_number)
    usd: float = attrs.field(converter=_to_float, validator=_nonneg_number)
    base_model: str = attrs.field(validator=_nonempty_str)
    usd_per_million: float = attrs.field(converter=_to_float, validator=_nonneg_number)
    price_date: str | None = attrs.field(default=None)
    n_examples: int = attrs.field(default=0, validator=_nonneg_number)

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
        The estimate made before submitting.
    """

    key: str = attrs.field(validator=_nonempty_str)
    backend: str = attrs.field(validator=_nonempty_str)
    base_model: str = attrs.field(validator=_nonempty_str)
    fingerprint: str = attrs.field(validator=_nonempty_str)
    status: str = attrs.field(validator=_one_of(JOB_STATUSES))
    job_id: str | None = attrs.field(default=None, validator=_optional_nonempty_str)
    file_id: str | None = attrs.field(default=None, validator=_optional_nonempty_str)
    fine_tuned_model: str | None = attrs.field(default=None, validator=_optional_nonempty_str)
    error_code: str | None = attrs.field(default=None)
    error_message: str | None = attrs.field(default=None)
    trained_tokens: int | None = attrs.field(
        default=None, converter=_to_int_or_none, validator=_optional_nonneg_int
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


def _to_str_mapping(value: Mapping[str, Any] | None) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    return MappingProxyType({str(k): str(value[k]) for k in sorted(value)})


def _to_top_logprobs(
    value: Iterable[Iterable[tuple[str, float]] | Mapping[str, float]] | None,
) -> tuple[tuple[tuple[str, float], ...], ...] | None:
    if value is None:
        return None
    out = []
    for pos in value:
        pairs = pos.items() if isinstance(pos, Mapping) else pos
        out.append(tuple((str(t), float(lp)) for t, lp in pairs))
    return tuple(out)


@attrs.frozen(kw_only=True)
class Completion:
    """One sampled answer of a model to one prompt.

    Parameters
    ----------
    text : str
        The answer (may be empty).
    model : str
        The model that answered.
    index : int
        Position among the ``n`` samples for the same prompt.
    finish_reason : str, optional
        ``"stop"``, ``"length"``, ...
    prompt_tokens, completion_tokens : int, optional
        Usage, when the backend reports it.
    info : mapping of str to str
        Backend-specific facts about the sample; :class:`LocalStubBackend`
        records the behaviour it drew (``info["behaviour"]``).
    top_logprobs : tuple, optional
        When logprobs were asked for: one entry per generated token, each a
        tuple of ``(token, logprob)`` alternatives, most likely first.

        .. versionadded:: 0.1 (sampling)
    """

    text: str = attrs.field(validator=attrs.validators.instance_of(str))
    model: str = attrs.field(validator=_nonempty_str)
    index: int = attrs.field(default=0, validator=_nonneg_number)
    finish_reason: str | None = attrs.field(default=None)
    prompt_tokens: int | None = attrs.field(
        default=None, converter=_to_int_or_none, validator=_optional_nonneg_int
    )
    completion_tokens: int | None = attrs.field(
        default=None, converter=_to_int_or_none, validator=_optional_nonneg_int
    )
    info: Mapping[str, str] = attrs.field(factory=dict, converter=_to_str_mapping, hash=False)
    top_logprobs: tuple[tuple[tuple[str, float], ...], ...] | None = attrs.field(
        default=None, converter=_to_top_logprobs, hash=False
    )
