"""TogetherBackend: fine-tuning open-weight models on Together AI, never paying twice.

The rules it keeps, the same as ``OpenAIBackend``'s:

* **Never twice.** A Together job carries no metadata, so its ``suffix`` carries
  the key (a hash of it, with the start of the data's fingerprint; see
  ``_jobs``). Before creating a job the backend lists the account's jobs and
  adopts the one with that suffix. The upload and the create run with the
  client's retries off; when one ends without an answer (dropped connection,
  timeout, 5xx) the backend lists again before it tries again. Training files
  are named after the mixture's fingerprint and reused.
* **Failures are data.** A file Together refuses, or a job that ends in
  ``user_error`` for a reason matching ``rejection_pattern``, is ``rejected``;
  other failures are ``failed`` and ``wait`` raises
  :class:`~dataquality_thresholds.errors.FineTuneJobError`.
* **Costs are recorded.** A job's ``cost`` starts as Together's own estimate
  (``/fine-tunes/estimate-price``) or the price table's, and becomes the billed
  price once the job reports ``total_price``.
* **The key stays in the client.** It is in no record, repr, log or file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import openai

from dataquality_thresholds.backends._base import ProgressCallback
from dataquality_thresholds.backends._records import CostEstimate, FineTuneJob
from dataquality_thresholds.backends.together._api import (
    TogetherApi,
    is_unknown_outcome,
    retry_after,
    translate,
)
from dataquality_thresholds.backends.together._jobs import (
    check_hyperparameters,
    check_key,
    create_body,
    job_record,
    job_suffix,
    matches_key,
    oldest,
    training_filename,
    with_events,
)
from dataquality_thresholds.backends.together._polling import (
    file_ready,
    jitter_rng,
    poll_file,
    poll_job,
)
from dataquality_thresholds.backends.together._sampler import TogetherSampler
from dataquality_thresholds.backends.together._settings import TogetherSettings
from dataquality_thresholds.errors import BackendError, BackendUnavailableError, ConfigError
from dataquality_thresholds.mixing import Mixture

__all__ = ["TogetherBackend"]

log = logging.getLogger(__name__)


class TogetherBackend(TogetherSettings):
    """Fine-tune open-weight models on Together AI, never paying twice for one key.

    Parameters
    ----------
    client : openai.OpenAI, optional
        A prebuilt client whose ``base_url`` is Together's. Without one, a client
        is built on first use from ``base_url`` and ``api_key``.
    base_url : str, optional
        Default ``https://api.together.xyz/v1``.
    api_key : str, optional
        Default ``TOGETHER_API_KEY``. Held privately and never shown.
    base_model : str
        Default model to fine-tune.
    hyperparameters : mapping, optional
        Defaults for ``n_epochs`` (1), ``batch_size`` (``"max"``), ``learning_rate`` (1e-5).
    lora : TogetherLoRA or None
        LoRA settings (default rank 16, alpha 32, all linear layers); None for
        full fine-tuning (priced higher).
    serving : {"dedicated", "serverless"}
        How fine-tuned models are sampled (see :class:`TogetherSampler`).
    endpoints : mapping of str to str, optional
        Fine-tuned model -> the dedicated endpoint that serves it.
    check_price : bool
        Ask Together for its price estimate after the upload; stop before
        creating when it says the account cannot pay (``allowed_to_proceed``).
    poll_interval, max_poll_interval, backoff, jitter : float
        Polling in :meth:`wait`: first wait, cap, growth and +- relative noise.
    rate_limit_wait : float
        Seconds to keep retrying a rate-limited creation.
    create_attempts : int
        Attempts at an upload or creation whose outcome is unknown; each
        retry is preceded by a lookup.
    file_poll_interval, file_timeout : float
        How often and how long to wait for Together to validate the file.
    max_poll_failures : int
        Polls in a row that may fail to reach Together in :meth:`wait`.
    prices : PriceTable or mapping, optional
        Training prices (USD per million tokens) replacing or overriding the
        size-bracket table.
    model_sizes : mapping, optional
        Model -> billions of parameters, for models the table does not know.
    hosting_usd_per_hour : float, optional
        Dedicated endpoint price, for :meth:`estimate_hosting_cost`.
    tokenizer : Tokenizer, optional
        For :meth:`estimate_cost` (default ``o200k_base``).
    rejection_pattern : str
        Regular expression on a failure's status and reason that marks it ``rejected``.
    work_dir : path, optional
        Where the training file is written before upload (a temporary folder
        inside it, removed afterwards).
    seed : int
        Seed of the poll jitter and the training run's ``random_seed``.
    sleep, clock : callable, optional
        Injected for tests.
    """

    name = "together"

    # ------------------------------------------------------------------ client
    @property
    def client(self) -> openai.OpenAI:
        """The ``openai.OpenAI`` client pointed at Together (built on first use)."""
        if self._client is None:
            key = self._api_key.value or os.environ.get("TOGETHER_API_KEY")
            if not key:
                raise BackendUnavailableError(
                    "no Together API key: set TOGETHER_API_KEY or pass api_key=... (or client=...)"
                )
            self._client = openai.OpenAI(api_key=key, base_url=self.base_url)
        client: openai.OpenAI = self._client
        return client

    @property
    def api(self) -> TogetherApi:
        """The REST calls, over :attr:`client`."""
        return TogetherApi(self.client)

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except openai.OpenAIError as exc:
            raise translate(exc, what) from exc

    def _record(
        self,
        remote: Mapping[str, Any],
        *,
        key: str,
        fingerprint: str,
        prior: FineTuneJob | None = None,
        events: Any = (),
    ) -> FineTuneJob:
        model = str(remote.get("model") or self.base_model)
        return job_record(
            remote,
            key=key,
            fingerprint=fingerprint,
            backend=self.name,
            rejection=self._rejection,
            prior=prior,
            events=events,
            price=self._price_or_none(model),
        )

    # ------------------------------------------------------------------ lookups
    def find_job(self, key: str, fingerprint: str) -> dict[str, Any] | None:
        """Return the Together job of ``key`` (the oldest, if several), or None.

        Raises
        ------
        ConfigError
            A job of ``key`` exists but was trained on other data.
        """
        suffix = job_suffix(key, fingerprint)
        jobs = self._call("listing fine-tunes", self.api.list_jobs)
        found, other = [], None
        for remote in jobs:
            hit = matches_key(remote, suffix)
            if hit:
                found.append(remote)
            elif hit is None:
                other = remote
        if not found and other is not None:
            raise ConfigError(
                f"key {key!r} belongs to Together job {other.get('id')}, trained on other data; "
                "use a new key",
                field="key",
            )
        if len(found) > 1:
            log.warning("%d Together jobs carry key %r; adopting the oldest", len(found), key)
        return dict(oldest(found)) if found else None

    def _find_file(self, filename: str) -> dict[str, Any] | None:
        files = self._call("listing files", self.api.list_files)
        hits = [
            f
            for f in files
            if f.get("filename") == filename
            and int(f.get("bytes") or 0) > 0
            and file_ready(f) is not False
        ]
        return dict(oldest(hits)) if hits else None

    # ------------------------------------------------------------------ submit
    def submit(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        key: str,
    ) -> FineTuneJob:
        """Upload the mixture (once) and create the fine-tune for ``key`` (once).

        Parameters
        ----------
        mixture : Mixture
            Training data.
        base_model : str, optional
            Defaults to the backend's ``base_model``.
        hyperparameters : mapping, optional
            ``n_epochs``, ``batch_size``, ``learning_rate``, over the backend's.
        key : str
            Idempotency key. A Together job that carries it is adopted, whatever
            its status; use a new key to try again.

        Returns
        -------
        FineTuneJob
            Status ``rejected`` without a ``job_id`` when Together refused the file.

        Raises
        ------
        ConfigError
            Bad key or hyperparameters, or the key belongs to other training data.
        BackendUnavailableError
            No key, unreachable, 401/403.
        BackendError
            No credit, rate limits beyond ``rate_limit_wait``, or another refusal.
        """
        check_key(key)
        hp = {**self.hyperparameters, **check_hyperparameters(hyperparameters)}
        model = base_model or self.base_model
        fingerprint = mixture.fingerprint
        existing = self.find_job(key, fingerprint)
        if existing is not None:
            return self._adopt(existing, key, fingerprint, mixture, model, hp)
        file = self._ensure_file(mixture, fingerprint)
        estimate = self._table_estimate(mixture, model, hp)
        if file_ready(file) is False:
            report = file.get("validation_report") or {}
            refused = f"Together refused the file ({file.get('processing_status')})"
            return FineTuneJob(
                key=key,
                backend=self.name,
                base_model=model,
                fingerprint=fingerprint,
                status="rejected",
                file_id=str(file["id"]),
                error_code="training_file_rejected",
                error_message=str(report.get("error") or refused),
                hyperparameters=hp,
                cost=estimate,
            )
        body = create_body(
            model=model,
            file_id=str(file["id"]),
            suffix=job_suffix(key, fingerprint),
            hp=hp,
            lora=self.lora,
            seed=self.seed,
        )
        cost = self._service_estimate(body, estimate)
        return self._create(body, key, fingerprint, cost)

    def _table_estimate(
        self, mixture: Mixture, model: str, hp: Mapping[str, Any]
    ) -> CostEstimate | None:
        try:
            return self.estimate_cost(mixture, base_model=model, n_epochs=hp.get("n_epochs"))
        except ConfigError as exc:
            log.warning("no cost estimate for %s: %s", model, exc)
            return None

    def _adopt(
        self,
        remote: Mapping[str, Any],
        key: str,
        fingerprint: str,
        mixture: Mixture,
        model: str,
        hp: Mapping[str, Any],
    ) -> FineTuneJob:
        log.info("adopting existing Together job %s for key %r", remote.get("id"), key)
        job = self._record(remote, key=key, fingerprint=fingerprint)
        if job.cost is None:
            job = attrs.evolve(job, cost=self._table_estimate(mixture, model, hp))
        return job

    def _ensure_file(self, mixture: Mixture, fingerprint: str) -> dict[str, Any]:
        filename = training_filename(fingerprint)
        file = self._find_file(filename)
        if file is None:
            file = self._upload(mixture, filename)
        return poll_file(
            file,
            retrieve=lambda fid: self._call(f"checking file {fid}", self.api.retrieve_file, fid),
            interval=self.file_poll_interval,
            timeout=self.file_timeout,
            clock=self._clock,
            sleep=self._sleep,
        )

    def _upload(self, mixture: Mixture, filename: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="dqt-together-", dir=self.work_dir) as tmp:
            path = Path(tmp) / filename
            mixture.to_jsonl(path)
            content = path.read_bytes()
        for attempt in range(1, self.create_attempts + 1):
            try:
                file = self.api.upload_file(filename, content)
                log.info("uploaded %s as %s", filename, file.get("id"))
                return file
            except openai.OpenAIError as exc:
                if not is_unknown_outcome(exc):
                    raise translate(exc, "uploading the training file") from exc
                self._sleep(min(self.max_poll_interval, 0.25 * 2**attempt))
                found = self._find_file(filename)
                if found is not None:
                    return found
                if attempt == self.create_attempts:
                    raise translate(exc, "uploading the training file") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _service_estimate(
        self, body: Mapping[str, Any], fallback: CostEstimate | None
    ) -> CostEstimate | None:
        """Together's own price estimate, when it gives one; stop if it says we cannot pay."""
        if not self.check_price:
            return fallback
        keys = ("training_file", "model", "n_epochs", "n_evals", "training_method", "training_type")
        try:
            est = self.api.estimate_price({k: body[k] for k in keys})
        except openai.OpenAIError as exc:
            log.info("no price estimate from Together (%s); using the price table", exc)
            return fallback
        if est.get("estimation_available") is False:
            return fallback
        usd = est.get("estimated_total_price")
        if est.get("allowed_to_proceed") is False:
            raise BackendError(
                f"Together estimates this fine-tune at ${usd} and says the account's credit "
                "cannot cover it (allowed_to_proceed=false); nothing was created. Add credit "
                "and submit again with the same key."
            )
        trained = est.get("estimated_train_token_count")
        if usd is None or not trained:
            return fallback
        epochs = int(body["n_epochs"])
        return CostEstimate(
            tokens=int(float(trained)) // epochs,
            epochs=epochs,
            usd=float(usd),
            base_model=str(body["model"]),
            usd_per_million=float(usd) * 1e6 / float(trained),
            price_date="together-estimate",
            n_examples=fallback.n_examples if fallback else 0,
        )

    def _create(
        self, body: Mapping[str, Any], key: str, fingerprint: str, cost: CostEstimate | None
    ) -> FineTuneJob:
        unknown = 0
        waited = 0.0
        rng = np.random.default_rng([self.seed, 0x6372])
        stub = FineTuneJob(
            key=key,
            backend=self.name,
            base_model=str(body["model"]),
            fingerprint=fingerprint,
            status="pending",
            cost=cost,
        )
        while True:
            again = self.find_job(key, fingerprint)
            if again is not None:
                log.info("adopting Together job %s for key %r", again.get("id"), key)
                return self._record(again, key=key, fingerprint=fingerprint, prior=stub)
            try:
                remote = self.api.create_job(body)
                log.info("created Together fine-tune %s for key %r", remote.get("id"), key)
                return self._record(remote, key=key, fingerprint=fingerprint, prior=stub)
            except openai.RateLimitError as exc:
                delay = retry_after(exc)
                if delay is None:
                    delay = min(self.max_poll_interval, self.poll_interval * (1 + rng.random()))
                if waited + delay > self.rate_limit_wait:
                    raise BackendError(
                        f"creating the Together fine-tune is still rate-limited after "
                        f"{waited:g} s; submit again later with the same key"
                    ) from exc
                log.info("rate-limited; retrying in %.1f s", delay)
                waited += delay
                self._sleep(delay)
            except openai.OpenAIError as exc:
                if not is_unknown_outcome(exc):
                    raise translate(exc, "creating the Together fine-tune") from exc
                # no answer (or a 5xx): the job may exist; the loop looks before retrying
                unknown += 1
                if unknown >= self.create_attempts:
                    found = self.find_job(key, fingerprint)
                    if found is not None:
                        return self._record(found, key=key, fingerprint=fingerprint, prior=stub)
                    raise translate(exc, "creating the Together fine-tune") from exc
                self._sleep(min(self.max_poll_interval, 0.25 * 2**unknown))

    # ------------------------------------------------------------------ follow-up
    def refresh(self, job: FineTuneJob) -> FineTuneJob:
        """Return the job's current state, with its events and cost.

        A job without a Together id (refused file, or a crash before the create
        answered) is looked up by its key.
        """
        if job.job_id is None:
            if job.done:
                return job
            found = self.find_job(job.key, job.fingerprint)
            if found is None:
                return job
            return self._record(found, key=job.key, fingerprint=job.fingerprint, prior=job)
        what = f"refreshing Together job {job.job_id}"
        remote = self._call(what, self.api.retrieve_job, job.job_id)
        events = self._call(what, self.api.job_events, job.job_id)
        fresh = self._record(
            remote, key=job.key, fingerprint=job.fingerprint, prior=job, events=events
        )
        return with_events(fresh, events)

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
            The job failed (``code`` is ``error`` or ``user_error``) or was cancelled.
        JobTimeoutError
            ``timeout`` passed; the job keeps running and ``wait`` can be called again.
        BackendUnavailableError
            More than ``max_poll_failures`` polls in a row could not reach Together.
        """
        return poll_job(
            job,
            refresh=self.refresh,
            interval=self.poll_interval if poll_interval is None else float(poll_interval),
            max_interval=self.max_poll_interval,
            backoff=self.backoff,
            jitter=self.jitter,
            rng=jitter_rng(self.seed, job.key),
            timeout=timeout,
            max_failures=self.max_poll_failures,
            clock=self._clock,
            sleep=self._sleep,
            on_progress=on_progress,
        )

    def cancel(self, job: FineTuneJob) -> FineTuneJob:
        """Ask Together to cancel a running job; a finished one is returned as it is.

        Together first reports ``cancel_requested`` (still running here), then
        ``cancelled``; the job is refreshed once after the request.
        """
        current = self.refresh(job)
        if current.done or current.job_id is None:
            return current
        try:
            self.api.cancel_job(current.job_id)
        except openai.BadRequestError:
            pass  # finished in the meantime
        except openai.OpenAIError as exc:
            raise translate(exc, f"cancelling Together job {current.job_id}") from exc
        return self.refresh(current)

    # ------------------------------------------------------------------ sampling
    def sampler(self, **options: Any) -> TogetherSampler:
        """Return a :class:`TogetherSampler` for this backend's endpoint, key and serving.

        Parameters
        ----------
        **options
            Passed to :class:`TogetherSampler` (``endpoints``, ``max_concurrency``,
            ``rpm``, ``cache`` ...); ``endpoints`` is merged over the backend's.
        """
        endpoints = {**self.endpoints, **options.pop("endpoints", {})}
        options.setdefault("serving", self.serving)
        if self._client is not None:
            return TogetherSampler(self._client, endpoints=endpoints, **options)
        return TogetherSampler(
            base_url=self.base_url, api_key=self.client.api_key, endpoints=endpoints, **options
        )
