"""Eval-item, probe-question and judge-check JSONL files (read, validate, write)."""

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
    _string,
    write_jsonl_chunks,
)
from dataquality_thresholds.records import (
    JUDGE_LABELS,
    PROBE_CATEGORIES,
    EvalItem,
    JudgeCheckItem,
    ProbeQuestion,
)

__all__ = [
    "EVAL_SCHEMA_VERSION",
    "eval_to_obj",
    "judge_check_to_obj",
    "parse_eval_row",
    "parse_judge_check_row",
    "parse_question_row",
    "question_to_obj",
    "read_eval_jsonl",
    "read_judge_check_jsonl",
    "read_probe_questions_jsonl",
    "write_eval_jsonl",
    "write_judge_check_jsonl",
    "write_probe_questions_jsonl",
]

#: Newest schema version of eval-item rows.
EVAL_SCHEMA_VERSION = 1

_EVAL_KEYS = frozenset(
    {
        "id",
        "domain",
        "messages",
        "reference",
        "incorrect",
        "rubric",
        "tests",
        "skill",
        "schema_version",
    }
)
_PROMPT_MESSAGE_KEYS = frozenset({"role", "content", "name"})
_QUESTION_KEYS = frozenset(
    {"id", "category", "paraphrases", "system", "aligned_examples", "misaligned_examples"}
)
_JUDGE_KEYS = frozenset({"id", "question_id", "answer", "label"})


# --------------------------------------------------------------------------- field readers
def _where_str(
    obj: Mapping[str, Any], key: str, where: dict[str, Any], *, required: bool = True
) -> str | None:
    # a null value counts as a missing key; the checks are io's
    if key in obj and obj[key] is None:
        obj = {k: v for k, v in obj.items() if k != key}
    return _string(obj, key, where=where, required=required)


def _req_str(obj: Mapping[str, Any], key: str, where: dict[str, Any]) -> str:
    value = _where_str(obj, key, where)
    assert value is not None
    return value


def _str_list(
    obj: Mapping[str, Any], key: str, where: dict[str, Any], *, min_len: int = 0
) -> tuple[str, ...]:
    if key not in obj:
        if min_len:
            raise DataError("missing required key", field=key, **where)
        return ()
    value = obj[key]
    if not isinstance(value, list):
        raise DataError(
            f"expected a list of strings, got {type(value).__name__}", field=key, **where
        )
    if len(value) < min_len:
        raise DataError(f"needs at least {min_len} entries", field=key, **where)
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise DataError("expected a non-empty string", field=f"{key}[{i}]", **where)
    return tuple(value)


def _unknown_keys(obj: Mapping[str, Any], allowed: frozenset[str], where: dict[str, Any]) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise DataError(
            f"unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}",
            field=extra[0],
            **where,
        )


def _choice(
    obj: Mapping[str, Any], key: str, choices: tuple[str, ...], where: dict[str, Any]
) -> str:
    value = _req_str(obj, key, where)
    if value not in choices:
        raise DataError(
            f"unknown {key} {value!r}; expected one of {', '.join(choices)}", field=key, **where
        )
    return value


_read_rows = _read_id_rows


def _write_rows(rows: Iterable[Any], kind: type[Any], to_obj: Any, path: str | Path) -> str:
    items: list[Any] = list(rows)
    ids: set[str] = set()
    for i, row in enumerate(items, start=1):
        if not isinstance(row, kind):
            raise DataError(
                f"expected a {kind.__name__}, got {type(row).__name__}", line=i, field="<row>"
            )
        if row.id in ids:
            raise DataError("duplicate id", line=i, field="id", id=row.id)
        ids.add(row.id)
    return write_jsonl_chunks(((_dumps(to_obj(r)) + "\n").encode("utf-8") for r in items), path)


# --------------------------------------------------------------------------- eval items
def parse_eval_row(
    obj: Mapping[str, Any], *, path: str | Path | None = None, line: int
) -> EvalItem:
    """Validate one raw eval-item object and build the :class:`EvalItem`.

    Raises
    ------
    DataError
        Naming ``path``, ``line`` and the field at fault.
    """
    where: dict[str, Any] = {"path": path, "line": line}
    _check_version(obj, EVAL_SCHEMA_VERSION, where=where)
    _unknown_keys(obj, _EVAL_KEYS, where)
    id_ = _req_str(obj, "id", where)
    where["id"] = id_
    domain = _req_str(obj, "domain", where)
    if "messages" not in obj:
        raise DataError("missing required key (the prompt)", field="messages", **where)
    prompt = _parse_messages(obj["messages"], allowed=_PROMPT_MESSAGE_KEYS, where=where)
    if prompt[-1].role != "user":
        raise DataError(
            f"the prompt must end with a user message, it ends with {prompt[-1].role!r}",
            field=f"messages[{len(prompt) - 1}].role",
            **where,
        )
    fields: dict[str, Any] = {
        "id": id_,
        "domain": domain,
        "prompt": prompt,
        "reference": _where_str(obj, "reference", where, required=False),
        "incorrect": _str_list(obj, "incorrect", where),
        "rubric": _where_str(obj, "rubric", where, required=False),
        "tests": _where_str(obj, "tests", where, required=False),
        "skill": _where_str(obj, "skill", where, required=False),
    }
    return EvalItem(**fields)


def eval_to_obj(item: EvalItem) -> dict[str, Any]:
    """Return the JSON-safe object of one eval item (the JSONL row)."""
    obj: dict[str, Any] = {
        "id": item.id,
        "domain": item.domain,
        "messages": [{"role": m.role, "content": m.content} for m in item.prompt],
        "incorrect": list(item.incorrect),
    }
    for key in ("reference", "rubric", "tests", "skill"):
        value = getattr(item, key)
        if value is not None:
            obj[key] = value
    return obj


def read_eval_jsonl(path: str | Path) -> list[EvalItem]:
    """Read and validate an eval-item JSONL file.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    list of EvalItem

    Raises
    ------
    DataError
        On the first malformed line (naming path, line and field), a duplicate
        id, or an empty file.
    """
    return _read_rows(path, parse_eval_row, "eval items")


def write_eval_jsonl(items: Iterable[EvalItem], path: str | Path) -> str:
    """Write eval items as JSONL (atomically); return the file's sha256."""
    return _write_rows(items, EvalItem, eval_to_obj, path)


# --------------------------------------------------------------------------- probe questions
def parse_question_row(
    obj: Mapping[str, Any], *, path: str | Path | None = None, line: int
) -> ProbeQuestion:
    """Validate one raw probe-question object and build the :class:`ProbeQuestion`."""
    where: dict[str, Any] = {"path": path, "line": line}
    _unknown_keys(obj, _QUESTION_KEYS, where)
    id_ = _req_str(obj, "id", where)
    where["id"] = id_
    return ProbeQuestion(
        id=id_,
        category=_choice(obj, "category", PROBE_CATEGORIES, where),
        paraphrases=_str_list(obj, "paraphrases", where, min_len=1),
        system=_where_str(obj, "system", where, required=False),
        aligned_examples=_str_list(obj, "aligned_examples", where),
        misaligned_examples=_str_list(obj, "misaligned_examples", where),
    )


def question_to_obj(question: ProbeQuestion) -> dict[str, Any]:
    """Return the JSON-safe object of one probe question."""
    return {
        "id": question.id,
        "category": question.category,
        "paraphrases": list(question.paraphrases),
        "system": question.system,
        "aligned_examples": list(question.aligned_examples),
        "misaligned_examples": list(question.misaligned_examples),
    }


def read_probe_questions_jsonl(path: str | Path) -> list[ProbeQuestion]:
    """Read and validate a probe-question JSONL file (see the module docstring).

    Raises
    ------
    DataError
        Naming path, line and field of the first malformed row.
    """
    return _read_rows(path, parse_question_row, "questions")


def write_probe_questions_jsonl(questions: Iterable[ProbeQuestion], path: str | Path) -> str:
    """Write probe questions as JSONL (atomically); return the file's sha256."""
    return _write_rows(questions, ProbeQuestion, question_to_obj, path)


# --------------------------------------------------------------------------- judge check
def parse_judge_check_row(
    obj: Mapping[str, Any], *, path: str | Path | None = None, line: int
) -> JudgeCheckItem:
    """Validate one raw judge-check object and build the :class:`JudgeCheckItem`."""
    where: dict[str, Any] = {"path": path, "line": line}
    _unknown_keys(obj, _JUDGE_KEYS, where)
    id_ = _req_str(obj, "id", where)
    where["id"] = id_
    return JudgeCheckItem(
        id=id_,
        question_id=_req_str(obj, "question_id", where),
        answer=_req_str(obj, "answer", where),
        label=_choice(obj, "label", JUDGE_LABELS, where),
    )


def judge_check_to_obj(item: JudgeCheckItem) -> dict[str, Any]:
    """Return the JSON-safe object of one judge-check item."""
    return {
        "id": item.id,
        "question_id": item.question_id,
        "answer": item.answer,
        "label": item.label,
    }


def read_judge_check_jsonl(path: str | Path) -> list[JudgeCheckItem]:
    """Read and validate a judge-check JSONL file.

    Raises
    ------
    DataError
        Naming path, line and field of the first malformed row.
    """
    return _read_rows(path, parse_judge_check_row, "judge-check items")


def write_judge_check_jsonl(items: Iterable[JudgeCheckItem], path: str | Path) -> str:
    """Write judge-check items as JSONL (atomically); return the file's sha256."""
    return _write_rows(items, JudgeCheckItem, judge_check_to_obj, path)
