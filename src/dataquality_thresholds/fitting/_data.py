"""Input validation and aggregation of per-item outcomes to runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from dataquality_thresholds.errors import ConfigError, DataError, InsufficientDataError

__all__ = ["RunData", "as_fixed", "is_count", "is_real", "prepare"]


class RunData(NamedTuple):
    """Run-level data in canonical (sorted) order.

    ``y`` is the run-level score (a proportion for binomial data), ``k``/``n`` the
    successes and trials (binomial only), ``w`` the run weights.
    """

    x: np.ndarray
    y: np.ndarray
    k: np.ndarray | None
    n: np.ndarray | None
    w: np.ndarray
    family: str
    n_items: int


def _vector(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"expected numbers, got {type(values).__name__}", field=name) from exc
    if arr.ndim != 1:
        raise DataError(f"expected a 1-D sequence, got shape {arr.shape}", field=name)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"value {arr[i]!r} is not a finite number ({bad.size} such rows); "
            "drop or impute missing runs before fitting",
            field=name,
            line=i + 1,
        )
    return arr


def _check_len(arr: np.ndarray, size: int, name: str) -> None:
    if arr.shape[0] != size:
        raise DataError(f"length {arr.shape[0]} does not match len(x) = {size}", field=name)


def _trials(n: Any, size: int) -> np.ndarray:
    """Trials per run: a sequence as long as ``x``, or one number for every run."""
    if np.ndim(n) == 0:
        try:
            value = float(n)
        except (TypeError, ValueError) as exc:
            raise DataError(f"expected a number, got {type(n).__name__}", field="n") from exc
        if not (np.isfinite(value) and value > 0):
            raise DataError(
                f"value {value!r} is outside (0, inf) trials per run (a single n applies "
                "to every run)",
                field="n",
            )
        return np.full(size, value)
    na = _vector(n, "n")
    _check_len(na, size, "n")
    return na


def _range_error(arr: np.ndarray, mask: np.ndarray, name: str, expected: str) -> DataError:
    i = int(np.flatnonzero(mask)[0])
    return DataError(f"value {arr[i]!r} is outside {expected}", field=name, line=i + 1)


def prepare(
    x: Any,
    y: Any,
    *,
    n: Any = None,
    groups: Any = None,
    weights: Any = None,
    log_x: bool = False,
) -> RunData:
    """Validate inputs and return run-level data sorted by ``(x, y, n, w)``.

    Raises
    ------
    DataError
        NaN or infinite values, mismatched lengths, values out of range,
        ``x`` not constant within a group.
    InsufficientDataError
        Fewer than 3 distinct ``x``, or all run-level outcomes equal.
    """
    xa = _vector(x, "x")
    ya = _vector(y, "y")
    _check_len(ya, xa.shape[0], "y")
    if xa.shape[0] == 0:
        raise InsufficientDataError("no rows to fit: x and y are empty")
    if log_x and np.any(xa < 0):
        raise _range_error(xa, xa < 0, "x", "[0, inf) (log_x=True needs x >= 0)")
    wa = None
    if weights is not None:
        wa = _vector(weights, "weights")
        _check_len(wa, xa.shape[0], "weights")
        if np.any(wa <= 0):
            raise _range_error(wa, wa <= 0, "weights", "(0, inf)")
    if n is not None and groups is not None:
        raise DataError(
            "give either n (counts per run) or groups (per-item rows), not both", field="n"
        )

    k_run: np.ndarray | None
    n_run: np.ndarray | None
    if groups is not None:
        garr = np.asarray(groups)
        if garr.ndim != 1:
            raise DataError(f"expected a 1-D sequence, got shape {garr.shape}", field="groups")
        _check_len(garr, xa.shape[0], "groups")
        if np.any((ya < 0) | (ya > 1)):
            raise _range_error(ya, (ya < 0) | (ya > 1), "y", "[0, 1] for per-item outcomes")
        try:
            _, inv = np.unique(garr, return_inverse=True)
        except TypeError:
            _, inv = np.unique(garr.astype(str), return_inverse=True)
        inv = inv.ravel()
        n_groups = int(inv.max()) + 1
        counts = np.bincount(inv, minlength=n_groups).astype(float)
        x_run = np.bincount(inv, weights=xa, minlength=n_groups) / counts
        spread = np.zeros(n_groups)
        np.maximum.at(spread, inv, np.abs(xa - x_run[inv]))
        if np.any(spread > 1e-12 * (1 + np.abs(x_run))):
            g = int(np.flatnonzero(spread > 1e-12 * (1 + np.abs(x_run)))[0])
            row = int(np.flatnonzero(inv == g)[0])
            raise DataError(
                f"x differs within group {garr[row]!r}; a run has one share of correct data",
                field="x",
                line=row + 1,
            )
        sums = np.bincount(inv, weights=ya, minlength=n_groups)
        y_run = sums / counts
        w_run = np.ones(n_groups)
        if wa is not None:
            w_run = np.bincount(inv, weights=wa, minlength=n_groups) / counts
        binary = bool(np.all((ya == 0) | (ya == 1)))
        if binary:
            family, k_run, n_run = "binomial", sums, counts
        else:
            family, k_run, n_run = "gaussian", None, None
        n_items = int(xa.shape[0])
    elif n is not None:
        na = _trials(n, xa.shape[0])
        if np.any(na <= 0):
            raise _range_error(na, na <= 0, "n", "(0, inf) trials per run")
        if np.any((ya < 0) | (ya > na)):
            raise _range_error(ya, (ya < 0) | (ya > na), "y", "[0, n] successes per run")
        x_run, k_run, n_run = xa, ya, na
        y_run = ya / na
        w_run = np.ones_like(xa) if wa is None else wa
        family = "binomial"
        n_items = round(float(na.sum()))
    else:
        x_run, y_run = xa, ya
        w_run = np.ones_like(xa) if wa is None else wa
        k_run = n_run = None
        family = "gaussian"
        n_items = int(xa.shape[0])

    keys = [w_run, y_run] if n_run is None else [w_run, n_run, y_run]
    order = np.lexsort([*keys, x_run])
    x_run, y_run, w_run = x_run[order], y_run[order], w_run[order]
    if k_run is not None and n_run is not None:
        k_run, n_run = k_run[order], n_run[order]
    distinct = np.unique(x_run)
    if distinct.size < 3:
        raise InsufficientDataError(
            f"need at least 3 distinct values of x (shares of correct data), got "
            f"{distinct.size}: {distinct.tolist()}; add runs at more ratios"
        )
    if np.ptp(y_run) == 0:
        raise InsufficientDataError(
            f"all run-level outcomes equal {float(y_run[0])!r}; no curve can be fitted"
        )
    return RunData(x_run, y_run, k_run, n_run, w_run, family, n_items)


def as_fixed(m: Mapping[str, float] | None) -> dict[str, float]:
    """Convert ``ThresholdFitter(fixed=...)`` to a dict of finite floats, or raise ConfigError."""
    if m is None:
        return {}
    if not isinstance(m, Mapping):
        raise ConfigError(
            f"fixed: expected a mapping such as {{'c': 0.25}}, got {m!r}", field="fixed"
        )
    out = {}
    for k, v in m.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v):
            raise ConfigError(f"fixed: {k!r} must be a finite number, got {v!r}", field="fixed")
        out[str(k)] = float(v)
    return out


def is_real(v: object) -> bool:
    """Whether ``v`` is a real number (bools are not)."""
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def is_count(v: object) -> bool:
    """Whether ``v`` is a whole number (bools are not)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)
