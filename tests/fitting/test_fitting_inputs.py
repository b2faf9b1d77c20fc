"""Awkward inputs to ThresholdFitter: other x scales, references outside the data, bad options."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dataquality_thresholds import ConfigError, ThresholdFitter

# Bliss (1935) beetle mortality: log10 dose of CS2, insects, deaths.
DOSE = np.array([1.6907, 1.7242, 1.7552, 1.7842, 1.8113, 1.8369, 1.8610, 1.8839])
N = np.array([59, 60, 62, 56, 63, 59, 62, 60])
K = np.array([6, 13, 18, 28, 52, 53, 61, 60])

SHARES = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 3)
COUNTS = np.array([30, 33, 29, 35, 38, 36, 60, 58, 63, 78, 80, 79, 81, 82, 80, 81, 80, 82])
TRIALS = np.full(18, 100)


def quiet_fit(fitter, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitter.fit(*args, **kw)


def test_dose_data_read_recovery_at_the_largest_dose():
    fit = quiet_fit(ThresholdFitter(), DOSE, K, n=N)
    lo, hi = fit.ci
    assert fit.ceiling == pytest.approx(DOSE.max())
    assert DOSE.min() <= lo <= fit.threshold <= hi <= DOSE.max()


def test_percent_scale_gives_the_share_scale_answer_in_percent():
    share = quiet_fit(ThresholdFitter(), SHARES, COUNTS, n=TRIALS)
    percent = quiet_fit(ThresholdFitter(), SHARES * 100, COUNTS, n=TRIALS)
    assert percent.threshold == pytest.approx(100 * share.threshold, rel=1e-4)
    assert np.allclose(percent.ci, 100 * np.asarray(share.ci), rtol=1e-3)


@pytest.mark.parametrize(
    ("x", "ceiling"),
    [(SHARES, -1.0), (SHARES, 0.05), (SHARES, 1.5), (DOSE, 1.0), (DOSE, 2.0), (SHARES * 100, 1.0)],
)
def test_a_reference_outside_the_data_is_refused(x, ceiling):
    y, n = (K, N) if x is DOSE else (COUNTS, TRIALS)
    with pytest.raises(ConfigError, match="outside the data") as err:
        ThresholdFitter(ceiling=ceiling).fit(x, y, n=n)
    assert err.value.field == "ceiling"


def test_a_reference_inside_the_data_is_used():
    fit = quiet_fit(ThresholdFitter(ceiling=0.9), SHARES, COUNTS, n=TRIALS)
    assert fit.ceiling == 0.9
    assert fit.ci[0] <= fit.ci[1] <= 0.9


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"recovery": "abc"}, "recovery"),
        ({"recovery": None}, "recovery"),
        ({"recovery": True}, "recovery"),
        ({"level": "0.9x"}, "level"),
        ({"level": float("nan")}, "level"),
        ({"fixed": {"c": float("nan")}}, "fixed"),
        ({"fixed": "c"}, "fixed"),
        ({"fixed": {"d": "high"}}, "fixed"),
        ({"n_test": float("nan")}, "n_test"),
        ({"n_boot": 2000.5}, "n_boot"),
        ({"test": "yes"}, "test"),
        ({"log_x": 1}, "log_x"),
        ({"ceiling": float("inf")}, "ceiling"),
        ({"ceiling": "top"}, "ceiling"),
    ],
)
def test_bad_options_are_config_errors_naming_the_field(options, field):
    with pytest.raises(ConfigError) as err:
        ThresholdFitter(**options)
    assert err.value.field == field


def test_warnings_point_at_the_callers_line():
    # a step between two tested values: the fit warns (separation / convergence)
    x = np.repeat([0.1, 0.25, 0.5, 0.75, 1.0], 2)
    k = np.array([0, 0, 0, 0, 100, 100, 100, 100, 100, 100])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ThresholdFitter().fit(x, k, n=np.full(10, 100))
    assert caught, "expected a warning"
    assert {w.filename for w in caught} == {__file__}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scale=st.sampled_from([1.0, 100.0, 7.5]),
    shift=st.sampled_from([0.0, 3.0]),
    mid=st.floats(0.3, 0.7),
    seed=st.integers(0, 2**16),
)
def test_any_scale_gives_an_ordered_interval_inside_the_data(scale, shift, mid, seed):
    rng = np.random.default_rng(seed)
    shares = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 2)
    p = 0.2 + 0.6 / (1 + np.exp(-12 * (shares - mid)))
    k = rng.binomial(100, p)
    x = shift + scale * shares
    fit = quiet_fit(ThresholdFitter(test=False), x, k, n=np.full(shares.size, 100))
    lo, hi = fit.ci
    assert lo <= hi
    assert x.min() - 1e-9 <= lo and hi <= x.max() + 1e-9


def test_complete_separation_without_the_penalty_falls_back_to_the_firth_fit():
    # all 0 below 0.5, all 1 from 0.75: the plain MLE runs to an infinite slope
    x = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 2)
    k = np.array([0, 0, 0, 0, 0, 0, 100, 100, 100, 100, 100, 100])
    plain = quiet_fit(ThresholdFitter(penalty="none"), x, k, n=np.full(12, 100))
    firth = quiet_fit(ThresholdFitter(penalty="firth"), x, k, n=np.full(12, 100))
    assert plain.separation and firth.separation
    assert plain.threshold == pytest.approx(firth.threshold, abs=1e-6)
    assert np.allclose(plain.ci, firth.ci, atol=1e-6)
    # the step lies between 0.5 and 0.75; so do the estimate and its interval
    assert 0.5 <= plain.ci[0] <= plain.threshold <= plain.ci[1] <= 0.75
