"""The asymmetric Gompertz-type curve: fit by binomial likelihood or least squares.

``mu(u) = c + (d - c) G(b (u - m))`` with ``G(z) = 1 - exp(-exp(z))``. It is the third
member of ``method="auto"``'s family (with the symmetric logistic and the hinge), and
``method="gompertz"`` on its own. Counts are fitted by the binomial likelihood (no
penalty: the family is compared by its plain likelihood), with the quasi-binomial
dispersion; scores by least squares. The threshold's interval is the delta method
with ``t(G - p)`` quantiles, what drc's ``maED`` uses for each candidate.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit

from dataquality_thresholds.fitting._data import RunData
from dataquality_thresholds.fitting._likelihood import binomial_loglik
from dataquality_thresholds.fitting._logistic import ThresholdSpec
from dataquality_thresholds.fitting._models import gompertz_recovery_u, gompertz_unit
from dataquality_thresholds.fitting._optim import num_grad

__all__ = ["GompertzFit", "fit_gompertz", "threshold_u"]

#: The slope's bound, per span of the tested x (the logistic's).
SLOPE_MAX = 400.0
#: c and d are fitted on the logit scale for counts, inside these bounds.
_CD_LOGIT = 12.0


class GompertzFit(NamedTuple):
    """Internal result of :func:`fit_gompertz` (working scale, ``m = e`` or ``log e``)."""

    theta: np.ndarray  # full (b, c, d, m)
    free: np.ndarray  # indices of estimated parameters
    cov: np.ndarray  # covariance of theta[free], dispersion included
    dispersion: float
    df_resid: int
    q_df: float
    loglik: float
    k_ic: int
    fitted: np.ndarray
    converged: bool


def _curve(theta: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Curve and Jacobian in ``(b, c, d, m)`` at ``u`` (``u = -inf`` sits on the floor)."""
    b, c, d, m = (float(v) for v in theta)
    fin = np.isfinite(u)
    du = np.where(fin, u, 0.0) - m
    z = np.where(fin, b * du, -np.inf)
    g = gompertz_unit(z)
    with np.errstate(over="ignore", invalid="ignore"):
        dg = np.where(fin, np.exp(np.minimum(z, 700.0) - np.exp(np.minimum(z, 700.0))), 0.0)
    J = np.stack([(d - c) * dg * np.where(fin, du, 0.0), 1.0 - g, g, -(d - c) * dg * b], axis=-1)
    return c + (d - c) * g, J


class _Problem:
    """The objective on unconstrained coordinates ``(log b, c', d', m)``.

    ``c'`` and ``d'`` are the logits of the floor and top for counts (so the curve
    stays inside (0, 1)) and the values themselves for scores.
    """

    def __init__(self, data: RunData, u: np.ndarray, theta0: np.ndarray, free: np.ndarray):
        self.data, self.u, self.theta0, self.free = data, u, theta0, free
        self.binomial = data.family == "binomial"

    def theta(self, p: np.ndarray) -> np.ndarray:
        t = self.theta0.copy()
        q = np.asarray(p, dtype=float)
        for j, i in enumerate(self.free.tolist()):
            if i == 0:
                t[0] = np.exp(q[j])
            elif i in (1, 2):
                t[i] = expit(q[j]) if self.binomial else q[j]
            else:
                t[3] = q[j]
        return np.asarray(t, dtype=float)

    def to_p(self, theta: np.ndarray) -> np.ndarray:
        out = []
        for i in self.free.tolist():
            v = float(theta[i])
            if i == 0:
                out.append(np.log(v))
            elif i in (1, 2) and self.binomial:
                out.append(float(logit(np.clip(v, 1e-5, 1 - 1e-5))))
            else:
                out.append(v)
        return np.array(out)

    def f_grad(self, p: np.ndarray) -> tuple[float, np.ndarray]:
        d = self.data
        t = self.theta(p)
        mu, J = _curve(t, self.u)
        if self.binomial:
            assert d.k is not None and d.n is not None
            m = np.clip(mu, 1e-12, 1 - 1e-12)
            val = -float(np.sum(d.w * (d.k * np.log(m) + (d.n - d.k) * np.log1p(-m))))
            dmu = -d.w * (d.k / m - (d.n - d.k) / (1 - m))
        else:
            r = d.y - mu
            val = 0.5 * float(np.sum(d.w * r * r))
            dmu = -d.w * r
        g_theta = J.T @ dmu
        chain = np.ones(4)
        chain[0] = t[0]
        if self.binomial:
            chain[1], chain[2] = t[1] * (1 - t[1]), t[2] * (1 - t[2])
        return val, (g_theta * chain)[self.free]


def _starts(data: RunData, u: np.ndarray, theta0: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Best of a grid over (b, m), with c and d by weighted least squares at each."""
    fin = u[np.isfinite(u)]
    lo, hi = float(fin.min()), float(fin.max())
    span = max(hi - lo, 1e-12)
    bs = np.geomspace(0.5, 150.0, 12) / span
    ms = np.linspace(lo - 0.3 * span, hi + 0.3 * span, 19)
    if 0 not in free:
        bs = np.array([theta0[0]])
    if 3 not in free:
        ms = np.array([theta0[3]])
    B, M = (a.ravel() for a in np.meshgrid(bs, ms))
    uu = np.where(np.isfinite(u), u, lo - 1e3 * span)
    G = gompertz_unit(B[:, None] * (uu[None, :] - M[:, None]))
    w = data.w * (data.n if data.n is not None else 1.0)
    y = data.y
    c = np.full(B.size, theta0[1])
    dd = np.full(B.size, theta0[2])
    if 1 in free and 2 in free:
        a11, a12, a22 = (
            np.sum(w * (1 - G) ** 2, 1),
            np.sum(w * (1 - G) * G, 1),
            np.sum(w * G * G, 1),
        )
        r1, r2 = np.sum(w * (1 - G) * y, 1), np.sum(w * G * y, 1)
        det = a11 * a22 - a12**2
        ok = det > 1e-12 * (a11 * a22 + 1e-300)
        c = np.where(ok, (a22 * r1 - a12 * r2) / np.where(ok, det, 1.0), np.mean(y))
        dd = np.where(ok, (a11 * r2 - a12 * r1) / np.where(ok, det, 1.0), np.mean(y))
    elif 1 in free:  # d fixed
        rest = y[None, :] - theta0[2] * G
        c = np.sum(w * (1 - G) * rest, 1) / np.maximum(np.sum(w * (1 - G) ** 2, 1), 1e-300)
    elif 2 in free:  # c fixed
        rest = y[None, :] - theta0[1] * (1 - G)
        dd = np.sum(w * G * rest, 1) / np.maximum(np.sum(w * G * G, 1), 1e-300)
    if data.family == "binomial":
        c, dd = np.clip(c, 0.005, 0.995), np.clip(dd, 0.005, 0.995)
    sse = np.sum(w * (y[None, :] - (c[:, None] + (dd - c)[:, None] * G)) ** 2, 1)
    i = int(np.argmin(sse))
    return np.array([B[i], c[i], dd[i], M[i]])


def fit_gompertz(
    data: RunData, u: np.ndarray, *, fixed: dict[str, float], dispersion: str
) -> GompertzFit:
    """Fit the Gompertz-type curve to run-level data (``fixed`` may hold ``c``, ``d``)."""
    names = ("b", "c", "d", "e")
    free = np.array([i for i, n in enumerate(names) if n not in fixed])
    theta0 = np.array([fixed.get(n, np.nan) for n in names], dtype=float)
    start = _starts(data, u, theta0, free)
    fin = u[np.isfinite(u)]
    lo, hi = float(fin.min()), float(fin.max())
    span = max(hi - lo, 1e-12)
    prob = _Problem(data, u, np.where(np.isnan(theta0), start, theta0), free)
    bounds = []
    for i in free.tolist():
        if i == 0:
            bounds.append((np.log(1e-3 / span), np.log(SLOPE_MAX / span)))
        elif i in (1, 2):
            bounds.append((-_CD_LOGIT, _CD_LOGIT) if prob.binomial else (None, None))
        else:
            bounds.append((lo - 3 * span, hi + 3 * span))
    res = minimize(
        prob.f_grad,
        prob.to_p(prob.theta0),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9},
    )
    theta = prob.theta(res.x)
    mu, J = _curve(theta, u)
    G, p = data.x.size, free.size
    df = G - p
    Jf = J[:, free]
    if prob.binomial:
        assert data.k is not None and data.n is not None
        v = np.clip(mu * (1 - mu), 1e-12, None)
        info = Jf.T @ ((data.w * data.n / v)[:, None] * Jf)
        pearson = float(np.sum(data.w * (data.k - data.n * mu) ** 2 / (data.n * v)))
        disp = pearson / df if dispersion == "estimate" else 1.0
        loglik = binomial_loglik(data.k, data.n, data.w, mu)
        k_ic, q_df = p, (float(df) if dispersion == "estimate" else float("inf"))
    else:
        info = Jf.T @ (data.w[:, None] * Jf)
        rss = float(np.sum(data.w * (data.y - mu) ** 2))
        disp = rss / df
        loglik = float(
            -G / 2 * (np.log(2 * np.pi * max(rss, 1e-300) / G) + 1) + 0.5 * np.sum(np.log(data.w))
        )
        k_ic, q_df = p + 1, float(df)
    # fewer distinct x than free parameters (or a rank-deficient information matrix):
    # the curve is not identified, and an inverse would be numerical noise
    n_x = np.unique(data.x).size
    identified = n_x >= p and np.linalg.matrix_rank(info) == p
    try:
        cov = disp * np.linalg.inv(info) if identified else np.full((p, p), np.nan)
        ok = bool(identified and np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0))
    except np.linalg.LinAlgError:
        cov, ok = np.full((p, p), np.nan), False
    if not ok:
        cov = np.full((p, p), np.nan)
    lb = np.log(theta[0] * span)
    at_bound = 0 in free and bool(lb > np.log(SLOPE_MAX) - 1e-3 or lb < np.log(1e-3) + 1e-3)
    converged = bool(res.success and ok and not at_bound)
    return GompertzFit(theta, free, cov, float(disp), df, q_df, loglik, k_ic, mu, converged)


def threshold_u(fit: GompertzFit, spec: ThresholdSpec) -> tuple[float, np.ndarray]:
    """Return the threshold on the working scale and its gradient in the free parameters."""

    def thr(p: np.ndarray) -> float:
        t = fit.theta.copy()
        t[fit.free] = p
        return gompertz_recovery_u(float(t[0]), float(t[3]), spec)

    p0 = fit.theta[fit.free].astype(float)
    u_hat = thr(p0)
    if not np.isfinite(u_hat):
        return u_hat, np.full(p0.size, np.nan)
    return u_hat, num_grad(thr, p0, rel=1e-7)
