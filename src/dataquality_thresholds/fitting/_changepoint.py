"""Changepoint models: hinge (plateau) and segmented regression, by global profiling."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize_scalar

from dataquality_thresholds.fitting._data import RunData

__all__ = ["ChangepointFit", "fit_changepoint", "profile_interval", "threshold_test"]

N_GRID = 400
N_TABLE = 201


class ChangepointFit(NamedTuple):
    """Internal result of :func:`fit_changepoint` (working scale)."""

    kind: str  # "hinge" | "segmented"
    params: np.ndarray  # hinge (top, a, psi); segmented (const, alpha, beta, psi)
    cov: np.ndarray  # Gauss-Newton covariance, sigma^2 (J'WJ)^-1
    sigma2: float
    df_resid: int
    rss: float
    loglik: float
    k_ic: int
    fitted: np.ndarray
    grid: np.ndarray  # psi values of the stored profile
    prof: np.ndarray  # profile RSS at grid
    converged: bool


def design(u: np.ndarray, psi: np.ndarray, kind: str) -> np.ndarray:
    """Design matrices for breakpoints ``psi`` (shape (P,)): (P, G, k)."""
    P = psi.shape[0]
    one = np.ones((P, u.size))
    if kind == "hinge":
        return np.stack([one, np.minimum(u[None, :] - psi[:, None], 0.0)], axis=-1)
    return np.stack(
        [one, np.broadcast_to(u, (P, u.size)), np.maximum(u[None, :] - psi[:, None], 0.0)],
        axis=-1,
    )


def profile(
    u: np.ndarray, y: np.ndarray, w: np.ndarray, psi: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted RSS and coefficients of the linear part for each breakpoint in ``psi``."""
    X = design(u, psi, kind)
    XtX = np.einsum("pgi,g,pgj->pij", X, w, X)
    XtX += 1e-12 * np.einsum("pii->p", XtX)[:, None, None] * np.eye(X.shape[-1])
    Xty = np.einsum("pgi,g,g->pi", X, w, y)
    beta = np.linalg.solve(XtX, Xty[..., None])[..., 0]
    r = y[None, :] - np.einsum("pgi,pi->pg", X, beta)
    return np.einsum("pg,g,pg->p", r, w, r), beta


def _psi_range(u: np.ndarray, kind: str) -> tuple[float, float]:
    lo, hi = float(u.min()), float(u.max())
    eps = 1e-9 * (hi - lo)
    return (lo + eps, hi) if kind == "hinge" else (lo + eps, hi - eps)


def _mu_jac(u: np.ndarray, params: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "hinge":
        top, a, psi = params
        mu = top + a * np.minimum(u - psi, 0.0)
        J = np.stack([np.ones_like(u), np.minimum(u - psi, 0.0), -a * (u < psi)], axis=-1)
    else:
        c, al, be, psi = params
        mu = c + al * u + be * np.maximum(u - psi, 0.0)
        J = np.stack([np.ones_like(u), u, np.maximum(u - psi, 0.0), -be * (u > psi)], axis=-1)
    return mu, J


def fit_changepoint(data: RunData, u: np.ndarray, kind: str) -> ChangepointFit:
    """Least-squares changepoint fit with the breakpoint found by a global profile.

    The profile RSS is evaluated on a dense grid that includes every tested value,
    then refined by bounded Brent search in the cell around the grid minimum.
    """
    y, w = data.y, data.w
    lo, hi = _psi_range(u, kind)
    grid = np.union1d(np.linspace(lo, hi, N_GRID), np.unique(u)[1:-1])
    grid = grid[(grid >= lo) & (grid <= hi)]
    rss, _ = profile(u, y, w, grid, kind)
    j = int(np.argmin(rss))
    a, b = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
    best_psi, best_rss = float(grid[j]), float(rss[j])
    if b > a:
        res = minimize_scalar(
            lambda p: float(profile(u, y, w, np.array([p]), kind)[0][0]),
            bounds=(a, b),
            method="bounded",
            options={"xatol": 1e-12 * (1 + abs(b))},
        )
        if res.fun <= best_rss:
            best_psi, best_rss = float(res.x), float(res.fun)
    _, beta = profile(u, y, w, np.array([best_psi]), kind)
    params = np.append(beta[0], best_psi)
    mu, J = _mu_jac(u, params, kind)
    G, p = u.size, params.size
    df = G - p
    sigma2 = best_rss / df
    info = J.T @ (w[:, None] * J)
    try:
        cov = sigma2 * np.linalg.inv(info)
        ok = bool(np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0))
    except np.linalg.LinAlgError:
        cov, ok = np.full((p, p), np.nan), False
    loglik = float(-G / 2 * (np.log(2 * np.pi * best_rss / G) + 1) + 0.5 * np.sum(np.log(w)))
    table = np.union1d(np.linspace(lo, hi, N_TABLE), [best_psi])
    prof, _ = profile(u, y, w, table, kind)
    prof = np.maximum(prof, best_rss)
    return ChangepointFit(
        kind, params, cov, float(sigma2), df, best_rss, loglik, p + 1, mu, table, prof, ok
    )


def profile_interval(
    grid: np.ndarray, prof: np.ndarray, psi: float, rss: float, sigma2: float, tq: float
) -> tuple[float, float]:
    """Profile-F interval for the breakpoint: ``{psi: (RSS(psi) - RSS_min) / s^2 <= t^2}``.

    The connected piece containing the estimate; ends interpolated linearly; a piece
    that reaches the end of the grid is clipped to the data range there.
    """
    stat = (prof - rss) / sigma2 - tq * tq  # <= 0 inside
    j = int(np.argmin(np.abs(grid - psi)))
    lo_i = j
    while lo_i > 0 and stat[lo_i - 1] <= 0:
        lo_i -= 1
    hi_i = j
    while hi_i < grid.size - 1 and stat[hi_i + 1] <= 0:
        hi_i += 1

    def cross(i_in: int, i_out: int) -> float:
        s_in, s_out = stat[i_in], stat[i_out]
        frac = s_in / (s_in - s_out) if s_out != s_in else 0.0
        return float(grid[i_in] + frac * (grid[i_out] - grid[i_in]))

    lo = float(grid[0]) if lo_i == 0 else cross(lo_i, lo_i - 1)
    hi = float(grid[-1]) if hi_i == grid.size - 1 else cross(hi_i, hi_i + 1)
    return min(lo, psi), max(hi, psi)


def threshold_test(
    u: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    kind: str,
    n_boot: int,
    rng: np.random.Generator,
    n_grid: int = 64,
) -> tuple[float, float]:
    """Parametric-bootstrap likelihood-ratio test of a changepoint against a straight line.

    Statistic ``(RSS_line - RSS_changepoint) / RSS_changepoint`` with the breakpoint
    profiled over a grid; its null distribution is simulated from the fitted line
    with normal errors (``n_boot`` draws). Returns ``(p_value, statistic)``.
    """
    sw = np.sqrt(w)
    lo, hi = _psi_range(u, kind)
    psis = np.linspace(lo, hi, n_grid + 1)[1:] if kind == "hinge" else np.linspace(lo, hi, n_grid)
    Q, _ = np.linalg.qr(design(u, psis, kind) * sw[None, :, None])
    Xl = np.stack([np.ones_like(u), u], axis=-1) * sw[:, None]
    Ql, _ = np.linalg.qr(Xl)

    def stat(Yw: np.ndarray) -> np.ndarray:
        tot = np.sum(Yw * Yw, axis=-1)
        rss_l = tot - np.sum((Yw @ Ql) ** 2, axis=-1)
        proj = np.einsum("bg,pgk->bpk", Yw, Q)
        rss_c = tot[:, None] - np.sum(proj * proj, axis=-1)
        best = np.maximum(rss_c.min(axis=1), 1e-300)
        return np.asarray(np.maximum(rss_l - best, 0.0) / best, dtype=float)

    yw = y * sw
    observed = float(stat(yw[None, :])[0])
    coef, *_ = np.linalg.lstsq(Xl, yw, rcond=None)
    resid = yw - Xl @ coef
    sigma = np.sqrt(np.sum(resid**2) / max(u.size - 2, 1))
    Ys = (Xl @ coef)[None, :] + sigma * rng.standard_normal((n_boot, u.size))
    null = stat(Ys)
    p = float((1 + np.sum(null >= observed - 1e-12 * (1 + observed))) / (n_boot + 1))
    return p, observed
