"""Manifests (schema-tagged JSON) and the per-mixture training-file sets.

:func:`write_mixtures` writes each mixture's chat JSONL next to its manifest,
all or nothing. Import these from :mod:`dataquality_thresholds.io`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._io_jsonl import _check_version
from ._util.atomic import atomic_write
from .errors import DataError
from .records import Mixture

__all__ = [
    "MANIFEST_SCHEMA_VERSION",
    "mixture_basename",
    "read_manifest",
    "write_manifest",
    "write_mixtures",
]

#: Newest schema version of mixture manifests.
MANIFEST_SCHEMA_VERSION = 1


def write_manifest(manifest: Mapping[str, Any], path: str | Path) -> None:
    """Write a manifest (or any schema-tagged object) as pretty JSON, atomically."""
    if "schema" not in manifest or "schema_version" not in manifest:
        raise DataError("a manifest needs 'schema' and 'schema_version'", path=path, field="schema")
    text = (
        json.dumps(manifest, ensure_ascii=False, sort_keys=True, allow_nan=False, indent=2) + "\n"
    )
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))


def read_manifest(path: str | Path, *, schema: str = "mixture_manifest") -> dict[str, Any]:
    """Read a manifest written by :func:`write_manifest`, checking its schema and version."""
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("file not found", path=p) from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON ({exc.msg})", path=p, line=exc.lineno, field="<file>"
        ) from exc
    if not isinstance(obj, dict) or obj.get("schema") != schema:
        got = obj.get("schema") if isinstance(obj, dict) else type(obj).__name__
        raise DataError(f"expected schema {schema!r}, got {got!r}", path=p, field="schema")
    _check_version(obj, MANIFEST_SCHEMA_VERSION, where={"path": p})
    return obj


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
    """
    import shutil
    import tempfile

    names = [mixture_basename(m) for m in mixtures]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(
            f"two mixtures would both be written as {dup!r}", path=directory, field="mixtures"
        )
    target = Path(directory)
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
