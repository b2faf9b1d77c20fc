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

from dataquality_thresholds.errors import DataError
from dataquality_thresholds.io import paired_to_obj, read_paired_jsonl, write_paired_jsonl
from dataquality_thresholds.mixing._hf import MESSAGES_TYPE, hf_table
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
                MESSAGES_TYPE,
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
        """Read a paired-example JSONL file (see :mod:`dataquality_thresholds.io`).

        Raises
        ------
        DataError
            As :func:`~dataquality_thresholds.io.read_paired_jsonl`: a missing file, a
            directory, a malformed line (naming it and the field).
        """
        return cls(read_paired_jsonl(path))

    @classmethod
    def from_hf(
        cls,
        dataset: datasets.Dataset,
        *,
        id: str | None = "id",
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
        dataset is validated in well under a second. An ordinary dataset of
        prompts and answers needs no id or domain column, and numbers in text
        columns are written as text (see Notes).

        Parameters
        ----------
        dataset : datasets.Dataset
            The rows.
        id : str or None, default "id"
            Column of unique ids. With ``id=None``, or when the default column
            ``"id"`` is absent, ids are generated from the prompts (see Notes).
            A column named otherwise must exist.
        domain : str or None, default "domain"
            Column of domains. With ``domain=None``, or when the column is absent,
            every row gets ``default_domain``, or ``"default"`` when that is None
            too. A column named otherwise than ``"domain"`` must exist unless
            ``default_domain`` is given (a typo is not silently ignored).
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
            Domain for every row when there is no domain column. Without it such
            rows get the domain ``"default"``: not the dataset's name, which a
            dataset made with ``Dataset.from_dict`` lacks and one read from a
            local JSON file gives as ``"json"``; the domain enters the pool's
            fingerprint, so it must not depend on how the dataset was loaded.

        Returns
        -------
        ExamplePool

        Raises
        ------
        ConfigError
            An argument is not a column name (or ``system`` / ``default_domain``
            not a non-blank string), ``incorrect`` is not a mapping of known
            kinds or names the ``correct`` column, or a named column is missing
            or holds neither text nor numbers (message roles must be strings).
        DataError
            A cell is null, blank, a boolean, NaN or infinite, a role is
            unknown, an id repeats, a row has no incorrect variant, or an
            incorrect response equals the row's correct one (naming the row
            and column, e.g. ``row 3: field 'answer'``).

        Notes
        -----
        **Generated ids.** A row's id is ``"hf-"`` and the first 16 hex digits of
        the sha256 of its prompt's canonical JSON, the messages as stored (after
        ``system``, if given) written with ``json.dumps(messages,
        ensure_ascii=False, sort_keys=True, separators=(",", ":"))``, as UTF-8. It
        depends on the prompt alone, so it is the same in every call and whatever
        the other rows are or their order. Rows that repeat a prompt stay
        distinct: the second such row gets ``-2`` appended, the third ``-3``, in
        the dataset's order (only the order among the repeats matters).

        **Numbers as text.** Integer cells in text columns (id, domain, prompt,
        correct, incorrect, skill, message contents) become their digits
        (``5`` -> ``"5"``); floats their shortest round-trip form (``0.1`` ->
        ``"0.1"``, ``2.0`` -> ``"2.0"``; ``float(text)`` gives the value back).
        Booleans, NaN and infinities are refused: their text would be a guess.

        Generating ids and writing floats as text go row by row in Python (about
        a second per 150,000 rows); text and integer columns stay column-wise.

        .. versionchanged:: 0.1
           Arguments are checked before the dataset is read; ``system="  "``,
           ``incorrect=["obvious"]`` and non-string message roles are refused.
           Ids are generated when there is no id column, the domain defaults to
           ``"default"``, and numbers in text columns are written as text.

        Examples
        --------
        >>> import datasets
        >>> from dataquality_thresholds import ExamplePool
        >>> ds = datasets.Dataset.from_dict(
        ...     {"question": ["2+2?", "3+3?"], "answer": [4, 6], "obvious": [5, 7]}
        ... )
        >>> pool = ExamplePool.from_hf(ds, prompt="question", correct="answer")
        >>> ex = pool[0]
        >>> ex.id, ex.domain, ex.correct, dict(ex.incorrect)
        ('hf-ed60fcb984823fb0', 'default', '4', {'obvious': '5'})
        """
        table, kinds = hf_table(
            dataset,
            id=id,
            domain=domain,
            prompt=prompt,
            correct=correct,
            incorrect=incorrect,
            skill=skill,
            system=system,
            default_domain=default_domain,
        )
        return cls._from_table(table, kinds)

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
