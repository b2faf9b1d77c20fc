"""The training worker of :class:`~dataquality_thresholds.backends.hf.HFBackend`.

Two ways to run it:

``python -m dataquality_thresholds.backends.hf._worker JOB_DIR``
    One job, one process (``HFBackend(reuse_worker=False)``; also under
    ``accelerate launch``): load the base model, train, save, exit.

``python -m dataquality_thresholds.backends.hf._worker --pool OUTPUT_DIR``
    A pool worker (``HFBackend(reuse_worker=True)``): it takes one of the
    ``--slots`` slot locks in ``OUTPUT_DIR/workers`` (or exits when all are
    taken), then trains the queued jobs under ``OUTPUT_DIR/jobs`` one after
    another, oldest first (jobs on the base it has loaded before others), on one
    loaded base model (:class:`~._training.LoadedBase`: LoRA layers are taken out
    and the base checked between jobs, so each job starts from the loaded
    weights). It exits after ``--idle-timeout`` seconds with nothing to do.

Either way a job reads ``JOB_DIR/spec.json`` and ``JOB_DIR/train.jsonl``, trains
with TRL's ``SFTTrainer`` (loss on the completion, i.e. the last assistant turn,
only), checkpoints under ``JOB_DIR/checkpoints`` and resumes from the last one,
saves the adapter (or full model) in ``JOB_DIR/model``, reports progress in
``JOB_DIR/state.json`` and logs to ``JOB_DIR/worker.log``. While a worker trains a
job it holds an exclusive lock on ``JOB_DIR/worker.lock``, which is how the backend
tells a live worker from a dead one (no pid-reuse trouble).

Failures are written to ``state.json`` with a code: ``out_of_memory``,
``load_error``, ``training_error``. A pool worker records them and goes on with
the next job. Cancelling: the backend writes ``JOB_DIR/cancel``; the job stops at
its next optimizer step (a job not started yet never starts) and ends
``cancelled``. A one-job worker also ends ``cancelled`` on SIGTERM. SIGTERM or
SIGINT to a pool worker stops the *worker*: its job in progress goes back to the
queue (``queued``) and resumes from its last checkpoint in the next worker; the
other jobs are untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from dataquality_thresholds.backends._workers import take_slot, try_lock
from dataquality_thresholds.backends.hf._common import pick_device, read_json, write_json

_TERMINAL = ("succeeded", "failed", "cancelled")


class _Cancelled(BaseException):
    """The job was cancelled (its ``cancel`` file, or SIGTERM to a one-job worker)."""


class _Stopped(BaseException):
    """The pool worker was told to stop; its job goes back to the queue."""


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class _State:
    def __init__(self, job_dir: Path, rank0: bool) -> None:
        self.path = job_dir / "state.json"
        self.rank0 = rank0
        self.data: dict[str, Any] = read_json(self.path) or {}
        self.data.setdefault("events", [])

    def update(self, event: str | None = None, **fields: Any) -> None:
        if not self.rank0:
            return
        self.data.update(fields)
        if event:
            self.data["events"] = [*self.data["events"], f"{_now()} {event}"][-200:]
        self.data["heartbeat"] = _now()
        write_json(self.path, self.data)


class _Stop:
    """SIGTERM/SIGINT handler of a pool worker: remember; raise only where that is safe."""

    def __init__(self) -> None:
        self.requested = False
        self.interruptible = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.requested = True
        if self.interruptible:
            raise _Stopped()


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom_types: tuple[type[BaseException], ...] = (MemoryError,)
    for name in ("OutOfMemoryError",):
        t = getattr(torch, name, None) or getattr(torch.cuda, name, None)
        if isinstance(t, type):
            oom_types = (*oom_types, t)
    return isinstance(exc, oom_types) or "out of memory" in str(exc).lower()


def _callbacks(job_dir: Path, state: _State, stop: _Stop | None) -> list[Any]:
    """Progress into ``state.json``; stop at a step for a cancel or a worker stop; test faults."""
    import torch
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, st: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            metrics = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}
            state.update(
                None,
                step=st.global_step,
                max_steps=st.max_steps,
                epoch=st.epoch,
                metrics={**state.data.get("metrics", {}), **metrics},
            )

        def on_save(self, args: Any, st: Any, control: Any, **kw: Any) -> None:
            state.update(f"checkpoint at step {st.global_step}/{st.max_steps}")

    class _Watch(TrainerCallback):  # type: ignore[misc]
        def _check(self) -> None:
            if stop is not None and stop.requested:
                raise _Stopped()
            if (job_dir / "cancel").exists():
                raise _Cancelled()

        def on_train_begin(self, args: Any, st: Any, control: Any, **kw: Any) -> None:
            self._check()

        def on_step_begin(self, args: Any, st: Any, control: Any, **kw: Any) -> None:
            self._check()

        def on_step_end(self, args: Any, st: Any, control: Any, **kw: Any) -> None:
            self._check()

    out: list[Any] = [_Progress(), _Watch()]
    fault = os.environ.get("_DQT_HF_FAULT")  # test hook: oom_at_step=N
    if fault:
        at = int(fault.split("=", 1)[1]) if "=" in fault else 1

        class _Fault(TrainerCallback):  # type: ignore[misc]
            def on_step_begin(self, args: Any, st: Any, control: Any, **kw: Any) -> None:
                if st.global_step + 1 >= at:
                    raise torch.OutOfMemoryError("simulated: CUDA out of memory (test hook)")

        out.append(_Fault())
    return out


def _fail(job_dir: Path, state: _State, exc: BaseException) -> None:
    """Record a failure with its code (every failure becomes a typed state, never a hang)."""
    code = "out_of_memory" if _is_oom(exc) else state.data.get("phase_code", "training_error")
    msg = f"{type(exc).__name__}: {exc}"
    if code == "out_of_memory":
        msg += " (try a smaller batch_size or max_seq_len, LoRA instead of full fine-tuning)"
    (job_dir / "traceback.txt").write_text(traceback.format_exc(), encoding="utf-8")
    state.update(
        f"failed: {msg}", status="failed", error_code=code, error_message=msg, finished_at=_now()
    )


def _begin(job_dir: Path, state: _State, note: str = "", **fields: Any) -> dict[str, Any] | None:
    """Mark the job running (one more attempt); None when it is finished or cancelled already."""
    if state.data.get("status") in _TERMINAL:
        return None
    if (job_dir / "cancel").exists():
        state.update("cancelled before it started", status="cancelled", finished_at=_now())
        return None
    attempt = int(state.data.get("attempt", 0)) + 1
    state.update(
        f"worker started (attempt {attempt}{note})",
        status="running",
        attempt=attempt,
        started_at=state.data.get("started_at") or _now(),
        pid=os.getpid(),
        phase_code="load_error",
        **fields,
    )
    spec: dict[str, Any] = json.loads((job_dir / "spec.json").read_text(encoding="utf-8"))
    return spec


def _run(
    job_dir: Path,
    spec: dict[str, Any],
    state: _State,
    base: Any,
    *,
    stop: _Stop | None,
    device: str,
    precision: str,
    load_seconds: float,
) -> None:
    from dataquality_thresholds.backends.hf._training import train_job

    def starting(line: str) -> None:
        state.update(line, phase_code="training_error", device=device, precision=precision)

    metrics = train_job(
        job_dir,
        spec,
        base,
        device=device,
        precision=precision,
        callbacks=_callbacks(job_dir, state, stop),
        starting=starting,
    )
    step, max_steps = int(metrics.pop("step")), int(metrics.pop("max_steps"))
    state.update(
        "succeeded",
        status="succeeded",
        finished_at=_now(),
        step=step,
        max_steps=max_steps,
        metrics={**state.data.get("metrics", {}), **metrics, "load_seconds": load_seconds},
    )


def train(job_dir: Path) -> int:
    """Run the job in ``job_dir`` in this process (one job, one process); return the exit code."""
    from dataquality_thresholds.backends.hf._training import (
        LoadedBase,
        resolve_precision,
        weights_dtype,
    )

    rank0 = int(os.environ.get("RANK", "0")) == 0
    lock_fh = (job_dir / "worker.lock").open("a")
    if rank0:
        try:
            fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 3  # another worker runs this job
    state = _State(job_dir, rank0)
    spec = _begin(job_dir, state)
    if spec is None:
        return 0 if state.data.get("status") == "succeeded" else 1

    def _on_term(signum: int, frame: Any) -> None:
        raise _Cancelled()

    signal.signal(signal.SIGTERM, _on_term)
    try:
        device = pick_device(spec.get("device"))
        precision = resolve_precision(spec.get("precision"), device)
        state.update("loading model")
        dtype = weights_dtype(precision, bool(spec.get("lora")))
        base = LoadedBase(spec, device=device, dtype=dtype, track=False)
        _run(
            job_dir, spec, state, base, stop=None, device=device, precision=precision,
            load_seconds=base.load_seconds,
        )  # fmt: skip
        return 0
    except _Cancelled:
        state.update("cancelled", status="cancelled", finished_at=_now())
        return 1
    except KeyboardInterrupt:
        state.update("interrupted", status="cancelled", finished_at=_now())
        return 1
    except BaseException as exc:
        _fail(job_dir, state, exc)
        return 1


# ---------------------------------------------------------------------- pool worker
def _claimable(job_dir: Path, max_restarts: int) -> bool:
    state = read_json(job_dir / "state.json") or {}
    status = state.get("status")
    if status in _TERMINAL:
        return False
    if status == "running" and int(state.get("attempt", 0)) > max_restarts:
        return False  # died too often: the backend reports it failed (worker_died)
    return (job_dir / "job.json").is_file() and (job_dir / "spec.json").is_file()


def _job_key(job_dir: Path) -> str | None:
    """Return a job's load key (:func:`~._training.load_key`); None when it cannot be known."""
    from dataquality_thresholds.backends.hf._training import (
        load_key,
        resolve_precision,
        weights_dtype,
    )

    try:
        spec = json.loads((job_dir / "spec.json").read_text(encoding="utf-8"))
        device = pick_device(spec.get("device"))
        dtype = weights_dtype(resolve_precision(spec.get("precision"), device), bool(spec["lora"]))
        return load_key(spec, device, dtype)
    except (OSError, ValueError, KeyError):
        return None


def _claim(jobs_root: Path, prefer: str | None, max_restarts: int) -> tuple[Path, IO[str]] | None:
    """Lock the next job to train: oldest first, those on the loaded base (``prefer``) first."""
    if not jobs_root.is_dir():
        return None
    metas = []
    for folder in jobs_root.iterdir():
        try:
            meta = read_json(folder / "job.json") if folder.is_dir() else None
            if meta:
                metas.append((str(meta["created_at"]), str(meta["job_id"])))
        except (OSError, ValueError, KeyError, TypeError):  # unreadable: not a job to take
            continue
    found = [jobs_root / job_id for _, job_id in sorted(metas)]
    found = [j for j in found if _claimable(j, max_restarts)]
    if prefer is not None and len(found) > 1:
        found.sort(key=lambda j: _job_key(j) != prefer)
    for job_dir in found:
        fh = try_lock(job_dir / "worker.lock")
        if fh is None:
            continue  # another worker has it
        if _claimable(job_dir, max_restarts):  # again, under the lock
            return job_dir, fh
        fh.close()
    return None


@contextlib.contextmanager
def _job_log(job_dir: Path) -> Iterator[None]:
    """Send this process's output to ``job_dir/worker.log`` while it trains the job."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(job_dir / "worker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for target, fd_saved in zip((1, 2), saved, strict=True):
            os.dup2(fd_saved, target)
            os.close(fd_saved)


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is there whenever a job ran
        pass


def _pooled(job_dir: Path, base: Any, stop: _Stop, n: int) -> Any:
    """Train one claimed job on ``base`` (loading it when needed); return the base for the next."""
    from dataquality_thresholds.backends.hf._training import (
        LoadedBase,
        load_key,
        resolve_precision,
        weights_dtype,
    )

    state = _State(job_dir, True)
    note = f"; pool worker {os.getpid()}, its job {n}"
    spec = _begin(job_dir, state, note, pool_worker=True)
    if spec is None:
        return base
    try:
        device = pick_device(spec.get("device"))
        precision = resolve_precision(spec.get("precision"), device)
        dtype = weights_dtype(precision, bool(spec.get("lora")))
        key = load_key(spec, device, dtype)
        load_seconds = 0.0
        if base is not None and base.key == key and base.pristine():
            state.update(f"base model already loaded (job {base.lent + 1} on it)")
        else:
            if base is not None:
                why = "another base model" if base.key != key else "the base model changed"
                state.update(f"reloading the base model ({why})")
            base = None
            _free_memory()
            state.update("loading model")
            stop.interruptible = True
            try:
                base = LoadedBase(spec, device=device, dtype=dtype, track=True)
            finally:
                stop.interruptible = False
            load_seconds = base.load_seconds
        if stop.requested:
            raise _Stopped()
        _run(
            job_dir, spec, state, base, stop=stop, device=device, precision=precision,
            load_seconds=load_seconds,
        )  # fmt: skip
    except _Cancelled:
        state.update(
            f"cancelled at step {state.data.get('step', 0)}", status="cancelled",
            finished_at=_now(),
        )  # fmt: skip
    except (_Stopped, KeyboardInterrupt):
        stop.requested = True
        state.update(
            "worker stopped: the job is queued again and resumes from its last checkpoint",
            status="queued",
        )
    except BaseException as exc:
        _fail(job_dir, state, exc)
    finally:
        if base is not None:
            try:
                base.restore()
            except Exception as exc:  # checked before the next job; reload then
                print(f"could not restore the base model: {exc!r}", file=sys.stderr)
                base = None
        _free_memory()
    return base


def serve(output_dir: Path, *, slots: int, idle_timeout: float, max_restarts: int) -> int:
    """Train queued jobs under ``output_dir/jobs`` one after another; return the exit code."""
    slot = take_slot(output_dir / "workers", slots)
    if slot is None:
        print(f"pool worker {os.getpid()}: all {slots} worker slots are taken; exiting")
        return 0
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    base: Any = None
    done = 0
    idle_since = time.monotonic()
    print(f"{_now()} pool worker {os.getpid()} started", flush=True)
    try:
        while not stop.requested:
            claim = _claim(output_dir / "jobs", base.key if base else None, max_restarts)
            if claim is None:
                if time.monotonic() - idle_since >= idle_timeout:
                    break
                stop.interruptible = True
                try:
                    time.sleep(0.5)
                except _Stopped:
                    break
                finally:
                    stop.interruptible = False
                continue
            job_dir, lock_fh = claim
            try:
                print(f"{_now()} pool worker {os.getpid()}: {job_dir.name}", flush=True)
                with _job_log(job_dir):
                    base = _pooled(job_dir, base, stop, done + 1)
            finally:
                lock_fh.close()
            done += 1
            idle_since = time.monotonic()
    finally:
        slot.close()
    print(f"{_now()} pool worker {os.getpid()}: {done} jobs, exiting", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m dataquality_thresholds.backends.hf._worker JOB_DIR | --pool DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m dataquality_thresholds.backends.hf._worker",
        description="Train HFBackend jobs: one job folder, or --pool an output folder's queue.",
    )
    parser.add_argument("job_dir", nargs="?", type=Path)
    parser.add_argument("--pool", type=Path, metavar="OUTPUT_DIR")
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--idle-timeout", type=float, default=60.0)
    parser.add_argument("--max-restarts", type=int, default=2)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if (args.job_dir is None) == (args.pool is None):
        parser.print_usage(sys.stderr)
        return 2
    if args.pool is not None:
        return serve(
            args.pool,
            slots=max(1, args.slots),
            idle_timeout=args.idle_timeout,
            max_restarts=args.max_restarts,
        )
    return train(args.job_dir)


if __name__ == "__main__":
    sys.exit(main())
