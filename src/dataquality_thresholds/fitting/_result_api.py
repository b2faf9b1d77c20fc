"""The statsmodels-style faces of ``ThresholdFit``: ``conf_int``'s arguments, named Series.

pandas is imported inside :func:`named_series`, so importing the fitting wing does not
load it; reading ``fit.params`` or ``fit.bse`` does.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.fitting._data import is_real

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ALPHA_MAX", "named_series", "resolve_level"]

#: A bare positional value up to this is read as ``alpha`` (statsmodels' meaning), a
#: larger one as the coverage ``level`` (the old meaning). At 0.5 the two readings give
#: the same interval.
ALPHA_MAX = 0.5


def _share(value: object, name: str) -> float:
    if not (is_real(value) and 0.0 < float(value) < 1.0):  # type: ignore[arg-type]
        raise ConfigError(f"{name} must be a number in (0, 1), got {value!r}", field=name)
    return float(value)  # type: ignore[arg-type]


def resolve_level(
    value: float | None, alpha: float | None, level: float | None, default: float
) -> float:
    """Return the coverage level that ``conf_int(value, alpha=, level=)`` asks for.

    ``alpha=a`` is level ``1 - a``; ``level=l`` is ``l``; a bare positional value
    ``v <= 0.5`` is ``alpha`` and ``v > 0.5`` a level (with a ``DeprecationWarning``:
    the positional argument is ``alpha`` in statsmodels). None of them: ``default``.

    Raises
    ------
    ConfigError
        More than one given, or a value outside (0, 1).
    """
    given = [
        name for name, v in (("value", value), ("alpha", alpha), ("level", level)) if v is not None
    ]
    if len(given) > 1:
        shown = ", ".join("a positional value" if g == "value" else f"{g}=" for g in given)
        raise ConfigError(
            f"conf_int takes one of alpha= or level= (got {shown}); "
            "alpha=0.05 and level=0.95 both ask for the 95% interval",
            field="alpha",
        )
    if alpha is not None:
        return 1.0 - _share(alpha, "alpha")
    if level is not None:
        return _share(level, "level")
    if value is None:
        return default
    v = _share(value, "alpha")
    if v <= ALPHA_MAX:
        return 1.0 - v
    warnings.warn(
        f"conf_int({v:g}) reads a positional value above {ALPHA_MAX:g} as the coverage level, "
        "as before; the positional argument is alpha as in statsmodels (a value up to "
        f"{ALPHA_MAX:g} already is): write conf_int(alpha={1 - v:.10g}) or "
        f"conf_int(level={v:g})",
        DeprecationWarning,
        stacklevel=3,
    )
    return v


def named_series(names: Sequence[str], values: Sequence[float]) -> pd.Series:
    """Return a float pandas Series indexed by parameter name, as statsmodels' ``params``."""
    import pandas as pd

    return pd.Series(list(values), index=list(names), dtype=float)
