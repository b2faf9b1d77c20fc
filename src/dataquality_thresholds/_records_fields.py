"""Field validators shared by the record modules.

Private: :mod:`dataquality_thresholds.records` and
:mod:`dataquality_thresholds._records_backend` both check string fields with these,
so the check and its error stay the same everywhere.
"""

from __future__ import annotations

from typing import Any

import attrs

from .errors import DataError


def _nonempty_str(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise DataError(f"expected a string, got {type(value).__name__}", field=attribute.name)
    if not value.strip():
        raise DataError("must not be empty", field=attribute.name)


def _optional_nonempty_str(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _nonempty_str(inst, attribute, value)
