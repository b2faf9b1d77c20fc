"""Worker processes for backends that train in a subprocess (HFBackend; any hosted-loop backend).

A job trains in a subprocess started in its own session, with its output in
``worker.log``. A running worker holds an exclusive ``flock`` on the job's
``worker.lock``, so a backend in another process, or after a restart, can tell a live
worker from a dead one (:func:`lock_held`). The backend keeps the queue and the job
states; this module starts (:func:`start_worker`), checks (:func:`lock_held`), reaps
(:func:`reap`) and stops (:func:`terminate_pid`) the processes.

A worker that trains one job after another (a *pool* worker) also holds one of a
fixed set of *slot* locks in a folder of its own (:func:`take_slot`), with its pid
in the file, so a backend counts the live pool workers with :func:`held_slots`.
:func:`try_lock` takes a job's lock without waiting: a worker claims a job with it,
and a backend holds it while it marks a job that no worker runs as cancelled.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

__all__ = [
    "held_slots",
    "lock_held",
    "reap",
    "start_worker",
    "take_slot",
    "terminate_pid",
    "try_lock",
]


def start_worker(command: Sequence[str], jdir: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session, appending its output to ``jdir/worker.log``."""
    log = (jdir / "worker.log").open("ab")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C in the caller does not reach the worker
    )
    log.close()
    return proc


def lock_held(lock: Path) -> bool:
    """Whether a process holds ``lock`` (a worker's ``worker.lock``); False without the file."""
    if not lock.exists():
        return False
    with lock.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def try_lock(lock: Path) -> IO[str] | None:
    """Take ``lock`` without waiting; return the open file (closing it releases), or None."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fh = lock.open("a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def take_slot(folder: Path, slots: int) -> IO[str] | None:
    """Take the first free of ``slots`` slot locks in ``folder`` and write this pid into it.

    Returns the open lock file (held until it is closed or the process ends), or
    None when every slot is taken. A slot that a backend is just checking
    (:func:`lock_held` takes it for an instant) is tried again.
    """
    for attempt in range(3):
        if attempt:
            time.sleep(0.2)
        for i in range(slots):
            fh = try_lock(folder / f"slot-{i}.lock")
            if fh is not None:
                fh.truncate(0)
                fh.write(str(os.getpid()))
                fh.flush()
                return fh
    return None


def held_slots(folder: Path) -> dict[str, int]:
    """Return the held slot locks in ``folder`` (:func:`take_slot`) and their holders' pids."""
    out: dict[str, int] = {}
    for lock in sorted(folder.glob("slot-*.lock")) if folder.is_dir() else ():
        if lock_held(lock):
            text = lock.read_text(encoding="utf-8").strip()
            out[lock.name] = int(text) if text.isdigit() else 0
    return out


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for an exiting worker (killing it after 120 s) so it leaves no zombie."""
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def terminate_pid(pid: int, alive: Callable[[], bool]) -> None:
    """Send SIGTERM to ``pid`` and wait up to 60 s until ``alive()`` turns False."""
    os.kill(pid, signal.SIGTERM)
    for _ in range(600):
        if not alive():
            break
        time.sleep(0.1)
