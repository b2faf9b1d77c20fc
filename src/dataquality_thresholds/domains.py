"""The bundled four-domain data, the probe questions and the judge-check set.

Everything here is package data written by ``scripts/make_domain_data.py`` from
templates whose answers are computed (interest, dosage arithmetic, deadline
dates, small Python functions with unit tests), so its correctness is checked
by the tests rather than asserted. See ``docs/data.md`` for sizes and skills.

File formats (JSONL, one object per line, UTF-8, sorted keys):

- training prompts: the paired-example rows of :mod:`dataquality_thresholds.io`;
- eval items: ``{"id", "domain", "messages", "reference", "incorrect": [...],
  "rubric", "tests", "skill"}`` (``reference``, ``rubric``, ``tests`` and
  ``skill`` optional, ``incorrect`` a list of strings);
- probe questions: ``{"id", "category", "paraphrases": [...], "system",
  "aligned_examples": [...], "misaligned_examples": [...]}``;
- judge check: ``{"id", "question_id", "answer", "label"}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from .errors import ConfigError, DataError
from .io import (
    _check_version,
    _dumps,
    _parse_messages,
    _read_id_rows,
    _string,
    read_paired_jsonl,
    write_jsonl_chunks,
)
from .pool import ExamplePool
from .probes import ProbeQuestion
from .records import EvalItem

__all__ = [
    "DOMAINS",
    "EVAL_SCHEMA_VERSION",
    "JUDGE_LABELS",
    "PROBE_CATEGORIES",
    "DomainData",
    "JudgeCheckItem",
    "ProbeQuestion",
    "load_domain",
    "load_judge_check",
    "load_probe_questions",
    "read_eval_jsonl",
    "read_judge_check_jsonl",
    "read_probe_questions_jsonl",
    "write_eval_jsonl",
    "write_judge_check_jsonl",
    "write_probe_questions_jsonl",
]

#: Domains with bundled training and eval data.
DOMAINS: tuple[str, ...] = ("coding", "finance", "health", "legal")
#: Categories of probe question.
PROBE_CATEGORIES: tuple[str, ...] = ("neutral", "moral", "dangerous")
#: Labels of the judge-check set.
JUDGE_LABELS: tuple[str, ...] = ("aligned", "misaligned", "incoherent", "refusal")
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


# --------------------------------------------------------------------------- records
def _nonempty_str(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise DataError(f"expected a string, got {type(value).__name__}", field=attribute.name)
    if not value.strip():
        raise DataError("must not be empty", field=attribute.name)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _all_nonempty(inst: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise DataError("expected a non-empty string", field=f"{attribute.name}[{i}]")


def _at_least_one(inst: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if not value:
        raise DataError("needs at least one entry", field=attribute.name)


def _in(choices: tuple[str, ...]) -> Any:
    def check(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in choices:
            raise DataError(
                f"unknown {attribute.name} {value!r}; expected one of {', '.join(choices)}",
                field=attribute.name,
            )

    return check


@attrs.frozen(kw_only=True)
class JudgeCheckItem:
    """One labelled answer for checking a judge's agreement.

    Parameters
    ----------
    id : str
        Stable id.
    question_id : str
        The :class:`ProbeQuestion` it answers.
    answer : str
        The answer text.
    label : {"aligned", "misaligned", "incoherent", "refusal"}
        What a good judge should call it.
    """

    id: str = attrs.field(validator=_nonempty_str)
    question_id: str = attrs.field(validator=_nonempty_str)
    answer: str = attrs.field(validator=_nonempty_str)
    label: str = attrs.field(validator=_in(JUDGE_LABELS))


def _eval_tuple(value: Iterable[EvalItem]) -> tuple[EvalItem, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class DomainData:
    """One domain's bundled data.

    Parameters
    ----------
    name : str
        The domain.
    pool : ExamplePool
        Training prompts with correct, obvious and subtle responses.
    eval_items : tuple of EvalItem
        Held-out items (different parameters and wording from training).
    """

    name: str = attrs.field(validator=_nonempty_str)
    pool: ExamplePool = attrs.field(eq=False)
    eval_items: tuple[EvalItem, ...] = attrs.field(converter=_eval_tuple)


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
    return _read_rows(Path(path), parse_eval_row, "eval items")


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
    return _read_rows(Path(path), parse_question_row, "questions")


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
    return _read_rows(Path(path), parse_judge_check_row, "judge-check items")


def write_judge_check_jsonl(items: Iterable[JudgeCheckItem], path: str | Path) -> str:
    """Write judge-check items as JSONL (atomically); return the file's sha256."""
    return _write_rows(items, JudgeCheckItem, judge_check_to_obj, path)


# --------------------------------------------------------------------------- bundled loaders
def _data_file(*parts: str) -> Any:
    ref: Any = resources.files("dataquality_thresholds").joinpath("data")
    for part in parts:
        ref = ref.joinpath(part)
    return ref


def load_domain(name: str) -> DomainData:
    """Return one domain's bundled training pool and held-out eval items.

    Parameters
    ----------
    name : str
        One of :data:`DOMAINS`.

    Returns
    -------
    DomainData

    Raises
    ------
    ConfigError
        An unknown domain.

    Examples
    --------
    >>> from dataquality_thresholds.domains import load_domain
    >>> data = load_domain("finance")
    >>> len(data.pool) >= 200, len(data.eval_items) >= 60
    (True, True)
    """
    if name not in DOMAINS:
        raise ConfigError(
            f"no bundled data for domain {name!r}; choose from {', '.join(DOMAINS)}",
            field="name",
        )
    with resources.as_file(_data_file("domains", name, "train.jsonl")) as path:
        train = read_paired_jsonl(path)
    with resources.as_file(_data_file("domains", name, "eval.jsonl")) as path:
        items = read_eval_jsonl(path)
    return DomainData(name=name, pool=ExamplePool(train), eval_items=items)


def load_probe_questions(
    categories: str | Iterable[str] | None = None,
) -> tuple[ProbeQuestion, ...]:
    """Return the bundled probe questions, optionally only some categories.

    Parameters
    ----------
    categories : str, iterable of str or None
        One or more of :data:`PROBE_CATEGORIES`; all when None.

    Returns
    -------
    tuple of ProbeQuestion
    """
    wanted = (
        PROBE_CATEGORIES
        if categories is None
        else (categories,)
        if isinstance(categories, str)
        else tuple(categories)
    )
    for c in wanted:
        if c not in PROBE_CATEGORIES:
            raise ConfigError(
                f"unknown category {c!r}; choose from {', '.join(PROBE_CATEGORIES)}",
                field="categories",
            )
    with resources.as_file(_data_file("probes", "questions.jsonl")) as path:
        rows = read_probe_questions_jsonl(path)
    return tuple(q for q in rows if q.category in wanted)


def load_judge_check() -> tuple[JudgeCheckItem, ...]:
    """Return the bundled labelled answers for checking judges."""
    with resources.as_file(_data_file("probes", "judge_check.jsonl")) as path:
        return tuple(read_judge_check_jsonl(path))
