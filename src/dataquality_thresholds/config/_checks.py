"""The checks every part of a config shares: errors that name the file and the field.

Each check takes ``source`` (the config file, for the message) and the dotted
``field`` (``backend.prices.gpt-4o``) and raises :class:`ConfigError` naming both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dataquality_thresholds._util.validators import check_nonneg_number
from dataquality_thresholds.errors import ConfigError

__all__ = [
    "checked",
    "choice",
    "config_error",
    "only_keys",
    "positive_number",
    "source_value",
    "table",
    "text",
]


def config_error(source: str, field: str, msg: str) -> ConfigError:
    """Return the ConfigError ``"<source>: field '<field>': <msg>"`` (``field`` set)."""
    return ConfigError(f"{source}: field '{field}': {msg}", field=field)


def only_keys(source: str, where: str, obj: Mapping[str, Any], allowed: set[str]) -> None:
    """Refuse a key of ``obj`` (the table at ``where``) that is not in ``allowed``."""
    extra = sorted(set(obj) - allowed, key=str)
    if extra:
        name = f"{where}.{extra[0]}" if where else str(extra[0])
        raise config_error(source, name, f"unknown key; allowed: {', '.join(sorted(allowed))}")


def checked(source: str, field: str, check: Callable[..., Any], *args: Any) -> Any:
    """Run one shared check and re-raise its ConfigError naming the config and field."""
    try:
        return check(*args)
    except ConfigError as exc:
        name = exc.field or field
        raise config_error(source, name, str(exc).removeprefix(f"{name}: ")) from None


def choice(source: str, field: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices`` (exactly)."""
    if not isinstance(value, str) or value not in choices:
        quoted = ", ".join(repr(c) for c in choices)
        raise config_error(source, field, f"expected one of {quoted}, got {value!r}")
    return value


def text(source: str, field: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise config_error(source, field, f"expected a non-empty string, got {value!r}")
    return value


def source_value(source: str, field: str, value: object, keywords: tuple[str, ...]) -> str:
    """Check a data source: one of ``keywords`` or a file path (a non-empty string)."""
    if not isinstance(value, str) or not value.strip():
        raise config_error(
            source,
            field,
            f"expected {' or '.join(repr(k) for k in keywords)} or a file path, got {value!r}",
        )
    return value


def positive_number(source: str, field: str, value: object) -> float:
    """Return ``value`` if it is a finite number > 0 (bools and NaN refused)."""
    number = float(checked(source, field, check_nonneg_number, value, field))
    if number <= 0:
        raise config_error(source, field, f"expected a number > 0, got {value!r}")
    return number


def table(source: str, field: str, value: object) -> dict[str, Any]:
    """Return ``value`` if it is a TOML table (a mapping)."""
    if not isinstance(value, dict):
        raise config_error(source, field, f"expected a table, got {value!r}")
    return value
