"""The profile-likelihood interval of the logistic threshold."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
from fitsim import SPECS, simulate_study
from hypothesis import given, settings, strategies as st
from scipy.optimize import minimize
from scipy.stats import t as tdist

from dataquality_thresholds.errors import ConfigError, ThresholdWarning
from dataquality_thresholds.fitting import ThresholdFit, ThresholdFitter, _logistic as lg
from dataquality_thresholds.fitting._data import prepare
from dataquality_thresholds.fitting._logistic_profile import e_from_threshold, interval_from_table


@settings(max_examples=300, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    log_b=st.floats(-1.0, 5.0),
    e=st.floats(-0.5, 1.5),
)
def test_midpoint_from_threshold_inverts_the_threshold(spec, log_b, e) -> None:
    b = float(np.exp(log_b))
    theta = np.array([b, 0.3, 0.8, e])
    T = float(lg.thr_u(theta, spec))
    if not np.isfinite(T):
        return
    e2 = float(e_from_threshold(b, T, spec))
    if not np.isfinite(e2):  # cancellation at an extreme slope: reported, never wrong
        return
    back = float(lg.thr_u(np.array([b, 0.3, 0.8, e2]), spec))
    assert back == pytest.approx(T, abs=1e-7)


def test_midpoint_from_threshold_is_nan_where_the_slope_cannot_reach() -> None:
    spec = SPECS[0]
    # a curve of slope 2 recovers 90% of its gap by x = 0.96 at the latest
    assert np.isnan(e_from_threshold(2.0, 0.99, spec))
    assert np.isfinite(e_from_threshold(40.0, 0.99, spec))


def _slsqp_profile(x, k, n, factors=(1.0, 2.0, 0.5), shifts=(0.0,)):
    """The default fit, and its profiled ``r**2`` at ``T0`` by SLSQP from several starts.

    The starts are the estimate with its slope times each of ``factors`` and its
    floor moved by each of ``shifts``.
    """
    data = prepare(x, k, n=n, groups=None, weights=None, log_x=False)
    fit = lg.fit_logistic(data, log_x=False, fixed={}, dispersion="estimate", penalty="firth")
    spec = SPECS[0]
    obj = lg._Objective(data, data.x.copy(), fit.theta, fit.free, firth=True)
    p_hat = fit.theta[fit.free]
    fmin = obj.f(p_hat)
    lower, upper = lg._bounds(data, data.x.copy())

    def r2(T0):
        cons = {"type": "eq", "fun": lambda p: float(lg.thr_u(obj.full(p), spec)) - T0}
        best = np.inf
        for factor, shift in itertools.product(factors, shifts):
            start = p_hat.copy()
            start[0] = min(factor * p_hat[0], upper[0])
            start[1] = np.clip(start[1] + shift, 0.01, 0.99)
            e = float(e_from_threshold(start[0], T0, spec))
            if np.isfinite(e):  # a start on the constraint where the slope can reach T0
                start[3] = e
            r = minimize(
                obj.f,
                start,
                jac=obj.grad,
                method="SLSQP",
                constraints=[cons],
                bounds=list(zip(lower, upper, strict=True)),
                options={"maxiter": 300, "ftol": 1e-12},
            )
            if abs(cons["fun"](r.x)) < 1e-7:
                best = min(best, r.fun)
        return 2 * (best - fmin) / fit.dispersion

    return fit, r2


def _brute_force_interval(x, k, n, level=0.95):
    """Profile interval by a general constrained optimiser (SLSQP), point by point."""
    fit, r2 = _slsqp_profile(x, k, n)
    crit = tdist.ppf(0.5 + level / 2, fit.df_resid) ** 2

    def stat(T0):
        return r2(T0) - crit

    T_hat = float(lg.thr_u(fit.theta, SPECS[0]))
    from scipy.optimize import brentq

    grid_hi = np.linspace(T_hat, 1.0 - 1e-6, 60)[1:]
    grid_lo = np.linspace(T_hat, 0.1 + 1e-6, 60)[1:]
    ends = []
    for grid in (grid_lo, grid_hi):
        prev = T_hat
        end = grid[-1]
        for T0 in grid:
            if stat(T0) > 0:
                end = brentq(stat, prev, T0, xtol=1e-6)
                break
            prev = T0
        ends.append(end)
    return T_hat, tuple(ends)


@pytest.mark.parametrize("seed", [3, 8])
def test_profile_interval_matches_a_brute_force_profile(seed) -> None:
    x, k, n = simulate_study(seed, seeds_per_ratio=3, items=200, tau=0.3, e=0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        fit = ThresholdFitter(interval="profile", test=False).fit(x, k, n=n)
    T_hat, (lo, hi) = _brute_force_interval(x, k, n)
    assert fit.threshold == pytest.approx(T_hat, abs=1e-9)
    assert fit.ci[0] == pytest.approx(lo, abs=2e-4)
    assert fit.ci[1] == pytest.approx(hi, abs=2e-4)


# Simulated studies (Gompertz truth, 3 seeds x 500 items, tau 0.3, the second cell
# of benchmarks/profile_accuracy.py) whose profiles have a second, lower branch just
# above the tested 0.5: a curve rising steeply there, the 0.5 runs partway up
# (studies 1 and 14 of that cell with its seed, 102).
STEEP_K = {
    1: [199, 197, 127, 208, 211, 232, 320, 300, 250, 432, 383, 418, 444, 432, 406, 426, 382, 432],
    14: [194, 164, 182, 195, 207, 138, 338, 238, 265, 430, 430, 435, 423, 428, 412, 417, 441, 366],
}


@pytest.mark.parametrize("study", sorted(STEEP_K))
def test_the_profile_follows_the_steep_branch_just_past_a_tested_fraction(study) -> None:
    x = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 3)
    k, n = np.array(STEEP_K[study]), np.full(18, 500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        fit = ThresholdFitter(test=False).fit(x, k, n=n)
    lo = fit.ci[0]
    assert 0.5 < lo < 0.53
    _, r2 = _slsqp_profile(x, k, n, np.geomspace(0.2, 40, 12), (-0.1, 0.0, 0.1))
    tq = tdist.ppf(0.975, fit.df_resid)
    # the end is where the profile crosses the quantile: no lower minimum there
    assert np.sqrt(r2(lo)) > tq - 0.01


def _fit(seed=4, **kw):
    x, k, n = simulate_study(seed, seeds_per_ratio=3, items=200, tau=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        return ThresholdFitter(interval="profile", test=False, **kw).fit(x, k, n=n), (x, k, n)


def test_other_levels_are_read_from_the_stored_profile() -> None:
    fit, (x, k, n) = _fit()
    lo80, hi80 = fit.conf_int(level=0.80)
    lo95, hi95 = fit.ci
    assert lo95 < lo80 < fit.threshold < hi80 < hi95
    # the same as tracing the profile at that level
    refit = ThresholdFitter(interval="profile", test=False, level=0.80).fit(x, k, n=n)
    assert refit.ci == pytest.approx((lo80, hi80), abs=2e-3)
    # and after a JSON round trip
    again = ThresholdFit.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert again.conf_int(level=0.80) == pytest.approx((lo80, hi80), abs=1e-12)
    assert again.ci == fit.ci


def test_a_level_beyond_the_traced_profile_is_refused_with_the_highest_readable() -> None:
    fit, _ = _fit()
    with pytest.raises(ConfigError, match=r"levels up to 0\.99"):
        fit.conf_int(level=0.99999)


def test_a_fieller_fit_has_no_profile_to_read() -> None:
    x, k, n = simulate_study(4)
    fit = ThresholdFitter(interval="fieller", test=False).fit(x, k, n=n)
    with pytest.raises(ConfigError, match="refit with interval='profile'"):
        fit.conf_int(method="profile")


@pytest.mark.parametrize(
    "options",
    [
        {"threshold": "midpoint"},
        {"log_x": True},
        {"floor": "asymptote"},
        {"ceiling": "asymptote"},
        {"fixed": {"c": 0.35}},
    ],
)
def test_profile_interval_for_every_threshold_definition(options) -> None:
    fit, _ = _fit(**options)
    lo, hi = fit.ci
    assert lo < fit.threshold < hi
    # a likelihood-ratio set of about the size of the delta-method interval
    d_lo, d_hi = fit.conf_int(method="delta_x")
    assert 0.3 < (hi - lo) / (d_hi - d_lo) < 3


def test_near_the_reference_the_profile_stays_bounded_where_fieller_does_not() -> None:
    # a curve still rising at x = 1.0 (recovery threshold 0.95), two seeds per ratio
    x, k, n = simulate_study(26, seeds_per_ratio=2, items=100, tau=0.3, e=0.733)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        fit = ThresholdFitter(interval="profile", test=False).fit(x, k, n=n)
    f_lo, f_hi = fit.conf_int(method="fieller")
    assert (f_lo, f_hi) == (0.1, 1.0)  # the Fieller set is the whole admissible range
    lo, hi = fit.ci
    assert 0.5 < lo < fit.threshold < hi <= 1.0
    assert hi - lo < 0.5 * (f_hi - f_lo)


@settings(max_examples=200, deadline=None)
@given(
    roots=st.lists(st.floats(0.0, 6.0), min_size=1, max_size=8),
    tq=st.floats(0.5, 3.0),
)
def test_reading_a_traced_side_gives_the_first_crossing(roots, tq) -> None:
    # one side of a profile, |r| not necessarily monotone (several branches)
    T_hat = 0.5
    grid = T_hat + 0.05 * np.arange(1, len(roots) + 1)
    table_T = np.r_[T_hat - 0.3, T_hat, grid]  # the lower side: one point far out
    table_r = np.r_[-10.0, 0.0, roots]
    limits = (0.1, 1.0)
    reaches = np.flatnonzero(np.asarray(roots) >= tq)
    if reaches.size == 0 and grid[-1] != limits[1]:
        with pytest.raises(ValueError, match="traced"):
            interval_from_table(table_T, table_r, T_hat, tq, limits, limits)
        return
    lo, hi, _ = interval_from_table(table_T, table_r, T_hat, tq, limits, limits)
    j = int(reaches[0])
    inner = T_hat if j == 0 else grid[j - 1]
    assert inner - 1e-12 <= hi <= grid[j] + 1e-12  # between the last point inside and the first out
    assert T_hat - 0.3 < lo < T_hat


def test_a_profile_that_cannot_be_traced_falls_back_to_fieller_with_a_warning(monkeypatch) -> None:
    from dataquality_thresholds.errors import ConvergenceWarning
    from dataquality_thresholds.fitting import _logistic_profile as logistic_profile

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(logistic_profile, "profile_threshold", broken)
    x, k, n = simulate_study(4)
    with pytest.warns(ConvergenceWarning, match="Fieller"):
        fit = ThresholdFitter(test=False).fit(x, k, n=n)
    assert fit.interval == "fieller" and not fit.profile_root
    assert fit.ci == fit.conf_int(method="fieller")


def test_the_reported_interval_is_the_one_read_from_the_stored_table() -> None:
    fit, _ = _fit()
    assert fit.interval == "profile" and fit.profile_root
    assert fit.ci == fit.conf_int()
    assert fit.ci == fit.conf_int(level=fit.level, method="profile")
    assert not fit.unbounded


def test_a_profile_traced_short_of_the_level_falls_back_to_fieller(monkeypatch) -> None:
    from dataquality_thresholds.errors import ConvergenceWarning
    from dataquality_thresholds.fitting import _logistic_profile as logistic_profile

    real = logistic_profile.profile_threshold

    def short(*args, **kwargs):
        # keep only the points with |r| < 1: neither side reaches the fitted level
        prof = real(*args, **kwargs)
        keep = np.abs(prof.root) < 1.0
        return logistic_profile.Profile(prof.grid[keep], prof.root[keep])

    monkeypatch.setattr(logistic_profile, "profile_threshold", short)
    x, k, n = simulate_study(4)
    with pytest.warns(ConvergenceWarning, match="Fieller"):
        fit = ThresholdFitter(test=False).fit(x, k, n=n)
    assert fit.interval == "fieller" and not fit.profile_root
    assert fit.ci == fit.conf_int(method="fieller")


def test_a_failed_bootstrap_points_to_the_profile_default(monkeypatch) -> None:
    from dataquality_thresholds.errors import FitError
    from dataquality_thresholds.fitting import _logistic_ci as logistic_ci

    def mostly_failed(*args, **kwargs):
        return np.array([0.5, 0.6]), 98

    monkeypatch.setattr(logistic_ci, "bootstrap", mostly_failed)
    x, k, n = simulate_study(4)
    with pytest.raises(FitError, match=r"only 2 of 100 .*interval='profile'"):
        ThresholdFitter(interval="bootstrap", n_boot=100, test=False).fit(x, k, n=n)


def test_a_crossing_point_re_solved_below_the_level_is_traced_past() -> None:
    # a Gompertz study (T = 0.5, 2 seeds x 500 items, tau 0.6) whose last traced
    # point on one side drops below the quantile when re-solved from inside: the
    # trace must go on from there, not fall back to the Fieller interval
    x = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 2)
    k = np.array([231, 183, 159, 249, 410, 446, 371, 471, 462, 418, 414, 423])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ThresholdWarning)
        fit = ThresholdFitter(test=False).fit(x, k, n=np.full(12, 500))
    assert fit.interval == "profile"
    assert fit.ci[0] < fit.threshold < fit.ci[1]
