"""attrs validators and converters shared by every wing's records (one copy of each rule).

Private to the package: records, backends, evaluation and the rest import these; users
do not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from dataquality_thresholds.errors import ConfigError, DataError

__all__ = [
    "all_nonempty",
    "at_least_one",
    "nonempty_str",
    "nonneg_number",
    "one_of",
    "optional_int",
    "optional_nonempty_str",
    "optional_nonneg_int",
    "positive",
    "str_tuple",
]

Validator = Callable[[object, "attrs.Attribute[Any]", Any], None]


def nonempty_str(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require a string with some non-space text (:class:`DataError` otherwise)."""
    if not isinstance(value, str):
        raise DataError(f"expected a string, got {type(value).__name__}", field=attribute.name)
    if not value.strip():
        raise DataError("must not be empty", field=attribute.name)


def optional_nonempty_str(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Like :func:`nonempty_str`, but None passes."""
    if value is not None:
        nonempty_str(inst, attribute, value)


def all_nonempty(inst: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    """Require every entry of a tuple to be a non-empty string."""
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise DataError("expected a non-empty string", field=f"{attribute.name}[{i}]")


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


def nonneg_number(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require a finite number >= 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(
            f"{attribute.name} must be a number >= 0, got {value!r}", field=attribute.name
        )
    if isinstance(value, float) and math.isinf(value):
        raise ConfigError(f"{attribute.name} must be finite, got {value!r}", field=attribute.name)


def optional_nonneg_int(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require None or an int >= 0 (bools refused)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{attribute.name} must be an int >= 0, got {value!r}", field=attribute.name
        )


def optional_int(value: Any) -> int | None:
    """Convert to ``int``, keeping None."""
    return None if value is None else int(value)


def str_tuple(value: Iterable[str] | str) -> tuple[str, ...]:
    """Convert a lone string to a 1-tuple and any other iterable to a tuple."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)
