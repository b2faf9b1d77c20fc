"""Paired-example JSONL: one prompt with its correct and incorrect answers per line.

The rows look like::

    {"id": "fin-001", "domain": "finance", "skill": "compound_interest",
     "messages": [{"role": "user", "content": "..."}],
     "correct": "...", "incorrect": {"obvious": "...", "subtle": "..."}}

Import these from :mod:`dataquality_thresholds.io`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dataquality_thresholds.errors import DataError
from dataquality_thresholds.io._jsonl import (
    _check_version,
    _dumps,
    _parse_messages,
    _read_id_rows,
    _relocate,
    _required,
    _string,
    write_jsonl_chunks,
)
from dataquality_thresholds.records import INCORRECT_KINDS, PairedExample

__all__ = [
    "PAIRED_SCHEMA_VERSION",
    "paired_to_obj",
    "parse_paired_row",
    "read_paired_jsonl",
    "write_paired_jsonl",
]

#: Newest schema version of paired-example rows this library reads and writes.
PAIRED_SCHEMA_VERSION = 1

_PAIRED_KEYS = frozenset(
    {"id", "domain", "messages", "correct", "incorrect", "skill", "schema_version"}
)
_PROMPT_MESSAGE_KEYS = frozenset({"role", "content", "name"})


def parse_paired_row(
    obj: Mapping[str, Any], *, path: str | Path | None = None, line: int
) -> PairedExample:
    """Validate one raw paired-example object and build the record.

    Parameters
    ----------
    obj : mapping
        The parsed JSON object.
    path : str or Path, optional
        Where it came from (for error messages).
    line : int
        1-based line (or row) number.

    Raises
    ------
    DataError
        Naming ``path``, ``line`` and the field at fault.
    """
    where: dict[str, Any] = {"path": path, "line": line}
    _check_version(obj, PAIRED_SCHEMA_VERSION, where=where)
    extra = sorted(set(obj) - _PAIRED_KEYS)
    if extra:
        raise DataError(
            f"unknown key {extra[0]!r}; allowed: {', '.join(sorted(_PAIRED_KEYS))}",
            field=extra[0],
            **where,
        )
    id_ = _required(obj, "id", where=where)
    where["id"] = id_
    domain = _required(obj, "domain", where=where)
    if "messages" not in obj:
        raise DataError(
            "missing required key (the prompt, without the answer)", field="messages", **where
        )
    prompt = _parse_messages(obj["messages"], allowed=_PROMPT_MESSAGE_KEYS, where=where)
    if prompt[-1].role != "user":
        raise DataError(
            f"the prompt must end with a user message, it ends with {prompt[-1].role!r}",
            field=f"messages[{len(prompt) - 1}].role",
            **where,
        )
    correct = _required(obj, "correct", where=where)
    if "incorrect" not in obj:
        raise DataError("missing required key", field="incorrect", **where)
    incorrect = obj["incorrect"]
    if not isinstance(incorrect, dict):
        raise DataError(
            f"expected an object of kind to response, got {type(incorrect).__name__}",
            field="incorrect",
            **where,
        )
    if not incorrect:
        raise DataError(
            f"needs at least one incorrect variant ({', '.join(INCORRECT_KINDS)})",
            field="incorrect",
            **where,
        )
    for kind in incorrect:
        if kind not in INCORRECT_KINDS:
            raise DataError(
                f"unknown incorrect kind {kind!r}; expected one of {', '.join(INCORRECT_KINDS)}",
                field=f"incorrect.{kind}",
                **where,
            )
        value = incorrect[kind]
        if not isinstance(value, str) or not value.strip():
            raise DataError("expected a non-empty string", field=f"incorrect.{kind}", **where)
    skill = (
        _string(obj, "skill", where=where, required=False) if obj.get("skill") is not None else None
    )
    try:
        return PairedExample(
            id=id_, domain=domain, prompt=prompt, correct=correct, incorrect=incorrect, skill=skill
        )
    except DataError as exc:  # the record's own rules (an incorrect text equal to the correct)
        raise _relocate(exc, path=Path(path) if path else None, line=line, id=id_) from exc


def paired_to_obj(example: PairedExample) -> dict[str, Any]:
    """Return the JSON-safe object for one paired example (the JSONL row)."""
    obj: dict[str, Any] = {
        "id": example.id,
        "domain": example.domain,
        "messages": [{"role": m.role, "content": m.content} for m in example.prompt],
        "correct": example.correct,
        "incorrect": dict(example.incorrect),
    }
    if example.skill is not None:
        obj["skill"] = example.skill
    return obj


def read_paired_jsonl(path: str | Path) -> list[PairedExample]:
    """Read and validate a paired-example JSONL file.

    Raises
    ------
    DataError
        On the first malformed line (naming the line and field), a duplicate
        id, or a file with no examples.
    SchemaVersionError
        When a row was written by a newer version of the library.
    """
    rows: list[PairedExample] = _read_id_rows(path, parse_paired_row, "examples")
    return rows


def write_paired_jsonl(examples: Iterable[PairedExample], path: str | Path) -> str:
    """Write paired examples as JSONL (atomically); return the file's sha256."""
    rows = list(examples)
    ids: set[str] = set()
    for i, ex in enumerate(rows, start=1):
        if not isinstance(ex, PairedExample):
            raise DataError(
                f"expected a PairedExample, got {type(ex).__name__}", line=i, field="<row>"
            )
        if ex.id in ids:
            raise DataError("duplicate id", line=i, field="id", id=ex.id)
        ids.add(ex.id)
    return write_jsonl_chunks(
        ((_dumps(paired_to_obj(ex)) + "\n").encode("utf-8") for ex in rows), path
    )
