"""Shared JSONL plumbing of :mod:`dataquality_thresholds.io`.

Canonical JSON encoding, atomic writing of JSONL chunks, line-by-line reading
with located errors, and the field checks (strings, schema versions, chat
messages) that the paired-example, chat fine-tuning and domain-data readers
share. Errors are :class:`~dataquality_thresholds.errors.DataError` naming the
file, the 1-based line and the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dataquality_thresholds._util.atomic import atomic_write
from dataquality_thresholds._util.validators import (
    SURROGATE_ESCAPE,
    check_text,
    find_bad_text,
    readable_file,
)
from dataquality_thresholds.errors import DataError, SchemaVersionError
from dataquality_thresholds.records import ROLES, Message

__all__ = ["write_jsonl_chunks"]


def _dumps(obj: Any) -> str:
    return json.dumps(
        obj, ensure_ascii=False, sort_keys=True, allow_nan=False, separators=(",", ":")
    )


def write_jsonl_chunks(chunks: Iterable[bytes], path: str | Path) -> str:
    """Write byte chunks to ``path`` atomically and return their sha256.

    Raises
    ------
    DataError
        ``path`` is a directory (or under a file), or a chunk could not be encoded;
        nothing is written then.
    """
    h = hashlib.sha256()
    try:
        with atomic_write(path) as fh:
            for chunk in chunks:
                h.update(chunk)
                fh.write(chunk)
    except UnicodeEncodeError as exc:  # text the record checks did not see; nothing written
        raise DataError(
            f"cannot be written as UTF-8 ({exc.reason}: {exc.object[exc.start : exc.end]!r})",
            path=path,
        ) from exc
    return h.hexdigest()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return out


_DECODER = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_no_duplicates)


def _parse_json(text: str, *, path: Path, line: int | None) -> Any:
    r"""Parse one JSON document strictly; raise :class:`DataError` naming ``path`` and the line.

    Refuses what :func:`json.loads` lets through: ``NaN`` / ``Infinity``, duplicate
    keys (the last would win silently), nesting too deep to parse (a RecursionError
    otherwise), and strings that are not valid Unicode text (lone surrogates from
    escapes such as ``"\ud800"``, which no UTF-8 file can hold).
    """
    whole = "<line>" if line is not None else "<file>"
    try:
        obj = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        where = f" at column {exc.colno}" if line is not None else ""
        raise DataError(
            f"not valid JSON ({exc.msg}{where})",
            path=path,
            line=exc.lineno if line is None else line,
            field=whole,
        ) from exc
    except RecursionError as exc:
        raise DataError(
            "not valid JSON (nested too deeply)", path=path, line=line, field=whole
        ) from exc
    except ValueError as exc:  # NaN, Infinity, a duplicate key
        raise DataError(f"not valid JSON ({exc})", path=path, line=line, field=whole) from exc
    # a surrogate can only come from an escape: walk the object only when the text has one
    bad = find_bad_text(obj) if SURROGATE_ESCAPE.search(text) else None
    if bad is not None:
        raise DataError(bad[1], path=path, line=line, field=bad[0])
    return obj


def _iter_json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for each non-blank line of ``path``."""
    path = readable_file(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path=path) from exc
    with fh:
        lineno = 0
        while True:
            data = fh.readline()
            if not data:
                return
            lineno += 1
            try:
                raw = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"not valid UTF-8 ({exc.reason} at byte {exc.start} of the line)",
                    path=path,
                    line=lineno,
                    field="<line>",
                ) from exc
            if not raw.strip():
                continue
            obj = _parse_json(raw, path=path, line=lineno)
            if not isinstance(obj, dict):
                raise DataError(
                    f"expected a JSON object, got {type(obj).__name__}",
                    path=path,
                    line=lineno,
                    field="<line>",
                )
            yield lineno, obj


def _relocate(
    exc: DataError, *, path: Path | None, line: int, prefix: str = "", id: str | None = None
) -> DataError:
    field = exc.field
    if prefix and field:
        field = f"{prefix}.{field}" if not field.startswith("[") else f"{prefix}{field}"
    elif prefix:
        field = prefix
    return DataError(exc.reason, path=path, line=line, field=field, id=id or exc.id)


def _string(
    obj: Mapping[str, Any], key: str, *, where: dict[str, Any], required: bool = True
) -> str | None:
    if key not in obj:
        if required:
            raise DataError("missing required key", field=key, **where)
        return None
    try:
        return check_text(obj[key], key)
    except DataError as exc:
        raise DataError(exc.reason, field=key, **where) from None


def _required(obj: Mapping[str, Any], key: str, *, where: dict[str, Any]) -> str:
    value = _string(obj, key, where=where)
    assert value is not None  # _string raises for a missing required key
    return value


def _check_version(obj: Mapping[str, Any], supported: int, *, where: dict[str, Any]) -> None:
    version = obj.get("schema_version", supported)
    if isinstance(version, bool) or not isinstance(version, int):
        raise DataError(f"expected an int, got {version!r}", field="schema_version", **where)
    if version > supported:
        raise SchemaVersionError(
            f"written by a newer version of dataquality_thresholds (schema_version "
            f"{version}, this version reads up to {supported}); upgrade the library",
            found=version,
            supported=supported,
            field="schema_version",
            **where,
        )


def _parse_messages(
    value: Any, *, allowed: frozenset[str], where: dict[str, Any]
) -> tuple[Message, ...]:
    if not isinstance(value, list):
        raise DataError(
            f"expected a list of messages, got {type(value).__name__}", field="messages", **where
        )
    if not value:
        raise DataError("must contain at least one message", field="messages", **where)
    out = []
    for i, m in enumerate(value):
        f = f"messages[{i}]"
        if not isinstance(m, dict):
            raise DataError(f"expected an object, got {type(m).__name__}", field=f, **where)
        extra = sorted(set(m) - allowed)
        if extra:
            raise DataError(
                f"unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}",
                field=f"{f}.{extra[0]}",
                **where,
            )
        if "role" not in m:
            raise DataError("missing required key", field=f"{f}.role", **where)
        if m["role"] not in ROLES:
            raise DataError(
                f"unknown role {m['role']!r}; expected one of {', '.join(ROLES)}",
                field=f"{f}.role",
                **where,
            )
        if "content" not in m:
            raise DataError("missing required key", field=f"{f}.content", **where)
        for key in ("content", "name"):
            if key in m:
                try:
                    check_text(m[key], f"{f}.{key}")
                except DataError as exc:
                    raise DataError(exc.reason, field=exc.field, **where) from None
        content = m["content"]
        weight = m.get("weight")
        if "weight" in m:
            if isinstance(weight, bool) or not isinstance(weight, int) or weight not in (0, 1):
                raise DataError(
                    f"weight must be 0 or 1, got {weight!r}", field=f"{f}.weight", **where
                )
            if m["role"] != "assistant":
                raise DataError(
                    "weight is allowed on assistant messages only", field=f"{f}.weight", **where
                )
        out.append(Message(m["role"], content, weight))
    return tuple(out)


def _read_id_rows(path: str | Path, parse: Any, what: str) -> list[Any]:
    """Parse every line of ``path`` with ``parse``; refuse duplicate ids and empty files."""
    path = readable_file(path)
    seen: dict[str, int] = {}
    out = []
    for lineno, obj in _iter_json_lines(path):
        row = parse(obj, path=path, line=lineno)
        if row.id in seen:
            raise DataError(
                f"duplicate id (first seen on line {seen[row.id]})",
                path=path,
                line=lineno,
                field="id",
                id=row.id,
            )
        seen[row.id] = lineno
        out.append(row)
    if not out:
        raise DataError(f"no {what} in file", path=path)
    return out
