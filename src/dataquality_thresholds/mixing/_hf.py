"""Reading a ``datasets.Dataset`` into an ExamplePool's Arrow table, column-wise.

Private to :mod:`dataquality_thresholds.mixing`: :meth:`ExamplePool.from_hf` calls
:func:`hf_table`. Every argument is checked before any column is touched
(:class:`ConfigError` naming it), then every column with Arrow compute, so a
million-row dataset is validated in well under a second; a bad cell is a
:class:`DataError` naming its row (1-based), column and id. Numbers in text
columns become text and missing ids are generated (``_hf_cells``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataquality_thresholds._util.validators import check_text
from dataquality_thresholds.errors import ConfigError, DataError
from dataquality_thresholds.mixing._hf_cells import Locate, prompt_ids, text_array, text_column
from dataquality_thresholds.records import INCORRECT_KINDS, ROLES

__all__ = ["DEFAULT_DOMAIN", "MESSAGES_TYPE", "MESSAGE_TYPE", "blank_mask", "hf_table"]

#: The domain of every row when a dataset has no domain column and no default_domain is given.
DEFAULT_DOMAIN = "default"

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES_TYPE = pa.list_(MESSAGE_TYPE)


def blank_mask(arr: pa.ChunkedArray) -> np.ndarray:
    """Boolean mask: null, or a string that is empty after trimming whitespace."""
    trimmed = pc.utf8_trim_whitespace(arr)
    mask = pc.or_kleene(pc.is_null(arr), pc.equal(pc.utf8_length(trimmed), 0))
    return np.asarray(pc.fill_null(mask, True).to_numpy(zero_copy_only=False), dtype=bool)


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_scalar(t: pa.DataType) -> bool:
    """Text, a number or a boolean: a prompt column of one user message per row."""
    return bool(
        _is_text(t)
        or pa.types.is_null(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
    )


def _row_id(ids: pa.ChunkedArray | None, row: int) -> str | None:
    """Return the id of ``row`` for an error message (None while ids are not known)."""
    if ids is None:
        return None
    value = ids[row].as_py()
    return None if value is None else str(value)


def _locate(name: str, ids: pa.ChunkedArray | None) -> Locate:
    def locate(row: int) -> tuple[int, str, str | None]:
        return row + 1, name, _row_id(ids, row)

    return locate


def _as_string(col: pa.ChunkedArray, name: str, ids: pa.ChunkedArray | None) -> pa.ChunkedArray:
    return text_column(col, column=name, locate=_locate(name, ids))


def _column_name(value: object, field: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field} must be a column name (a string), got {value!r}", field=field)
    return value


def _check_arguments(
    *,
    id: object,
    domain: object,
    prompt: object,
    correct: object,
    incorrect: object,
    skill: object,
    system: object,
    default_domain: object,
) -> dict[str, str] | None:
    """Check from_hf's arguments; return ``incorrect`` as a plain dict (or None)."""
    for field, value in (("prompt", prompt), ("correct", correct)):
        _column_name(value, field)
    for field, value in (("id", id), ("domain", domain), ("skill", skill)):
        _column_name(value, field, optional=True)
    for field, value in (("system", system), ("default_domain", default_domain)):
        if value is not None:
            check_text(value, field, error=ConfigError)
    if incorrect is None:
        return None
    if not isinstance(incorrect, Mapping):
        raise ConfigError(
            "incorrect must map a kind to a column, e.g. {'obvious': 'wrong_answer'}; "
            f"got {type(incorrect).__name__}",
            field="incorrect",
        )
    if not incorrect:
        raise ConfigError(
            f"incorrect names no columns; map one or more of {', '.join(INCORRECT_KINDS)}",
            field="incorrect",
        )
    out: dict[str, str] = {}
    for kind, col in incorrect.items():
        if kind not in INCORRECT_KINDS:
            raise ConfigError(
                f"unknown incorrect kind {kind!r}; expected one of {', '.join(INCORRECT_KINDS)}",
                field="incorrect",
            )
        name = _column_name(col, f"incorrect.{kind}")
        assert name is not None
        if name == correct:
            raise ConfigError(
                f"incorrect.{kind} names the correct column {name!r}: every row would "
                "count the correct response as incorrect",
                field=f"incorrect.{kind}",
            )
        out[kind] = name
    return out


def _text_to_messages(text: pa.ChunkedArray, system: str | None) -> pa.Array:
    """Turn a column of user prompts into a list<struct{role, content}> column."""
    text = text.combine_chunks()
    n = len(text)
    if system is None:
        roles = pa.array(np.full(n, "user", dtype=object), pa.string())
        contents = text
        offsets = np.arange(n + 1, dtype=np.int32)
    else:
        roles = pa.array(np.tile(np.array(["system", "user"], dtype=object), n), pa.string())
        # row i is [system, text_i]: take from [system, text_0, ..., text_{n-1}]
        combined = pa.concat_arrays([pa.array([system], pa.string()), text])
        take = np.zeros(2 * n, dtype=np.int64)
        take[1::2] = np.arange(1, n + 1)
        contents = combined.take(pa.array(take))
        offsets = np.arange(0, 2 * n + 1, 2, dtype=np.int32)
    structs = pa.StructArray.from_arrays([roles, contents], fields=list(MESSAGE_TYPE))
    return pa.ListArray.from_arrays(pa.array(offsets), structs)


def hf_table(
    dataset: Any,
    *,
    id: str | None,
    domain: str | None,
    prompt: str,
    correct: str,
    incorrect: Mapping[str, str] | None,
    skill: str | None,
    system: str | None,
    default_domain: str | None,
) -> tuple[pa.Table, tuple[str, ...]]:
    """Validate a dataset as :meth:`ExamplePool.from_hf` describes; return (table, kinds).

    Raises
    ------
    ConfigError
        A bad argument, a missing column or a column of the wrong type.
    DataError
        A null, blank, boolean, NaN or infinite cell, an unknown role, a repeated id,
        a row with no incorrect variant, or an incorrect response equal to the row's
        correct one.
    """
    checked = _check_arguments(
        id=id,
        domain=domain,
        prompt=prompt,
        correct=correct,
        incorrect=incorrect,
        skill=skill,
        system=system,
        default_domain=default_domain,
    )
    table = _dataset_table(dataset)
    names = set(table.column_names)

    def need(col: str, what: str) -> pa.ChunkedArray:
        if col not in names:
            raise ConfigError(
                f"dataset has no column {col!r} for {what}; columns: {sorted(names)}",
                field=what,
            )
        return table.column(col)

    if checked is None:
        checked = {k: k for k in INCORRECT_KINDS if k in names and k != correct}
        if not checked:
            raise ConfigError(
                "no incorrect columns: pass incorrect={'obvious': <column>, 'subtle': <column>}",
                field="incorrect",
            )
    n = table.num_rows
    if n == 0:
        raise DataError("the dataset has no rows", field="<dataset>")
    cols: dict[str, Any] = {}
    ids: pa.ChunkedArray | None = None
    if id is not None and (id in names or id != "id"):
        ids = _as_string(need(id, "id"), id, None)
    id_field = id or "id"
    if domain is not None and domain in names:
        cols["domain"] = _as_string(table.column(domain), domain, ids)
    elif domain not in (None, "domain") and default_domain is None:
        raise ConfigError(
            f"dataset has no column {domain!r} for domain; columns: {sorted(names)}; pass "
            f"domain=None to give every row default_domain (or {DEFAULT_DOMAIN!r})",
            field="domain",
        )
    else:
        fill = DEFAULT_DOMAIN if default_domain is None else default_domain
        cols["domain"] = pa.chunked_array([pa.array(np.full(n, fill, dtype=object), pa.string())])
    raw_prompt = need(prompt, "prompt")
    if _is_scalar(raw_prompt.type):
        text = _as_string(raw_prompt, prompt, ids)
        _check_blank(text, ids, prompt)
        messages = _text_to_messages(text, system)
    else:
        messages = _check_messages(raw_prompt, ids, prompt, system)
    if ids is None:
        ids = prompt_ids(messages)
    cols = {"id": ids, **cols, "messages": messages}
    cols["correct"] = _as_string(need(correct, "correct"), correct, ids)
    for kind, col in checked.items():
        cols[kind] = _as_string(need(col, f"incorrect.{kind}"), col, ids)
    cols["skill"] = (
        _as_string(table.column(skill), skill, ids)
        if skill is not None and skill in names
        else pa.chunked_array([pa.nulls(n, pa.string())])
    )
    out = pa.table(cols)
    _check_blank(out.column("id"), None, id_field)
    _check_blank(out.column("domain"), ids, domain or "domain")
    _check_blank(out.column("correct"), ids, correct)
    kinds = tuple(k for k in INCORRECT_KINDS if k in checked)
    correct_text = pc.utf8_trim_whitespace(out.column("correct"))
    # blank incorrect cells mean "this prompt lacks that kind": store as null
    any_kind = np.zeros(n, dtype=bool)
    for kind in kinds:
        blank = blank_mask(out.column(kind))
        if blank.any():
            idx = out.schema.get_field_index(kind)
            out = out.set_column(
                idx,
                kind,
                pc.if_else(pa.array(blank), pa.nulls(n, pa.string()), out.column(kind)),
            )
        same = pc.equal(pc.utf8_trim_whitespace(out.column(kind)), correct_text)
        same_np = np.asarray(pc.fill_null(same, False).to_numpy(zero_copy_only=False), dtype=bool)
        if same_np.any():
            row = int(np.argmax(same_np))
            raise DataError(
                f"is the same text as the correct response (column {correct!r}); an "
                "incorrect variant must differ from it",
                line=row + 1,
                field=checked[kind],
                id=_row_id(ids, row),
            )
        any_kind |= ~blank
    if not any_kind.all():
        row = int(np.argmin(any_kind))
        raise DataError(
            "has no incorrect variant in any of the columns " + ", ".join(checked.values()),
            line=row + 1,
            field="incorrect",
            id=_row_id(ids, row),
        )
    _check_unique(out.column("id"))
    return out, kinds


def _dataset_table(dataset: Any) -> pa.Table:
    """Return the Arrow table behind a ``datasets.Dataset`` (honouring a select/shuffle index)."""
    try:
        indices = dataset._indices
        data = dataset.data
    except AttributeError:
        raise ConfigError(
            f"expected a datasets.Dataset, got {type(dataset).__name__}", field="dataset"
        ) from None
    if indices is None:
        table: pa.Table = data.table
        return table
    return dataset.with_format("arrow")[:]  # materialises the selection as Arrow, not Python


def _check_blank(col: pa.ChunkedArray, ids: pa.ChunkedArray | None, field: str) -> None:
    blank = blank_mask(col)
    if blank.any():
        row = int(np.argmax(blank))
        raise DataError("is null or empty", line=row + 1, field=field, id=_row_id(ids, row))


def _check_unique(ids: pa.ChunkedArray) -> None:
    order = pc.sort_indices(ids)
    sorted_ids = ids.take(order)
    if len(sorted_ids) < 2:
        return
    same = pc.equal(sorted_ids.slice(1), sorted_ids.slice(0, len(sorted_ids) - 1))
    same_np = np.asarray(pc.fill_null(same, False).to_numpy(zero_copy_only=False), dtype=bool)
    if same_np.any():
        k = int(np.argmax(same_np)) + 1
        row = int(order[k].as_py())
        raise DataError("duplicate id", line=row + 1, field="id", id=str(sorted_ids[k].as_py()))


def _check_messages(
    col: pa.ChunkedArray, ids: pa.ChunkedArray | None, field: str, system: str | None
) -> pa.Array:
    """Validate a list<struct{role, content}> prompt column; return it normalised."""
    t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)) or not pa.types.is_struct(
        t.value_type
    ):
        raise ConfigError(
            f"column {field!r} must hold strings or lists of {{role, content}} messages, "
            f"it holds {t}",
            field=field,
        )
    fields = {
        t.value_type.field(i).name: t.value_type.field(i).type
        for i in range(t.value_type.num_fields)
    }
    if not {"role", "content"} <= set(fields):
        raise ConfigError(
            f"messages in column {field!r} need 'role' and 'content' fields", field=field
        )
    if not (_is_text(fields["role"]) or pa.types.is_null(fields["role"])):
        raise ConfigError(
            f"{field}.role: the 'role' of messages in column {field!r} must be "
            f"strings, it holds {fields['role']}",
            field=f"{field}.role",
        )
    arr = col.combine_chunks()
    if system is not None:
        raise ConfigError("system= applies to string prompts only", field="system")
    lengths = np.asarray(pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False))
    if (lengths == 0).any():
        row = int(np.argmax(lengths == 0))
        raise DataError(
            "must contain at least one message", line=row + 1, field=field, id=_row_id(ids, row)
        )
    flat = pc.list_flatten(arr)
    parents = np.asarray(pc.list_parent_indices(arr).to_numpy())
    roles = pc.struct_field(flat, "role").cast(pa.string())

    def locate(k: int) -> tuple[int, str, str | None]:
        row = int(parents[k])
        pos = k - int(np.searchsorted(parents, row))
        return row + 1, f"{field}[{pos}].content", _row_id(ids, row)

    contents = text_array(
        pc.struct_field(flat, "content"), column=f"{field}.content", locate=locate
    )
    bad_role = ~np.asarray(
        pc.fill_null(pc.is_in(roles, value_set=pa.array(ROLES)), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    if bad_role.any():
        k = int(np.argmax(bad_role))
        row = int(parents[k])
        pos = k - int(np.searchsorted(parents, row))
        raise DataError(
            f"unknown role {roles[k].as_py()!r}; expected one of {', '.join(ROLES)}",
            line=row + 1,
            field=f"{field}[{pos}].role",
            id=_row_id(ids, row),
        )
    blank = blank_mask(pa.chunked_array([contents]))
    if blank.any():
        k = int(np.argmax(blank))
        row = int(parents[k])
        pos = k - int(np.searchsorted(parents, row))
        raise DataError(
            "must not be empty",
            line=row + 1,
            field=f"{field}[{pos}].content",
            id=_row_id(ids, row),
        )
    ends = np.cumsum(lengths) - 1
    last_roles = np.asarray(roles.take(pa.array(ends)).to_numpy(zero_copy_only=False))
    not_user = last_roles != "user"
    if not_user.any():
        row = int(np.argmax(not_user))
        raise DataError(
            f"the prompt must end with a user message, it ends with {last_roles[row]!r}",
            line=row + 1,
            field=f"{field}[{int(lengths[row]) - 1}].role",
            id=_row_id(ids, row),
        )
    structs = pa.StructArray.from_arrays([roles, contents], fields=list(MESSAGE_TYPE))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), structs)
