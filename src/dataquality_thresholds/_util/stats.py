"""Small interval helpers shared by the scorer and the probe."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["cluster_rate_interval", "item_bootstrap_interval", "wilson_interval"]


def wilson_interval(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (``(nan, nan)`` when ``n == 0``)."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(special.ndtri(0.5 + level / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


def cluster_rate_interval(
    events: np.ndarray, totals: np.ndarray, level: float = 0.95
) -> tuple[float, float]:
    """Interval for a pooled rate ``sum(events) / sum(totals)`` with clusters as the unit.

    Cluster-robust (CR1) variance of the ratio estimator with ``t(G - 1)``
    quantiles, clipped to [0, 1]. When the rate is 0 or 1 (no within-sample
    variation to estimate from), a Wilson interval with the number of clusters
    as the sample size is returned instead: conservative, and never degenerate.
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
    resid = e - rate * t
    var = g / (g - 1) * float(np.sum(resid**2)) / total**2
    q = float(special.stdtrit(g - 1, 0.5 + level / 2))
    half = q * math.sqrt(var)
    return (max(0.0, rate - half), min(1.0, rate + half))


def item_bootstrap_interval(
    item_means: np.ndarray, level: float = 0.95, *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of per-item means (items resampled)."""
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
