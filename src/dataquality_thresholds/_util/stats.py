"""Small interval helpers shared by the scorer and the probe.

The arithmetic is statsmodels' where statsmodels has it (the Wilson interval, the
cluster-robust variance); statsmodels is imported inside the functions, so importing
this module stays cheap.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["cluster_rate_interval", "item_bootstrap_interval", "wilson_interval"]


def wilson_interval(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    The library's one call of
    ``statsmodels.stats.proportion.proportion_confint(successes, n, alpha=1 - level,
    method="wilson")``, with two rules of its own: ``(nan, nan)`` when ``n == 0``
    (statsmodels would divide by zero), and an interval that starts at exactly 0 with
    no successes and ends at exactly 1 with ``n`` of ``n`` (statsmodels' arithmetic
    leaves a rounding error of about 1e-17 there).

    Parameters
    ----------
    successes : float
        Number of successes (may be fractional, as for a pooled rate).
    n : float
        Number of trials.
    level : float, default 0.95
        Coverage.

    Returns
    -------
    tuple of float
        ``(lower, upper)`` within [0, 1].
    """
    if n <= 0:
        return (math.nan, math.nan)
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(successes, n, alpha=1 - level, method="wilson")
    return (
        0.0 if successes <= 0 else float(lo),
        1.0 if successes >= n else float(hi),
    )


def cluster_rate_interval(
    events: np.ndarray, totals: np.ndarray, level: float = 0.95
) -> tuple[float, float]:
    """Interval for a pooled rate ``sum(events) / sum(totals)`` with clusters as the unit.

    Cluster-robust (CR1) variance of the ratio estimator with ``t(G - 1)``
    quantiles, clipped to [0, 1]. The pooled rate is the weighted mean of the
    cluster rates ``events / totals`` with weights ``totals``, so statsmodels
    computes it: ``WLS(events / totals, 1, weights=totals)`` fitted with
    ``cov_type="cluster"`` (one cluster per row) and ``use_t=True``, whose
    small-sample factor ``G / (G - 1)`` and ``G - 1`` degrees of freedom are
    CR1's. When the rate is 0 or 1 (no within-sample variation to estimate from),
    or there is a single cluster, a Wilson interval with the number of clusters as
    the sample size is returned instead: conservative, and never degenerate.

    Parameters
    ----------
    events, totals : ndarray
        Events and trials per cluster; clusters with no trials are left out.
    level : float, default 0.95
        Coverage.

    Returns
    -------
    tuple of float
        ``(lower, upper)``; ``(nan, nan)`` when there are no trials.
    """
    e = np.asarray(events, dtype=float)
    t = np.asarray(totals, dtype=float)
    keep = t > 0
    e, t = e[keep], t[keep]
    g = int(e.size)
    total = float(t.sum())
    if g == 0 or total == 0:
        return (math.nan, math.nan)
    rate = float(e.sum()) / total
    if g < 2 or rate in (0.0, 1.0):
        return wilson_interval(rate * g, g, level)
    from statsmodels.regression.linear_model import WLS

    res = WLS(e / t, np.ones(g), weights=t).fit(
        cov_type="cluster", cov_kwds={"groups": np.arange(g)}, use_t=True
    )
    lo, hi = np.asarray(res.conf_int(alpha=1 - level), dtype=float)[0]
    return (max(0.0, float(lo)), min(1.0, float(hi)))


def item_bootstrap_interval(
    item_means: np.ndarray, level: float = 0.95, *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of per-item means (items resampled).

    Kept as our own code: statsmodels has no bootstrap interval for a mean (its
    ``bootstrap`` methods refit a likelihood model and return the estimator's mean
    and variance). ``scipy.stats.bootstrap(..., method="percentile")`` with the same
    Generator draws the same resamples (agreement to 1e-15 checked with scipy 1.17).
    """
    x = np.asarray(item_means, dtype=float)
    if x.size == 0:
        return (math.nan, math.nan)
    if x.size == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    means = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi))
