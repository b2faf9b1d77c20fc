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
from dataquality_thresholds._util.validators import find_bad_text, read_utf8
from dataquality_thresholds.errors import DataError
from dataquality_thresholds.io._jsonl import _check_version, _parse_json

__all__ = [
    "MANIFEST_SCHEMA_VERSION",
    "read_manifest",
    "write_manifest",
]

#: Newest schema version of mixture manifests.
MANIFEST_SCHEMA_VERSION = 1


def write_manifest(manifest: Mapping[str, Any], path: str | Path) -> None:
    """Write a manifest (or any schema-tagged object) as pretty JSON, atomically.

    Raises
    ------
    DataError
        The manifest lacks ``schema`` / ``schema_version``, holds something JSON cannot
        (NaN, infinity, objects, lone surrogates), or ``path`` is a directory; nothing
        is written then.
    """
    if not isinstance(manifest, Mapping):
        raise DataError(
            f"expected a mapping, got {type(manifest).__name__}", path=path, field="<manifest>"
        )
    if "schema" not in manifest or "schema_version" not in manifest:
        raise DataError("a manifest needs 'schema' and 'schema_version'", path=path, field="schema")
    bad = find_bad_text(dict(manifest))
    if bad is not None:
        raise DataError(bad[1], path=path, field=bad[0])
    try:
        text = (
            json.dumps(manifest, ensure_ascii=False, sort_keys=True, allow_nan=False, indent=2)
            + "\n"
        )
    except (TypeError, ValueError, RecursionError) as exc:
        raise DataError(
            f"cannot be written as JSON ({exc})", path=path, field="<manifest>"
        ) from exc
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))


def read_manifest(path: str | Path, *, schema: str = "mixture_manifest") -> dict[str, Any]:
    """Read a manifest written by :func:`write_manifest`, checking its schema and version.

    Parameters
    ----------
    path : str or Path
        The manifest file.
    schema : str
        The ``"schema"`` it must carry.

    Returns
    -------
    dict

    Raises
    ------
    DataError
        A missing file or a directory, bytes that are not UTF-8, JSON that is not
        valid (also ``NaN``, duplicate keys, nesting too deep, lone surrogates), or
        another schema.
    SchemaVersionError
        Written by a newer version of the library.
    """
    text = read_utf8(path)
    p = Path(path)
    obj = _parse_json(text, path=p, line=None)
    if not isinstance(obj, dict) or obj.get("schema") != schema:
        got = obj.get("schema") if isinstance(obj, dict) else type(obj).__name__
        raise DataError(f"expected schema {schema!r}, got {got!r}", path=p, field="schema")
    _check_version(obj, MANIFEST_SCHEMA_VERSION, where={"path": p})
    return obj
