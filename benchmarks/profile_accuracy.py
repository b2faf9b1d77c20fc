"""How exactly the traced profile puts the logistic interval's ends: an independent check.

For each simulated study (the coverage study's design, see benchmarks/coverage.py)
the default fit reports a 95% profile interval whose ends should have a signed root
``|r|`` equal to the t(G - p) quantile. This script recomputes ``|r|`` at each
reported end with a general constrained optimiser (SLSQP, the threshold held by an
equality constraint) from 36 starts (12 slopes times 3 floors) and classifies the
end:

- ``ok``: the two agree to 0.01 in ``r``;
- ``slsqp higher``: SLSQP's best minimum is higher than the tracer's (SLSQP missed
  the branch the tracer found; the tracer's value is the better one);
- ``too narrow``: SLSQP found a lower minimum, so the true ``|r|`` at that end is
  below the quantile and the interval should reach further there.

Usage::

    python benchmarks/profile_accuracy.py --studies 25
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.stats import t as t_dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import coverage as cov

from dataquality_thresholds.errors import DataQualityThresholdsError
from dataquality_thresholds.fitting import ThresholdFitter, _logistic as lg
from dataquality_thresholds.fitting._data import prepare
from dataquality_thresholds.fitting._logistic_profile import e_from_threshold

CELLS = [
    ("logistic", 0.5, 2, 100, 0.6),
    ("logistic", 0.95, 2, 100, 0.6),
    ("gompertz", 0.6, 3, 500, 0.3),
]
SPEC = lg.ThresholdSpec("recovery", 0.9, 0.1, 1.0, "range", "value")  # the default


def slsqp_root(x, k, n, T0: float) -> tuple[float, float]:
    """``|r|`` at ``T0`` by multi-start SLSQP, and the t quantile of the fit."""
    data = prepare(x, k, n=n)
    fit = lg.fit_logistic(data, log_x=False, fixed={}, dispersion="estimate", penalty="firth")
    obj = lg._Objective(data, data.x.copy(), fit.theta, fit.free, firth=True)
    p_hat = fit.theta[fit.free]
    fmin = obj.f(p_hat)
    lower, upper = lg._bounds(data, data.x.copy())
    cons = {"type": "eq", "fun": lambda p: float(lg.thr_u(obj.full(p), SPEC)) - T0}
    best = np.inf
    for factor in np.geomspace(0.2, 40, 12):
        for shift in (-0.1, 0.0, 0.1):
            start = p_hat.copy()
            start[0] = min(p_hat[0] * factor, upper[0])
            start[1] = np.clip(start[1] + shift, 0.01, 0.99)
            e = float(e_from_threshold(start[0], T0, SPEC))
            if not np.isfinite(e):
                continue
            start[3] = e
            res = minimize(
                obj.f,
                start,
                jac=obj.grad,
                method="SLSQP",
                constraints=[cons],
                bounds=list(zip(lower, upper, strict=True)),
                options={"maxiter": 500, "ftol": 1e-13},
            )
            if abs(cons["fun"](res.x)) < 1e-7 and np.isfinite(res.fun):
                best = min(best, float(res.fun))
    r = float(np.sqrt(max(2 * (best - fmin) / fit.dispersion, 0.0)))
    return r, float(t_dist.ppf(0.975, fit.df_resid))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=25, help="simulated studies per cell")
    ap.add_argument("--seed", type=int, default=100)
    args = ap.parse_args(argv)
    fitter = ThresholdFitter(test=False)
    print(f"{'cell':32s} {'ends':>5s} {'ok':>4s} {'slsqp higher':>12s} {'too narrow':>10s} worst")
    for c, cell in enumerate(CELLS):
        shape, target, seeds, items, tau = cell
        rng = np.random.default_rng(args.seed + c)
        mu = cov.conditional_curve(shape, cov.shape_parameter(shape, target))
        t0 = time.perf_counter()
        diffs = []
        for _ in range(args.studies):
            x, k, n = cov.simulate(mu, tau, seeds, items, rng)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fit = fitter.fit(x, k, n=n)
                except DataQualityThresholdsError:
                    continue
                if fit.interval != "profile":
                    continue
                lim = (cov.FRACTIONS[0], cov.FRACTIONS[-1])
                for end, edge in zip(fit.ci, lim, strict=True):
                    if abs(end - edge) < 1e-9:  # an end at the admissible limit
                        continue
                    r, tq = slsqp_root(x, k, n, float(end))
                    diffs.append(r - tq)
        d = np.array(diffs)
        name = f"{shape} {target} {seeds}x{items} tau {tau}"
        worst = float(d.min()) if d.size else float("nan")
        print(
            f"{name:32s} {d.size:5d} {int(np.sum(np.abs(d) < 0.01)):4d} "
            f"{int(np.sum(d >= 0.01)):12d} {int(np.sum(d <= -0.01)):10d} {worst:+.3f} "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
