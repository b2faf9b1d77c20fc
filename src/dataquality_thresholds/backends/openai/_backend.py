"""OpenAIBackend: fine-tuning through OpenAI's API, idempotent and fault-tolerant.

This wing (``backends.openai``) is the only code of the library that imports ``openai``.

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

What needs no ``openai`` lives in private modules beside this one, and this
module hands them the ``openai`` classes and clients they need: the settings
halves of both classes (``_config``, ``_sampler``), request building and job
records (``_jobs``), the waiting loops (``_polling``), the error mapping on plain
facts (``_errors``, fed by ``_sdk``), the sampler's raw calls (``_transport``) and
the key holder (``_secret``). ``OpenAISampler`` is in ``_client_sampler``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import openai

from dataquality_thresholds.backends._base import ProgressCallback
from dataquality_thresholds.backends._pricing import actual_training_cost
from dataquality_thresholds.backends._records import CostEstimate, FineTuneJob
from dataquality_thresholds.backends.openai._client_sampler import OpenAISampler
from dataquality_thresholds.backends.openai._config import (
    DEFAULT_BASE_MODEL as DEFAULT_BASE_MODEL,
    OpenAIBackendSettings,
)
from dataquality_thresholds.backends.openai._errors import (
    translate,
)
from dataquality_thresholds.backends.openai._jobs import (
    adopted_from,
    check_fingerprint,
    check_hyperparameters,
    check_key,
    count_active,
    job_metadata,
    job_record,
    job_status,
    oldest,
    rejected_file_job,
    supervised_method,
    training_filename,
    with_progress,
)
from dataquality_thresholds.backends.openai._polling import poll_rng, wait_for_file, wait_for_job
from dataquality_thresholds.backends.openai._retry import RetryBudget, call_with_retries
from dataquality_thresholds.backends.openai._sdk import error_facts, retry_after
from dataquality_thresholds.backends.openai._winddown import wind_down_message
from dataquality_thresholds.errors import BackendError, BackendUnavailableError, ConfigError
from dataquality_thresholds.mixing import Mixture

__all__ = ["OpenAIBackend"]

log = logging.getLogger(__name__)


class OpenAIBackend(OpenAIBackendSettings[openai.OpenAI]):
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
        Seconds to keep retrying a rate-limited listing, upload or job creation
        (``Retry-After``, else a bounded backoff) before giving up.
    create_attempts : int
        Attempts at an upload or a job creation whose outcome is unknown
        (dropped connection, timeout, 5xx); each is preceded by a lookup.
    file_poll_interval, file_timeout : float
        How often and how long to wait for an uploaded file to be processed.
    prices : PriceTable or mapping, optional
        Training prices for :meth:`estimate_cost` and each job's ``cost``, and
        sampling prices for a study's plan and budget (:attr:`price_table`).
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
        return translate(error_facts(exc), what)

    # ------------------------------------------------------------------ records
    def _status(self, remote: Any) -> tuple[str, str | None, str | None]:
        return job_status(remote, self._rejection)

    def _record(
        self,
        remote: Any,
        *,
        key: str,
        prior: FineTuneJob | None = None,
        estimate: CostEstimate | None = None,
    ) -> FineTuneJob:
        cost = self._actual_cost(remote)
        if cost is None:
            cost = estimate if estimate is not None else (prior.cost if prior else None)
        return job_record(
            remote, self._status(remote), key=key, backend=self.name, prior=prior, cost=cost
        )

    def _actual_cost(self, remote: Any) -> CostEstimate | None:
        """Return the job's cost from the tokens OpenAI says it trained on (None until known)."""
        tokens = getattr(remote, "trained_tokens", None)
        if tokens is None:
            return None
        record = job_record(remote, self._status(remote), key="cost", backend=self.name)
        epochs = record.hyperparameters.get("n_epochs")
        try:
            return actual_training_cost(
                int(tokens),
                base_model=remote.model,
                epochs=epochs if isinstance(epochs, int) else None,
                prices=self.prices,
            )
        except ConfigError:
            log.warning("no training price for %r: job %s has no cost", remote.model, remote.id)
            return None

    def _estimate(self, mixture: Mixture, model: str, hp: Mapping[str, Any]) -> CostEstimate | None:
        """Return the job's estimated cost (remembered per training file, model and epochs)."""
        n_epochs = hp.get("n_epochs")
        memo_key = (mixture.fingerprint, model, str(n_epochs))
        memo = self._estimates
        if memo_key not in memo:
            try:
                memo[memo_key] = self.estimate_cost(mixture, base_model=model, n_epochs=n_epochs)
            except ConfigError:
                memo[memo_key] = None  # a model without a price: no estimate
        return memo[memo_key]

    # ------------------------------------------------------------------ retries
    def _retry_budget(self) -> RetryBudget:
        return RetryBudget(
            max_wait=self.rate_limit_wait,
            attempts=self.create_attempts,
            base_delay=min(self.poll_interval, 2.0),
            max_delay=self.max_poll_interval,
            sleep=self._sleep,
            rng=np.random.default_rng(self.seed),
        )

    def _read(self, call: Any, what: str) -> Any:
        """Run a listing with bounded retries of 429s, dropped connections and 5xx."""
        return call_with_retries(
            call,
            what=what,
            error=openai.OpenAIError,
            facts=error_facts,
            budget=self._retry_budget(),
            read=True,
        )

    # ------------------------------------------------------------------ lookups
    def find_job(self, key: str) -> Any | None:
        """Return the provider's job carrying ``key`` in its metadata (oldest), or None.

        Reads every page of ``jobs.list(metadata={"dqt_key": key})`` and checks
        the metadata itself, so a server that ignores the filter is still safe.
        """

        def listing() -> list[Any]:
            return [
                remote
                for remote in self._once.fine_tuning.jobs.list(metadata={"dqt_key": key}, limit=100)
                if (remote.metadata or {}).get("dqt_key") == key
            ]

        found = self._read(listing, "listing fine-tuning jobs")
        if not found:
            return None
        if len(found) > 1:
            log.warning("%d jobs carry key %r; adopting the oldest", len(found), key)
        return oldest(found)

    def _find_file(self, filename: str) -> Any | None:
        def listing() -> list[Any]:
            return [
                f
                for f in self._once.files.list(purpose="fine-tune")
                if f.filename == filename and f.status != "error"
            ]

        hits = self._read(listing, "listing files")
        return oldest(hits) if hits else None

    # ------------------------------------------------------------------ submit
    def submit(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        key: str,
        label: str | None = None,
        run: str | None = None,
        on_adopt: Callable[[FineTuneJob, str], None] | None = None,
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
        label : str, optional
            What the job is for, readable (a study passes its cell,
            ``finance/subtle/f0.2500/r1``): sent as the metadata ``dqt_cell`` next
            to the key's hash (cut to 512 characters).
        run : str, optional
            Which run asks (a study passes its run directory's name): sent as the
            metadata ``dqt_run``, so a later run that adopts the job can say where
            it came from.
        on_adopt : callable, optional
            Called as ``on_adopt(job, origin)`` when the key's job existed before
            this call (made by an earlier run, or another process) and is adopted
            instead of created; ``origin`` describes it (created when, by which
            run, for which cell). A study announces it.

        Returns
        -------
        FineTuneJob
            Status ``rejected`` without a ``job_id`` when moderation blocked the file.
            Its ``cost`` is the estimate (this backend's prices, the job's epochs)
            until the job reports trained tokens, then the actual cost.

        Raises
        ------
        ConfigError
            Bad key or hyperparameters, or the key belongs to other training data.
        BackendUnavailableError
            No key / unreachable / 403 (the fine-tuning wind-down, see
            :func:`wind_down_message`).
        BackendError
            ``insufficient_quota``, rate limits beyond ``rate_limit_wait``, or
            another refusal.
        """
        check_key(key)
        hp = {**self.hyperparameters, **check_hyperparameters(hyperparameters)}
        model = base_model or self.base_model
        fingerprint = mixture.fingerprint
        estimate = self._estimate(mixture, model, hp)
        existing = self.find_job(key)
        if existing is not None:
            job = self._adopt(existing, key, fingerprint, estimate)
            if on_adopt is not None:
                on_adopt(job, adopted_from(existing))
            return job
        file = self._ensure_file(mixture, fingerprint)
        if file.status == "error":
            return rejected_file_job(
                file,
                key=key,
                backend=self.name,
                base_model=model,
                fingerprint=fingerprint,
                hyperparameters=hp,
            )
        meta = job_metadata(key, fingerprint, label=label, run=run)
        return self._create(
            key, fingerprint, model, hp, file.id, meta, estimate=estimate, on_adopt=on_adopt
        )

    def _adopt(
        self, remote: Any, key: str, fingerprint: str, estimate: CostEstimate | None = None
    ) -> FineTuneJob:
        check_fingerprint(remote, key, fingerprint)
        log.info("adopting existing fine-tuning job %s for key %r", remote.id, key)
        return self._record(remote, key=key, estimate=estimate)

    def _ensure_file(self, mixture: Mixture, fingerprint: str) -> Any:
        filename = training_filename(fingerprint)
        file = self._find_file(filename)
        if file is None:
            file = self._upload(mixture, filename)
        return self._wait_file(file)

    def _upload(self, mixture: Mixture, filename: str) -> Any:
        with tempfile.TemporaryDirectory(prefix="dqt-upload-", dir=self.work_dir) as tmp:
            path = Path(tmp) / filename
            mixture.to_jsonl(path)
            budget = self._retry_budget()

            def create() -> Any:
                with path.open("rb") as fh:
                    return self._once.files.create(
                        file=(filename, fh, "application/jsonl"), purpose="fine-tune"
                    )

            for attempt in range(1, self.create_attempts + 1):
                try:
                    # a 429 is an answer (nothing was made): waited out and sent again here
                    file = call_with_retries(
                        create,
                        what="uploading the training file",
                        error=openai.RateLimitError,
                        facts=error_facts,
                        budget=budget,
                        read=False,
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
        return wait_for_file(
            file,
            retrieve=self._retrieve_file,
            poll_interval=self.file_poll_interval,
            timeout=self.file_timeout,
            clock=self._clock,
            sleep=self._sleep,
        )

    def _retrieve_file(self, file_id: str) -> Any:
        try:
            return self.client.files.retrieve(file_id)
        except openai.OpenAIError as exc:
            raise self._translate(exc, f"checking file {file_id}") from exc

    def _create(
        self,
        key: str,
        fingerprint: str,
        model: str,
        hp: dict[str, Any],
        file_id: str,
        metadata: dict[str, str],
        *,
        estimate: CostEstimate | None = None,
        on_adopt: Callable[[FineTuneJob, str], None] | None = None,
    ) -> FineTuneJob:
        method = supervised_method(hp)
        unknown_outcomes = 0
        waited = 0.0
        rng = np.random.default_rng(self.seed)
        while True:
            self._wait_for_capacity()
            again = self.find_job(key)
            if again is not None:
                job = self._adopt(again, key, fingerprint, estimate)
                if on_adopt is not None and unknown_outcomes == 0:  # not one we may have made
                    on_adopt(job, adopted_from(again))
                return job
            try:
                remote = self._once.fine_tuning.jobs.create(
                    model=model,
                    training_file=file_id,
                    method=method,  # type: ignore[arg-type]
                    metadata=metadata,
                    suffix=self.suffix if self.suffix else openai.omit,
                )
                log.info("created fine-tuning job %s for key %r", remote.id, key)
                return self._record(remote, key=key, estimate=estimate)
            except (openai.APIConnectionError, openai.InternalServerError) as exc:
                # No answer (or a 5xx): the job may exist. Look before trying again.
                unknown_outcomes += 1
                self._sleep(min(self.max_poll_interval, 0.25 * 2**unknown_outcomes))
                found = self.find_job(key)
                if found is not None:
                    return self._adopt(found, key, fingerprint, estimate)
                if unknown_outcomes >= self.create_attempts:
                    raise self._translate(exc, "creating the fine-tuning job") from exc
            except openai.RateLimitError as exc:
                if exc.code == "insufficient_quota":
                    raise BackendError(
                        "OpenAI says the account has no quota left (insufficient_quota); add "
                        "credit or raise the limit, then submit again with the same key"
                    ) from exc
                delay = retry_after(exc)
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
                    wind_down_message() + f" Provider said: {exc.message}"
                ) from exc
            except openai.OpenAIError as exc:
                raise self._translate(exc, "creating the fine-tuning job") from exc

    def _wait_for_capacity(self) -> None:
        if self.max_active_jobs is None:
            return
        while True:
            active = self._read(
                lambda: count_active(self._once.fine_tuning.jobs.list(limit=100)),
                "counting active jobs",
            )
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
        checkpoint = None
        if fresh.status == "succeeded":
            with contextlib.suppress(openai.OpenAIError):
                ckpts = self.client.fine_tuning.jobs.checkpoints.list(job.job_id, limit=1).data
                checkpoint = ckpts[0] if ckpts else None
        return with_progress(fresh, prior=job, events=events, checkpoint=checkpoint)

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
        return wait_for_job(
            job,
            refresh=self.refresh,
            interval=interval,
            max_interval=self.max_poll_interval,
            backoff=self.backoff,
            jitter=self.jitter,
            rng=poll_rng(self.seed, job.key),
            timeout=timeout,
            max_failures=self.max_poll_failures,
            clock=self._clock,
            sleep=self._sleep,
            on_progress=on_progress,
        )

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

    # ------------------------------------------------------------------ sampling
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
