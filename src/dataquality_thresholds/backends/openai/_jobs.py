"""What the OpenAI backend sends with a fine-tuning job, and how a job becomes a record.

Plain functions for :class:`~dataquality_thresholds.backends.openai.OpenAIBackend`,
with no ``openai`` import: they build the request parts (hyperparameters,
metadata, the training file's name) and read the SDK's reply objects by
attribute (any object with the same fields works) into a
:class:`~dataquality_thresholds.backends.FineTuneJob`.

The idempotency contract lives here in one place: every job carries
``metadata={"dqt_key": key, "dqt_fingerprint": ..., "dqt_version": ...}`` (and
``dqt_cell`` / ``dqt_run`` naming what and which run it was made for),
training files are named after the mixture's fingerprint, a key is adopted
only by a job trained on the same fingerprint, and of several candidates the
oldest wins.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from dataquality_thresholds._version import __version__
from dataquality_thresholds.backends._records import CostEstimate, FineTuneJob
from dataquality_thresholds.errors import ConfigError

__all__ = [
    "ACTIVE_STATUSES",
    "HP_NAMES",
    "STATUS_MAP",
    "adopted_from",
    "check_fingerprint",
    "check_hyperparameters",
    "check_key",
    "count_active",
    "job_metadata",
    "job_record",
    "job_status",
    "oldest",
    "rejected_file_job",
    "supervised_method",
    "timestamp",
    "training_filename",
    "with_progress",
]

#: Provider job status -> :class:`FineTuneJob` status (unknown ones count as running).
STATUS_MAP = {
    "validating_files": "validating",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "paused": "queued",
}
#: Provider statuses of a job that still occupies a slot.
ACTIVE_STATUSES = ("validating_files", "queued", "running")


def timestamp(value: int | None) -> datetime | None:
    """Convert a provider timestamp (Unix seconds) to an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(int(value), tz=timezone.utc)


# ---------------------------------------------------------------------- requests
#: Fine-tuning hyperparameters a job accepts (OpenAI's names; the stub and study configs
#: take the same).
HP_NAMES: tuple[str, ...] = ("n_epochs", "batch_size", "learning_rate_multiplier")
_HP_INTS = ("n_epochs", "batch_size")


def check_hyperparameters(hp: object, field: str = "hyperparameters") -> dict[str, Any]:
    """Validate fine-tuning hyperparameters; return a copy.

    ``n_epochs`` and ``batch_size`` are positive ints, ``learning_rate_multiplier`` a
    positive finite number, each also ``"auto"``; bools, NaN and other names are refused
    with :class:`ConfigError` naming ``hyperparameters.<name>``.
    """
    if hp is None:
        return {}
    if not isinstance(hp, Mapping):
        raise _config_error(field, f"expected a mapping of name to value, got {type(hp).__name__}")
    out: dict[str, Any] = {}
    for name, value in hp.items():
        if name not in HP_NAMES:
            raise _config_error(
                f"{field}.{name}",
                f"unknown hyperparameter {name!r}; expected {', '.join(HP_NAMES)}",
            )
        if isinstance(value, str) and value == "auto":
            out[name] = value
            continue
        ok = (
            not isinstance(value, bool)
            and isinstance(value, (int, float))
            and value > 0
            and math.isfinite(value)
        )
        if name in _HP_INTS:
            ok = ok and isinstance(value, int)
        if not ok:
            raise _config_error(
                f"{field}.{name}",
                f"must be 'auto' or a positive {'int' if name in _HP_INTS else 'number'}, "
                f"got {value!r}",
            )
        out[name] = value
    return out


def _config_error(field: str, message: str) -> ConfigError:
    return ConfigError(f"{field}: {message}", field=field)


def check_key(key: Any) -> None:
    """Raise :class:`ConfigError` unless ``key`` is a usable idempotency key.

    A key is a non-blank string of at most 512 characters (the limit of a
    metadata value).
    """
    if not isinstance(key, str) or not key.strip() or len(key) > 512:
        raise ConfigError("key must be a non-empty string of at most 512 characters", field="key")


def training_filename(fingerprint: str) -> str:
    """Return the name under which a mixture's training file is uploaded (and found again)."""
    return f"dqt-{fingerprint}.jsonl"


def job_metadata(
    key: str, fingerprint: str, *, label: str | None = None, run: str | None = None
) -> dict[str, str]:
    """Return the metadata every job carries: the key, the data's fingerprint, our version.

    A ``label`` (what the job is for, e.g. a study's cell ``finance/subtle/f0.2500/r1``)
    is added as ``dqt_cell``, and ``run`` (which run asked, e.g. a study's run
    directory name) as ``dqt_run``, each cut to the provider's 512 characters.
    """
    meta = {"dqt_key": key, "dqt_fingerprint": fingerprint, "dqt_version": __version__}
    if label:
        meta["dqt_cell"] = str(label)[:512]
    if run:
        meta["dqt_run"] = str(run)[:512]
    return meta


def adopted_from(remote: Any) -> str:
    """Describe where an existing job comes from, from its metadata and creation time.

    E.g. ``"created 2025-06-01 12:00:00 UTC by run 'runs-a' for cell finance/obvious/
    f1.0000/r0 (dqt 0.1.0)"``; what the metadata lacks is left out (a job made by an
    older version, or by hand, names no run).
    """
    meta = dict(remote.metadata or {})
    created = timestamp(getattr(remote, "created_at", None))
    parts = [f"created {created:%Y-%m-%d %H:%M:%S} UTC" if created else "created earlier"]
    parts.append(f"by run {meta['dqt_run']!r}" if meta.get("dqt_run") else "by another run")
    if meta.get("dqt_cell"):
        parts.append(f"for cell {meta['dqt_cell']}")
    if meta.get("dqt_version"):
        parts.append(f"(dqt {meta['dqt_version']})")
    return " ".join(parts)


def supervised_method(hp: Mapping[str, Any]) -> dict[str, Any]:
    """Return the ``method`` argument of a supervised job with hyperparameters ``hp``."""
    return {"type": "supervised", "supervised": {"hyperparameters": hp}}


# ---------------------------------------------------------------------- lookups
def oldest(items: Iterable[Any]) -> Any:
    """Return the oldest of several provider objects (by ``created_at``, then ``id``)."""
    return min(items, key=lambda item: (item.created_at, item.id))


def count_active(jobs: Iterable[Any]) -> int:
    """Count this library's jobs (they carry ``dqt_key``) that still occupy a slot."""
    return sum(1 for j in jobs if j.status in ACTIVE_STATUSES and "dqt_key" in (j.metadata or {}))


def check_fingerprint(remote: Any, key: str, fingerprint: str) -> None:
    """Raise :class:`ConfigError` when the job holding ``key`` was trained on other data.

    A job without a recorded fingerprint (not created by this library) passes.
    """
    theirs = (remote.metadata or {}).get("dqt_fingerprint")
    if theirs is not None and theirs != fingerprint:
        raise ConfigError(
            f"key {key!r} belongs to job {remote.id}, trained on other data "
            f"({theirs[:12]} vs {fingerprint[:12]}); use a new key",
            field="key",
        )


# ---------------------------------------------------------------------- records
def job_status(remote: Any, rejection: re.Pattern[str]) -> tuple[str, str | None, str | None]:
    """Return a provider job's record status, error code and error message.

    A failed job whose code or message matches ``rejection`` is ``rejected``.
    """
    status = STATUS_MAP.get(remote.status, "running")
    code = message = None
    if remote.error is not None and (remote.error.code or remote.error.message):
        code, message = remote.error.code, remote.error.message
    if status == "failed" and rejection.search(f"{code or ''} {message or ''}"):
        status = "rejected"
    return status, code, message


def job_record(
    remote: Any,
    state: tuple[str, str | None, str | None],
    *,
    key: str,
    backend: str,
    prior: FineTuneJob | None = None,
    cost: CostEstimate | None = None,
) -> FineTuneJob:
    """Convert a provider job into a :class:`FineTuneJob`.

    Parameters
    ----------
    remote : object
        The SDK's fine-tuning job.
    state : tuple
        Its ``(status, error_code, error_message)`` from :func:`job_status`.
    key : str
        The idempotency key.
    backend : str
        The backend's name.
    prior : FineTuneJob, optional
        The previous record of the job: supplies the fingerprint when the
        metadata lacks one, and the events, metrics and cost.
    cost : CostEstimate, optional
        The job's cost (estimated or actual); ``prior``'s when None.
    """
    status, code, message = state
    meta = dict(remote.metadata or {})
    hp: dict[str, Any] = {}
    method = getattr(remote, "method", None)
    source = None
    if method is not None and method.supervised is not None:
        source = method.supervised.hyperparameters
    source = source or remote.hyperparameters
    if source is not None:
        hp = {n: getattr(source, n) for n in HP_NAMES if getattr(source, n, None) is not None}
    return FineTuneJob(
        key=key,
        backend=backend,
        base_model=remote.model,
        fingerprint=meta.get("dqt_fingerprint") or (prior.fingerprint if prior else "unknown"),
        status=status,
        job_id=remote.id,
        file_id=remote.training_file,
        fine_tuned_model=remote.fine_tuned_model,
        error_code=code,
        error_message=message,
        trained_tokens=remote.trained_tokens,
        hyperparameters=hp,
        created_at=timestamp(remote.created_at),
        finished_at=timestamp(remote.finished_at),
        events=prior.events if prior else (),
        metrics=prior.metrics if prior else {},
        cost=cost if cost is not None else (prior.cost if prior else None),
    )


def rejected_file_job(
    file: Any,
    *,
    key: str,
    backend: str,
    base_model: str,
    fingerprint: str,
    hyperparameters: dict[str, Any],
) -> FineTuneJob:
    """Return the ``rejected`` record (no job id) of a training file that failed processing."""
    return FineTuneJob(
        key=key,
        backend=backend,
        base_model=base_model,
        fingerprint=fingerprint,
        status="rejected",
        file_id=file.id,
        error_code="training_file_rejected",
        error_message=file.status_details or "the training file failed processing",
        hyperparameters=hyperparameters,
    )


def with_progress(
    fresh: FineTuneJob, *, prior: FineTuneJob, events: Sequence[Any], checkpoint: Any | None
) -> FineTuneJob:
    """Add a job's events and latest metrics to its fresh record.

    Parameters
    ----------
    fresh : FineTuneJob
        The record of the job as just retrieved.
    prior : FineTuneJob
        The previous record: its metrics are the starting point, and its events
        stay when the provider now lists fewer.
    events : sequence
        The SDK's job events, newest first (as the API lists them).
    checkpoint : object, optional
        The latest checkpoint of a succeeded job; its metrics override the
        events' ones.
    """
    ordered = list(reversed(events))  # oldest first
    metrics: dict[str, float] = dict(prior.metrics)
    for ev in ordered:
        if ev.type == "metrics" and isinstance(ev.data, dict):
            metrics.update({k: float(v) for k, v in ev.data.items() if isinstance(v, int | float)})
    if checkpoint is not None:
        m = checkpoint.metrics.model_dump(exclude_none=True)
        metrics.update({k: float(v) for k, v in m.items()})
    messages = tuple(ev.message for ev in ordered)
    return attrs.evolve(
        fresh,
        events=messages if len(messages) >= len(prior.events) else prior.events,
        metrics=metrics,
    )
