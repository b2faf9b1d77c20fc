"""Model averaging for ``method="auto"``: weights, the averaged threshold, its interval.

The candidates (logistic, Gompertz-type, hinge) are weighed by AICc on their common
likelihood (QAICc on overdispersed counts), and the threshold is the weighted mean of
theirs. Three interval rules are offered, all from the candidates' own intervals:

``"kang"`` (the default)
    Kang, Kodell and Chen (2000), one of drc's ``maED`` rules: the weighted mean of
    the candidates' lower and upper limits.
``"mata"``
    Model-averaged tail area (Turek and Fletcher 2012): the limits where the weighted
    mixture of the candidates' sampling distributions puts ``alpha / 2`` in each tail.
    Each candidate's distribution is a t(df) scaled separately below and above its
    estimate so that its own interval is its central ``level`` range; a single
    candidate gets its own interval back.
``"buckland"``
    Buckland, Burnham and Augustin (1997), drc's other ``maED`` rule:
    ``T_bar +/- t * sum_i w_i sqrt(se_i^2 + (T_i - T_bar)^2)``.

The default was chosen by ``benchmarks/coverage.py --quick`` (docs/fitting.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.stats import t as _t

from dataquality_thresholds.fitting._intervals import quantile
from dataquality_thresholds.fitting._likelihood import ic_scores

__all__ = ["AVERAGE_RULES", "average_interval", "weights_for"]

AVERAGE_RULES = ("kang", "mata", "buckland")


def weights_for(fits: Sequence[Any], nobs: int, c_hat: float) -> tuple[np.ndarray, np.ndarray]:
    """AICc (QAICc when ``c_hat > 1``) scores and Akaike weights of fitted candidates."""
    return ic_scores([f.loglik for f in fits], [f.k_ic for f in fits], nobs, c_hat)


def _candidate_cdf(theta: float, T: float, below: float, above: float, df: float) -> float:
    """Return a candidate's sampling CDF: t(df) scaled by ``below`` / ``above`` of ``T``."""
    s = below if theta < T else above
    if s <= 0:
        return 1.0 if theta >= T else 0.0
    return float(_t.cdf((theta - T) / s, df if np.isfinite(df) else 1e9))


def average_interval(
    rule: str,
    ts: np.ndarray,
    los: np.ndarray,
    his: np.ndarray,
    dfs: np.ndarray,
    w: np.ndarray,
    level: float,
    bounds: tuple[float, float],
) -> tuple[float, float]:
    """Model-averaged interval at ``level`` from the candidates' own intervals.

    Parameters
    ----------
    rule : {"kang", "mata", "buckland"}
        See the module docstring.
    ts, los, his : ndarray
        The candidates' thresholds and interval limits at ``level``.
    dfs : ndarray
        Each candidate's quantile degrees of freedom (infinite: normal).
    w : ndarray
        Model weights (summing to 1).
    level : float
        Coverage level.
    bounds : tuple of float
        The admissible range; limits are clipped into it.
    """
    lo_b, hi_b = bounds
    finite = np.isfinite(ts) & np.isfinite(los) & np.isfinite(his)
    keep = (w > 1e-12) & finite
    if not keep.any():
        keep = finite
    if not keep.any():
        return float("nan"), float("nan")
    w = w[keep] / w[keep].sum() if w[keep].sum() > 0 else np.full(keep.sum(), 1.0 / keep.sum())
    ts, los, his, dfs = ts[keep], los[keep], his[keep], dfs[keep]
    tbar = float(w @ ts)
    tq = np.array([quantile(level, df) for df in dfs])
    if rule == "kang":
        lo, hi = float(w @ los), float(w @ his)
    elif rule == "buckland":
        ses = (his - los) / (2 * tq)
        se = float(np.sum(w * np.sqrt(ses**2 + (ts - tbar) ** 2)))
        q = quantile(level, float(np.min(dfs)))
        lo, hi = tbar - q * se, tbar + q * se
    elif rule == "mata":
        lo_s = np.maximum(ts - los, 0.0) / tq
        hi_s = np.maximum(his - ts, 0.0) / tq
        a = (1.0 - level) / 2

        def f(theta: float, p: float) -> float:
            cdf = [_candidate_cdf(theta, *c) for c in zip(ts, lo_s, hi_s, dfs, strict=True)]
            return float(w @ np.array(cdf)) - p

        left = float(np.min(los)) - 1.0
        right = float(np.max(his)) + 1.0
        lo = brentq(f, left, right, args=(a,), xtol=1e-7)
        hi = brentq(f, left, right, args=(1.0 - a,), xtol=1e-7)
    else:  # pragma: no cover - validated by the fitter
        raise ValueError(rule)
    return float(max(lo, lo_b)), float(min(hi, hi_b))
