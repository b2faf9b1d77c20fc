"""Atomic file writes: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dataquality_thresholds._util.validators import writable_file
from dataquality_thresholds.errors import DataError

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[bytes]]:
    """Open a temporary file that replaces ``path`` only if the block succeeds.

    On any exception the temporary file is removed and ``path`` is untouched,
    so a failed write never leaves a partial file behind. A target that is a
    directory, or under a file, is refused before anything is written
    (:class:`~dataquality_thresholds.errors.DataError` naming it).
    """
    target = writable_file(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:  # permission denied, read-only file system ...
        raise DataError(f"cannot write here ({exc.strerror or exc})", path=target) from exc
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
