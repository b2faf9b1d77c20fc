"""One writer per run directory: an OS-level lock held for the whole run.

:class:`RunLock` takes ``run_dir/run.lock`` with :mod:`filelock` (``flock`` on
POSIX: the operating system drops it when the process dies, ``kill -9``
included, so a crashed run never leaves a stale lock) and writes who holds it —
pid, host, start time — next to it in ``run_dir/run.lock.json``. A second
process (or a second run in the same process) gets
:class:`~dataquality_thresholds.errors.RunLockedError` naming the holder.
:func:`lock_holder` tells who holds a run directory, without taking it for long.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from dataquality_thresholds.errors import DataError, RunLockedError

__all__ = ["LOCK_FILE", "LOCK_INFO_FILE", "LockHolder", "RunLock", "lock_holder"]

#: The lock file in a run directory.
LOCK_FILE = "run.lock"
#: Who holds the lock (JSON: pid, host, started_at), written next to it.
LOCK_INFO_FILE = "run.lock.json"


@attrs.frozen(kw_only=True)
class LockHolder:
    """Who holds (or last held) a run directory's lock.

    Parameters
    ----------
    pid : int, optional
        The holder's process id.
    host : str, optional
        Its host name.
    started_at : str, optional
        When it took the lock (UTC, ISO 8601).
    held : bool
        Whether the lock is held now (False: the file names the last holder).
    """

    pid: int | None = None
    host: str | None = None
    started_at: str | None = None
    held: bool = True

    def describe(self) -> str:
        """Return one line: ``pid 123 on host, since 2025-...``."""
        who = f"pid {self.pid}" if self.pid is not None else "an unknown process"
        if self.host:
            who += f" on {self.host}"
        if self.started_at:
            who += f", since {self.started_at}"
        return who


def _read_info(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / LOCK_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _holder(run_dir: Path, held: bool) -> LockHolder:
    info = _read_info(run_dir)
    pid = info.get("pid")
    return LockHolder(
        pid=int(pid) if isinstance(pid, int) else None,
        host=info.get("host") if isinstance(info.get("host"), str) else None,
        started_at=info.get("started_at") if isinstance(info.get("started_at"), str) else None,
        held=held,
    )


class RunLock:
    """The lock of one run directory; use it as a context manager.

    Parameters
    ----------
    run_dir : str or Path
        The run directory (created if missing).
    timeout : float
        Seconds to wait for a lock another process holds before giving up (a short
        wait absorbs a ``dqt status`` probing the lock at the same instant).

    Raises
    ------
    RunLockedError
        Another process (or another run in this one) holds the directory.
    DataError
        The directory cannot be made or written (read-only, permissions).
    """

    def __init__(self, run_dir: str | Path, *, timeout: float = 1.0) -> None:
        self.run_dir = Path(run_dir)
        self.timeout = float(timeout)
        self._lock: Any = None

    def __repr__(self) -> str:
        state = "held" if self._lock is not None else "free"
        return f"RunLock({str(self.run_dir)!r}, {state})"

    def acquire(self) -> RunLock:
        """Take the lock and record this process as its holder; return self."""
        import filelock

        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"cannot make the run directory ({exc.strerror}); use a writable run_dir",
                path=self.run_dir,
            ) from exc
        if not os.access(self.run_dir, os.W_OK | os.X_OK):
            raise DataError(
                "the run directory is read-only; make it writable, or copy it somewhere "
                "writable and run there",
                path=self.run_dir,
            )
        lock = filelock.FileLock(str(self.run_dir / LOCK_FILE), thread_local=False)
        try:
            lock.acquire(timeout=self.timeout)
        except filelock.Timeout:
            holder = _holder(self.run_dir, held=True)
            raise RunLockedError(
                f"{self.run_dir} is in use by {holder.describe()}: one process at a time may "
                "run a study directory. Wait for it to finish (`dqt status RUN_DIR` shows "
                "it), stop it, or use another run_dir",
                path=self.run_dir,
                pid=holder.pid,
                started_at=holder.started_at,
                host=holder.host,
            ) from None
        except OSError as exc:
            raise DataError(
                f"cannot take the run directory's lock ({exc.strerror}); is it writable?",
                path=self.run_dir / LOCK_FILE,
            ) from exc
        self._lock = lock
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        tmp = self.run_dir / f".{LOCK_INFO_FILE}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps(info, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.run_dir / LOCK_INFO_FILE)
        except OSError as exc:
            self.release()
            raise DataError(
                f"cannot write the lock's holder file ({exc.strerror})",
                path=self.run_dir / LOCK_INFO_FILE,
            ) from exc
        return self

    def release(self) -> None:
        """Forget the holder file and release the lock (a no-op when not held)."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        with contextlib.suppress(OSError):
            info = _read_info(self.run_dir)
            if info.get("pid") == os.getpid():
                (self.run_dir / LOCK_INFO_FILE).unlink()
        with contextlib.suppress(OSError):
            lock.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_holder(run_dir: str | Path) -> LockHolder | None:
    """Return who holds ``run_dir``'s lock now, or None when nobody does.

    The lock is probed by trying to take it without waiting (and letting it go at
    once); a run starting at that instant waits a moment for it (see :class:`RunLock`).

    Parameters
    ----------
    run_dir : str or Path
        The run directory.

    Returns
    -------
    LockHolder or None
    """
    import filelock

    run_dir = Path(run_dir)
    path = run_dir / LOCK_FILE
    if not path.exists():
        return None
    lock = filelock.FileLock(str(path), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return _holder(run_dir, held=True)
    except OSError:
        return None  # cannot probe (read-only folder): nobody can be writing there either
    lock.release()
    return None
