"""Can a parametric bootstrap calibrate the profile's signed root? (It cannot, here.)

The profile interval keeps every threshold T0 whose signed root r(T0) lies within
t(G - p) quantiles; with run-level noise and 2-3 seeds per ratio r is narrower than
that, so the interval over-covers (benchmarks/calibration.py). This script asks
whether simulated quantiles of r would do better. For each simulated study of a
cell (the coverage study's design) it draws ``--sims`` resamples of the runs,
beta-binomially with the fit's dispersion, from a "world" curve, refits each
resample exactly as the fitter does (Firth-penalised quasi-binomial) and profiles it
at the world's threshold. It prints how often the observed r(T_true) lies within
the 2.5% and 97.5% quantiles of those simulated roots:

- ``t``, ``z``: the t(G - p) quantile the default uses, and the normal one.
- ``boot@estimate``: the world is the fitted curve, its threshold the estimate (a
  prepivoted, i.e. bootstrap-calibrated, critical value).
- ``boot@truth``: the world is the fit held at the true threshold. This is what an
  inversion of the simulated test would give at the truth: it needs the truth, so
  it is a diagnostic, not an interval.
- ``bart@estimate``, ``bart@truth``: a Bartlett-type correction instead of
  quantiles: the t(G - p) critical value scaled by the square root of the simulated
  mean square of r over that of t(G - p), df / (df - 2), under the same two worlds.
  It is the bootstrap form of the analytic correction (which approximates the same
  expectation by a second-order expansion), so it shows what that one aims at.
- ``boot@ends`` (``--ends``): a usable interval: each end starts at the t quantile's
  end and is moved, twice, to where the traced root meets the simulated quantile of
  the fit held at that end (the hull of the inverted test). "beyond" is the share of
  studies where a simulated quantile lay past the traced table (that end is then
  put at the admissible limit).

The widths and standard deviations printed are medians over the studies. A truth
past the traced profile counts as not covered; a rule whose simulation failed (the
fit could not be held at the truth, or most refits failed) is left out of that
study's count for that rule only.

``--scan K`` prints, for the first K studies of each cell, the simulated quantiles
at four thresholds on each side, next to the observed root: they show how far the
null distribution of r moves with the threshold (the root is not pivotal).

Usage::

    python benchmarks/bootstrap_calibration.py --reps 100 --sims 100 --ends --scan 2
    python benchmarks/bootstrap_calibration.py --reps 100 --sims 100 --cells 0,1,2,3,4,5
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import norm, t as t_dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import coverage as cov
from calibration import root_at

from dataquality_thresholds.errors import DataQualityThresholdsError
from dataquality_thresholds.fitting import ThresholdFitter, _logistic as lg, _logistic_profile as lp
from dataquality_thresholds.fitting._data import RunData, prepare
from dataquality_thresholds.fitting._logistic_ci import simulate_runs

CELLS = [
    ("logistic", 0.5, 3, 500, 0.6),
    ("logistic", 0.95, 2, 100, 0.6),
    ("logistic", 0.5, 2, 100, 0.3),
    ("gompertz", 0.6, 2, 500, 0.6),
    ("hinge", 0.95, 3, 500, 0.3),
    ("logistic", 0.6, 5, 500, 0.3),
]
RULES = ("t", "z", "boot@estimate", "boot@truth", "bart@estimate", "bart@truth", "boot@ends")


def _fit(data: RunData) -> lg.LogisticFit:
    return lg.fit_logistic(data, log_x=False, fixed={}, dispersion="estimate", penalty="firth")


def held(data, fit, spec, grid, root, T0):
    """The fit held at T0, continued out from the estimate through the table's points."""
    prof = lp._Profiler(data, fit, spec, data.x, True)
    side = np.sign(T0 - prof.T_hat)
    keep = (np.abs(root) < 1e6) & ((grid - prof.T_hat) * side > 0) & ((grid - T0) * side < 0)
    for T in sorted(grid[keep], key=lambda g: abs(g - prof.T_hat)):
        prof.root(float(T))
    if not np.isfinite(prof.root(float(T0))):
        return None
    return prof.obj.full(prof._full(prof.starts[-1][1]))


def null_roots(data, fit, spec, world, T0, sims, seed):
    """Signed roots at T0 of resamples drawn from the curve ``world`` (full parameters)."""
    mu, _ = lg._mu_jac(np.asarray(world, dtype=float), data.x)
    _, K = simulate_runs(data, mu, fit.dispersion, sims, np.random.default_rng(seed))
    assert K is not None and data.n is not None
    out = []
    for kb in K:
        resample = data._replace(k=kb, y=kb / data.n)
        try:
            fb = _fit(resample)
            r = lp._Profiler(resample, fb, spec, resample.x, True).root(float(T0))
        except (DataQualityThresholdsError, np.linalg.LinAlgError, FloatingPointError):
            continue
        if np.isfinite(r):
            out.append(r)
    return np.array(out)


def _within(r_obs: float, sims_r: np.ndarray, sims: int) -> float:
    """1.0 if r_obs lies within the simulated 2.5% / 97.5% quantiles; NaN if too few."""
    if sims_r.size < sims // 2:
        return float("nan")
    lo, hi = np.quantile(sims_r, [0.025, 0.975])
    return float(lo <= r_obs <= hi)


def _bartlett(r_obs: float, sims_r: np.ndarray, sims: int, tq: float, df: float) -> float:
    """1.0 if r_obs lies within the t quantile rescaled by the simulated mean square of r.

    A Bartlett-type correction: r^2 divided by its expectation under the world (here
    estimated from the resamples, the bootstrap stand-in for the analytic
    second-order expansion) times the reference's own, df / (df - 2) for t(df). Only
    the scale is corrected; a shift of the simulated roots enters as extra width.
    """
    if sims_r.size < sims // 2:
        return float("nan")
    factor = float(np.mean(sims_r**2)) / (df / (df - 2.0))
    return float(abs(r_obs) <= tq * np.sqrt(factor))


def _sd(values: np.ndarray) -> float:
    return float(np.std(values)) if values.size > 1 else float("nan")


def _end(grid, root, T_hat, crit, sign, adm, limits):
    lo, hi, _ = lp.interval_from_table(grid, root, T_hat, max(crit, 1e-9), adm, limits)
    return lo if sign < 0 else hi


def run_cell(task):
    cell, reps, seed, sims, ends, scan = task
    shape, target, seeds, items, tau = cell
    rng = np.random.default_rng(seed)
    mu = cov.conditional_curve(shape, cov.shape_parameter(shape, target))
    truth = cov.recovery(cov.marginal(mu, tau))
    fitter = ThresholdFitter(test=False)
    rows, lines = [], []
    for i in range(reps):
        x, k, n = cov.simulate(mu, tau, seeds, items, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = fitter.fit(x, k, n=n)
            except DataQualityThresholdsError:
                continue
            data = prepare(x, k, n=n, log_x=False)
            fit = res._internal_logistic()  # the fitter's own fit, not a second one
            spec = res._spec()
            grid, root = np.asarray(res.profile_grid), np.asarray(res.profile_root)
            r_true = root_at(res, truth)
            if not np.isfinite(r_true):  # past the traced table: |r| beyond 3.5, no rule covers
                r_true = np.inf
            T_hat, df = res.threshold, res.df_resid
            tq = float(t_dist.ppf(0.975, df))
            cover = {"t": abs(r_true) <= tq, "z": abs(r_true) <= norm.ppf(0.975)}
            sim_seed = np.random.SeedSequence(int(rng.integers(2**63)))
            r_est = null_roots(data, fit, spec, fit.theta, T_hat, sims, sim_seed)
            cover["boot@estimate"] = _within(r_true, r_est, sims)
            # the fit held at the truth; a truth it cannot reach leaves only this rule out
            world = held(data, fit, spec, grid, root, truth)
            r_tru = (
                null_roots(data, fit, spec, world, truth, sims, sim_seed)
                if world is not None
                else np.empty(0)
            )
            cover["boot@truth"] = _within(r_true, r_tru, sims)
            cover["bart@estimate"] = _bartlett(r_true, r_est, sims, tq, df)
            cover["bart@truth"] = _bartlett(r_true, r_tru, sims, tq, df)
            width = {"t": res.ci[1] - res.ci[0]}
            if ends:
                adm = res._admissible_u()
                limits = lp.trace_limits(adm, data.x)
                out, beyond = [], 0
                for sign, end in ((-1.0, res.ci[0]), (1.0, res.ci[1])):
                    for _round in range(2):
                        if not adm[0] < end < adm[1]:
                            break
                        w = held(data, fit, spec, grid, root, end)
                        if w is None:
                            break
                        r_end = null_roots(data, fit, spec, w, end, sims, sim_seed)
                        crit = np.quantile(r_end, 0.025 if sign < 0 else 0.975) * sign
                        try:
                            end = _end(grid, root, T_hat, crit, sign, adm, limits)
                        except lp.BeyondProfile:  # past the traced table: to the limit
                            end = adm[0] if sign < 0 else adm[1]
                            beyond = 1
                    out.append(end)
                cover["boot@ends"] = out[0] <= truth <= out[1]
                width["boot@ends"] = out[1] - out[0]
                width["beyond"] = beyond
            if i < scan:
                parts = [
                    f"study {i}: estimate {T_hat:.3f}, t interval {res.ci[0]:.3f}-{res.ci[1]:.3f}"
                ]
                for end in res.ci:
                    for frac in (0.5, 0.75, 1.0, 1.25):
                        T0 = T_hat + frac * (end - T_hat)
                        w = held(data, fit, spec, grid, root, T0) if 0.1 < T0 < 1.0 else None
                        if w is None:
                            continue
                        rs = null_roots(data, fit, spec, w, T0, sims, sim_seed)
                        lo_q, hi_q = np.quantile(rs, [0.025, 0.975])
                        parts.append(
                            f"    T0 {T0:.3f}: observed r {root_at(res, T0):+.2f}, "
                            f"simulated 2.5%/97.5% {lo_q:+.2f} / {hi_q:+.2f}"
                        )
                lines.append("\n".join(parts))
        rows.append(
            [float(cover.get(k, np.nan)) for k in RULES]
            + [width["t"], width.get("boot@ends", np.nan), _sd(r_est), _sd(r_tru)]
            + [width.get("beyond", np.nan)]
        )
    return cell, truth, np.array(rows), lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--sims", type=int, default=100, help="resamples per simulated null")
    ap.add_argument("--cells", default="0,1", help="indices into CELLS")
    ap.add_argument("--ends", action="store_true", help="also the end-calibrated interval")
    ap.add_argument("--scan", type=int, default=0, help="print the null quantiles of K studies")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--seed", type=int, default=20261128)
    args = ap.parse_args(argv)
    chosen = [int(c) for c in args.cells.split(",")]
    seeds = np.random.SeedSequence(args.seed).spawn(len(CELLS))
    t0 = time.perf_counter()
    tasks = [(CELLS[i], args.reps, seeds[i], args.sims, args.ends, args.scan) for i in chosen]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(run_cell, tasks)
    print(
        f"{'truth':9s} {'T':>5s} {'seeds':>5s} {'items':>5s} {'tau':>4s} "
        + " ".join(f"{k:>13s}" for k in RULES)
        + f" {'width t':>8s} {'w ends':>7s} {'sd r est':>8s} {'sd r tru':>8s} {'beyond':>6s}"
        + f" {'reps':>5s}"
    )
    for cell, _truth, a, _lines in results:
        with warnings.catch_warnings():  # a rule not run (boot@ends without --ends): NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            cov_ = np.nanmean(a[:, : len(RULES)], axis=0)
            med = np.nanmedian(a[:, len(RULES) : -1], axis=0)
            beyond = np.nanmean(a[:, -1])
        print(
            f"{cell[0]:9s} {cell[1]:5.2f} {cell[2]:5d} {cell[3]:5d} {cell[4]:4.1f} "
            + " ".join(f"{v:13.3f}" for v in cov_)
            + f" {med[0]:8.3f} {med[1]:7.3f} {med[2]:8.3f} {med[3]:8.3f} {beyond:6.2f}"
            + f" {a.shape[0]:5d}"
        )
    for cell, _truth, _a, lines in results:
        for text in lines:
            print(f"\n{cell}: {text}")
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
