"""Intervals for the logistic threshold: Fieller-type inversions and the bootstrap."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, xlogy

from dataquality_thresholds.fitting._data import RunData
from dataquality_thresholds.fitting._logistic import (
    LogisticFit,
    ThresholdSpec,
    _bounds,
    _mu_jac,
    thr_grad,
    thr_u,
)

__all__ = ["bootstrap", "fieller", "invert", "simulate_runs"]


def fieller(
    fit: LogisticFit, spec: ThresholdSpec, tq: float, adm: tuple[float, float]
) -> tuple[float, float, bool]:
    """Fieller-type inversion of ``b (u0 - T(theta)) = 0`` on the working scale.

    Returns the interval clipped to the admissible range ``adm`` and whether the
    confidence set was unbounded (then the clip is what bounds it).
    """
    u_hat, g = thr_grad(fit, spec)
    b = fit.theta[0]
    eb = np.zeros(fit.free.size)
    eb[0] = 1.0
    A = -u_hat * eb - b * g
    C = fit.cov
    a2, a1, a0 = float(eb @ C @ eb), float(2 * A @ C @ eb), float(A @ C @ A)
    t2 = tq * tq
    alpha = b * b - t2 * a2
    beta = -2 * b * b * u_hat - t2 * a1
    gamma = b * b * u_hat * u_hat - t2 * a0
    disc = beta * beta - 4 * alpha * gamma
    lo, hi, unbounded = -np.inf, np.inf, True
    if alpha > 0 and disc >= 0:
        r = np.sqrt(disc)
        lo, hi = sorted(((-beta - r) / (2 * alpha), (-beta + r) / (2 * alpha)))
        unbounded = False
    elif alpha < 0 and disc > 0:
        r1, r2 = sorted(
            ((-beta - np.sqrt(disc)) / (2 * alpha), (-beta + np.sqrt(disc)) / (2 * alpha))
        )
        if u_hat <= r1:
            hi = r1
        else:
            lo = r2
    lo_c, hi_c = max(lo, adm[0]), min(hi, adm[1])
    return float(lo_c), float(hi_c), bool(unbounded or lo < adm[0] or hi > adm[1])


def _s_and_grad(b: float, m: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``expit(b (u - m))`` and its gradient in ``(b, m)``; shape (U,), (U, 2)."""
    fin = np.isfinite(u)
    du = np.where(fin, u - m, 0.0)
    s = np.where(fin, expit(b * du), 0.0)
    ds = s * (1 - s)
    return s, np.stack([ds * du, -ds * b], axis=-1)


def invert(
    fit: LogisticFit, spec: ThresholdSpec, tq: float, adm: tuple[float, float], n_grid: int = 801
) -> tuple[float, float, bool]:
    """Fieller-type test inversion on the curve scale.

    Keeps every ``u0`` at which the fitted curve is not significantly different
    from the recovery target: ``(s(u0) - target)^2 <= t^2 Var(s(u0) - target)``,
    with ``s = expit(b (u - m))`` (``c`` and ``d`` cancel) and the variance by the
    delta method. Returns the piece containing the estimate, clipped to ``adm``, and
    whether it reached the clip.
    """
    b, m = float(fit.theta[0]), float(fit.theta[3])
    pos = {int(i): j for j, i in enumerate(fit.free)}
    idx = [pos[0], pos[3]]
    C = fit.cov[np.ix_(idx, idx)]
    u_hat = float(thr_u(fit.theta, spec))
    if spec.kind == "midpoint":
        target, g_t = 0.5, np.zeros(2)
    else:
        ends = np.array([spec.u_lo, spec.u_ref])
        s_e, g_e = _s_and_grad(b, m, ends)
        s_lo, g_lo = (0.0, np.zeros(2)) if spec.floor == "asymptote" else (s_e[0], g_e[0])
        s_hi, g_hi = (1.0, np.zeros(2)) if spec.ceiling == "asymptote" else (s_e[1], g_e[1])
        target = s_lo + spec.q * (s_hi - s_lo)
        g_t = g_lo + spec.q * (g_hi - g_lo)
    ufin_lo = adm[0] if np.isfinite(adm[0]) else u_hat - 20 / max(b, 1e-12)
    ufin_hi = adm[1] if np.isfinite(adm[1]) else u_hat + 20 / max(b, 1e-12)
    grid = np.union1d(np.linspace(ufin_lo, ufin_hi, n_grid), [u_hat])
    s, g = _s_and_grad(b, m, grid)
    h = s - target
    gh = g - g_t
    var = np.einsum("ui,ij,uj->u", gh, C, gh)
    stat = h * h - tq * tq * var  # <= 0 inside
    j = int(np.searchsorted(grid, u_hat))
    j = min(j, grid.size - 1)
    lo_i = j
    while lo_i > 0 and stat[lo_i - 1] <= 0:
        lo_i -= 1
    hi_i = j
    while hi_i < grid.size - 1 and stat[hi_i + 1] <= 0:
        hi_i += 1

    def cross(i_in: int, i_out: int) -> float:
        a_, b_ = stat[i_in], stat[i_out]
        frac = a_ / (a_ - b_) if b_ != a_ else 0.0
        return float(grid[i_in] + frac * (grid[i_out] - grid[i_in]))

    clipped = lo_i == 0 or hi_i == grid.size - 1
    lo = float(grid[0]) if lo_i == 0 else cross(lo_i, lo_i - 1)
    hi = float(grid[-1]) if hi_i == grid.size - 1 else cross(hi_i, hi_i + 1)
    return max(lo, adm[0]), min(hi, adm[1]), bool(clipped)


def simulate_runs(
    data: RunData, mu: np.ndarray, dispersion: float, n_sim: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """Draw ``n_sim`` replicates of the runs from the curve ``mu`` (run-level values).

    Binomial data: beta-binomial counts whose variance is ``dispersion`` times the
    binomial one (the quasi-binomial model; the within-run correlation is capped at
    0.95, so at most ``1 + 0.95 (n - 1)`` times); scores: normal errors with variance
    ``dispersion / w``. Returns ``(Y, K)`` of shape ``(n_sim, G)``; ``K`` (the
    counts) is None for scores.
    """
    G = data.x.size
    if data.family == "gaussian":
        return mu + np.sqrt(dispersion / data.w) * rng.standard_normal((n_sim, G)), None
    assert data.n is not None
    N = data.n
    rho = np.clip((dispersion - 1) / np.maximum(N - 1, 1), 0.0, 0.95)
    m_ = np.clip(mu, 1e-9, 1 - 1e-9)
    if np.any(rho > 0):
        a = m_ * (1 - rho) / np.maximum(rho, 1e-12)
        bb = (1 - m_) * (1 - rho) / np.maximum(rho, 1e-12)
        P = np.where(
            rho > 0,
            rng.beta(np.broadcast_to(a, (n_sim, G)), np.broadcast_to(bb, (n_sim, G))),
            m_,
        )
    else:
        P = np.broadcast_to(m_, (n_sim, G))
    K = rng.binomial(np.round(N).astype(np.int64), P).astype(float)
    return K / N, K


def bootstrap(
    data: RunData,
    fit: LogisticFit,
    spec: ThresholdSpec,
    *,
    log_x: bool,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Parametric run-level bootstrap of the threshold (working scale), vectorised.

    Binomial data are simulated beta-binomially with the fitted dispersion, continuous
    scores with normal errors of the fitted variance; every resample is refitted by
    batched, damped Fisher scoring from the estimate. Returns the finite draws and
    the number of resamples that failed to converge (dropped).
    """
    u = np.log(np.where(data.x > 0, data.x, 1.0)) if log_x else data.x.copy()
    if log_x:
        u[data.x == 0] = -np.inf
    Y, K = simulate_runs(data, fit.fitted, fit.dispersion, n_boot, rng)
    N = None if K is None else data.n
    free = fit.free
    lower, upper = _bounds(data, u)
    lower, upper = lower[free], upper[free]
    theta = np.tile(fit.theta, (n_boot, 1))
    lam = np.full(n_boot, 1e-4)
    done = np.zeros(n_boot, dtype=bool)
    conv = np.zeros(n_boot, dtype=bool)

    def objective(th: np.ndarray) -> np.ndarray:
        m2, _ = _mu_jac(th, u)
        if K is None:
            return np.asarray(0.5 * np.sum(data.w * (Y - m2) ** 2, axis=1), dtype=float)
        assert N is not None
        bad = np.any((m2 <= 0) | (m2 >= 1), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            val = -np.sum(data.w * (xlogy(K, m2) + xlogy(N - K, 1 - m2)), axis=1)
        return np.where(bad | ~np.isfinite(val), np.inf, val)

    fcur = objective(theta)
    eye = np.eye(free.size)
    for _ in range(60):
        m2, J = _mu_jac(theta, u)
        J = J[..., free]
        if K is None:
            W = np.broadcast_to(data.w, m2.shape)
            r = data.w * (Y - m2)
        else:
            assert N is not None
            v = np.clip(m2 * (1 - m2), 1e-12, None)
            W = data.w * N / v
            r = data.w * (K - N * m2) / v
        info = np.einsum("bgi,bg,bgj->bij", J, W, J)
        score = np.einsum("bgi,bg->bi", J, r)
        diag = np.maximum(np.einsum("bii->bi", info), 1e-12)
        A = info + lam[:, None, None] * diag[:, :, None] * eye
        try:
            step = np.linalg.solve(A, score[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break
        new = theta.copy()
        new[:, free] = np.clip(theta[:, free] + step, lower, upper)
        fnew = objective(new)
        dec = np.abs(np.einsum("bi,bi->b", score, step))
        small = dec < 1e-9 * (1 + np.abs(fcur))
        better = (fnew <= fcur) & ~done
        theta[better] = new[better]
        fcur = np.where(better, fnew, fcur)
        lam = np.where(better, np.maximum(lam / 10, 1e-10), lam * 10)
        conv |= small & ~done
        done |= small | (lam > 1e8)
        if np.all(done):
            break
    ok = conv
    T = thr_u(theta, spec)
    keep = ok & np.isfinite(T)
    return T[keep], int(n_boot - keep.sum())
