"""Small simulation checks that the intervals keep their coverage (the full study is
benchmarks/coverage.py). Seeded; a few seconds each."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fitsim import simulate_study
from scipy.special import expit

from dataquality_thresholds.errors import ThresholdWarning
from dataquality_thresholds.fitting import ThresholdFitter, hinge

pytestmark = pytest.mark.slow


def _marginal_recovery(e: float, slope: float, tau: float, q: float = 0.9) -> float:
    """Recovery threshold of the population-averaged curve (logit random effect)."""
    z, w = np.polynomial.hermite_e.hermegauss(40)
    w = w / w.sum()
    grid = np.linspace(0.1, 1.0, 20001)
    mu = 0.35 + 0.5 * expit(slope * (grid - e))
    lp = np.log(mu / (1 - mu))
    m = np.sum(w * expit(lp[:, None] + tau * z), axis=1)
    target = m[0] + q * (m[-1] - m[0])
    return float(np.interp(target, m, grid))


def test_logistic_fieller_interval_covers_with_run_level_noise() -> None:
    truth = _marginal_recovery(0.45, 10.0, 0.3)
    fitter = ThresholdFitter(test=False)
    hits, est = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        for rep in range(200):
            x, k, n = simulate_study(1000 + rep, seeds_per_ratio=3, items=200, tau=0.3)
            fit = fitter.fit(x, k, n=n)
            hits.append(fit.ci[0] <= truth <= fit.ci[1])
            est.append(fit.threshold)
    coverage = float(np.mean(hits))
    assert 0.90 <= coverage <= 0.99, coverage
    assert abs(np.mean(est) - truth) < 0.02


def test_profile_interval_for_the_breakpoint_covers() -> None:
    rng = np.random.default_rng(5)
    fitter = ThresholdFitter(method="changepoint", threshold="breakpoint", test=False)
    x = np.repeat(np.array([0.1, 0.25, 0.5, 0.75, 0.9, 1.0]), 3)
    hits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        for _ in range(300):
            y = hinge(x, 0.85, 1.0, 0.6) + rng.normal(0, 0.04, x.size)
            fit = fitter.fit(x, y)
            hits.append(fit.ci[0] <= 0.6 <= fit.ci[1])
    assert 0.90 <= float(np.mean(hits)) <= 0.99


def test_threshold_exists_test_holds_its_size_on_a_flat_truth() -> None:
    rng = np.random.default_rng(6)
    x = np.repeat(np.array([0.1, 0.25, 0.5, 0.75, 0.9, 1.0]), 3)
    pvals = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        for rep in range(200):
            y = 0.6 + rng.normal(0, 0.04, x.size)
            fit = ThresholdFitter(method="changepoint", n_test=99, seed=rep).fit(x, y)
            pvals.append(fit.exists_pvalue)
    size = float(np.mean(np.array(pvals) < 0.05))
    assert size <= 0.09, size
    assert size >= 0.01  # the test is not dead either
