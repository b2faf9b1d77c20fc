"""Starting and checking Tinker training workers, over the shared worker machinery.

The training loop runs in ``python -m dataquality_thresholds.backends.tinker._worker
JOB_DIR``, in its own session, like HFBackend's workers: a live worker holds an
``flock`` on ``JOB_DIR/worker.lock``. Telling live from dead workers
(``lock_held``), reaping them (``reap``) and stopping them (``terminate_pid``) is
the shared code of ``backends/_workers.py``, re-exported here.

:func:`start_worker` differs from the shared one in one way: the worker needs the
API key, which is handed over in the child's environment (``TINKER_API_KEY``) and
never written to the job folder. (Once the shared ``start_worker`` takes an ``env=``
argument, this becomes a call to it.)
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from dataquality_thresholds.backends._workers import lock_held, reap, terminate_pid

__all__ = ["WORKER_MODULE", "lock_held", "reap", "start_worker", "terminate_pid"]

#: The module a worker runs (``python -m``), given the job folder.
WORKER_MODULE = "dataquality_thresholds.backends.tinker._worker"


def start_worker(
    command: Sequence[str], jdir: Path, *, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session, output appended to ``jdir/worker.log``.

    Parameters
    ----------
    command : sequence of str
        The command line.
    jdir : Path
        The job folder.
    env : mapping, optional
        Added to this process's environment for the child only (the API key).
    """
    log = (jdir / "worker.log").open("ab")
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    child_env.update(env or {})
    proc = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=child_env,
        start_new_session=True,  # Ctrl-C or kill -9 of the caller does not reach the worker
    )
    log.close()
    return proc
