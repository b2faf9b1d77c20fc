"""Validators and converters shared by every wing (one copy of each rule).

Two kinds live here: attrs validators and converters for records (``nonempty_str``,
``positive`` ...), and plain checks of one value that config files, constructors and
readers call (``check_share``, ``check_choices``, the path checks ``readable_file`` /
``writable_file`` / ``writable_dir`` and ``read_utf8``).
Plain checks return the normalised value or raise :class:`ConfigError` (bad argument,
with ``field=``) or :class:`DataError` (bad file or text, naming the path).

Private to the package: records, backends, evaluation and the rest import these; users
do not.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds.errors import ConfigError, DataError

__all__ = [
    "SURROGATE_ESCAPE",
    "all_nonempty",
    "at_least_one",
    "check_choices",
    "check_nonneg_int",
    "check_nonneg_number",
    "check_positive_int",
    "check_share",
    "check_text",
    "find_bad_text",
    "nonempty_str",
    "nonneg_number",
    "one_of",
    "optional_int",
    "optional_nonempty_str",
    "optional_nonneg_int",
    "positive",
    "read_utf8",
    "readable_file",
    "str_tuple",
    "writable_dir",
    "writable_file",
]

# A surrogate code point left in a str is always unpaired (a valid pair decodes to one
# code point): such text cannot be encoded as UTF-8, so no file or request can carry it.
_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_TEXT = "contains a lone surrogate ({}), which is not valid Unicode text"


def _fail(error: type[ConfigError] | type[DataError], field: str, message: str) -> Exception:
    """Build ``error``; a ConfigError's message names the field (a DataError formats it)."""
    if issubclass(error, DataError):
        return error(message, field=field)
    return error(f"{field}: {message}", field=field)


def _surrogate(text: str) -> str | None:
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    return None if found is None else f"\\u{ord(found.group()):04x}"


#: What a JSON, YAML or TOML text must contain to decode to a surrogate: an escape.
SURROGATE_ESCAPE = re.compile(r"\\[uU]0{0,4}[dD][89a-fA-F]")


def find_bad_text(obj: object) -> tuple[str, str] | None:
    """Return ``(field, problem)`` for the first string in ``obj`` that is not valid text.

    Walks dicts (keys and values) and lists iteratively, so an object as deep as a
    parser allows is checked without recursion. ``field`` is a dotted path
    (``messages[2].content``); None when every string is fine.
    """
    stack: list[tuple[str, object]] = [("", obj)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            bad = _surrogate(value)
            if bad is not None:
                return where or "<value>", _BAD_TEXT.format(bad)
        elif isinstance(value, dict):
            items = list(value.items())
            for key, sub in reversed(items):
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and _surrogate(key) is not None:
                    return where or "<key>", "a key " + _BAD_TEXT.format(_surrogate(key))
                stack.append((name, sub))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", sub) for i, sub in reversed(list(enumerate(value))))
    return None


def check_text(
    value: object,
    field: str,
    *,
    error: type[ConfigError] | type[DataError] = DataError,
    blank: bool = False,
) -> str:
    """Return ``value`` if it is a string of valid Unicode text (non-blank unless ``blank``).

    Raises ``error`` (:class:`DataError` by default) naming ``field`` otherwise.
    """
    if (
        type(value) is str
        and (blank or value.strip())
        and (value.isascii() or not _SURROGATE.search(value))
    ):
        return value  # the common case, without a further call
    if not isinstance(value, str):
        raise _fail(error, field, f"expected a string, got {type(value).__name__}")
    if not blank and not value.strip():
        raise _fail(error, field, "must not be empty")
    bad = _surrogate(value)
    if bad is not None:
        raise _fail(error, field, _BAD_TEXT.format(bad))
    return value


Validator = Callable[[object, "attrs.Attribute[Any]", Any], None]


def nonempty_str(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require a string of valid text with some non-space text (:class:`DataError` otherwise)."""
    if type(value) is str and value.strip() and (value.isascii() or not _SURROGATE.search(value)):
        return
    check_text(value, attribute.name)


def optional_nonempty_str(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Like :func:`nonempty_str`, but None passes."""
    if value is not None:
        nonempty_str(inst, attribute, value)


def all_nonempty(inst: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    """Require every entry of a tuple to be a non-empty string."""
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise DataError("expected a non-empty string", field=f"{attribute.name}[{i}]")
        check_text(v, f"{attribute.name}[{i}]")


def at_least_one(inst: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    """Require a non-empty tuple."""
    if not value:
        raise DataError("needs at least one entry", field=attribute.name)


def one_of(
    choices: Sequence[str], *, error: type[ConfigError] | type[DataError] = ConfigError
) -> Validator:
    """Return a validator that accepts only ``choices``; ``error`` is the exception raised."""

    def check(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in choices:
            raise error(
                f"{attribute.name} must be one of {', '.join(choices)}, got {value!r}",
                field=attribute.name,
            )

    return check


def positive(inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    """Require a finite number > 0 (:class:`ConfigError` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            f"{attribute.name} must be a number > 0, got {value!r}", field=attribute.name
        )
    if not value > 0 or math.isinf(value):
        raise ConfigError(f"{attribute.name} must be > 0, got {value!r}", field=attribute.name)


def check_nonneg_number(value: object, field: str) -> float:
    """Return ``value`` if it is a finite number >= 0 (bools and NaN refused; ConfigError)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{field} must be a number >= 0, got {value!r}", field=field)
    if isinstance(value, float) and math.isinf(value):
        raise ConfigError(f"{field} must be finite, got {value!r}", field=field)
    return value


def nonneg_number(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require a finite number >= 0 (bools refused)."""
    check_nonneg_number(value, attribute.name)


def optional_nonneg_int(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require None or an int >= 0 (bools refused)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{attribute.name} must be an int >= 0, got {value!r}", field=attribute.name
        )


def check_nonneg_int(value: object, field: str) -> int:
    """Return ``value`` if it is an int >= 0 (bools refused; ConfigError)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{field} must be an int >= 0, got {value!r}", field=field)
    return value


def check_positive_int(value: object, field: str) -> int:
    """Return ``value`` if it is an int >= 1 (bools refused; ConfigError)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{field} must be an int >= 1, got {value!r}", field=field)
    return value


def check_share(value: object, field: str) -> float:
    """Return ``value`` as a float if it is a number in [0, 1] (bools and NaN refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{field} must be a share in [0, 1], got {value!r}", field=field)
    return float(value)


def check_choices(
    value: object,
    choices: Sequence[str],
    field: str,
    *,
    error: type[ConfigError] | type[DataError] = ConfigError,
) -> tuple[str, ...]:
    """Return one or more of ``choices`` as a tuple (a lone string is one choice).

    Refuses anything but a string or an iterable of strings, an empty iterable, and
    every entry that is not exactly one of ``choices`` (no substring or case matching).
    """
    items: Sequence[object]
    if isinstance(value, str):
        items = (value,)
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        items = tuple(value)
    else:
        raise _fail(
            error,
            field,
            f"expected one of {', '.join(choices)} or a list of them, got {type(value).__name__}",
        )
    if not items:
        raise _fail(error, field, f"needs at least one of {', '.join(choices)} (or leave it out)")
    for i, item in enumerate(items):
        if not isinstance(item, str) or item not in choices:
            where = field if isinstance(value, str) else f"{field}[{i}]"
            raise _fail(
                error, where, f"unknown value {item!r}; expected one of {', '.join(choices)}"
            )
    return tuple(str(item) for item in items)


# --------------------------------------------------------------------------- paths
def _as_path(path: object, field: str) -> Path:
    if isinstance(path, Path):
        return path
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path.strip() or "\0" in path:
        raise ConfigError(f"expected a file path, got {path!r}", field=field)
    if _surrogate(path) is not None:
        raise ConfigError(f"path {path!r} is not valid Unicode text", field=field)
    return Path(path)


def readable_file(path: object, *, field: str = "path") -> Path:
    """Return ``path`` as a Path if it names an existing regular file.

    Raises
    ------
    ConfigError
        ``path`` is not a path at all.
    DataError
        The file is missing, or is a directory or other non-file (naming the path).
    """
    p = _as_path(path, field)
    if p.is_dir():
        raise DataError("is a directory, expected a file", path=p)
    if not p.exists():
        raise DataError("file not found", path=p)
    if not p.is_file():
        raise DataError("is not a regular file", path=p)
    return p


def read_utf8(path: object, *, field: str = "path") -> str:
    """Read a whole UTF-8 text file (after :func:`readable_file`); return its text.

    Raises
    ------
    DataError
        As :func:`readable_file`, or the bytes are not UTF-8 (naming the line), or
        the file cannot be read.
    """
    p = readable_file(path, field=field)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path=p) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"not valid UTF-8 ({exc.reason} at byte {exc.start}); save the file as UTF-8",
            path=p,
            line=line,
            field="<file>",
        ) from exc


def _blocking_parent(p: Path) -> Path | None:
    for parent in p.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def writable_file(path: object, *, field: str = "path") -> Path:
    """Return ``path`` as a Path if a file can be written there (before writing anything).

    Raises
    ------
    ConfigError
        ``path`` is not a path at all.
    DataError
        ``path`` is an existing directory, or one of its parents is a file.
    """
    p = _as_path(path, field)
    if p.is_dir():
        raise DataError("is a directory; give a file name to write", path=p)
    blocking = _blocking_parent(p)
    if blocking is not None:
        raise DataError(f"cannot write here: {blocking} is a file, not a folder", path=p)
    return p


def writable_dir(path: object, *, field: str = "path") -> Path:
    """Return ``path`` as a Path if it is, or can be made, a folder to write into.

    Raises
    ------
    ConfigError
        ``path`` is not a path at all.
    DataError
        ``path`` exists and is not a folder, or one of its parents is a file.
    """
    p = _as_path(path, field)
    if p.exists() and not p.is_dir():
        raise DataError("exists and is not a folder; give a folder to write into", path=p)
    blocking = _blocking_parent(p)
    if blocking is not None:
        raise DataError(f"cannot make this folder: {blocking} is a file", path=p)
    return p


def optional_int(value: Any) -> int | None:
    """Convert to ``int``, keeping None."""
    return None if value is None else int(value)


def str_tuple(value: Iterable[str] | str) -> tuple[str, ...]:
    """Convert a lone string to a 1-tuple and any other iterable to a tuple."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)
