"""OpenAIBackend: fine-tuning through OpenAI's API, idempotent and fault-tolerant.

This is the only module of the library that imports ``openai``.

The rules it keeps:

* **Never twice.** Every job carries ``metadata={"dqt_key": key, ...}``. Before
  creating a job the backend lists jobs with that key (all pages) and adopts
  one it finds. ``files.create`` and ``jobs.create`` run with the SDK's own
  retries off (the SDK sends no idempotency key, so its retry of a timed-out
  POST could start a second paid job); when such a call ends without an
  answer, the backend looks again before trying again. Training files are
  named after the mixture's fingerprint, so the same bytes are uploaded once.
* **Failures are data.** A failed job becomes status ``failed`` with the
  provider's code and message; a training file blocked by moderation or a job
  stopped by the safety evaluation becomes ``rejected`` (a result: "this
  mixture cannot be trained here"). 403 on create is the fine-tuning
  wind-down (:class:`BackendUnavailableError`), 429 rate limits wait and retry,
  ``insufficient_quota`` stops with a clear error.
* **The API key never leaves the client**: it is not stored in records,
  reprs, logs or files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import openai

from .._version import __version__
from ..cache import CompletionCache
from ..errors import BackendError, BackendUnavailableError, ConfigError, FineTuneJobError
from ..records import CostEstimate, FineTuneJob, Mixture
from .base import JobTimeoutError, ProgressCallback
from .pricing import PriceTable, count_mixture_tokens, estimate_training_cost
from .sampling import ChatSampler, RetryableError

__all__ = ["DEFAULT_BASE_MODEL", "WIND_DOWN_MESSAGE", "OpenAIBackend", "OpenAISampler"]

log = logging.getLogger(__name__)

DEFAULT_BASE_MODEL = "gpt-4o-2024-08-06"

#: Explanation attached to a 403 on job creation.
WIND_DOWN_MESSAGE = (
    "OpenAI refused to create the fine-tuning job (403 permission denied). OpenAI is "
    "winding down self-serve fine-tuning: since 2026-07-02 organisations without recent "
    "fine-tuning activity cannot start new jobs, and from 2027-01-06 no one can. Existing "
    "fine-tuned models can still be sampled. To keep fine-tuning, use an open-weight "
    "backend (HFBackend) or check your organisation's access."
)

#: A failed job whose error code or message matches this is ``rejected`` (a safety
#: decision about the data or the trained model), not ``failed``.
DEFAULT_REJECTION_PATTERN = r"moderation|safety|unsafe|usage polic|content polic|flagged"

_HP_NAMES = ("n_epochs", "batch_size", "learning_rate_multiplier")
_STATUS_MAP = {
    "validating_files": "validating",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "paused": "queued",
}
_ACTIVE = ("validating_files", "queued", "running")


class _Secret:
    """Holds an API key so that no repr, str or log line can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def get(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "'***'" if self._value else "None"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("an API key is not pickled; build the backend again in the new process")


def _ts(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), tz=timezone.utc)


def _check_hyperparameters(hp: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in (hp or {}).items():
        if name not in _HP_NAMES:
            raise ConfigError(
                f"unknown hyperparameter {name!r}; expected {', '.join(_HP_NAMES)}",
                field=f"hyperparameters.{name}",
            )
        if value == "auto":
            out[name] = value
            continue
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0
        if name in ("n_epochs", "batch_size"):
            ok = ok and isinstance(value, int)
        if not ok:
            raise ConfigError(
                f"{name} must be 'auto' or a positive number, got {value!r}",
                field=f"hyperparameters.{name}",
            )
        out[name] = value
    return out


def _retry_after(exc: openai.APIStatusError) -> float | None:
    raw = exc.response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


class OpenAIBackend:
    """Fine-tune OpenAI models on mixtures, never paying twice for one key.

    Parameters
    ----------
    client : openai.OpenAI, optional
        A prebuilt client. Without one, a client is built on first use from
        ``base_url`` and ``api_key`` (else ``OPENAI_API_KEY``).
    base_url, api_key : str, optional
        For the client built on first use. The key is held privately and
        never shown.
    base_model : str
        Default model to fine-tune.
    hyperparameters : mapping, optional
        Defaults for ``n_epochs``, ``batch_size``, ``learning_rate_multiplier``.
    suffix : str, optional
        Added to fine-tuned model names.
    poll_interval : float
        First wait between polls in :meth:`wait` (seconds); it grows by
        ``backoff`` up to ``max_poll_interval``, with +-``jitter`` noise.
    max_poll_interval, backoff, jitter : float
        See ``poll_interval``.
    max_active_jobs : int, optional
        Before creating a job, wait while this many of this library's jobs are
        validating, queued or running.
    rate_limit_wait : float
        Seconds to keep retrying a rate-limited job creation before giving up.
    create_attempts : int
        Attempts at an upload or a job creation whose outcome is unknown
        (dropped connection, timeout, 5xx); each is preceded by a lookup.
    file_poll_interval, file_timeout : float
        How often and how long to wait for an uploaded file to be processed.
    prices : PriceTable or mapping, optional
        Training prices for :meth:`estimate_cost`.
    tokenizer : Tokenizer, optional
        For :meth:`estimate_cost` (default ``o200k_base``).
    rejection_pattern : str
        Regular expression (case-insensitive) on a failed job's error code and
        message that marks it ``rejected``.
    work_dir : path, optional
        Where the training file is written before upload (a temporary folder
        inside it, removed afterwards).
    seed : int
        Seed of the poll jitter.
    sleep, clock : callable, optional
        Injected for tests (default ``time.sleep`` and ``time.monotonic``).
    """

    name = "openai"

    def __init__(
        self,
        client: openai.OpenAI | None = None,
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
        self._api_key = _Secret(api_key)
        self.base_model = base_model
        self.hyperparameters = _check_hyperparameters(hyperparameters)
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

    def __repr__(self) -> str:
        where = self._base_url or "default endpoint"
        return f"OpenAIBackend(base_model={self.base_model!r}, base_url={where!r})"

    def __reduce__(self) -> Any:
        raise TypeError("OpenAIBackend holds a client and credentials; build it again instead")

    # ------------------------------------------------------------------ client
    @property
    def client(self) -> openai.OpenAI:
        """The ``openai.OpenAI`` client (built on first use)."""
        if self._client is None:
            try:
                self._client = openai.OpenAI(api_key=self._api_key.get(), base_url=self._base_url)
            except openai.OpenAIError as exc:
                raise BackendUnavailableError(
                    "cannot build an OpenAI client: no API key. Set OPENAI_API_KEY or pass "
                    "api_key=... (or client=...)."
                ) from exc
        return self._client

    @property
    def _once(self) -> openai.OpenAI:
        """The client with SDK retries off, for calls that must not repeat blindly."""
        return self.client.with_options(max_retries=0)

    def _translate(self, exc: Exception, what: str) -> BackendError:
        if isinstance(exc, openai.AuthenticationError):
            return BackendUnavailableError(
                f"{what}: OpenAI rejected the API key (401). Check OPENAI_API_KEY."
            )
        if isinstance(exc, openai.PermissionDeniedError):
            return BackendUnavailableError(f"{what}: permission denied (403): {exc.message}")
        if isinstance(exc, openai.APIConnectionError):
            return BackendUnavailableError(f"{what}: cannot reach OpenAI ({type(exc).__name__})")
        if isinstance(exc, openai.InternalServerError | openai.RateLimitError):
            return BackendUnavailableError(f"{what}: HTTP {exc.status_code}: {exc.message}")
        if isinstance(exc, openai.APIStatusError):
            return BackendError(f"{what}: HTTP {exc.status_code} ({exc.code}): {exc.message}")
        return BackendError(f"{what}: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ records
    def _status(self, remote: Any) -> tuple[str, str | None, str | None]:
        status = _STATUS_MAP.get(remote.status, "running")
        code = message = None
        if remote.error is not None and (remote.error.code or remote.error.message):
            code, message = remote.error.code, remote.error.message
        if status == "failed" and self._rejection.search(f"{code or ''} {message or ''}"):
            status = "rejected"
        return status, code, message

    def _record(self, remote: Any, *, key: str, prior: FineTuneJob | None = None) -> FineTuneJob:
        status, code, message = self._status(remote)
        meta = dict(remote.metadata or {})
        hp: dict[str, Any] = {}
        method = getattr(remote, "method", None)
        source = None
        if method is not None and method.supervised is not None:
            source = method.supervised.hyperparameters
        source = source or remote.hyperparameters
        if source is not None:
            hp = {n: getattr(source, n) for n in _HP_NAMES if getattr(source, n, None) is not None}
        return FineTuneJob(
            key=key,
            backend=self.name,
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
            created_at=_ts(remote.created_at),
            finished_at=_ts(remote.finished_at),
            events=prior.events if prior else (),
            metrics=prior.metrics if prior else {},
            cost=prior.cost if prior else None,
        )

    # ------------------------------------------------------------------ lookups
    def find_job(self, key: str) -> Any | None:
        """Return the provider's job carrying ``key`` in its metadata (oldest), or None.

        Reads every page of ``jobs.list(metadata={"dqt_key": key})`` and checks
        the metadata itself, so a server that ignores the filter is still safe.
        """
        found = []
        try:
            for remote in self.client.fine_tuning.jobs.list(metadata={"dqt_key": key}, limit=100):
                if (remote.metadata or {}).get("dqt_key") == key:
                    found.append(remote)
        except openai.OpenAIError as exc:
            raise self._translate(exc, "listing fine-tuning jobs") from exc
        if not found:
            return None
        if len(found) > 1:
            log.warning("%d jobs carry key %r; adopting the oldest", len(found), key)
        return min(found, key=lambda j: (j.created_at, j.id))

    def _find_file(self, filename: str) -> Any | None:
        try:
            hits = [
                f
                for f in self.client.files.list(purpose="fine-tune")
                if f.filename == filename and f.status != "error"
            ]
        except openai.OpenAIError as exc:
            raise self._translate(exc, "listing files") from exc
        return min(hits, key=lambda f: (f.created_at, f.id)) if hits else None

    # ------------------------------------------------------------------ submit
    def submit(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        key: str,
    ) -> FineTuneJob:
        """Upload the mixture (once) and create the job for ``key`` (once).

        Parameters
        ----------
        mixture : Mixture
            Training data.
        base_model : str, optional
            Defaults to the backend's ``base_model``.
        hyperparameters : mapping, optional
            Merged over the backend's defaults; sent through
            ``method={"type": "supervised", ...}``.
        key : str
            Idempotency key (at most 512 characters). A job that already carries
            it is adopted, whatever its status; use a new key to try again.

        Returns
        -------
        FineTuneJob
            Status ``rejected`` without a ``job_id`` when moderation blocked the file.

        Raises
        ------
        ConfigError
            Bad key or hyperparameters, or the key belongs to other training data.
        BackendUnavailableError
            No key / unreachable / 403 (the fine-tuning wind-down, see
            :data:`WIND_DOWN_MESSAGE`).
        BackendError
            ``insufficient_quota``, rate limits beyond ``rate_limit_wait``, or
            another refusal.
        """
        if not isinstance(key, str) or not key.strip() or len(key) > 512:
            raise ConfigError(
                "key must be a non-empty string of at most 512 characters", field="key"
            )
        hp = {**self.hyperparameters, **_check_hyperparameters(hyperparameters)}
        model = base_model or self.base_model
        fingerprint = mixture.fingerprint
        existing = self.find_job(key)
        if existing is not None:
            return self._adopt(existing, key, fingerprint)
        file = self._ensure_file(mixture, fingerprint)
        if file.status == "error":
            return FineTuneJob(
                key=key,
                backend=self.name,
                base_model=model,
                fingerprint=fingerprint,
                status="rejected",
                file_id=file.id,
                error_code="training_file_rejected",
                error_message=file.status_details or "the training file failed processing",
                hyperparameters=hp,
            )
        return self._create(key, fingerprint, model, hp, file.id)

    def _adopt(self, remote: Any, key: str, fingerprint: str) -> FineTuneJob:
        theirs = (remote.metadata or {}).get("dqt_fingerprint")
        if theirs is not None and theirs != fingerprint:
            raise ConfigError(
                f"key {key!r} belongs to job {remote.id}, trained on other data "
                f"({theirs[:12]} vs {fingerprint[:12]}); use a new key",
                field="key",
            )
        log.info("adopting existing fine-tuning job %s for key %r", remote.id, key)
        return self._record(remote, key=key)

    def _ensure_file(self, mixture: Mixture, fingerprint: str) -> Any:
        filename = f"dqt-{fingerprint}.jsonl"
        file = self._find_file(filename)
        if file is None:
            file = self._upload(mixture, filename)
        return self._wait_file(file)

    def _upload(self, mixture: Mixture, filename: str) -> Any:
        with tempfile.TemporaryDirectory(prefix="dqt-upload-", dir=self.work_dir) as tmp:
            path = Path(tmp) / filename
            mixture.to_jsonl(path)
            for attempt in range(1, self.create_attempts + 1):
                try:
                    with path.open("rb") as fh:
                        file = self._once.files.create(
                            file=(filename, fh, "application/jsonl"), purpose="fine-tune"
                        )
                    log.info("uploaded %s as %s", filename, file.id)
                    return file
                except (openai.APIConnectionError, openai.InternalServerError) as exc:
                    found = self._find_file(filename)
                    if found is not None:
                        return found
                    if attempt == self.create_attempts:
                        raise self._translate(exc, "uploading the training file") from exc
                    self._sleep(min(self.max_poll_interval, 0.5 * 2**attempt))
                except openai.OpenAIError as exc:
                    raise self._translate(exc, "uploading the training file") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_file(self, file: Any) -> Any:
        deadline = self._clock() + self.file_timeout
        while file.status not in ("processed", "error"):
            if self._clock() >= deadline:
                raise BackendError(
                    f"file {file.id} was not processed within {self.file_timeout:g} s; "
                    "submit again with the same key to resume"
                )
            self._sleep(self.file_poll_interval)
            try:
                file = self.client.files.retrieve(file.id)
            except openai.OpenAIError as exc:
                raise self._translate(exc, f"checking file {file.id}") from exc
        return file

    def _create(
        self, key: str, fingerprint: str, model: str, hp: dict[str, Any], file_id: str
    ) -> FineTuneJob:
        metadata = {"dqt_key": key, "dqt_fingerprint": fingerprint, "dqt_version": __version__}
        method = {"type": "supervised", "supervised": {"hyperparameters": hp}}
        unknown_outcomes = 0
        waited = 0.0
        rng = np.random.default_rng(self.seed)
        while True:
            self._wait_for_capacity()
            again = self.find_job(key)
            if again is not None:
                return self._adopt(again, key, fingerprint)
            try:
                remote = self._once.fine_tuning.jobs.create(
                    model=model,
                    training_file=file_id,
                    method=method,  # type: ignore[arg-type]
                    metadata=metadata,
                    suffix=self.suffix if self.suffix else openai.omit,
                )
                log.info("created fine-tuning job %s for key %r", remote.id, key)
                return self._record(remote, key=key)
            except (openai.APIConnectionError, openai.InternalServerError) as exc:
                # No answer (or a 5xx): the job may exist. Look before trying again.
                unknown_outcomes += 1
                self._sleep(min(self.max_poll_interval, 0.25 * 2**unknown_outcomes))
                found = self.find_job(key)
                if found is not None:
                    return self._adopt(found, key, fingerprint)
                if unknown_outcomes >= self.create_attempts:
                    raise self._translate(exc, "creating the fine-tuning job") from exc
            except openai.RateLimitError as exc:
                if exc.code == "insufficient_quota":
                    raise BackendError(
                        "OpenAI says the account has no quota left (insufficient_quota); add "
                        "credit or raise the limit, then submit again with the same key"
                    ) from exc
                delay = _retry_after(exc)
                if delay is None:
                    delay = min(self.max_poll_interval, self.poll_interval * (1 + rng.random()))
                if waited + delay > self.rate_limit_wait:
                    raise BackendError(
                        f"job creation still rate-limited ({exc.code or 'rate_limit'}) after "
                        f"{waited:g} s; submit again later with the same key"
                    ) from exc
                log.info("rate-limited (%s); retrying in %.1f s", exc.code, delay)
                waited += delay
                self._sleep(delay)
            except openai.PermissionDeniedError as exc:
                raise BackendUnavailableError(
                    WIND_DOWN_MESSAGE + f" Provider said: {exc.message}"
                ) from exc
            except openai.OpenAIError as exc:
                raise self._translate(exc, "creating the fine-tuning job") from exc

    def _wait_for_capacity(self) -> None:
        if self.max_active_jobs is None:
            return
        while True:
            try:
                active = sum(
                    1
                    for j in self.client.fine_tuning.jobs.list(limit=100)
                    if j.status in _ACTIVE and "dqt_key" in (j.metadata or {})
                )
            except openai.OpenAIError as exc:
                raise self._translate(exc, "counting active jobs") from exc
            if active < self.max_active_jobs:
                return
            log.info("%d active jobs (max %d); waiting", active, self.max_active_jobs)
            self._sleep(self.poll_interval)

    # ------------------------------------------------------------------ follow-up
    def refresh(self, job: FineTuneJob) -> FineTuneJob:
        """Return the job's current state, with new events and the latest metrics.

        A job without a provider id (rejected file, or a crash before create
        returned) is looked up by its key.
        """
        if job.job_id is None:
            if job.done:
                return job
            found = self.find_job(job.key)
            return job if found is None else self._record(found, key=job.key, prior=job)
        try:
            remote = self.client.fine_tuning.jobs.retrieve(job.job_id)
            events = list(self.client.fine_tuning.jobs.list_events(job.job_id, limit=100).data)
        except openai.OpenAIError as exc:
            raise self._translate(exc, f"refreshing job {job.job_id}") from exc
        fresh = self._record(remote, key=job.key, prior=job)
        events.reverse()  # oldest first
        metrics: dict[str, float] = dict(job.metrics)
        for ev in events:
            if ev.type == "metrics" and isinstance(ev.data, dict):
                metrics.update(
                    {k: float(v) for k, v in ev.data.items() if isinstance(v, int | float)}
                )
        if fresh.status == "succeeded":
            with contextlib.suppress(openai.OpenAIError):
                ckpts = self.client.fine_tuning.jobs.checkpoints.list(job.job_id, limit=1).data
                if ckpts:
                    m = ckpts[0].metrics.model_dump(exclude_none=True)
                    metrics.update({k: float(v) for k, v in m.items()})
        messages = tuple(ev.message for ev in events)
        return attrs.evolve(
            fresh,
            events=messages if len(messages) >= len(job.events) else job.events,
            metrics=metrics,
        )

    def wait(
        self,
        job: FineTuneJob,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> FineTuneJob:
        """Poll until the job is done, with backoff and jitter.

        Returns
        -------
        FineTuneJob
            The succeeded or rejected job.

        Raises
        ------
        FineTuneJobError
            The job failed (``code`` is the provider's) or was cancelled.
        JobTimeoutError
            ``timeout`` passed; the job keeps running and ``wait`` can be called again.
        BackendUnavailableError
            More than ``max_poll_failures`` polls in a row could not reach OpenAI.
        """
        interval = self.poll_interval if poll_interval is None else float(poll_interval)
        deadline = None if timeout is None else self._clock() + float(timeout)
        digest = hashlib.sha256(job.key.encode("utf-8")).digest()
        rng = np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])
        current = job
        failures = 0
        while True:
            try:
                current = self.refresh(current)
                failures = 0
            except BackendUnavailableError:
                failures += 1
                if failures > self.max_poll_failures:
                    raise
            if on_progress is not None:
                on_progress(current)
            if current.done:
                break
            now = self._clock()
            if deadline is not None and now >= deadline:
                raise JobTimeoutError(
                    f"job {current.job_id} still {current.status} after {timeout:g} s; it keeps "
                    "running remotely: call wait() again or submit() with the same key",
                    job=current,
                )
            delay = min(interval, self.max_poll_interval)
            delay *= 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
            if deadline is not None:
                delay = max(0.0, min(delay, deadline - now))
            self._sleep(delay)
            interval *= self.backoff
        if current.status in ("failed", "cancelled"):
            raise FineTuneJobError(
                f"fine-tuning job {current.job_id} {current.status}"
                + (
                    f": {current.error_code}: {current.error_message}" if current.error_code else ""
                ),
                job_id=current.job_id,
                code=current.error_code or current.status,
            )
        return current

    def cancel(self, job: FineTuneJob) -> FineTuneJob:
        """Cancel a running job; a finished one is returned as it is."""
        current = self.refresh(job)
        if current.done or current.job_id is None:
            return current
        try:
            remote = self.client.fine_tuning.jobs.cancel(current.job_id)
        except openai.BadRequestError:
            return self.refresh(current)  # finished in the meantime
        except openai.OpenAIError as exc:
            raise self._translate(exc, f"cancelling job {current.job_id}") from exc
        return self._record(remote, key=job.key, prior=current)

    # ------------------------------------------------------------------ cost, sampling
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
        default-epochs rule (:func:`~dataquality_thresholds.backends.pricing.default_epochs`).
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

    def sampler(self, **options: Any) -> OpenAISampler:
        """Return an :class:`OpenAISampler` for this backend's endpoint and key.

        Parameters
        ----------
        **options
            Passed to :class:`OpenAISampler` (``max_concurrency``, ``rpm``,
            ``cache`` ...).
        """
        if self._client is not None:
            return OpenAISampler(self._client, **options)
        return OpenAISampler(base_url=self._base_url, api_key=self._api_key.get(), **options)


# =========================================================================== sampling
# The sampling engine lives in .sampling (no ``openai`` import there); this
# section supplies its transport: raw chat/batch calls through ``AsyncOpenAI``
# with the SDK's retries off (the engine retries, once), and the mapping of
# ``openai`` exceptions to retryable / final errors.

_DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Requests in flight per HTTP connection pool (see _AsyncOpenAITransport).
_CONNECTIONS_PER_POOL = 10


def _classify(exc: Exception, what: str) -> BackendError:
    """Map an ``openai`` exception to RetryableError or a final BackendError."""
    if isinstance(exc, openai.RateLimitError):
        if exc.code == "insufficient_quota":
            return BackendUnavailableError(
                f"{what}: the account is out of quota (429 insufficient_quota); add credit "
                "or use another key"
            )
        return RetryableError(f"{what}: rate limited (429)", retry_after=_retry_after(exc))
    if isinstance(exc, openai.APIStatusError) and (
        exc.status_code >= 500 or exc.status_code in (408, 409)
    ):
        return RetryableError(
            f"{what}: HTTP {exc.status_code}: {exc.message}", retry_after=_retry_after(exc)
        )
    if isinstance(exc, openai.APIConnectionError):
        return RetryableError(f"{what}: {type(exc).__name__} (connection or timeout)")
    if isinstance(exc, openai.AuthenticationError):
        return BackendUnavailableError(f"{what}: the API key was rejected (401)")
    if isinstance(exc, openai.APIStatusError):
        return BackendError(f"{what}: HTTP {exc.status_code} ({exc.code}): {exc.message}")
    return BackendError(f"{what}: {type(exc).__name__}: {exc}")


class _AsyncOpenAITransport:
    """The raw calls of :class:`ChatSampler`, over ``openai.AsyncOpenAI`` clients.

    Chat requests are spread round-robin over several clients (one connection
    pool each): the HTTP pool scans all its connections on every request, so
    one pool of 50 connections costs far more CPU per request than five of 10.
    """

    def __init__(self, clients: Sequence[openai.AsyncOpenAI]) -> None:
        self._clients = list(clients)
        self._client = self._clients[0]
        self._next = 0

    def _pick(self) -> openai.AsyncOpenAI:
        self._next = (self._next + 1) % len(self._clients)
        client: openai.AsyncOpenAI = self._clients[self._next]
        return client

    async def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        # the client's generic POST: same auth, headers and error mapping as
        # ``chat.completions.create``, without validating our (already plain
        # JSON) body against the typed parameters or parsing the reply into
        # pydantic models: that costs more CPU per request than the rest of
        # the sampler together
        try:
            raw = await self._pick().post("/chat/completions", cast_to=bytes, body=dict(body))
        except openai.OpenAIError as exc:
            raise _classify(exc, f"sampling {body.get('model')}") from exc
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise BackendError("the server answered chat/completions with a non-object")
        return data

    async def upload(self, content: bytes, filename: str) -> str:
        try:
            f = await self._client.files.create(file=(filename, content), purpose="batch")
        except openai.OpenAIError as exc:
            raise _classify(exc, "uploading the batch file") from exc
        return str(f.id)

    async def create_batch(
        self, input_file_id: str, *, completion_window: str, input_digest: str
    ) -> dict[str, Any]:
        try:
            b = await self._client.batches.create(
                input_file_id=input_file_id,
                endpoint="/v1/chat/completions",
                completion_window=completion_window,  # type: ignore[arg-type,unused-ignore]
                metadata={"created_by": "dataquality_thresholds", "dqt_input": input_digest},
            )
        except openai.OpenAIError as exc:
            raise _classify(exc, "creating the batch") from exc
        return dict(b.model_dump())

    async def find_batch(self, input_digest: str) -> dict[str, Any] | None:
        try:
            page = await self._client.batches.list(limit=100)
        except openai.OpenAIError as exc:
            raise _classify(exc, "listing batches") from exc
        for b in page.data:
            meta = b.metadata or {}
            if meta.get("dqt_input") == input_digest and b.status not in (
                "failed",
                "expired",
                "cancelled",
                "cancelling",
            ):
                return dict(b.model_dump())
        return None

    async def retrieve_batch(self, batch_id: str) -> dict[str, Any]:
        try:
            b = await self._client.batches.retrieve(batch_id)
        except openai.OpenAIError as exc:
            raise _classify(exc, f"polling batch {batch_id}") from exc
        return dict(b.model_dump())

    async def file_content(self, file_id: str) -> bytes:
        try:
            resp = await self._client.files.content(file_id)
        except openai.OpenAIError as exc:
            raise _classify(exc, f"downloading file {file_id}") from exc
        return bytes(resp.content)

    async def aclose(self) -> None:
        for c in self._clients:
            await c.close()


class OpenAISampler(ChatSampler):
    """Sample any OpenAI-compatible chat endpoint: concurrent, rate-limited, cached.

    Implements the :class:`~dataquality_thresholds.backends.Sampler` protocol
    (``complete`` / ``acomplete``), plus ``top_logprobs`` for judges and a
    Batch API mode. See ``docs/sampling.md``.

    Parameters
    ----------
    client : openai.OpenAI or openai.AsyncOpenAI, optional
        Supplies the endpoint, key, organisation and project. The sampler
        builds its own ``AsyncOpenAI`` from them for each run (an async client
        is bound to the event loop it first ran on), with the SDK's retries
        off.
    base_url, api_key : str, optional
        Used when no client is given; else ``OPENAI_BASE_URL`` /
        ``OPENAI_API_KEY``. The key is looked up when the first request is
        made, held privately, and never stored in the cache.
    max_concurrency : int
        Requests in flight at once.
    rpm, tpm : float, optional
        Requests and tokens per minute (tokens are estimated before a request
        as prompt characters / 4 plus ``max_tokens * n``, then corrected with
        the reported usage).
    cache : CompletionCache or path, optional
        Where samples are stored; a rerun of cached work sends no request.
    progress : bool
        Show a tqdm progress bar.
    max_retries : int
        Retries of a request after 429, 5xx, 408/409, a timeout or a dropped
        connection (the SDK's own retries are off, so they never stack).
    backoff, max_backoff : float
        Exponential backoff base and cap (seconds, with jitter) when the
        server sends no ``Retry-After``.
    timeout : float
        Seconds per HTTP request.
    batch : bool
        Send every call through the Batch API (50% cheaper, up to 24 h).
    batch_poll_interval : float
        Seconds between batch polls.
    batch_timeout : float, optional
        Give up waiting for a batch after this many seconds (it keeps running).
    completion_window : str
        The Batch API window.
    seed : int
        Seed of the backoff jitter.
    """

    def __init__(
        self,
        client: openai.OpenAI | openai.AsyncOpenAI | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 16,
        rpm: float | None = None,
        tpm: float | None = None,
        cache: CompletionCache | str | Path | None = None,
        progress: bool = False,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 120.0,
        batch: bool = False,
        batch_poll_interval: float = 30.0,
        batch_timeout: float | None = None,
        completion_window: str = "24h",
        seed: int = 0,
    ) -> None:
        self._options: dict[str, Any] = {}
        if client is not None:
            base_url = str(client.base_url)
            api_key = client.api_key
            self._options = {"organization": client.organization, "project": client.project}
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or _DEFAULT_BASE_URL
        self._api_key = _Secret(api_key)
        self.timeout = float(timeout)
        super().__init__(
            transport_factory=self._transport,
            base_url=base_url.rstrip("/"),
            max_concurrency=max_concurrency,
            rpm=rpm,
            tpm=tpm,
            cache=cache,
            progress=progress,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
            batch=batch,
            batch_poll_interval=batch_poll_interval,
            batch_timeout=batch_timeout,
            completion_window=completion_window,
            seed=seed,
        )

    def __repr__(self) -> str:
        return (
            f"OpenAISampler(base_url={self.base_url!r}, max_concurrency={self.max_concurrency}, "
            f"rpm={self.rpm!r}, tpm={self.tpm!r}, cache={self.cache!r})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("OpenAISampler holds credentials; build it again in the new process")

    def _transport(self) -> _AsyncOpenAITransport:
        pools = max(1, -(-self.max_concurrency // _CONNECTIONS_PER_POOL))
        try:
            clients = [
                openai.AsyncOpenAI(
                    api_key=self._api_key.get(),
                    base_url=self.base_url,
                    max_retries=0,
                    timeout=self.timeout,
                    **self._options,
                )
                for _ in range(pools)
            ]
        except openai.OpenAIError as exc:
            raise BackendUnavailableError(
                "cannot build an OpenAI client: no API key. Set OPENAI_API_KEY or pass "
                "api_key=... (or client=...)."
            ) from exc
        return _AsyncOpenAITransport(clients)


if TYPE_CHECKING:  # mypy checks the sampler against the protocol
    from .base import Sampler

    _sampler: Sampler = OpenAISampler()
