"""Undoing what a failed start made: folders it created, files that were not there before.

Private to the package. A command that fails before it committed anything (a run that
submitted no job and bought no answer) removes what it created, so a failed start leaves
nothing behind; whatever existed before stays as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["missing_dirs", "remove_empty_dirs", "remove_files"]


def missing_dirs(path: str | Path) -> list[Path]:
    """Return ``path`` and those of its ancestors that do not exist yet, deepest first.

    Call it before making ``path`` (``mkdir(parents=True)``): these are the folders
    the call will create, and the ones to remove again if it fails.
    """
    out: list[Path] = []
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def remove_empty_dirs(dirs: Iterable[Path]) -> None:
    """Remove each folder of ``dirs`` (deepest first) while it is empty; stop at the first not."""
    for d in dirs:
        try:
            d.rmdir()
        except FileNotFoundError:
            continue
        except OSError:  # not empty (someone else's file), or not ours to remove
            return


def remove_files(folder: Path, names: Iterable[str]) -> None:
    """Remove the files ``names`` of ``folder`` that exist (quietly: best effort)."""
    for name in names:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            (folder / name).unlink()
