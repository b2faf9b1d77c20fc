"""Why the logistic's profile interval over-covers: its signed root at the true threshold.

The profile interval is the set of thresholds T whose signed root r(T) (the profiled
quasi-deviance, signed, over the estimated dispersion) lies within the t(G - p)
quantile. It covers 95% when r at the true threshold is distributed as t(G - p)
(standard deviation sqrt(df / (df - 2)), 1.155 at df = 8). This script simulates the
coverage study's cells (same design, see benchmarks/coverage.py) and prints, for each
variant of the fit, the coverage, bias and median width and the distribution of
r(T_true): its mean, its standard deviation, and its standard deviation rescaled to the
true dispersion (the run-level variance over the binomial one, averaged over the runs),
which should be close to 1 if the quasi-likelihood's curvature is right.

Variants:

- ``firth``: the default fit (Firth / Jeffreys penalty, quasi-binomial dispersion).
- ``none``: no penalty (``penalty="none"``).
- ``oracle-w``: the default fit with run weights ``1 / (1 + n tau^2 mu (1 - mu))`` from
  the true marginal curve: the variance function of a logit-normal run effect
  (binomial plus ``tau^2 (mu (1 - mu))^2``) instead of a constant dispersion.
- ``est-w``: the same weights with tau^2 estimated by moments from the Pearson
  residuals of the default fit (three rounds).
- ``firth*phi``: the Jeffreys penalty multiplied by the estimated dispersion (the
  bias-reducing adjustment of a quasi-likelihood: the score is divided by the
  dispersion, the adjustment is not). This patches a private objective for the
  experiment; the package does not offer it.

Usage::

    python benchmarks/calibration.py --reps 200
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
from scipy.stats import t as t_dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import coverage as cov

from dataquality_thresholds.errors import DataQualityThresholdsError
from dataquality_thresholds.fitting import ThresholdFitter, _logistic as _lg

CELLS = [
    ("logistic", 0.5, 2, 100, 0.3),
    ("logistic", 0.5, 5, 100, 0.3),
    ("logistic", 0.5, 3, 500, 0.6),
    ("logistic", 0.6, 5, 500, 0.3),
    ("logistic", 0.6, 2, 500, 0.0),
    ("logistic", 0.95, 2, 100, 0.6),
    ("logistic", 0.95, 3, 500, 0.3),
    ("hinge", 0.95, 3, 500, 0.3),
    ("gompertz", 0.5, 3, 500, 0.6),
    ("gompertz", 0.6, 2, 500, 0.6),
]
VARIANTS = ("firth", "none", "oracle-w", "est-w", "firth*phi")

# --- experiment only: scale the Jeffreys penalty (private objective, patched) ---------
_PEN_SCALE = [1.0]
_plain_f = _lg._Objective.f


def _scaled_f(self, p):  # type: ignore[no-untyped-def]
    if not self.firth or _PEN_SCALE[0] == 1.0:
        return _plain_f(self, p)
    self.firth = False
    try:
        base = _plain_f(self, p)
    finally:
        self.firth = True
    if not np.isfinite(base):
        return base
    mu, J = _lg._mu_jac(self.full(p), self.u)
    pen = self.penalty(mu, J) + self.edge(p)
    return float(base + _PEN_SCALE[0] * pen) if np.isfinite(pen) else float("inf")


def _scaled_grad(self, p):  # type: ignore[no-untyped-def]
    if not self.firth:
        return self.grad_plain(p)
    return np.asarray(self.grad_plain(p) + _PEN_SCALE[0] * self.pen_grad(p), dtype=float)


_lg._Objective.f = _scaled_f  # type: ignore[method-assign]
_lg._Objective.grad = _scaled_grad  # type: ignore[method-assign]
# ---------------------------------------------------------------------------------------


def root_at(fit, truth: float) -> float:
    g, r = np.asarray(fit.profile_grid), np.asarray(fit.profile_root)
    keep = np.abs(r) < 1e6  # drop the "unreachable" markers (slope at its bound)
    g, r = g[keep], r[keep]
    if g.size < 2:
        return float("nan")
    o = np.argsort(g)
    return float(np.interp(truth, g[o], r[o], left=np.nan, right=np.nan))


def tau2_moments(mu: np.ndarray, k: np.ndarray, n: np.ndarray, p: int) -> float:
    """Moment estimate of the logit-scale run variance: E r_i^2 ~ 1 + n_i tau^2 v_i."""
    v = mu * (1 - mu)
    r2 = (k - n * mu) ** 2 / (n * v)
    return max(0.0, float((r2.sum() - (k.size - p)) / np.sum(n * v)))


def run_cell(task):
    cell, reps, seed = task
    shape, target, seeds, items, tau = cell
    rng = np.random.default_rng(seed)
    mu = cov.conditional_curve(shape, cov.shape_parameter(shape, target))
    marg = cov.marginal(mu, tau)
    truth = cov.recovery(marg)
    firth, none = ThresholdFitter(test=False), ThresholdFitter(test=False, penalty="none")
    rows = []
    for _ in range(reps):
        x, k, n = cov.simulate(mu, tau, seeds, items, rng)
        m = marg(x)
        true_phi = float(np.mean(1 + n * tau**2 * m * (1 - m)))
        row = [true_phi]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits = {}
            try:
                _PEN_SCALE[0] = 1.0
                fits["firth"] = firth.fit(x, k, n=n)
                fits["none"] = none.fit(x, k, n=n)
                fits["oracle-w"] = firth.fit(x, k, n=n, weights=1 / (1 + n * tau**2 * m * (1 - m)))
                fm = np.asarray(fits["firth"].predict(x))
                for _round in range(3):
                    w = 1 / (1 + n * tau2_moments(fm, k, n, 4) * fm * (1 - fm))
                    fits["est-w"] = firth.fit(x, k, n=n, weights=w)
                    fm = np.asarray(fits["est-w"].predict(x))
                scaled = fits["firth"]
                for _round in range(2):
                    _PEN_SCALE[0] = max(1.0, scaled.dispersion)
                    scaled = firth.fit(x, k, n=n)
                fits["firth*phi"] = scaled
            except DataQualityThresholdsError:
                continue
            finally:
                _PEN_SCALE[0] = 1.0
        for name in VARIANTS:
            f = fits[name]
            row += [f.threshold, f.ci[0], f.ci[1], root_at(f, truth), f.df_resid, f.dispersion]
        rows.append(row)
    return cell, truth, np.array(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--cells", default=None, help="indices into CELLS (default: all)")
    args = ap.parse_args(argv)
    seeds = np.random.SeedSequence(args.seed).spawn(len(CELLS))
    chosen = [int(i) for i in args.cells.split(",")] if args.cells else list(range(len(CELLS)))
    n_chunks = 2
    tasks = [
        (CELLS[i], args.reps // n_chunks + (j < args.reps % n_chunks), ss)
        for i in chosen
        for j, ss in enumerate(seeds[i].spawn(n_chunks))
    ]
    t0 = time.perf_counter()
    merged: dict = {}
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for cell, truth, rows in pool.imap_unordered(run_cell, tasks):
            merged.setdefault(cell, [truth, []])[1].append(rows)
    print(
        f"{'truth':9s} {'T':>5s} {'seeds':>5s} {'items':>5s} {'tau':>4s} {'variant':10s} "
        f"{'cover':>6s} {'bias':>8s} {'width':>6s} {'mean r':>7s} {'sd r':>6s} "
        f"{'sd t':>5s} {'sd r*':>6s} {'reps':>5s}"
    )
    for cell in (CELLS[i] for i in chosen):
        truth, parts = merged[cell]
        a = np.concatenate(parts)
        true_phi = a[:, 0]
        for j, name in enumerate(VARIANTS):
            est, lo, hi, r, df, phi = a[:, 1 + 6 * j : 7 + 6 * j].T
            ok = np.isfinite(r)
            sd_t = float(np.sqrt(df[0] / (df[0] - 2)))
            # r over the true dispersion instead of the estimated one: sd ~ 1 if the
            # curvature of the quasi-likelihood is right (the weighted variants'
            # dispersion is relative to their weights, so only the unweighted ones)
            star = (
                f"{np.std((r * np.sqrt(phi / true_phi))[ok]):6.3f}"
                if name in ("firth", "none", "firth*phi")
                else f"{'':>6s}"
            )
            print(
                f"{cell[0]:9s} {cell[1]:5.2f} {cell[2]:5d} {cell[3]:5d} {cell[4]:4.1f} "
                f"{name:10s} {np.mean((lo <= truth) & (truth <= hi)):6.3f} "
                f"{np.mean(est - truth):+8.4f} {np.median(hi - lo):6.3f} "
                f"{np.mean(r[ok]):+7.3f} {np.std(r[ok]):6.3f} {sd_t:5.3f} "
                f"{star} {est.size:5d}"
            )
    qs = ", ".join(
        f"{s} seeds (df {6 * s - 4}) {t_dist.ppf(0.975, 6 * s - 4):.3f}" for s in (2, 3, 5)
    )
    print(f"\nt(G - p) quantile at 95% with 4 parameters: {qs}")
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
