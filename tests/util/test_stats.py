import math

import numpy as np
import pytest
from statsmodels.regression.linear_model import WLS
from statsmodels.stats.proportion import proportion_confint

from dataquality_thresholds._util.stats import (
    cluster_rate_interval,
    item_bootstrap_interval,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("k", "n"),
    [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (0, 50), (17, 50), (49, 50), (50, 50), (2.5, 7)],
)
@pytest.mark.parametrize("level", [0.8, 0.9, 0.95, 0.99])
def test_wilson_is_statsmodels(k, n, level):
    lo, hi = wilson_interval(k, n, level)
    ref = proportion_confint(k, n, alpha=1 - level, method="wilson")
    assert (lo, hi) == pytest.approx(ref, abs=1e-12)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_wilson_ends_are_exact_at_0_and_n_successes():
    # statsmodels' arithmetic can leave ~1e-17 above 0 (0 of 50 at 95%) and 1 - 1e-16
    # below 1 (10 of 10); ours is exact for every level
    for level in (0.5, 0.8, 0.95, 0.99):
        for n in (1, 3, 10, 50, 1000):
            assert wilson_interval(0, n, level)[0] == 0.0
            assert wilson_interval(n, n, level)[1] == 1.0


def test_wilson_of_no_trials_is_nan():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def _cr1(e, t, level):
    """The cluster-robust (CR1) interval of a ratio, written out by hand."""
    from scipy import stats

    e, t = np.asarray(e, float), np.asarray(t, float)
    g, r = len(e), e.sum() / t.sum()
    se = math.sqrt(g / (g - 1) * np.sum((e - r * t) ** 2)) / t.sum()
    q = stats.t.ppf(0.5 + level / 2, g - 1)
    return max(0.0, r - q * se), min(1.0, r + q * se)


@pytest.mark.parametrize(
    ("events", "totals"),
    [([1, 2, 1], [4, 4, 3]), ([5, 5], [10, 10]), ([3, 0, 7, 2, 9], [10, 12, 14, 9, 20])],
)
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_cluster_interval_is_cr1_from_statsmodels(events, totals, level):
    got = cluster_rate_interval(np.array(events), np.array(totals), level)
    assert got == pytest.approx(_cr1(events, totals, level), abs=1e-12)
    e, t = np.array(events, float), np.array(totals, float)
    res = WLS(e / t, np.ones(len(e)), weights=t).fit(
        cov_type="cluster", cov_kwds={"groups": np.arange(len(e))}, use_t=True
    )
    lo, hi = res.conf_int(alpha=1 - level)[0]
    assert got == pytest.approx((max(0.0, lo), min(1.0, hi)), abs=1e-12)


def test_cluster_interval_falls_back_to_wilson_on_the_clusters():
    # rate 0 or 1, or one cluster: Wilson with the number of clusters as n
    assert cluster_rate_interval(np.zeros(4), np.full(4, 5.0)) == wilson_interval(0, 4)
    assert cluster_rate_interval(np.full(3, 5.0), np.full(3, 5.0)) == wilson_interval(3, 3)
    assert cluster_rate_interval(np.array([2.0]), np.array([5.0])) == wilson_interval(0.4, 1)
    # clusters without trials are left out
    assert cluster_rate_interval(np.array([1.0, 0.0, 2.0]), np.array([4.0, 0.0, 4.0])) == (
        cluster_rate_interval(np.array([1.0, 2.0]), np.array([4.0, 4.0]))
    )
    assert all(math.isnan(v) for v in cluster_rate_interval(np.zeros(2), np.zeros(2)))


def test_item_bootstrap_is_reproducible_and_brackets_the_mean():
    x = np.random.default_rng(1).random(30)
    lo, hi = item_bootstrap_interval(x, 0.9, seed=4)
    assert lo < x.mean() < hi
    assert item_bootstrap_interval(x, 0.9, seed=4) == (lo, hi)
    assert item_bootstrap_interval(np.array([0.3])) == (0.3, 0.3)
    assert all(math.isnan(v) for v in item_bootstrap_interval(np.array([])))
