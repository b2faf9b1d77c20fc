"""Profile-likelihood interval for the logistic threshold.

The four-parameter logistic is reparametrised by its threshold: for a slope ``b``
and a threshold ``T`` the midpoint ``e`` has a closed form
(:func:`e_from_threshold`), so the objective profiled over ``T`` is an ordinary
minimisation over ``(b, c, d)`` (those that are free). The interval keeps every
``T0`` whose signed root ``r(T0) = sign(T0 - T) sqrt(2 (f(T0) - f_min) / phi)`` lies
within the ``t(G - p)`` quantiles (the quasi-likelihood profile-F interval). ``f`` is
the objective the fit minimised (Firth-penalised when the fit was), so the profile
is centred on the estimate.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.interpolate import PchipInterpolator

from dataquality_thresholds.fitting._data import RunData
from dataquality_thresholds.fitting._logistic import (
    LogisticFit,
    ThresholdSpec,
    _bounds,
    _e_scalar,
    _Objective,
    e_from_threshold,
    thr_grad,
    thr_u,
)
from dataquality_thresholds.fitting._optim import NewtonResult, minimize_newton

__all__ = [
    "R_MAX",
    "BeyondProfile",
    "Profile",
    "interval_from_table",
    "profile_threshold",
    "trace_limits",
]

#: Each side of the profile is traced until its signed root reaches this value (or
#: the fitted level's quantile, if larger; or the admissible limit), so intervals up
#: to about 99% (with 10 or more residual degrees of freedom) need no refit.
R_MAX = 3.5
#: The profile is traced in steps of about this much signed root.
R_STEP = 0.6
#: Slopes tried on the steep branch (see ``_Profiler._steep``) at each threshold.
STEEP_SLOPES = 12
#: The steep branch is minimised from its best start when that start's objective is
#: at most this much (in units of the dispersion) above the minimum already found.
STEEP_MARGIN = 0.5
#: The steep branch is tried only where the root already found is at least this: a
#: lower branch inside it cannot change an interval of 68% or more.
R_INNER = 1.0
#: Each end of the interval is profiled again at most this many times to pin it.
PIN_ROUNDS = 4


class Profile(NamedTuple):
    """A traced profile: thresholds (working scale, sorted) and their signed roots."""

    grid: np.ndarray
    root: np.ndarray


def _log(x: np.ndarray) -> np.ndarray:
    out = np.array(x, dtype=float)
    out[0] = np.log(out[0])
    return out


def _unlog(x: np.ndarray) -> np.ndarray:
    out = np.array(x, dtype=float)
    out[0] = np.exp(min(out[0], 700.0))  # clipped to the bounds by the caller
    return out


class _Profiler:
    """The fit's objective minimised with the threshold held at ``T0``."""

    def __init__(
        self, data: RunData, fit: LogisticFit, spec: ThresholdSpec, u: np.ndarray, firth: bool
    ) -> None:
        self.obj = _Objective(data, u, fit.theta, fit.free, firth=firth)
        self.spec = spec
        p_hat = fit.theta[fit.free]
        self.fmin = self.obj.f(p_hat)
        # |r| to about 1e-4 needs the profiled objective to about 1e-5 phi r: stop
        # each minimisation there rather than at machine precision
        self.tol = 1e-6 * fit.dispersion / (1.0 + abs(self.fmin))
        self.disp = fit.dispersion
        self.f_inner = self.fmin + 0.5 * R_INNER**2 * self.disp
        self.T_hat = float(thr_u(fit.theta, spec))
        lower, upper = _bounds(data, u)
        # the free parameters are (b, [c], [d], e); e is given by (b, T0)
        self.lower, self.upper = lower[fit.free][:-1], upper[fit.free][:-1]
        # with the Jeffreys edge term the floor and top sit strictly inside (0, 1)
        self.interior = np.isin(fit.free[:-1], (1, 2)) if self.obj.edge_on else None
        self.T0 = self.T_hat
        self._last: tuple[bytes, np.ndarray] = (b"", np.empty(0))
        self.starts: list[tuple[float, np.ndarray]] = [(self.T_hat, p_hat[:-1].copy())]
        # to first order, holding T at T_hat + delta moves the estimate by
        # delta * Cov g / (g' Cov g): the first steps start from that line
        _, g = thr_grad(fit, spec)
        cg = fit.cov @ g
        gcg = float(g @ cg)
        direction = (cg / gcg)[:-1] if gcg > 0 and np.all(np.isfinite(cg)) else None
        if direction is not None:
            direction[0] /= p_hat[0]  # d log b
        self.direction = direction
        wy = data.w * data.n if data.family == "binomial" and data.n is not None else data.w
        self._wy = (wy, data.y)

    def _full(self, p3: np.ndarray) -> np.ndarray:
        return np.append(p3, e_from_threshold(p3[0], self.T0, self.spec))

    def f(self, p3: np.ndarray) -> float:
        p = self._full(p3)
        return self.obj.f(p) if np.isfinite(p[-1]) else float("inf")

    def _e_derivs(self, b: float) -> tuple[float, float]:
        """``de/db`` and ``d2e/db2`` at fixed ``T0`` (central differences of the closed form)."""
        h = 1e-5 * (1.0 + abs(b))
        e_m, e_0, e_p = (_e_scalar(v, self.T0, self.spec) for v in (b - h, b, b + h))
        return float((e_p - e_m) / (2 * h)), float((e_p - 2 * e_0 + e_m) / (h * h))

    def grad(self, p3: np.ndarray) -> np.ndarray:
        p = self._full(p3)
        if not np.isfinite(p[-1]):
            return np.full(p3.size, np.nan)
        g = self.obj.grad(p)
        self._last = (p3.tobytes(), g)  # the Hessian at the same point reuses it
        out = np.array(g[:-1], dtype=float)
        out[0] += g[-1] * self._e_derivs(float(p3[0]))[0]
        return out

    def hess(self, p3: np.ndarray) -> np.ndarray:
        """Hessian in ``(b, c, d)``: chain rule through ``e(b)``, exact in the slope.

        The ``(c, d)`` block is the unpenalised curvature (plus the Jeffreys edge
        term); the penalty's own curvature, order one against the likelihood's order
        ``n``, is left out there. Along the slope, the flat direction where it
        matters, the row and column are a forward difference of the exact gradient.
        """
        p = self._full(p3)
        e_b, e_bb = self._e_derivs(float(p3[0]))
        key, g = self._last
        if key != p3.tobytes():
            g = self.obj.grad(p)
        M = np.zeros((p.size, p3.size))
        M[:-1, :] = np.eye(p3.size)
        M[-1, 0] = e_b
        H = M.T @ self.obj.hess_plain(p) @ M
        H[0, 0] += g[-1] * e_bb
        if self.obj.edge_on:  # the Jeffreys edge term -log(c (1 - c)) - log(d (1 - d))
            for j, i in enumerate(self.obj.free[:-1]):
                if i in (1, 2):
                    v = p[j]
                    H[j, j] += 1.0 / v**2 + 1.0 / (1.0 - v) ** 2
        g3 = np.array(g[:-1], dtype=float)
        g3[0] += g[-1] * e_b
        h = 1e-6 * (1.0 + abs(p3[0]))
        step = np.zeros_like(p3)
        step[0] = h if p3[0] + h <= self.upper[0] else -h
        col = (self.grad(p3 + step) - g3) / step[0]
        self._last = (p3.tobytes(), g)
        if np.all(np.isfinite(col)):
            H[:, 0] = col
            H[0, :] = col
        return np.asarray(H, dtype=float)

    def root(self, T0: float, from_T: float | None = None) -> float:
        """Signed root of the profiled objective at ``T0`` (infinite where unreachable).

        Starts from the neighbouring solutions, or from the one found at ``from_T``.
        """
        self.T0 = float(T0)
        sign = 1.0 if self.T_hat <= T0 else -1.0
        if from_T is None:
            candidates = self._starts(self.T0)
        else:
            candidates = [x for t, x in self.starts if t == from_T][-1:]
        starts = [s for s in (self._reachable(c) for c in candidates) if s is not None]
        if not starts:
            return sign * np.inf
        # the most promising start first; the others only if it does not converge
        best = None
        for _, x0 in sorted(starts, key=lambda s: s[0]):
            res = self._minimise(x0)
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
            if res.converged:
                break
        if best is None:
            return sign * np.inf
        if from_T is None and best.fun > self.f_inner:
            steep = self._steep()
            # a start a little above the minimum found can still lead below it
            if steep is not None and steep[0] < best.fun + STEEP_MARGIN * self.disp:
                res = self._minimise(steep[1])
                if np.isfinite(res.fun) and res.fun < best.fun:
                    best = res
        res = best
        self.starts.append((self.T0, res.x))
        return sign * float(np.sqrt(max(2.0 * (res.fun - self.fmin) / self.disp, 0.0)))

    def _minimise(self, x0: np.ndarray) -> NewtonResult:
        return minimize_newton(
            self.f,
            self.grad,
            x0,
            self.lower,
            self.upper,
            max_iter=100,
            tol=self.tol,
            ftol=self.tol,
            hess=self.hess,
            interior=self.interior,
        )

    def _steep(self) -> tuple[float, np.ndarray] | None:
        """Return the best start on the steep branch at ``T0``, and ``f`` there.

        Between two tested x the data cannot tell where a steep rise sits: a curve
        near a step there fits as well for every threshold in the gap. Continuation
        from the estimate can miss that branch, above all just past a tested x, where
        the steep curve passes through that x partway up. The top is set to the pooled
        outcome above ``T0``, the floor to the pooled outcome below it, with and
        without the nearest tested x below; the slope is scanned from the
        estimate's up to its bound on a geometric grid.
        """
        u = self.obj.u
        below = u < self.T0
        if not below.any() or below.all():
            return None
        floors = [below, u < np.max(u[below])]
        if not floors[1].any():
            floors.pop()
        w, y = self._wy
        x0 = self.starts[0][1]
        slopes = np.geomspace(max(x0[0], 1e-3 * self.upper[0]), self.upper[0], STEEP_SLOPES)
        best: tuple[float, np.ndarray] | None = None
        for floor in floors:
            x = x0.copy()
            for j, i in enumerate(self.obj.free[:-1]):
                if i in (1, 2):
                    side = floor if i == 1 else ~below
                    v = float(np.sum(w[side] * y[side]) / np.sum(w[side]))
                    x[j] = v if self.interior is None else min(max(v, 1e-3), 1 - 1e-3)
            x = np.clip(x, self.lower, self.upper)
            for b in slopes:
                x[0] = b
                fx = self.f(x)
                if np.isfinite(fx) and (best is None or fx < best[0]):
                    best = (fx, x.copy())
        return best

    def forget(self, T0: float) -> None:
        """Drop the solution found at ``T0`` (a step that went too far)."""
        self.starts = [s for s in self.starts if s[0] != T0 or s is self.starts[0]]

    def _starts(self, T0: float) -> list[np.ndarray]:
        """Warm starts: the nearest profiled solution, and a line through the two nearest.

        Before any other point is profiled on this side, the line is the first-order
        one through the estimate. Lines are drawn in ``(log b, c, d)``: the slope
        changes by factors along the profile.
        """
        side = [s for s in self.starts if (s[0] - self.T_hat) * (T0 - self.T_hat) >= 0]
        near = sorted(side, key=lambda s: abs(s[0] - T0))[:2]
        out = [near[0][1]]
        if len(near) == 2 and near[0][0] != near[1][0]:
            (t1, x1), (t2, x2) = near
            out.append(_unlog(_log(x1) + (_log(x1) - _log(x2)) * (T0 - t1) / (t1 - t2)))
        elif self.direction is not None:
            x_hat = self.starts[0][1]
            out.append(_unlog(_log(x_hat) + self.direction * (T0 - self.T_hat)))
        return [np.asarray(x, dtype=float) for x in out]

    def _reachable(self, start: np.ndarray) -> tuple[float, np.ndarray] | None:
        """Return a start from which ``T0`` can be reached, and ``f`` there.

        Steeper slopes reach further, so the slope is raised (by factors of 1.6, up to
        its bound) until ``f`` is finite; the slopes that cannot reach ``T0`` at all
        are screened out at once by the closed form of the midpoint.
        """
        x = np.clip(start.copy(), self.lower, self.upper)
        if self.interior is not None:  # a start on the barrier would creep back from it
            x = np.where(self.interior, np.clip(x, 1e-3, 1 - 1e-3), x)
        slopes = np.minimum(x[0] * 1.6 ** np.arange(30), self.upper[0])
        slopes = slopes[: int(np.searchsorted(slopes, self.upper[0])) + 1]  # the bound once
        reach = np.isfinite(e_from_threshold(slopes, self.T0, self.spec))
        for b in slopes[reach]:
            x[0] = b
            fx = self.f(x)
            if np.isfinite(fx):
                return fx, x
        return None


def _side(
    prof: _Profiler,
    sign: float,
    bound: float,
    first: float,
    span: float,
    r_max: float,
    start: tuple[float, float] | None = None,
) -> list[tuple[float, float]]:
    """Trace one side of the profile outwards from the estimate, by continuation.

    ``start``, when given, is a traced ``(T, |r|)`` point to continue from instead.

    Steps are sized so that ``|r|`` grows by about ``R_STEP`` each (from the local
    slope), and halved when a step's ``|r|`` jumps by more than ``2 R_STEP`` or the
    threshold cannot be reached: each minimisation then starts close to the branch
    it continues. The trace stops past ``r_max`` or at ``bound``. Returns the traced
    ``(T, |r|)`` points; an unreachable threshold is recorded with ``|r| = inf``.
    """
    pts: list[tuple[float, float]] = []
    T_prev, r_prev = start if start is not None else (prof.T_hat, 0.0)
    step = first
    tiny = 1e-4 * span
    for _ in range(60):
        T = T_prev + sign * step
        if (T - bound) * sign >= 0:
            T = bound
        r = abs(prof.root(T))
        jump = not np.isfinite(r) or r - r_prev > 2 * R_STEP
        if jump and abs(T - T_prev) > tiny:
            prof.forget(T)
            step = 0.5 * abs(T - T_prev)
            continue
        pts.append((T, r))
        if r >= r_max or bound == T:
            break
        slope = (r - r_prev) / abs(T - T_prev)
        aim = R_STEP / slope if slope > 0 else 2 * step
        step = float(np.clip(aim, 0.5 * abs(T - T_prev), 3 * abs(T - T_prev)))
        T_prev, r_prev = T, r
    return _backward(prof, pts)


def _backward(prof: _Profiler, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Re-solve points nearer the estimate from farther ones where ``|r|`` dips outwards.

    The profile at each threshold is a global minimum over ``(b, c, d)``; continuation
    outwards can stay on a higher branch (near a tested x, a curve rising steeply just
    before it is a second branch). A farther point with a lower ``|r|`` shows that a
    lower branch exists, so the nearer points are profiled again from its solution,
    and the lower value is kept.
    """
    pts = list(pts)
    for i in range(len(pts) - 2, -1, -1):
        T, r = pts[i]
        T_far, r_far = pts[i + 1]
        if np.isfinite(r_far) and r_far < r:
            r_new = abs(prof.root(T, from_T=T_far))
            if r_new < r:
                pts[i] = (T, r_new)
    return pts


def _confirm(
    prof: _Profiler, pts: list[tuple[float, float]], tq: float
) -> list[tuple[float, float]]:
    """Re-solve the first point at or past ``tq`` from the solution just inside it.

    The interval's end is the first crossing of ``tq`` outwards, so one point left on
    a higher branch would end it early. Each crossing point is profiled again from
    its inner neighbour's solution (the estimate's for the first point) and the lower
    value kept, until the crossing holds.
    """
    pts = list(pts)
    for _ in range(len(pts)):
        j = next((i for i, (_, r) in enumerate(pts) if r >= tq), None)
        if j is None:
            break
        T, r = pts[j]
        r_new = abs(prof.root(T, from_T=pts[j - 1][0] if j else prof.T_hat))
        if not r_new < r - 1e-3:
            break
        pts[j] = (T, r_new)
    return pts


def _extend(
    prof: _Profiler,
    sign: float,
    bound: float,
    pts: list[tuple[float, float]],
    span: float,
    r_max: float,
) -> list[tuple[float, float]]:
    """Trace further out where re-solving left the last point short of ``r_max``."""
    if not pts or pts[-1][1] >= r_max or pts[-1][0] == bound:
        return pts
    last = abs(pts[-1][0] - (pts[-2][0] if len(pts) > 1 else prof.T_hat))
    return pts + _side(prof, sign, bound, max(last, 1e-3 * span), span, r_max, start=pts[-1])


def profile_threshold(
    data: RunData,
    fit: LogisticFit,
    spec: ThresholdSpec,
    u: np.ndarray,
    *,
    firth: bool,
    tq: float,
    adm: tuple[float, float],
    se: float,
) -> Profile:
    """Trace the threshold's profile on both sides of the estimate.

    Parameters
    ----------
    data, fit, spec, u
        The run data, the logistic fit, the threshold and the working-scale x.
    firth : bool
        Whether the fit's objective was Firth-penalised.
    tq : float
        The critical value whose crossings are pinned precisely (the fitted level).
    adm : tuple of float
        Admissible threshold range on the working scale (may be infinite).
    se : float
        Delta-method standard error of the threshold: sets the first step.

    Returns
    -------
    Profile
        The traced points, the estimate (root 0) included.
    """
    prof = _Profiler(data, fit, spec, u, firth)
    span = float(np.ptp(u[np.isfinite(u)]))
    step = float(np.clip(R_STEP * se if np.isfinite(se) else 0.05 * span, 1e-3 * span, span))
    lo_lim, hi_lim = trace_limits(adm, u)
    r_max = max(R_MAX, tq + R_STEP)
    sides = {
        1.0: _side(prof, 1.0, hi_lim, step, span, r_max),
        -1.0: _side(prof, -1.0, lo_lim, step, span, r_max),
    }
    bounds = {1.0: hi_lim, -1.0: lo_lim}
    sides = {
        sign: _extend(prof, sign, bounds[sign], _confirm(prof, pts, tq), span, r_max)
        for sign, pts in sides.items()
    }
    table = _table(prof.T_hat, sides)
    # pin the fitted level: profile again where the table puts each end, until the
    # root there is the quantile or the end stops moving (a cliff in the profile)
    done = {-1.0: False, 1.0: False}
    for _ in range(PIN_ROUNDS):
        try:
            ends = interval_from_table(
                table.grid, table.root, prof.T_hat, tq, adm, (lo_lim, hi_lim)
            )
        except BeyondProfile:
            break
        for sign, end in zip((-1.0, 1.0), ends[:2], strict=True):
            if done[sign] or not (np.isfinite(end) and lo_lim < end < hi_lim):
                done[sign] = True
                continue
            near = min(abs(end - T) for T, _ in sides[sign]) if sides[sign] else np.inf
            if near < 1e-5 * span:
                done[sign] = True
                continue
            r = abs(prof.root(end))
            pts = sorted(sides[sign] + [(end, r)], key=lambda p: abs(p[0] - prof.T_hat))
            pts = _confirm(prof, _backward(prof, pts), tq)
            sides[sign] = _extend(prof, sign, bounds[sign], pts, span, r_max)
            r = next(v for t, v in sides[sign] if t == end)  # as re-solved
            done[sign] = abs(r - tq) < 2e-3
        table = _table(prof.T_hat, sides)
        if all(done.values()):
            break
    return table


def _table(T_hat: float, sides: dict[float, list[tuple[float, float]]]) -> Profile:
    T = np.array([T_hat] + [p[0] for sign in sides for p in sides[sign]])
    r = np.array([0.0] + [sign * p[1] for sign in sides for p in sides[sign]])
    r = np.clip(r, -1e6, 1e6)  # unreachable thresholds: a finite, JSON-safe "far out"
    order = np.argsort(T, kind="stable")
    return Profile(T[order], r[order])


def trace_limits(adm: tuple[float, float], u: np.ndarray) -> tuple[float, float]:
    """How far the profile is traced: the admissible range, or 5 design spans past it."""
    fin = np.asarray(u, dtype=float)
    fin = fin[np.isfinite(fin)]
    span = float(np.ptp(fin))
    lo = adm[0] if np.isfinite(adm[0]) else float(fin.min()) - 5 * span
    hi = adm[1] if np.isfinite(adm[1]) else float(fin.max()) + 5 * span
    return lo, hi


class BeyondProfile(ValueError):
    """The traced profile does not reach the requested level on some side."""


def interval_from_table(
    grid: np.ndarray,
    root: np.ndarray,
    T_hat: float,
    tq: float,
    adm: tuple[float, float],
    limits: tuple[float, float],
) -> tuple[float, float, bool]:
    """Interval ``{T0: |r(T0)| <= tq}`` read from a traced profile (linear in ``r``).

    Where the traced profile ends at its limit (:func:`trace_limits`) without
    reaching ``tq``, the interval runs to the admissible limit there (infinite when
    there is none). Returns the interval and whether a side ended at a limit.

    Raises
    ------
    BeyondProfile
        A side of the profile was traced neither to ``tq`` nor to the limit (a
        level above the one the profile was traced for).
    """
    grid, root = np.asarray(grid, dtype=float), np.asarray(root, dtype=float)
    tol = 1e-6 * (1.0 + abs(T_hat))
    out = []
    limited = False
    for sign, edge, lim in ((-1.0, adm[0], limits[0]), (1.0, adm[1], limits[1])):
        side = (grid - T_hat) * sign > 0
        g, r = grid[side], np.abs(root[side])
        order = np.argsort(np.abs(g - T_hat))
        g = np.concatenate([[T_hat], g[order]])
        r = np.concatenate([[0.0], r[order]])
        cross = np.flatnonzero(r >= tq)
        if cross.size == 0:
            if abs(g[-1] - lim) > tol:
                raise BeyondProfile(f"the profile was traced to |r| = {r[-1]:.3g} only")
            out.append(float(edge))
            limited = True
            continue
        j = int(cross[0])
        if not np.isfinite(r[j]) or r[j] >= 1e6:
            end = float(0.5 * (g[j - 1] + g[j]))
        else:
            # T as a monotone cubic in |r| through the points up to the crossing
            # through the farthest point at each level up to the crossing: strictly
            # increasing in |r|, and the last point inside is among them
            rr = r[: j + 1]
            later = np.minimum.accumulate(rr[::-1])[::-1]
            keep = np.flatnonzero(np.r_[rr[:-1] < later[1:] - 1e-9, True])
            with np.errstate(all="ignore"):
                end = float(PchipInterpolator(r[keep], g[keep])(tq))
        limited |= abs(end - lim) <= tol
        out.append(end)
    return out[0], out[1], limited
