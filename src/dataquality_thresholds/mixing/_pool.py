"""ExamplePool: paired examples held column-wise in an Arrow table.

A pool is the input of :class:`~dataquality_thresholds.CorruptionMixer`. It keeps
its rows in one Arrow table (the one a ``datasets.Dataset`` already holds, when
it comes from Hugging Face), so a pool of a million rows is mixed with index
arrays and rows are built only when a mixture is written.

Internal columns: ``id``, ``domain``, ``messages`` (list of ``{role, content}``),
``correct``, one column per incorrect kind (null where a prompt lacks that kind)
and ``skill`` (nullable).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from json.encoder import (
    encode_basestring as _quote,
)  # C-accelerated, as json.dumps(ensure_ascii=False)
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataquality_thresholds.errors import ConfigError, DataError
from dataquality_thresholds.io import paired_to_obj, read_paired_jsonl, write_paired_jsonl
from dataquality_thresholds.records import (
    INCORRECT_KINDS,
    LABELS,
    ROLES,
    Example,
    Message,
    PairedExample,
)

if TYPE_CHECKING:
    import datasets

__all__ = ["ExamplePool"]

_MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
_MESSAGES_TYPE = pa.list_(_MESSAGE_TYPE)


def _blank(arr: pa.ChunkedArray) -> np.ndarray:
    """Boolean mask: null, or a string that is empty after trimming whitespace."""
    trimmed = pc.utf8_trim_whitespace(arr)
    mask = pc.or_kleene(pc.is_null(arr), pc.equal(pc.utf8_length(trimmed), 0))
    return np.asarray(pc.fill_null(mask, True).to_numpy(zero_copy_only=False), dtype=bool)


def _as_string(col: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col.cast(pa.string())
    if pa.types.is_null(col.type):
        return col.cast(pa.string())
    raise ConfigError(f"column {name!r} must hold strings, it holds {col.type}", field=name)


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
    structs = pa.StructArray.from_arrays([roles, contents], fields=list(_MESSAGE_TYPE))
    return pa.ListArray.from_arrays(pa.array(offsets), structs)


class ExamplePool:
    """Paired examples (prompt, correct response, incorrect variants) to mix from.

    Parameters
    ----------
    examples : iterable of PairedExample
        The examples; ids must be unique.

    See Also
    --------
    ExamplePool.from_jsonl, ExamplePool.from_hf : other sources.

    Examples
    --------
    >>> from dataquality_thresholds import ExamplePool, PairedExample
    >>> pool = ExamplePool([
    ...     PairedExample(id="a", domain="math", prompt="2+2?", correct="4",
    ...                   incorrect={"obvious": "5"}),
    ... ])
    >>> len(pool), pool.kinds
    (1, ('obvious',))
    """

    __slots__ = ("_cache", "_kinds", "_table")

    def __init__(self, examples: Iterable[PairedExample]) -> None:
        rows = list(examples)
        if not rows:
            raise DataError("an example pool needs at least one example", field="examples")
        seen: dict[str, int] = {}
        for i, ex in enumerate(rows, start=1):
            if not isinstance(ex, PairedExample):
                raise DataError(
                    f"expected a PairedExample, got {type(ex).__name__}", line=i, field="<row>"
                )
            if ex.id in seen:
                raise DataError(
                    f"duplicate id (first at row {seen[ex.id]})", line=i, field="id", id=ex.id
                )
            seen[ex.id] = i
        kinds = sorted({k for ex in rows for k in ex.incorrect}, key=INCORRECT_KINDS.index)
        data: dict[str, Any] = {
            "id": pa.array([ex.id for ex in rows], pa.string()),
            "domain": pa.array([ex.domain for ex in rows], pa.string()),
            "messages": pa.array(
                [[{"role": m.role, "content": m.content} for m in ex.prompt] for ex in rows],
                _MESSAGES_TYPE,
            ),
            "correct": pa.array([ex.correct for ex in rows], pa.string()),
        }
        for kind in kinds:
            data[kind] = pa.array([ex.incorrect.get(kind) for ex in rows], pa.string())
        data["skill"] = pa.array([ex.skill for ex in rows], pa.string())
        self._init(pa.table(data), tuple(kinds))

    def _init(self, table: pa.Table, kinds: tuple[str, ...]) -> None:
        self._table = table
        self._kinds = kinds
        self._cache: dict[str, Any] = {}

    @classmethod
    def _from_table(cls, table: pa.Table, kinds: tuple[str, ...]) -> ExamplePool:
        pool = cls.__new__(cls)
        pool._init(table, kinds)
        return pool

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_jsonl(cls, path: str | Path) -> ExamplePool:
        """Read a paired-example JSONL file (see :mod:`dataquality_thresholds.io`)."""
        return cls(read_paired_jsonl(path))

    @classmethod
    def from_hf(
        cls,
        dataset: datasets.Dataset,
        *,
        id: str = "id",
        domain: str | None = "domain",
        prompt: str = "messages",
        correct: str = "correct",
        incorrect: Mapping[str, str] | None = None,
        skill: str | None = "skill",
        system: str | None = None,
        default_domain: str | None = None,
    ) -> ExamplePool:
        """Wrap a ``datasets.Dataset`` without copying its rows into Python objects.

        Columns are checked column-wise (Arrow compute), so a million-row
        dataset is validated in well under a second.

        Parameters
        ----------
        dataset : datasets.Dataset
            The rows.
        id : str
            Column of unique string ids.
        domain : str or None
            Column of domains; if None or absent, ``default_domain`` is used.
        prompt : str
            Column holding either the user prompt as a string or a list of
            ``{role, content}`` messages ending with a user message.
        correct : str
            Column of correct responses.
        incorrect : mapping of kind to column, optional
            E.g. ``{"obvious": "wrong_answer", "subtle": "near_miss"}``. Defaults
            to the columns named ``obvious`` and ``subtle`` that exist. A null or
            blank cell means that prompt lacks that kind.
        skill : str or None
            Optional column of skills (ignored if absent).
        system : str, optional
            A system message to put before string prompts.
        default_domain : str, optional
            Domain for every row when there is no domain column.

        Returns
        -------
        ExamplePool

        Raises
        ------
        ConfigError
            A named column is missing or has the wrong type.
        DataError
            A cell is null or blank, a role is unknown, an id repeats, or a row
            has no incorrect variant (naming the row and column).
        """
        table = _dataset_table(dataset)
        names = set(table.column_names)

        def need(col: str, what: str) -> pa.ChunkedArray:
            if col not in names:
                raise ConfigError(
                    f"dataset has no column {col!r} for {what}; columns: {sorted(names)}",
                    field=what,
                )
            return table.column(col)

        if incorrect is None:
            incorrect = {k: k for k in INCORRECT_KINDS if k in names}
            if not incorrect:
                raise ConfigError(
                    "no incorrect columns: pass "
                    "incorrect={'obvious': <column>, 'subtle': <column>}",
                    field="incorrect",
                )
        for kind in incorrect:
            if kind not in INCORRECT_KINDS:
                raise ConfigError(
                    f"unknown incorrect kind {kind!r}; "
                    f"expected one of {', '.join(INCORRECT_KINDS)}",
                    field="incorrect",
                )
        n = table.num_rows
        if n == 0:
            raise DataError("the dataset has no rows", field="<dataset>")
        cols: dict[str, Any] = {"id": _as_string(need(id, "id"), id)}
        ids = cols["id"]
        if domain is not None and domain in names:
            cols["domain"] = _as_string(table.column(domain), domain)
        elif default_domain is not None:
            cols["domain"] = pa.chunked_array(
                [pa.array(np.full(n, default_domain, dtype=object), pa.string())]
            )
        else:
            raise ConfigError(
                f"dataset has no column {domain!r}: pass domain=<column> or default_domain=...",
                field="domain",
            )
        raw_prompt = need(prompt, "prompt")
        if pa.types.is_string(raw_prompt.type) or pa.types.is_large_string(raw_prompt.type):
            _check_blank(raw_prompt.cast(pa.string()), ids, prompt)
            cols["messages"] = _text_to_messages(raw_prompt.cast(pa.string()), system)
        else:
            cols["messages"] = _check_messages(raw_prompt, ids, prompt, system)
        cols["correct"] = _as_string(need(correct, "correct"), correct)
        for kind, col in incorrect.items():
            cols[kind] = _as_string(need(col, f"incorrect.{kind}"), col)
        cols["skill"] = (
            _as_string(table.column(skill), skill)
            if skill is not None and skill in names
            else pa.chunked_array([pa.nulls(n, pa.string())])
        )
        out = pa.table(cols)
        _check_blank(out.column("id"), ids, id)
        _check_blank(out.column("domain"), ids, domain or "domain")
        _check_blank(out.column("correct"), ids, correct)
        kinds = tuple(k for k in INCORRECT_KINDS if k in incorrect)
        # blank incorrect cells mean "this prompt lacks that kind": store as null
        any_kind = np.zeros(n, dtype=bool)
        for kind in kinds:
            blank = _blank(out.column(kind))
            if blank.any():
                idx = out.schema.get_field_index(kind)
                out = out.set_column(
                    idx,
                    kind,
                    pc.if_else(pa.array(blank), pa.nulls(n, pa.string()), out.column(kind)),
                )
            any_kind |= ~blank
        if not any_kind.all():
            row = int(np.argmin(any_kind))
            raise DataError(
                "has no incorrect variant in any of the columns " + ", ".join(incorrect.values()),
                line=row + 1,
                field="incorrect",
                id=str(ids[row].as_py()),
            )
        _check_unique(out.column("id"))
        return cls._from_table(out, kinds)

    def to_hf(self) -> datasets.Dataset:
        """Return the pool as a ``datasets.Dataset`` that :meth:`from_hf` reads by default."""
        import datasets

        return datasets.Dataset(self._table)

    def to_jsonl(self, path: str | Path) -> str:
        """Write the pool as paired-example JSONL; return the file's sha256."""
        return write_paired_jsonl(self, path)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return int(self._table.num_rows)

    def __iter__(self) -> Iterator[PairedExample]:
        return self._iter_paired(np.arange(len(self)))

    def __getitem__(self, index: int) -> PairedExample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(index)
        return next(self._iter_paired(np.array([index % n])))

    def __repr__(self) -> str:
        return f"ExamplePool(n={len(self)}, kinds={self._kinds})"

    @property
    def kinds(self) -> tuple[str, ...]:
        """Incorrect kinds present in the pool."""
        return self._kinds

    @property
    def table(self) -> pa.Table:
        """The underlying Arrow table (read-only by convention)."""
        return self._table

    def has_kind(self, kind: str) -> np.ndarray:
        """Boolean mask of the rows that carry the incorrect ``kind``."""
        key = f"has:{kind}"
        if key not in self._cache:
            if kind not in self._kinds:
                mask = np.zeros(len(self), dtype=bool)
            else:
                col = self._table.column(kind)
                mask = np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)
            mask.setflags(write=False)
            self._cache[key] = mask
        out: np.ndarray = self._cache[key]
        return out

    def sort_order(self) -> np.ndarray:
        """Row indices ordered by id, so the order rows arrive in never changes a mix."""
        if "order" not in self._cache:
            order = pc.sort_indices(self._table.select(["id"]), sort_keys=[("id", "ascending")])
            arr = np.asarray(order.to_numpy(), dtype=np.int64)
            arr.setflags(write=False)
            self._cache["order"] = arr
        out: np.ndarray = self._cache["order"]
        return out

    def ids(self, indices: np.ndarray) -> list[str]:
        """Ids of the rows at ``indices``."""
        return [
            str(x)
            for x in self._table.column("id")
            .take(pa.array(np.asarray(indices, dtype=np.int64)))
            .to_pylist()
        ]

    @property
    def fingerprint(self) -> str:
        """sha256 of the pool's canonical paired-example JSONL, in id order.

        Independent of row order and of whether the pool came from a list,
        a JSONL file or a ``datasets.Dataset``. Computed once, on first use.
        """
        if "fingerprint" not in self._cache:
            h = hashlib.sha256()
            for ex in self._iter_paired(self.sort_order()):
                h.update(
                    json.dumps(
                        paired_to_obj(ex), ensure_ascii=False, sort_keys=True, separators=(",", ":")
                    ).encode("utf-8")
                )
                h.update(b"\n")
            self._cache["fingerprint"] = h.hexdigest()
        fp: str = self._cache["fingerprint"]
        return fp

    # ------------------------------------------------------------------ rendering
    def _batches(self, indices: np.ndarray, batch_size: int) -> Iterator[tuple[int, pa.Table]]:
        idx = np.asarray(indices, dtype=np.int64)
        for start in range(0, idx.size, batch_size):
            yield start, self._table.take(pa.array(idx[start : start + batch_size]))

    def _iter_paired(
        self, indices: np.ndarray, batch_size: int = 10_000
    ) -> Iterator[PairedExample]:
        for _, sub in self._batches(indices, batch_size):
            cols = {name: sub.column(name).to_pylist() for name in sub.column_names}
            for j in range(sub.num_rows):
                yield PairedExample(
                    id=cols["id"][j],
                    domain=cols["domain"][j],
                    prompt=tuple(Message(m["role"], m["content"]) for m in cols["messages"][j]),
                    correct=cols["correct"][j],
                    incorrect={k: cols[k][j] for k in self._kinds if cols[k][j] is not None},
                    skill=cols["skill"][j],
                )

    def _responses(self, sub: pa.Table, labels: np.ndarray) -> list[str | None]:
        out: list[str | None] = [None] * sub.num_rows
        for code in np.unique(labels):
            label = LABELS[int(code)]
            where = np.nonzero(labels == code)[0]
            column = sub.column(label) if label in sub.column_names else None
            values = (
                column.take(pa.array(where)).to_pylist()
                if column is not None
                else [None] * where.size
            )
            for pos, value in zip(where.tolist(), values, strict=True):
                out[pos] = value
        return out

    def _iter_batches(
        self, indices: np.ndarray, labels: np.ndarray, batch_size: int, *, prompts: bool = True
    ) -> Iterator[tuple[pa.Table, list[Any], list[Any], np.ndarray]]:
        """Yield (batch table, prompts, responses, label codes); raise for a missing response."""
        lab = np.asarray(labels, dtype=np.int8)
        for start, sub in self._batches(indices, batch_size):
            part = lab[start : start + sub.num_rows]
            responses = self._responses(sub, part)
            if any(r is None for r in responses):
                j = responses.index(None)
                label = LABELS[int(part[j])]
                raise DataError(
                    f"has no {label!r} response",
                    field=f"incorrect.{label}",
                    id=str(sub.column("id")[j].as_py()),
                )
            yield sub, sub.column("messages").to_pylist() if prompts else [], responses, part

    def iter_jsonl(
        self, indices: np.ndarray, labels: np.ndarray, *, batch_size: int = 10_000
    ) -> Iterator[bytes]:
        """Yield chat JSONL bytes of rows ``indices`` answered per ``labels``, a batch at a time.

        The bytes equal :func:`~dataquality_thresholds.io.chat_row_bytes` of each
        row; this path encodes the Arrow columns directly, without building a
        dict per message, which makes writing a million-row mixture about twice
        as fast.
        """
        role_json = {r: _quote(r) for r in ROLES}
        for sub, _, responses, _ in self._iter_batches(indices, labels, batch_size, prompts=False):
            msgs = sub.column("messages").combine_chunks()
            offsets = np.asarray(msgs.offsets.to_numpy(), dtype=np.int64)
            flat = msgs.values
            roles = flat.field("role").to_pylist()
            contents = flat.field("content").to_pylist()
            encoded = [
                '{"content":' + _quote(c) + ',"role":' + role_json[r] + "}"
                for c, r in zip(contents, roles, strict=True)
            ]
            lines = []
            for j, resp in enumerate(responses):
                lines.append(
                    '{"messages":['
                    + ",".join(encoded[offsets[j] : offsets[j + 1]])
                    + ',{"content":'
                    + _quote(resp)
                    + ',"role":"assistant"}]}\n'
                )
            yield "".join(lines).encode("utf-8")

    def iter_rows(
        self, indices: np.ndarray, labels: np.ndarray, *, batch_size: int = 10_000
    ) -> Iterator[Example]:
        """Yield :class:`Example` rows for ``indices`` answered per ``labels``."""
        for sub, prompts, responses, part in self._iter_batches(indices, labels, batch_size):
            ids = sub.column("id").to_pylist()
            domains = sub.column("domain").to_pylist()
            for j, (p, r) in enumerate(zip(prompts, responses, strict=True)):
                yield Example(
                    id=ids[j],
                    domain=domains[j],
                    messages=(
                        *(Message(m["role"], m["content"]) for m in p),
                        Message("assistant", r),
                    ),
                    label=LABELS[int(part[j])],
                )


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


def _check_blank(col: pa.ChunkedArray, ids: pa.ChunkedArray, field: str) -> None:
    blank = _blank(col)
    if blank.any():
        row = int(np.argmax(blank))
        id_value = ids[row].as_py() if field != "id" else None
        raise DataError("is null or empty", line=row + 1, field=field, id=id_value)


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
    col: pa.ChunkedArray, ids: pa.ChunkedArray, field: str, system: str | None
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
    names = {t.value_type.field(i).name for i in range(t.value_type.num_fields)}
    if not {"role", "content"} <= names:
        raise ConfigError(
            f"messages in column {field!r} need 'role' and 'content' fields", field=field
        )
    arr = col.combine_chunks()
    if system is not None:
        raise ConfigError("system= applies to string prompts only", field="system")
    lengths = np.asarray(pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False))
    if (lengths == 0).any():
        row = int(np.argmax(lengths == 0))
        raise DataError(
            "must contain at least one message", line=row + 1, field=field, id=ids[row].as_py()
        )
    flat = pc.list_flatten(arr)
    parents = np.asarray(pc.list_parent_indices(arr).to_numpy())
    roles = pc.struct_field(flat, "role").cast(pa.string())
    contents = pc.struct_field(flat, "content").cast(pa.string())
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
            id=ids[row].as_py(),
        )
    blank = _blank(pa.chunked_array([contents]))
    if blank.any():
        k = int(np.argmax(blank))
        row = int(parents[k])
        pos = k - int(np.searchsorted(parents, row))
        raise DataError(
            "must not be empty", line=row + 1, field=f"{field}[{pos}].content", id=ids[row].as_py()
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
            id=ids[row].as_py(),
        )
    structs = pa.StructArray.from_arrays([roles, contents], fields=list(_MESSAGE_TYPE))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), structs)
