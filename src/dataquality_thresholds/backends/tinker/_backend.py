"""TinkerBackend: LoRA fine-tuning of open-weight models on Thinking Machines' Tinker.

Needs the ``[tinker]`` extra (the ``tinker`` SDK, which brings ``transformers`` for
the tokenizers). Importing this module imports neither.

How a job runs
--------------
:meth:`TinkerBackend.submit` writes the job to ``output_dir/jobs/<job_id>/`` (see
:mod:`._files`) and starts a worker subprocess (:mod:`._worker`) in its own session
that drives the training loop on Tinker: a crash or ``kill -9`` of the caller does
not stop it, and its crash cannot take the caller down. The worker writes its
progress to ``state.json``; :meth:`~TinkerBackend.refresh` and
:meth:`~TinkerBackend.wait` read it. At most ``max_concurrent`` workers run at once.

Never twice
-----------
The job id is a hash of the key, and the key is in every training run's
``user_metadata`` and every checkpoint's name. Before anything is trained, the key's
runs are looked up *through the service* (``RestClient.list_training_runs`` and
``list_checkpoints``), by :meth:`submit` and again by the worker:

* finished sampler weights are adopted, with no worker at all when the job folder
  is new (e.g. a study resumed on another machine);
* a run that stopped part-way (worker killed, machine restarted) is resumed from
  its last checkpoint: a new training client is created from that checkpoint with
  its optimizer state, and the seeded batch schedule goes on from its step. Tinker
  cannot reattach to a run whose session ended, so a resumed job has one training
  run per segment, each tagged with the key (``dqt_resumed_from`` names the
  checkpoint); only the first starts from the base model. Every run saves its
  state at step 0, so the only crash that starts a second run from the base model
  is one between ``create_model`` and that first save, before any token was trained;
* a worker that died is restarted up to ``max_restarts`` times.

The same key with other training data or another training spec (:data:`~._files.SPEC_FIELDS`)
is a :class:`ConfigError`, also when only the service knows the key.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds.backends._base import ProgressCallback
from dataquality_thresholds.backends._records import CostEstimate, FineTuneJob
from dataquality_thresholds.backends.tinker._files import (
    JOB_SCHEMA_VERSION,
    SPEC_FIELDS,
    job_id_for,
    now,
    parse_time,
    read_job,
    read_json,
    spec_hash,
    write_json,
)
from dataquality_thresholds.backends.tinker._process import (
    WORKER_MODULE,
    lock_held,
    reap,
    start_worker,
    terminate_pid,
)
from dataquality_thresholds.backends.tinker._render import (
    load_tokenizer,
    render_example,
    tokenizer_id,
)
from dataquality_thresholds.backends.tinker._service import TinkerSurvey, rest_client, survey
from dataquality_thresholds.backends.tinker._settings import TinkerSettings
from dataquality_thresholds.errors import ConfigError, FineTuneJobError, JobTimeoutError
from dataquality_thresholds.mixing import Mixture

__all__ = ["TinkerBackend"]

_DONE = ("succeeded", "failed", "cancelled")


class TinkerBackend(TinkerSettings):
    """Fine-tune open-weight models with LoRA on Tinker, never training one key twice.

    Parameters
    ----------
    base_model : str
        A Tinker model id (``"Qwen/Qwen3-8B"``, ``"meta-llama/Llama-3.1-8B-Instruct"``).
    output_dir : str or Path
        Job folders (``jobs/<job_id>/``); the weights stay on Tinker.
    api_key : str, optional
        Tinker API key; else the SDK's (``TINKER_API_KEY``, stored credentials).
        Held privately: never in a record, repr, log line or file.
    base_url : str, optional
        The service's URL (default: the SDK's, or ``TINKER_BASE_URL``).
    epochs, learning_rate, batch_size, lora_rank, max_seq_len : number
        Training settings (``hyperparameters`` of a submit override them).
    lr_schedule : {"linear", "constant"}
        Linear decay to 0 over the run, or constant.
    seed : int
        LoRA initialisation and the order of the rows.
    save_every : int, optional
        Steps between checkpoints (default: once per epoch), plus one at step 0.
    tokenizer : str, optional
        Hub id or folder of the tokenizer (default: the base model's, as the SDK finds it).
    template_kwargs : mapping, optional
        Extra chat-template arguments, e.g. ``{"enable_thinking": False}`` for Qwen3.
    max_concurrent : int
        Training workers at once (Tinker trains remotely; these only send batches).
    max_restarts : int
        Restarts of a worker that died without finishing.
    poll_interval : float
        Seconds between polls in :meth:`wait`.
    prices : PriceTable or mapping, optional
        Training prices (USD per million tokens) merged over the dated table, or a
        whole :class:`PriceTable` (training and sampling) instead of it.
    sampling_prices : mapping of str to (float, float), optional
        ``(prefill, sample)`` prices per million tokens merged over the table's.
    cache : CompletionCache or path, optional
        Where the sampler stores completions (a rerun costs nothing).
    python : str, optional
        Interpreter for the worker (default: this one).
    """

    name = "tinker"

    # ------------------------------------------------------------------ paths
    def job_dir(self, job_id: str) -> Path:
        """Return the folder of job ``job_id``."""
        return self.output_dir / "jobs" / job_id

    @staticmethod
    def job_id_for(key: str) -> str:
        """Return the job id for an idempotency key (a hash: found again after a restart)."""
        return job_id_for(key)

    def tokenizer(self) -> Any:
        """Return the base model's tokenizer (loaded once)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self._tokenizer_id())
        return self._tokenizer

    def _tokenizer_id(self) -> str:
        return tokenizer_id(self.base_model, self.tokenizer_name)

    # ------------------------------------------------------------------ data and costs
    def token_counts(self, mixture: Mixture) -> list[int]:
        """Tokens each row sends per epoch (chat template applied, ``max_seq_len`` cut, minus 1)."""
        tok = self.tokenizer()
        out = []
        for ex in mixture.iter_examples():
            msgs = [{"role": m.role, "content": m.content} for m in ex.messages]
            tokens, _ = render_example(tok, msgs, self.template_kwargs)
            out.append(max(0, min(len(tokens), self.max_seq_len) - 1))
        return out

    def estimate_cost(self, mixture: Mixture, **options: Any) -> CostEstimate:
        """Estimate the training cost: tokens per epoch x epochs x the training price.

        ``options`` may hold ``hyperparameters`` (as for :meth:`submit`).

        Tinker bills every token of every datum at the training rate, the prompt's
        included; rows are counted with the base model's tokenizer and chat template.
        """
        settings = self.settings(options.get("hyperparameters"))
        counts = self.token_counts(mixture)
        table = self.price_table
        price = table.price(self.base_model)
        tokens = int(sum(min(n, int(settings["max_seq_len"]) - 1) for n in counts))
        epochs = int(settings["epochs"])
        return CostEstimate(
            tokens=tokens,
            epochs=epochs,
            usd=tokens * epochs * price / 1e6,
            base_model=self.base_model,
            usd_per_million=price,
            price_date=table.date,
            n_examples=len(counts),
        )

    # ------------------------------------------------------------------ lookups
    def lookup(self, key: str) -> TinkerSurvey:
        """Ask the service what it holds for ``key``: runs, checkpoints, final weights."""
        return survey(rest_client(self.base_url, self._api_key), key, job_id_for(key))

    # ------------------------------------------------------------------ jobs
    def submit(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        key: str,
    ) -> FineTuneJob:
        """Find the key's job (on disk, else on Tinker) or start its training worker.

        Returns without waiting. The same ``key`` returns the job made before,
        also after a restart or from another machine (found through the service),
        when it was trained from the same data and spec.

        Parameters
        ----------
        mixture : Mixture
            Training data (chat rows; the last assistant turn is trained on).
        base_model : str, optional
            Must be the backend's own (one backend per base model).
        hyperparameters : mapping, optional
            ``epochs`` (or ``n_epochs``), ``learning_rate``, ``batch_size``,
            ``lora_rank``, ``max_seq_len``.
        key : str
            Idempotency key.

        Raises
        ------
        ConfigError
            ``key`` was used for other training data or another spec (the message
            names the fields), another ``base_model``, or an unknown hyperparameter.
        BackendUnavailableError
            No API key, refused credentials or an unreachable service.
        """
        if not isinstance(key, str) or not key.strip():
            raise ConfigError("key must be a non-empty string", field="key")
        if base_model not in (None, self.base_model):
            raise ConfigError(
                f"this TinkerBackend fine-tunes {self.base_model!r}; make another backend "
                f"for {base_model!r}",
                field="base_model",
            )
        settings = self.settings(hyperparameters)
        spec = self.training_spec(mixture.fingerprint, settings)
        job_id = job_id_for(key)
        jdir = self.job_dir(job_id)
        meta = read_job(jdir)
        if meta is not None:
            self._check_adoption(key, job_id, meta["spec"], spec)
            self._pump()
            return self.refresh(self._job_from_meta(meta))
        found = self.lookup(key)
        if found.specs - {spec_hash(spec)} or found.fingerprints - {mixture.fingerprint}:
            raise ConfigError(
                f"key {key!r} was used on Tinker (runs {', '.join(found.runs)}) with other "
                "training data or another training spec; use a new key",
                field="key",
            )
        estimate = self.estimate_cost(mixture, hyperparameters=hyperparameters)
        self._write_job(jdir, mixture, key, job_id, spec, settings, estimate, found)
        meta = read_job(jdir)
        assert meta is not None
        self._pump()
        return self.refresh(self._job_from_meta(meta))

    def _check_adoption(
        self, key: str, job_id: str, before: Mapping[str, Any], now_: Mapping[str, Any]
    ) -> None:
        diffs = [f"{f}: {before.get(f)!r} -> {now_.get(f)!r}" for f in SPEC_FIELDS
                 if before.get(f) != now_.get(f)]  # fmt: skip
        if diffs:
            raise ConfigError(
                f"key {key!r} (job {job_id} under {self.output_dir}) was trained with other "
                f"settings or data: {'; '.join(diffs)}. Use a new key or another output_dir.",
                field="key",
            )

    def _write_job(
        self,
        jdir: Path,
        mixture: Mixture,
        key: str,
        job_id: str,
        spec: dict[str, Any],
        settings: Mapping[str, Any],
        estimate: CostEstimate,
        found: TinkerSurvey,
    ) -> None:
        import json

        from dataquality_thresholds._util.atomic import atomic_write

        jdir.mkdir(parents=True, exist_ok=True)
        with atomic_write(jdir / "train.jsonl") as fh:
            for ex in mixture.iter_examples():
                msgs = [{"role": m.role, "content": m.content} for m in ex.messages]
                fh.write((json.dumps({"messages": msgs}, ensure_ascii=False) + "\n").encode())
        worker_spec = {
            **spec,
            "key": key,
            "job_id": job_id,
            "spec_hash": spec_hash(spec),
            "base_url": self.base_url,
            "save_every": self.save_every,
        }
        write_json(jdir / "spec.json", worker_spec)
        events = [f"{estimate.n_examples} rows, {estimate.tokens} tokens per epoch"]
        if found.final_path is not None:
            events.append(f"found finished weights on Tinker: {found.final_path}")
            write_json(
                jdir / "state.json",
                {
                    "status": "succeeded",
                    "model_path": found.final_path,
                    "runs": list(found.runs),
                    "finished_at": now().isoformat(),
                    "events": [f"{now().isoformat()} adopted {found.final_path}"],
                },
            )
        elif found.runs:
            events.append(
                f"found runs on Tinker ({', '.join(found.runs)}); resuming from step "
                f"{found.last_step}"
            )
        meta = {
            "schema": "tinker_job",
            "schema_version": JOB_SCHEMA_VERSION,
            "key": key,
            "job_id": job_id,
            "base_model": self.base_model,
            "fingerprint": mixture.fingerprint,
            "spec": spec,
            "hyperparameters": {**settings, "seed": self.seed, "lr_schedule": self.lr_schedule},
            "created_at": now().isoformat(),
            "estimate": attrs.asdict(estimate),
            "events": events,
        }
        write_json(jdir / "job.json", meta)  # last: its presence means the job exists

    def _job_from_meta(self, meta: Mapping[str, Any]) -> FineTuneJob:
        return FineTuneJob(
            key=meta["key"],
            backend=self.name,
            base_model=meta["base_model"],
            fingerprint=meta["fingerprint"],
            status="queued",
            job_id=meta["job_id"],
            hyperparameters=meta["hyperparameters"],
            created_at=parse_time(meta["created_at"]),
            events=tuple(meta.get("events", ())),
            cost=CostEstimate(**meta["estimate"]),
        )

    # ------------------------------------------------------------------ workers
    def _alive(self, job_id: str) -> bool:
        proc = self._procs.get(job_id)
        if proc is not None and proc.poll() is not None:
            del self._procs[job_id]
        if lock_held(self.job_dir(job_id) / "worker.lock"):
            return True
        return job_id in self._procs  # started, lock not yet taken

    def _status(self, job_id: str) -> tuple[str, dict[str, Any]]:
        state = read_json(self.job_dir(job_id) / "state.json") or {}
        status = state.get("status")
        if status in _DONE:
            proc = self._procs.pop(job_id, None)
            if proc is not None:
                reap(proc)
            return str(status), state
        if self._alive(job_id):
            return "running", state
        if status == "running" and int(state.get("attempt", 0)) > self.max_restarts:
            return "failed", {
                **state,
                "error_code": "worker_died",
                "error_message": f"the worker died {state.get('attempt')} times; see "
                f"{self.job_dir(job_id) / 'worker.log'}",
            }
        return "queued", state

    def _pump(self) -> None:
        """Start queued jobs (oldest first) while fewer than ``max_concurrent`` run."""
        root = self.output_dir / "jobs"
        if not root.is_dir():
            return
        metas = [read_json(p / "job.json") for p in root.iterdir() if p.is_dir()]
        metas = sorted((m for m in metas if m), key=lambda m: (m["created_at"], m["job_id"]))
        running, queued = 0, []
        for m in metas:
            status, _ = self._status(m["job_id"])
            if status == "running":
                running += 1
            elif status == "queued":
                queued.append(m["job_id"])
        for job_id in queued[: max(0, self.max_concurrent - running)]:
            self._start(job_id)

    def worker_command(self, job_id: str) -> list[str]:
        """Return the command line that trains job ``job_id``."""
        return [self.python, "-m", WORKER_MODULE, str(self.job_dir(job_id))]

    def _start(self, job_id: str) -> None:
        key = self._api_key.get()
        env = {"TINKER_API_KEY": key} if key else None
        self._procs[job_id] = start_worker(
            self.worker_command(job_id), self.job_dir(job_id), env=env
        )

    # ------------------------------------------------------------------ follow-up
    def refresh(self, job: FineTuneJob) -> FineTuneJob:
        """Return the job's current state, read from its folder (starts queued jobs)."""
        if not job.job_id:
            raise FineTuneJobError("job has no id", job_id=None, code="not_found")
        meta = read_job(self.job_dir(job.job_id))
        if meta is None:
            raise FineTuneJobError(
                f"no Tinker job {job.job_id} under {self.output_dir}", job_id=job.job_id,
                code="not_found",
            )  # fmt: skip
        status, state = self._status(job.job_id)
        if status == "queued":
            self._pump()
            status, state = self._status(job.job_id)
        base = self._job_from_meta(meta)
        metrics = {k: float(v) for k, v in (state.get("metrics") or {}).items()}
        if state.get("max_steps"):
            metrics["step"] = float(state.get("step") or 0)
            metrics["max_steps"] = float(state["max_steps"])
        metrics["training_runs"] = float(len(state.get("runs") or ()))
        trained = state.get("trained_tokens")
        succeeded = status == "succeeded"
        return attrs.evolve(
            base,
            status=status,
            fine_tuned_model=state.get("model_path") if succeeded else None,
            error_code=state.get("error_code") if status == "failed" else None,
            error_message=state.get("error_message") if status == "failed" else None,
            trained_tokens=trained if succeeded else None,
            finished_at=parse_time(state.get("finished_at")) if status in _DONE else None,
            events=(*meta.get("events", ()), *state.get("events", ())),
            metrics=metrics,
            cost=self._cost(base.cost, trained if succeeded else None),
        )

    def _cost(self, estimate: CostEstimate | None, trained: int | None) -> CostEstimate | None:
        """Return the estimate, or once known the true cost: tokens trained x price."""
        if estimate is None or trained is None:
            return estimate
        return attrs.evolve(estimate, usd=trained * estimate.usd_per_million / 1e6)

    def wait(
        self,
        job: FineTuneJob,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> FineTuneJob:
        """Poll the job's folder until it is done.

        Raises
        ------
        FineTuneJobError
            The job failed (``service_error``, ``training_error``, ``load_error``,
            ``config_mismatch``, ``worker_died``) or was cancelled.
        JobTimeoutError
            ``timeout`` seconds passed first (the worker keeps running).
        """
        interval = self.poll_interval if poll_interval is None else float(poll_interval)
        start = time.monotonic()
        current = self.refresh(job)
        while True:
            if on_progress is not None:
                on_progress(current)
            if current.done:
                break
            if timeout is not None and time.monotonic() - start > timeout:
                raise JobTimeoutError(
                    f"Tinker job {current.job_id} not done after {timeout:.0f}s", job=current
                )
            time.sleep(interval)
            current = self.refresh(current)
        if current.status in ("failed", "cancelled"):
            raise FineTuneJobError(
                f"Tinker job {current.job_id} {current.status}: "
                f"{current.error_message or ''}".strip(),
                job_id=current.job_id,
                code=current.error_code or current.status,
            )
        return current

    def cancel(self, job: FineTuneJob) -> FineTuneJob:
        """Stop the job's worker (SIGTERM) or drop it from the queue; return its state.

        The runs and checkpoints on Tinker stay; a later :meth:`submit` of the key
        with a new ``output_dir`` would resume them.
        """
        current = self.refresh(job)
        if current.done or not current.job_id:
            return current
        jdir = self.job_dir(current.job_id)
        state = read_json(jdir / "state.json") or {}
        proc = self._procs.get(current.job_id)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        elif state.get("pid") and self._alive(current.job_id):
            terminate_pid(int(state["pid"]), functools.partial(self._alive, current.job_id))
        state = read_json(jdir / "state.json") or {}
        if state.get("status") not in _DONE:
            state.update(status="cancelled", finished_at=now().isoformat())
            write_json(jdir / "state.json", state)
        return self.refresh(current)

    # ------------------------------------------------------------------ sampling
    def sampler(self, **options: Any) -> Any:
        """Return a :class:`TinkerSampler` for this backend's models (made once, reused).

        ``options`` go to :class:`TinkerSampler` (``max_tokens``, ``cache``).
        """
        from dataquality_thresholds.backends.tinker._sampler import TinkerSampler

        if self._sampler is None or options:
            options.setdefault("cache", self.cache)
            self._sampler = TinkerSampler(
                self.base_model,
                base_url=self.base_url,
                api_key=self._api_key.get(),
                tokenizer=self.tokenizer_name,
                template_kwargs=self.template_kwargs,
                price_table=self.price_table,
                **options,
            )
        return self._sampler
