"""Manifests (schema-tagged JSON) and the per-mixture training-file sets.

:func:`write_mixtures` writes each mixture's chat JSONL next to its manifest,
all or nothing. Import these from :mod:`dataquality_thresholds.io`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataquality_thresholds._util.atomic import atomic_write
from dataquality_thresholds.errors import DataError
from dataquality_thresholds.io._jsonl import _check_version

__all__ = [
    "MANIFEST_SCHEMA_VERSION",
    "read_manifest",
    "write_manifest",
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
