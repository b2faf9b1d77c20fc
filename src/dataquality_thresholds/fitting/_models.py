"""Curve models and their threshold formulas (plain numpy, usable alone)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, logit

from dataquality_thresholds.fitting._logistic import ThresholdSpec

__all__ = [
    "gompertz4",
    "gompertz_recovery_u",
    "gompertz_unit",
    "gompertz_unit_inverse",
    "hinge",
    "hinge_recovery_u",
    "logistic4",
    "logistic_recovery_u",
    "segmented",
    "segmented_recovery_u",
    "to_u",
]


def to_u(x: Any, log_x: bool) -> np.ndarray:
    """Map ``x`` to the model's working scale (``log x`` when ``log_x``; log 0 = -inf)."""
    xa = np.asarray(x, dtype=float)
    if not log_x:
        return xa
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(xa), dtype=float)


def logistic4(x: Any, b: float, c: float, d: float, e: float, *, log_x: bool = False) -> Any:
    """Four-parameter logistic ``c + (d - c) * expit(b * (x - e))``.

    Parameters
    ----------
    x : array_like
        Share of correct data (or dose).
    b : float
        Slope; positive means the curve rises from ``c`` to ``d`` as ``x`` grows.
    c, d : float
        Value as ``x -> -inf`` (the floor) and as ``x -> +inf`` (the top).
    e : float
        Midpoint (ED50-like): ``mu(e) = (c + d) / 2``.
    log_x : bool, default False
        Use ``log x`` and ``log e`` in place of ``x`` and ``e`` (log-logistic; ``x = 0``
        gives ``c`` when ``b > 0``).

    Returns
    -------
    ndarray
        The curve at ``x``.
    """
    u = to_u(x, log_x)
    m = np.log(e) if log_x else e
    with np.errstate(invalid="ignore"):
        s = expit(b * (u - m))
    return c + (d - c) * s


def gompertz_unit(z: Any) -> Any:
    """Return the Gompertz-type step ``1 - exp(-exp(z))`` (complementary log-log), 0 to 1."""
    with np.errstate(over="ignore"):
        return -np.expm1(-np.exp(np.asarray(z, dtype=float)))


def gompertz_unit_inverse(p: Any) -> Any:
    """Inverse of :func:`gompertz_unit`: ``log(-log(1 - p))``."""
    with np.errstate(divide="ignore"):
        return np.log(-np.log1p(-np.asarray(p, dtype=float)))


def gompertz4(x: Any, b: float, c: float, d: float, e: float, *, log_x: bool = False) -> Any:
    """Four-parameter Gompertz-type curve ``c + (d - c) * (1 - exp(-exp(b * (x - e))))``.

    An asymmetric sigmoid: it leaves the floor slowly and reaches the top abruptly
    (R drc's ``W2.4`` is the same curve in ``log x``). ``method="auto"`` averages it with
    the symmetric logistic and the hinge.

    Parameters
    ----------
    x : array_like
        Share of correct data (or dose).
    b : float
        Slope; positive means the curve rises from ``c`` to ``d`` as ``x`` grows.
    c, d : float
        Value as ``x -> -inf`` (the floor) and as ``x -> +inf`` (the top).
    e : float
        Location: at ``x = e`` a share ``1 - exp(-1)`` (about 63%) of the rise is
        done; the midpoint (half of it) is ``e + log(log 2) / b``.
    log_x : bool, default False
        Use ``log x`` and ``log e`` in place of ``x`` and ``e``.

    Returns
    -------
    ndarray
        The curve at ``x``.
    """
    u = to_u(x, log_x)
    m = np.log(e) if log_x else e
    with np.errstate(invalid="ignore"):
        s = gompertz_unit(b * (u - m))
    return c + (d - c) * s


def gompertz_recovery_u(b: float, m: float, spec: ThresholdSpec) -> float:
    """Threshold of the Gompertz-type curve on the working scale, in closed form.

    As for the logistic, ``c`` and ``d`` cancel: recovering a share ``q`` of the gap
    means ``G(b (T - m)) = G_lo + q (G_hi - G_lo)`` with ``G`` the unit curve. The
    midpoint is where half the rise between the asymptotes is done.
    """
    if spec.kind == "midpoint":
        return float(m + gompertz_unit_inverse(0.5) / b)
    g_lo = 0.0 if spec.floor == "asymptote" else float(gompertz_unit(b * (spec.u_lo - m)))
    g_hi = 1.0 if spec.ceiling == "asymptote" else float(gompertz_unit(b * (spec.u_ref - m)))
    target = g_lo + spec.q * (g_hi - g_lo)
    if not 0.0 < target < 1.0:
        return float("nan")
    return float(m + gompertz_unit_inverse(target) / b)


def hinge(x: Any, top: float, a: float, psi: float) -> Any:
    """Plateau ("hinge") model ``top + a * min(x - psi, 0)``.

    Parameters
    ----------
    x : array_like
        Share of correct data.
    top : float
        Plateau level reached at and after the breakpoint.
    a : float
        Slope before the breakpoint.
    psi : float
        Breakpoint.

    Returns
    -------
    ndarray
    """
    xa = np.asarray(x, dtype=float)
    return top + a * np.minimum(xa - psi, 0.0)


def segmented(x: Any, const: float, alpha: float, beta: float, psi: float) -> Any:
    """Segmented (broken-stick) regression ``const + alpha * x + beta * max(x - psi, 0)``.

    Parameters
    ----------
    x : array_like
        Share of correct data.
    const, alpha : float
        Intercept and slope left of the breakpoint.
    beta : float
        Change of slope at the breakpoint (slope right of it is ``alpha + beta``).
    psi : float
        Breakpoint.

    Returns
    -------
    ndarray
    """
    xa = np.asarray(x, dtype=float)
    return const + alpha * xa + beta * np.maximum(xa - psi, 0.0)


def logistic_recovery_u(
    b: float,
    m: float,
    *,
    q: float,
    u_lo: float,
    u_ref: float,
    floor: str,
    ceiling: str,
) -> float:
    """Recovery threshold on the working scale for the logistic, in closed form.

    With ``s(u) = expit(b (u - m))`` the curve is ``c + (d - c) s(u)``, so recovering a
    share ``q`` of the gap between the floor ``s_lo`` and the reference ``s_hi``
    means ``s(T) = s_lo + q (s_hi - s_lo)``; ``c`` and ``d`` cancel.
    """
    s_lo = 0.0 if floor == "asymptote" else float(expit(b * (u_lo - m)))
    s_hi = 1.0 if ceiling == "asymptote" else float(expit(b * (u_ref - m)))
    target = s_lo + q * (s_hi - s_lo)
    if not 0.0 < target < 1.0:
        return float("nan")
    return float(m + logit(target) / b)


def hinge_recovery_u(psi: float, spec: ThresholdSpec) -> float:
    """Recovery threshold of the hinge: a non-decreasing function of the breakpoint."""
    ref_gap = 0.0 if spec.ceiling == "asymptote" else max(psi - spec.u_ref, 0.0)
    return psi - (1 - spec.q) * max(psi - spec.u_lo, 0.0) - spec.q * ref_gap


def segmented_recovery_u(params: np.ndarray, spec: ThresholdSpec) -> float:
    """Recovery threshold of the segmented line: where it first reaches its recovery target."""
    c, al, be, psi = params
    u_ref = spec.u_ref if spec.ceiling == "value" else max(spec.u_ref, psi)
    grid = np.union1d(np.linspace(spec.u_lo, u_ref, 2001), [psi])
    grid = grid[(grid >= spec.u_lo) & (grid <= u_ref)]
    mu = segmented(grid, c, al, be, psi)
    target = mu[0] + spec.q * (mu[-1] - mu[0])
    sign = np.sign(mu[-1] - mu[0]) or 1.0
    hit = np.flatnonzero(sign * (mu - target) >= 0)
    i = int(hit[0]) if hit.size else grid.size - 1
    if i == 0:
        return float(grid[0])
    m0, m1 = mu[i - 1], mu[i]
    frac = (target - m0) / (m1 - m0) if m1 != m0 else 0.0
    return float(grid[i - 1] + frac * (grid[i] - grid[i - 1]))
