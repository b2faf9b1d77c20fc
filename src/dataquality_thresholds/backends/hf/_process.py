"""The worker processes of :class:`~dataquality_thresholds.backends.hf.HFBackend`.

Jobs train in subprocesses (:mod:`._worker`): one per job (:func:`worker_command`),
or pool workers that train the queued jobs one after another on one loaded base
model (:func:`pool_command`, started by :func:`start_pool`, counted by
:func:`pool_workers`, stopped by :func:`stop_pool`). :func:`job_status` reads a
job's state the way the backend reports it, :func:`scan_jobs` the queue;
:func:`cancel_job` cancels one job. Starting, checking and stopping
processes is shared with other backends (``backends/_workers.py``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dataquality_thresholds.backends._workers import (
    held_slots,
    reap,
    start_worker,
    terminate_pid,
    try_lock,
)
from dataquality_thresholds.backends.hf._common import read_json, write_json
from dataquality_thresholds.backends.hf._jobfiles import now

__all__ = [
    "TERMINAL",
    "WORKER_MODULE",
    "cancel_job",
    "job_status",
    "pool_command",
    "pool_workers",
    "scan_jobs",
    "start_pool",
    "stop_pool",
    "worker_command",
]

#: A job in one of these states is done.
TERMINAL = ("succeeded", "failed", "cancelled")

#: The module a worker runs (``python -m``), given the job folder.
WORKER_MODULE = "dataquality_thresholds.backends.hf._worker"


def worker_command(python: str, accelerate_config: str | None, jdir: Path) -> list[str]:
    """Return the command line that trains the job in ``jdir``.

    Parameters
    ----------
    python : str
        The interpreter.
    accelerate_config : str, optional
        Run under ``accelerate launch --config_file`` with this file.
    jdir : Path
        The job folder.
    """
    if accelerate_config:
        return [
            python, "-m", "accelerate.commands.launch",
            "--config_file", accelerate_config, "-m", WORKER_MODULE, str(jdir),
        ]  # fmt: skip
    return [python, "-m", WORKER_MODULE, str(jdir)]


def pool_command(
    python: str, output_dir: Path, *, slots: int, idle_timeout: float, max_restarts: int
) -> list[str]:
    """Return the command line of a pool worker for the jobs under ``output_dir``.

    Parameters
    ----------
    python : str
        The interpreter.
    output_dir : Path
        The backend's output folder (``jobs/`` is the queue, ``workers/`` the slots).
    slots : int
        Pool workers at once (``max_concurrent``): a worker that finds every slot
        taken exits.
    idle_timeout : float
        Seconds a worker waits for a new job before it exits.
    max_restarts : int
        A job whose worker died more often than this is not trained again.
    """
    return [
        python, "-m", WORKER_MODULE, "--pool", str(output_dir), "--slots", str(slots),
        "--idle-timeout", repr(float(idle_timeout)), "--max-restarts", str(max_restarts),
    ]  # fmt: skip


def job_status(
    jdir: Path, alive: Callable[[], bool], max_restarts: int
) -> tuple[str, dict[str, Any]]:
    """Return a job's status and ``state.json`` as the backend reports them.

    A job whose worker died mid-run (``running`` without a live worker) is
    ``queued`` again (it resumes from its last checkpoint), or ``failed`` with
    code ``worker_died`` after ``max_restarts`` restarts.
    """
    state: dict[str, Any] = read_json(jdir / "state.json") or {}
    status = state.get("status")
    if status in TERMINAL:
        return str(status), state
    if alive():
        return "running", state
    if status == "running" and int(state.get("attempt", 0)) > max_restarts:
        return "failed", {
            **state,
            "error_code": "worker_died",
            "error_message": f"the worker died {state.get('attempt')} times; "
            f"see {jdir / 'worker.log'}",
        }
    return "queued", state


def pool_workers(
    folder: Path, procs: Sequence[subprocess.Popen[bytes]]
) -> tuple[int, list[subprocess.Popen[bytes]]]:
    """Count the live pool workers of ``folder``: those holding a slot, and ``procs`` starting.

    Returns the count and the processes of ``procs`` still running.
    """
    held = held_slots(folder)
    running = [p for p in procs if p.poll() is None]
    starting = [p for p in running if p.pid not in held.values()]
    return len(held) + len(starting), running


def cancel_job(
    jdir: Path,
    *,
    proc: subprocess.Popen[bytes] | None,
    alive: Callable[[], bool],
    timeout: float,
) -> None:
    """Cancel the job in ``jdir``: ask its worker to stop it, or mark it cancelled.

    Writes ``jdir/cancel`` (a pool worker stops the job at its next step, and no
    worker starts it); a one-job worker gets SIGTERM (``proc``, started by this
    backend, or the pid in ``state.json``). Once no worker holds the job's lock
    (up to ``timeout`` seconds) the job is marked ``cancelled`` under that lock
    unless it finished first.
    """
    write_json(jdir / "cancel", {"requested_at": now().isoformat()})
    state = read_json(jdir / "state.json") or {}
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=60)
    elif state.get("pid") and not state.get("pool_worker") and alive():
        terminate_pid(int(state["pid"]), alive)
    deadline = time.monotonic() + timeout
    while True:
        fh = try_lock(jdir / "worker.lock")
        if fh is not None:  # no worker has the job
            with fh:
                state = read_json(jdir / "state.json") or {}
                if state.get("status") not in TERMINAL:
                    state.update(status="cancelled", finished_at=now().isoformat())
                    write_json(jdir / "state.json", state)
            return
        if time.monotonic() > deadline:
            return  # the worker marks it cancelled at its next step
        time.sleep(0.1)


def stop_pool(folder: Path, procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the pool workers of ``folder`` (and ``procs``); wait until they let go."""
    pids = set(held_slots(folder).values()) | {p.pid for p in procs if p.poll() is None}
    for pid in pids - {0}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for proc in procs:
        reap(proc)
    deadline = time.monotonic() + 120
    while held_slots(folder) and time.monotonic() < deadline:
        time.sleep(0.1)


def start_pool(
    python: str, output_dir: Path, *, slots: int, idle_timeout: float, max_restarts: int
) -> subprocess.Popen[bytes]:
    """Start a pool worker (:func:`pool_command`), logging to ``output_dir/workers/worker.log``."""
    cmd = pool_command(
        python, output_dir, slots=slots, idle_timeout=idle_timeout, max_restarts=max_restarts
    )
    (output_dir / "workers").mkdir(parents=True, exist_ok=True)
    return start_worker(cmd, output_dir / "workers")


def scan_jobs(jobs_root: Path, status: Callable[[str], str]) -> tuple[int, list[str]]:
    """Return how many jobs under ``jobs_root`` run, and the queued ones' ids, oldest first.

    ``status`` gives a job id's status (the backend's view).
    """
    if not jobs_root.is_dir():
        return 0, []
    metas = [read_json(p / "job.json") for p in jobs_root.iterdir() if p.is_dir()]
    metas = sorted((m for m in metas if m), key=lambda m: (m["created_at"], m["job_id"]))
    running, queued = 0, []
    for m in metas:
        now_status = status(m["job_id"])
        if now_status == "running":
            running += 1
        elif now_status == "queued":
            queued.append(str(m["job_id"]))
    return running, queued
