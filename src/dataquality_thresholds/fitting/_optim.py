"""A small damped-Newton minimiser with numerical Hessians (p <= 4 parameters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["NewtonResult", "minimize_newton", "num_grad", "num_hess"]

Fn = Callable[[np.ndarray], float]
Grad = Callable[[np.ndarray], np.ndarray]


def _steps(x: np.ndarray, rel: float) -> np.ndarray:
    return np.asarray(rel * (1.0 + np.abs(x)), dtype=float)


def num_grad(f: Fn, x: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of ``f`` at ``x``."""
    h = _steps(x, rel)
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h[i]
        g[i] = (f(x + e) - f(x - e)) / (2 * h[i])
    return g


def num_hess(grad: Grad, x: np.ndarray, rel: float = 1e-5) -> np.ndarray:
    """Symmetrised central-difference Hessian from an (analytic) gradient."""
    h = _steps(x, rel)
    H = np.empty((x.size, x.size))
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h[i]
        H[:, i] = (grad(x + e) - grad(x - e)) / (2 * h[i])
    return np.asarray(0.5 * (H + H.T), dtype=float)


def _to_boundary(
    x: np.ndarray, step: np.ndarray, lower: np.ndarray, upper: np.ndarray, mask: np.ndarray
) -> float:
    """Largest factor <= 1 that keeps the masked parameters 10% of their gap off a bound."""
    out = 1.0
    for i in np.flatnonzero(mask & (step != 0)).tolist():
        room = upper[i] - x[i] if step[i] > 0 else x[i] - lower[i]
        out = min(out, 0.9 * room / abs(step[i]))
    return float(out)


class NewtonResult(NamedTuple):
    """Outcome of :func:`minimize_newton`."""

    x: np.ndarray
    fun: float
    converged: bool
    at_bound: bool
    n_iter: int


def minimize_newton(
    f: Fn,
    grad: Grad,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    max_iter: int = 200,
    tol: float = 1e-13,
    ftol: float = 1e-10,
    hess_grad: Grad | None = None,
    hess: Callable[[np.ndarray], np.ndarray] | None = None,
    interior: np.ndarray | None = None,
) -> NewtonResult:
    """Minimise ``f`` by Levenberg-damped Newton steps clipped to a box.

    Converges when the decrease predicted by the Newton step (the Newton
    decrement) falls below ``tol * (1 + |f|)`` and the last decrease below
    ``ftol * (1 + |f|)``. ``hess_grad``, when given, is the
    gradient whose derivative serves as the Hessian (e.g. the unpenalised part);
    ``hess``, when given, returns the Hessian (or an approximation) directly.
    ``interior``, when given, marks parameters whose minimum lies strictly inside
    their bounds (a barrier such as ``-log(c (1 - c))`` in the objective): a step
    moves each of them at most ``0.9`` of the way to its bound (the whole step is
    shortened, keeping its direction), so a step cannot land on the barrier and
    then creep back from it by halving distances.
    """
    x = np.clip(np.asarray(x0, dtype=float), lower, upper)
    fx = f(x)
    lam = 1e-6
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - it is reported
        g = grad(x)
        if hess is not None:
            H = hess(x)
        elif hess_grad is None:  # forward differences of the gradient already in hand
            h = _steps(x, 1e-7)
            H = np.empty((x.size, x.size))
            for i in range(x.size):
                e = np.zeros_like(x)
                e[i] = h[i] if x[i] + h[i] <= upper[i] else -h[i]
                H[:, i] = (grad(x + e) - g) / e[i]
            H = 0.5 * (H + H.T)
        else:
            H = num_hess(hess_grad, x)
        # active set: parameters held at a bound by a gradient pointing outwards
        span0 = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
        held = ((x - lower <= 1e-12 * span0) & (g > 0)) | ((upper - x <= 1e-12 * span0) & (g < 0))
        act = ~held
        if not np.any(act):
            converged = True
            break
        Ha, ga = H[np.ix_(act, act)], g[act]
        scale = np.maximum(np.abs(np.diag(Ha)), 1e-12)
        accepted = False
        for _ in range(40):
            try:
                step = np.zeros_like(x)
                step[act] = np.linalg.solve(Ha + lam * np.diag(scale), -ga)
            except np.linalg.LinAlgError:
                lam = max(lam * 10, 1e-8)
                continue
            if interior is not None:
                step *= _to_boundary(x, step, lower, upper, interior)
            xn = np.clip(x + step, lower, upper)
            fn = f(xn)
            if np.isfinite(fn) and fn <= fx + 1e-15 * abs(fx):
                accepted = True
                break
            lam = max(lam * 10, 1e-8)
        if not accepted:
            break
        decrement = float(-(g @ (xn - x)))
        x, f_old, fx = xn, fx, fn
        lam = max(lam / 10, 1e-12)
        if abs(decrement) < tol * (1 + abs(fx)) and abs(f_old - fx) < ftol * (1 + abs(fx)):
            converged = True
            break
    span = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
    at_bound = bool(np.any((x - lower <= 1e-9 * span) | (upper - x <= 1e-9 * span)))
    return NewtonResult(x, float(fx), converged, at_bound, it)
