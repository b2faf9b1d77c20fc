"""Interval computations on a stored fit, shared by ThresholdFit methods."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm, t

__all__ = ["quantile", "to_float", "to_json_float"]


def quantile(level: float, df: float) -> float:
    """Two-sided critical value: t(df) quantile, or normal when ``df`` is infinite."""
    p = 0.5 + level / 2
    return float(norm.ppf(p) if not np.isfinite(df) else t.ppf(p, df))


def to_json_float(v: Any) -> float | None:
    """Return a float for JSON; non-finite values become ``None``."""
    f = float(v)
    return f if np.isfinite(f) else None


def to_float(v: Any, default: float = float("nan")) -> float:
    """Inverse of :func:`to_json_float`."""
    return default if v is None else float(v)


def bc_from_table(table: np.ndarray, z0: float, level: float) -> tuple[float, float]:
    """Bias-corrected percentile interval from a stored quantile table of draws."""
    probs = np.linspace(0.0, 1.0, table.size)
    za = float(norm.ppf(0.5 + level / 2))
    lo_p, hi_p = norm.cdf([2 * z0 - za, 2 * z0 + za])
    return float(np.interp(lo_p, probs, table)), float(np.interp(hi_p, probs, table))
