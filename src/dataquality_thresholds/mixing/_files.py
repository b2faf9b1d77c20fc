"""Per-mixture training-file sets: each mixture's chat JSONL beside its manifest, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dataquality_thresholds._util.validators import writable_dir, writable_file
from dataquality_thresholds.errors import DataError
from dataquality_thresholds.io import write_manifest
from dataquality_thresholds.mixing._mixture import Mixture

__all__ = ["mixture_basename", "write_mixtures"]


def mixture_basename(mixture: Mixture) -> str:
    """File stem for a mixture: ``<corruption>-f<fraction>-n<size>-s<seed>``.

    ``<corruption>`` is the kind (``obvious``) or kinds with shares
    (``obvious0.5_subtle0.5``).
    """
    spec = mixture.spec
    kinds = "_".join(
        k if len(spec.corruption) == 1 else f"{k}{v:g}" for k, v in spec.corruption.items()
    )
    return f"{kinds}-f{spec.fraction_correct:.4f}-n{spec.size}-s{spec.seed}"


def write_mixtures(mixtures: Sequence[Mixture], directory: str | Path) -> list[tuple[Path, Path]]:
    """Write each mixture's training file and manifest into ``directory``.

    Files are named by :func:`mixture_basename` (``.jsonl`` and
    ``.manifest.json``). Everything is written into a temporary folder first and
    moved into place only when every file is complete, so an error leaves no
    partial set behind.

    Returns
    -------
    list of (Path, Path)
        The training file and manifest of each mixture, in input order.

    Raises
    ------
    DataError
        ``directory`` exists and is not a folder, a file to write is taken by a
        folder, or two mixtures would share a name; checked before anything is
        written.
    """
    import shutil
    import tempfile

    target = writable_dir(directory, field="directory")
    names = [mixture_basename(m) for m in mixtures]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(
            f"two mixtures would both be written as {dup!r}", path=directory, field="mixtures"
        )
    for name in names:
        for suffix in (".jsonl", ".manifest.json"):
            writable_file(target / f"{name}{suffix}")
    target.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, Path]] = []
    with tempfile.TemporaryDirectory(dir=target, prefix=".incoming-") as tmp:
        for m, name in zip(mixtures, names, strict=True):
            m.to_jsonl(Path(tmp) / f"{name}.jsonl")
            write_manifest(
                {**m.manifest, "file": f"{name}.jsonl"}, Path(tmp) / f"{name}.manifest.json"
            )
        for name in names:
            for suffix in (".jsonl", ".manifest.json"):
                shutil.move(str(Path(tmp) / f"{name}{suffix}"), str(target / f"{name}{suffix}"))
            out.append((target / f"{name}.jsonl", target / f"{name}.manifest.json"))
    return out
