"""Worker processes for backends that train in a subprocess (HFBackend; any hosted-loop backend).

A job trains in a subprocess started in its own session, with its output in
``worker.log``. A running worker holds an exclusive ``flock`` on the job's
``worker.lock``, so a backend in another process, or after a restart, can tell a live
worker from a dead one (:func:`lock_held`). The backend keeps the queue and the job
states; this module starts (:func:`start_worker`), checks (:func:`lock_held`), reaps
(:func:`reap`) and stops (:func:`terminate_pid`) the processes.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["lock_held", "reap", "start_worker", "terminate_pid"]


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
