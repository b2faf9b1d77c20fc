"""Text cells and generated ids for :meth:`ExamplePool.from_hf` (private to ``mixing``).

:func:`text_array` turns a column (or the flat ``content`` field of a messages
column) into strings: text stays text, integers become their digits (``5`` ->
``"5"``), floats their shortest round-trip form (``0.1`` -> ``"0.1"``, ``2.0`` ->
``"2.0"``); a boolean, a NaN or an infinity is a :class:`DataError` naming the
row and field, any other type a :class:`ConfigError` naming the column.

:func:`prompt_ids` makes ids for a dataset without an id column:
``"hf-"`` and the first 16 hex digits of the sha256 of the prompt's canonical
JSON, with ``-2``, ``-3`` ... on later rows that repeat a prompt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from json.encoder import encode_basestring as _quote  # as json.dumps(ensure_ascii=False)

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataquality_thresholds.errors import ConfigError, DataError

__all__ = ["AUTO_ID_PREFIX", "prompt_ids", "text_array"]

#: Prefix of the ids :func:`prompt_ids` makes.
AUTO_ID_PREFIX = "hf-"

#: ``row -> (1-based line, field name, id or None)`` for an error message.
Locate = Callable[[int], tuple[int, str, str | None]]


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t))


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def text_array(arr: pa.Array, *, column: str, locate: Locate) -> pa.Array:
    """Return ``arr`` as a string array, converting numbers as the module describes.

    Parameters
    ----------
    arr : pyarrow.Array
        One column, or the flattened ``content`` field of a messages column.
    column : str
        The column's name (what a :class:`ConfigError` names).
    locate : callable
        Maps an index of ``arr`` to ``(line, field, id)`` for a :class:`DataError`.

    Returns
    -------
    pyarrow.Array
        Of type string; nulls stay null (the caller refuses them where it must).

    Raises
    ------
    ConfigError
        The column holds neither text nor numbers (lists, structs, dates, bytes ...).
    DataError
        A boolean, NaN or infinite value, naming its row and field.
    """
    t = arr.type
    if _is_text(t):
        return arr.cast(pa.string())
    if pa.types.is_integer(t):
        return arr.cast(pa.string())
    if pa.types.is_boolean(t):
        valid = _mask(pc.is_valid(arr))
        k = int(np.argmax(valid)) if valid.any() else 0
        line, field, id_ = locate(k)
        value = arr[k].as_py()
        raise DataError(
            f"is the boolean {value}, not text; store the text you mean "
            "(e.g. 'yes' / 'no') in a string column",
            line=line,
            field=field,
            id=id_,
        )
    if pa.types.is_floating(t):
        bad = _mask(pc.invert(pc.is_finite(arr)))
        if bad.any():
            k = int(np.argmax(bad))
            line, field, id_ = locate(k)
            raise DataError(
                f"is {arr[k].as_py()!r}, not text or a finite number",
                line=line,
                field=field,
                id=id_,
            )
        valid = _mask(pc.is_valid(arr))
        values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
        # numpy's str of a float64 / float32 / float16 is its shortest round-trip form
        texts = np.array([str(v) for v in values], dtype=object)
        return pa.array(texts, pa.string(), mask=~valid)
    raise ConfigError(
        f"column {column!r} must hold text (strings, or numbers to be written as text), "
        f"it holds {t}",
        field=column,
    )


def text_column(col: pa.ChunkedArray, *, column: str, locate: Locate) -> pa.ChunkedArray:
    """Return a column as strings (see :func:`text_array`), without a copy when it is text."""
    if _is_text(col.type):
        return col.cast(pa.string())
    return pa.chunked_array([text_array(col.combine_chunks(), column=column, locate=locate)])


def prompt_ids(messages: pa.Array) -> pa.ChunkedArray:
    """Return an id per row of a ``list<struct{role, content}>`` prompt column.

    The id is ``"hf-"`` and the first 16 hex digits of the sha256 of the prompt's
    canonical JSON (UTF-8, sorted keys, no spaces: ``[{"content":"...","role":"user"}]``),
    so it depends on the prompt alone: not on other rows, their order, or the call.
    The k-th row (k >= 2) with an already seen prompt gets ``-k`` appended.

    Parameters
    ----------
    messages : pyarrow.Array
        The validated prompt column.

    Returns
    -------
    pyarrow.ChunkedArray
        Of strings, one per row.
    """
    offsets = np.asarray(messages.offsets.to_numpy(), dtype=np.int64)
    offsets -= offsets[0]
    flat = messages.flatten()
    roles = flat.field("role").to_pylist()
    contents = flat.field("content").to_pylist()
    encoded = [
        '{"content":' + _quote(c) + ',"role":' + _quote(r) + "}"
        for c, r in zip(contents, roles, strict=True)
    ]
    seen: dict[str, int] = {}
    ids = []
    for j in range(len(messages)):
        text = "[" + ",".join(encoded[offsets[j] : offsets[j + 1]]) + "]"
        digest = AUTO_ID_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        count = seen.get(digest, 0) + 1
        seen[digest] = count
        ids.append(digest if count == 1 else f"{digest}-{count}")
    return pa.chunked_array([pa.array(ids, pa.string())])
