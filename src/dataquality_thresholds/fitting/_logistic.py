"""Four-parameter logistic fits: binomial (quasi) likelihood or least squares."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import expit, gammaln, logit, xlogy

from dataquality_thresholds.fitting._data import RunData
from dataquality_thresholds.fitting._optim import minimize_newton, num_grad

__all__ = [
    "LogisticFit",
    "ThresholdSpec",
    "e_from_threshold",
    "fit_logistic",
    "separated",
    "thr_grad",
    "thr_u",
]

NAMES = ("b", "c", "d", "e")
_EPS = 1e-10


class ThresholdSpec(NamedTuple):
    """What threshold to compute, on the working (u) scale."""

    kind: str  # "recovery" | "midpoint"
    q: float
    u_lo: float
    u_ref: float
    floor: str  # "range" | "asymptote"
    ceiling: str  # "value" | "asymptote"


class LogisticFit(NamedTuple):
    """Internal result of :func:`fit_logistic` (working scale, ``m = e`` or ``log e``)."""

    theta: np.ndarray  # full (b, c, d, m)
    free: np.ndarray  # indices of estimated parameters
    cov: np.ndarray  # covariance of theta[free], dispersion included
    dispersion: float
    df_resid: int
    q_df: float  # degrees of freedom for quantiles (inf: normal)
    loglik: float
    k_ic: int
    fitted: np.ndarray
    converged: bool
    at_bound: bool
    separation: bool


def _mu_jac(theta: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Curve and Jacobian for ``theta[..., 4]`` at ``u``: shapes (..., G) and (..., G, 4)."""
    b, c, d, m = (theta[..., i, None] for i in range(4))
    fin = np.isfinite(u)
    du = np.where(fin, u, 0.0) - m
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.where(fin, expit(b * du), 0.0)
    ds = s * (1.0 - s)
    mu = c + (d - c) * s
    J = np.stack([np.where(fin, (d - c) * ds * du, 0.0), 1.0 - s, s, -(d - c) * ds * b], axis=-1)
    return mu, J


def _mu_hess(theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Second derivatives of the curve, shape (G, 4, 4), for one parameter vector."""
    b, c, d, m = theta
    fin = np.isfinite(u)
    du = np.where(fin, u, 0.0) - m
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.where(fin, expit(b * du), 0.0)
    du = np.where(fin, du, 0.0)
    ds = s * (1 - s)
    s2 = ds * (1 - 2 * s)
    H = np.zeros((u.size, 4, 4))
    H[:, 0, 0] = (d - c) * s2 * du * du
    H[:, 0, 1] = H[:, 1, 0] = -ds * du
    H[:, 0, 2] = H[:, 2, 0] = ds * du
    H[:, 0, 3] = H[:, 3, 0] = -(d - c) * (b * s2 * du + ds)
    H[:, 1, 3] = H[:, 3, 1] = b * ds
    H[:, 2, 3] = H[:, 3, 2] = -b * ds
    H[:, 3, 3] = (d - c) * b * b * s2
    return H


def _binom_terms(mu: np.ndarray, k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = mu * (1.0 - mu)
    resid = np.divide(k - n * mu, v, out=np.zeros(np.broadcast(mu, k).shape), where=v > 0)
    return v, resid


class _Objective:
    def __init__(
        self, data: RunData, u: np.ndarray, theta0: np.ndarray, free: np.ndarray, firth: bool
    ) -> None:
        self.data, self.u, self.theta0, self.free, self.firth = data, u, theta0, free, firth
        # The Jeffreys prior is taken on the logit scale of c and d (edge term): on the
        # probability scale its mode can sit on 0 or 1 (an unobserved top running to 1,
        # or separation), on the logit scale it cannot.
        self.edge_on = firth
        # the objective is evaluated thousands of times per profile on a few dozen
        # runs, where numpy's per-call overhead dominates: keep what does not change
        self._finite = bool(np.all(np.isfinite(u)))
        self._cd_at = np.array([j for j, i in enumerate(free) if i in (1, 2)], dtype=int)
        if data.family == "binomial":
            assert data.k is not None and data.n is not None
            self._wn = data.w * data.n
            self._nk = data.n - data.k

    def full(self, p: np.ndarray) -> np.ndarray:
        t = self.theta0.copy()
        t[self.free] = p
        return np.asarray(t, dtype=float)

    def curve(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`_mu_jac` for one parameter vector (the same arithmetic, fewer calls)."""
        if not self._finite:
            return _mu_jac(theta, self.u)
        b, c, d, m = theta.tolist()
        du = self.u - m
        s = expit(b * du)  # |b du| stays far below overflow within the bounds
        ds = s * (1.0 - s)
        J = np.empty((du.size, 4))
        J[:, 0] = (d - c) * ds * du
        J[:, 1] = 1.0 - s
        J[:, 2] = s
        J[:, 3] = -(d - c) * ds * b
        return c + (d - c) * s, J

    def f(self, p: np.ndarray) -> float:
        d = self.data
        mu, J = self.curve(self.full(p))
        if d.family == "gaussian":
            return float(0.5 * np.sum(d.w * (d.y - mu) ** 2))
        assert d.k is not None and d.n is not None
        if mu.min() < 0 or mu.max() > 1:
            return float("inf")
        val = -np.sum(d.w * (xlogy(d.k, mu) + xlogy(self._nk, 1.0 - mu)))
        if not np.isfinite(val):
            return float("inf")
        if self.firth:
            pen = self.penalty(mu, J) + self.edge(p)
            if not np.isfinite(pen):
                return float("inf")
            val += pen
        return float(val)

    def penalty(self, mu: np.ndarray, J: np.ndarray) -> float:
        """Firth (Jeffreys-prior) penalty ``-0.5 log det I(theta)``, expected information."""
        v = mu * (1 - mu)
        W = np.divide(self._wn, v, out=np.zeros_like(v), where=v > 0)
        Jf = J[:, self.free]
        with np.errstate(divide="ignore", invalid="ignore"):  # singular: sign 0, -inf
            sign, logdet = np.linalg.slogdet(Jf.T @ (W[:, None] * Jf))
        return float(-0.5 * logdet) if sign > 0 else float("inf")

    def _cd(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(np.asarray(p, dtype=float)[self._cd_at], dtype=float)

    def edge(self, p: np.ndarray) -> float:
        """Jacobian term that puts the Jeffreys penalty on the logit scale of ``c``, ``d``.

        On the probability scale the Jeffreys mode can sit on 0 or 1 (its density is
        unbounded there); on the logit scale it cannot, so a floor or top stays inside
        (0, 1) even when every outcome at some x is 0 or 1.
        """
        if not self.edge_on:
            return 0.0
        out = 0.0
        for v in self._cd(p).tolist():
            if not 0.0 < v < 1.0:
                return float("inf")
            out -= math.log(v * (1 - v))
        return out

    def edge_grad(self, p: np.ndarray) -> np.ndarray:
        g = np.zeros(self.free.size)
        if not self.edge_on:
            return g
        t = self.full(p)
        for j, i in enumerate(self.free):
            if i in (1, 2):
                g[j] = -1.0 / t[i] + 1.0 / (1.0 - t[i])
        return g

    def pen_grad(self, p: np.ndarray) -> np.ndarray:
        """Analytic gradient of the Firth penalty in the free parameters."""
        d = self.data
        assert d.n is not None and d.k is not None
        theta = self.full(p)
        mu, J = self.curve(theta)
        f = self.free
        Jf = J[:, f]
        Hm = _mu_hess(theta, self.u)[:, f][:, :, f]  # (G, p, p)
        v = mu * (1 - mu)
        ok = v > 0
        W = np.divide(d.w * d.n, v, out=np.zeros_like(v), where=ok)
        dW = np.divide(-d.w * d.n * (1 - 2 * mu), v * v, out=np.zeros_like(v), where=ok)
        try:
            Iinv = np.linalg.inv(Jf.T @ (W[:, None] * Jf))
        except np.linalg.LinAlgError:
            return np.full(f.size, np.nan)
        A = Jf @ Iinv  # (G, p): J_i I^-1
        q = np.einsum("gi,gi->g", A, Jf)
        # d/dk: -sum_i W_i (J_i I^-1 dJ_i/dk) - 0.5 sum_i dW_i/dmu J_ik q_i
        first = np.einsum("g,gj,gjk->k", W, A, Hm)
        second = 0.5 * np.einsum("g,gk,g->k", dW, Jf, q)
        return np.asarray(-first - second + self.edge_grad(p), dtype=float)

    def hess_plain(self, p: np.ndarray) -> np.ndarray:
        """Analytic Hessian of the unpenalised objective (observed information)."""
        d = self.data
        theta = self.full(p)
        mu, J = self.curve(theta)
        f = self.free
        Jf = J[:, f]
        Hm = _mu_hess(theta, self.u)[:, f][:, :, f]
        if d.family == "gaussian":
            return np.asarray(
                Jf.T @ (d.w[:, None] * Jf) - np.einsum("g,gjk->jk", d.w * (d.y - mu), Hm)
            )
        assert d.n is not None and d.k is not None
        _, r = _binom_terms(mu, d.k, d.n)
        with np.errstate(divide="ignore", invalid="ignore"):
            curv = np.where(d.k > 0, d.k / mu**2, 0.0) + np.where(
                d.n - d.k > 0, (d.n - d.k) / (1 - mu) ** 2, 0.0
            )
        curv = np.where(np.isfinite(curv), curv, 0.0)
        return np.asarray(Jf.T @ ((d.w * curv)[:, None] * Jf) - np.einsum("g,gjk->jk", d.w * r, Hm))

    def grad(self, p: np.ndarray) -> np.ndarray:
        if self.firth:
            return np.asarray(self.grad_plain(p) + self.pen_grad(p), dtype=float)
        return self.grad_plain(p)

    def grad_plain(self, p: np.ndarray) -> np.ndarray:
        d = self.data
        mu, J = self.curve(self.full(p))
        if d.family == "gaussian":
            return np.asarray(-(J[:, self.free].T @ (d.w * (d.y - mu))), dtype=float)
        assert d.k is not None and d.n is not None
        _, r = _binom_terms(mu, d.k, d.n)
        return np.asarray(-(J[:, self.free].T @ (d.w * r)), dtype=float)


def _start(
    data: RunData, u: np.ndarray, theta0: np.ndarray, free: np.ndarray, firth: bool = False
) -> np.ndarray:
    """Best point of a (b, m) grid with c, d solved by weighted least squares."""
    ufin = u[np.isfinite(u)]
    lo, hi = float(ufin.min()), float(ufin.max())
    rng = hi - lo
    bs = np.geomspace(0.5, 120.0, 14) / rng
    ms = np.linspace(lo - 0.3 * rng, hi + 0.3 * rng, 31)
    B, M = (a.ravel() for a in np.meshgrid(bs, ms))
    P = B.size
    theta = np.tile(theta0, (P, 1))
    theta[:, 0], theta[:, 3] = B, M
    fin = np.isfinite(u)
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.where(fin, expit(B[:, None] * (np.where(fin, u, 0.0) - M[:, None])), 0.0)
    wls = data.w * (data.n if data.n is not None else 1.0)
    cols = [1.0 - s, s]
    lin = [i for i in (1, 2) if i in free]
    target = np.broadcast_to(data.y, s.shape).copy()
    for i in (1, 2):
        if i not in free:
            target -= theta0[i] * cols[i - 1]
    if lin:
        X = np.stack([cols[i - 1] for i in lin], axis=-1)  # (P, G, L)
        XtX = np.einsum("pgi,g,pgj->pij", X, wls, X) + 1e-12 * np.eye(len(lin))
        Xty = np.einsum("pgi,g,pg->pi", X, wls, target)
        coef = np.linalg.solve(XtX, Xty[..., None])[..., 0]
        for j, i in enumerate(lin):
            theta[:, i] = coef[:, j]
    if data.family == "binomial" and lin:
        theta[:, lin] = np.clip(theta[:, lin], 1e-3, 1 - 1e-3)
    mu = theta[:, 1, None] + (theta[:, 2, None] - theta[:, 1, None]) * s
    if data.family == "gaussian":
        obj = np.sum(data.w * (data.y - mu) ** 2, axis=1)
    else:
        assert data.k is not None and data.n is not None
        mu = np.clip(mu, 1e-9, 1 - 1e-9)
        obj = -np.sum(data.w * (xlogy(data.k, mu) + xlogy(data.n - data.k, 1 - mu)), axis=1)
        if firth:
            _, J = _mu_jac(theta, u)
            W = data.w * data.n / (mu * (1 - mu))
            Jf = J[..., free]
            with np.errstate(divide="ignore", invalid="ignore"):  # singular: sign 0
                sign, logdet = np.linalg.slogdet(np.einsum("pgi,pg,pgj->pij", Jf, W, Jf))
                obj = np.where(sign > 0, obj - 0.5 * logdet, np.inf)
            cd = theta[:, [i for i in (1, 2) if i in free]]
            obj = obj - np.sum(np.log(cd * (1 - cd)), axis=1)
    return np.asarray(theta[int(np.nanargmin(obj))], dtype=float)


def _bounds(data: RunData, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ufin = u[np.isfinite(u)]
    lo, hi = float(ufin.min()), float(ufin.max())
    rng = hi - lo
    if data.family == "binomial":
        cd_lo, cd_hi = _EPS, 1 - _EPS
    else:
        cd_lo, cd_hi = -np.inf, np.inf
    lower = np.array([1e-6 / rng, cd_lo, cd_lo, lo - 5 * rng])
    upper = np.array([400.0 / rng, cd_hi, cd_hi, hi + 5 * rng])
    return lower, upper


def separated(data: RunData) -> bool:
    """Whether all outcomes at some tested x are 0, or all are 1 (binomial only)."""
    if data.family != "binomial" or data.k is None or data.n is None:
        return False
    _xs, inv = np.unique(data.x, return_inverse=True)
    k = np.bincount(inv, weights=data.k)
    n = np.bincount(inv, weights=data.n)
    return bool(np.any((k == 0) | (k == n)))


def fit_logistic(
    data: RunData,
    *,
    log_x: bool,
    fixed: dict[str, float],
    dispersion: str,
    penalty: str = "none",
) -> LogisticFit:
    """Fit the four-parameter logistic (some of ``c``, ``d`` possibly fixed)."""
    u = np.log(np.where(data.x > 0, data.x, 1.0)) if log_x else data.x.copy()
    if log_x:
        u[data.x == 0] = -np.inf
    theta0 = np.array([1.0, fixed.get("c", 0.0), fixed.get("d", 1.0), 0.0])
    free = np.array([0] + [i for i, nm in ((1, "c"), (2, "d")) if nm not in fixed] + [3])
    firth_first = data.family == "binomial" and penalty == "firth"
    start = _start(data, u, theta0, free, firth=firth_first)
    lower, upper = _bounds(data, u)
    obj = _Objective(data, u, start, free, firth=firth_first)
    res = minimize_newton(
        obj.f,
        obj.grad,
        start[free],
        lower[free],
        upper[free],
        hess=None if firth_first else obj.hess_plain,
    )
    # Separation: some tested x has only 0s or only 1s. With the Firth (Jeffreys)
    # penalty already on, it is reported; without it, the fit is redone with the
    # penalty when the plain MLE ran to the edge (a floor/top at 0 or 1, or a step).
    sep = separated(data) and (firth_first or res.at_bound)
    if sep and not firth_first:
        # Refit from the penalised objective's own start: at the plain MLE's edge point
        # (a near-infinite slope) the penalised objective is infinite and cannot move.
        start = _start(data, u, theta0, free, firth=True)
        obj = _Objective(data, u, start, free, firth=True)
        res = minimize_newton(obj.f, obj.grad, start[free], lower[free], upper[free])
    theta = obj.full(res.x)
    mu, _ = _mu_jac(theta, u)
    # A step between two tested values: no run lies on the rising part of the curve,
    # so the slope (and where in the gap the threshold lies) is not identified.
    with np.errstate(over="ignore", invalid="ignore"):
        s_design = expit(theta[0] * (np.unique(u[np.isfinite(u)]) - theta[3]))
    step = not np.any((s_design > 0.02) & (s_design < 0.98))
    G, p = data.x.size, free.size
    df = G - p
    H = obj.hess_plain(res.x)
    try:
        Hinv = np.linalg.inv(H)
        ok = bool(np.all(np.isfinite(Hinv)) and np.all(np.diag(Hinv) > 0))
    except np.linalg.LinAlgError:
        Hinv, ok = np.full((p, p), np.nan), False
    if data.family == "gaussian":
        rss = float(np.sum(data.w * (data.y - mu) ** 2))
        disp = rss / df
        cov = disp * Hinv
        loglik = float(-G / 2 * (np.log(2 * np.pi * rss / G) + 1) + 0.5 * np.sum(np.log(data.w)))
        k_ic, q_df = p + 1, float(df)
    else:
        assert data.k is not None and data.n is not None
        v = mu * (1 - mu)
        pearson = np.divide(
            data.w * (data.k - data.n * mu) ** 2, data.n * v, out=np.zeros_like(v), where=v > 0
        )
        disp = float(np.sum(pearson) / df) if dispersion == "estimate" else 1.0
        cov = disp * Hinv
        loglik = float(
            np.sum(
                data.w
                * (
                    gammaln(data.n + 1)
                    - gammaln(data.k + 1)
                    - gammaln(data.n - data.k + 1)
                    + xlogy(data.k, mu)
                    + xlogy(data.n - data.k, 1 - mu)
                )
            )
        )
        k_ic = p
        q_df = float(df) if dispersion == "estimate" else float("inf")
    return LogisticFit(
        theta,
        free,
        cov,
        float(disp),
        df,
        q_df,
        loglik,
        k_ic,
        mu,
        bool(res.converged and ok and not step),
        res.at_bound,
        sep,
    )


def thr_u(theta: np.ndarray, spec: ThresholdSpec) -> np.ndarray:
    """Threshold on the working scale for parameters ``theta[..., 4]`` (vectorised)."""
    b, m = theta[..., 0], theta[..., 3]
    if spec.kind == "midpoint":
        return np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        s_lo = 0.0 if spec.floor == "asymptote" else expit(b * (spec.u_lo - m))
        s_hi = 1.0 if spec.ceiling == "asymptote" else expit(b * (spec.u_ref - m))
        target = s_lo + spec.q * (s_hi - s_lo)
        out = m + logit(target) / b
    return np.where((target > 0) & (target < 1), out, np.nan)


def thr_grad(fit: LogisticFit, spec: ThresholdSpec) -> tuple[float, np.ndarray]:
    """Threshold (working scale) and its gradient in the free parameters."""

    def f(p: np.ndarray) -> float:
        t = fit.theta.copy()
        t[fit.free] = p
        return float(thr_u(t, spec))

    p0 = fit.theta[fit.free]
    return f(p0), num_grad(f, p0, rel=1e-7)


def e_from_threshold(
    b: np.ndarray | float, T: np.ndarray | float, spec: ThresholdSpec
) -> np.ndarray:
    """Return the logistic midpoint ``e`` whose threshold is ``T`` at slope ``b``.

    On the working scale.

    Closed form of ``thr_u((b, c, d, e), spec) = T`` (``c`` and ``d`` do not enter).
    NaN where no midpoint gives that threshold at this slope (a recovery threshold
    beyond what a curve of slope ``b`` can reach).
    """
    if np.ndim(b) == 0 and np.ndim(T) == 0:
        return np.asarray(_e_scalar(float(b), float(T), spec))
    b = np.asarray(b, dtype=float)
    T = np.asarray(T, dtype=float)
    q, lo, ref = spec.q, spec.u_lo, spec.u_ref
    with np.errstate(all="ignore"):
        if spec.kind == "midpoint":
            out = T + 0.0 * b
        elif spec.floor == "asymptote" and spec.ceiling == "asymptote":
            out = T - logit(q) / b
        elif spec.floor == "asymptote":
            # expit(b (T - e)) = q expit(b (ref - e))
            out = T + (np.log1p(-q) - np.log(q - np.exp(-b * (ref - T)))) / b
        elif spec.ceiling == "asymptote":
            # expit(b (T - e)) = (1 - q) expit(b (lo - e)) + q
            out = T + (np.log((1 - q) - np.exp(-b * (T - lo))) - np.log(q)) / b
        else:
            # expit(b (T - e)) = (1 - q) expit(b (lo - e)) + q expit(b (ref - e)) is a
            # quadratic in exp(b e) with one positive root; written with
            # r_a = exp(-b (a - lo)) <= 1 so that nothing overflows.
            r_t, r_ref = np.exp(-b * (T - lo)), np.exp(-b * (ref - lo))
            num = (1 - q) + q * r_ref - r_t
            den = r_ref - r_t * ((1 - q) * r_ref + q)
            out = lo + np.log(-num / den) / b
    return np.asarray(np.where(np.isfinite(out), out, np.nan), dtype=float)


def _e_scalar(b: float, T: float, spec: ThresholdSpec) -> float:
    """Return :func:`e_from_threshold` for one slope.

    The same formulas with ``math`` (bit for bit the same values here): the profile
    calls it tens of thousands of times per fit.
    """
    q, lo, ref = spec.q, spec.u_lo, spec.u_ref
    try:
        if spec.kind == "midpoint":
            out = T + 0.0 * b
        elif spec.floor == "asymptote" and spec.ceiling == "asymptote":
            out = T - math.log(q / (1 - q)) / b
        elif spec.floor == "asymptote":
            out = T + (math.log1p(-q) - math.log(q - math.exp(-b * (ref - T)))) / b
        elif spec.ceiling == "asymptote":
            out = T + (math.log((1 - q) - math.exp(-b * (T - lo))) - math.log(q)) / b
        else:
            r_t, r_ref = math.exp(-b * (T - lo)), math.exp(-b * (ref - lo))
            num = (1 - q) + q * r_ref - r_t
            den = r_ref - r_t * ((1 - q) * r_ref + q)
            out = lo + math.log(-num / den) / b
    except (ValueError, ZeroDivisionError, OverflowError):
        return math.nan
    return out if math.isfinite(out) else math.nan
