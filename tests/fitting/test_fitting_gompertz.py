"""The Gompertz-type candidate, and method="auto"'s model average over three curves."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from fitsim import SPECS, simulate_study
from hypothesis import given, settings, strategies as st
from scipy.optimize import brentq

import dataquality_thresholds.fitting._gompertz as gz
from dataquality_thresholds.errors import ConfigError, ConvergenceWarning, ThresholdWarning
from dataquality_thresholds.fitting import ThresholdFit, ThresholdFitter, gompertz4
from dataquality_thresholds.fitting._average import average_interval
from dataquality_thresholds.fitting._models import gompertz_recovery_u

FAST = {"test": False}
X = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 3)


def _gompertz_counts(b=8.0, c=0.3, d=0.85, e=0.6, items=200, seed=0, x=X):
    rng = np.random.default_rng(seed)
    mu = gompertz4(x, b, c, d, e)
    return x, rng.binomial(items, mu).astype(float), np.full(x.size, float(items))


# ------------------------------------------------------------------ the curve
@settings(max_examples=60, deadline=None)
@given(
    b=st.floats(1.0, 60.0),
    m=st.floats(0.0, 1.1),
    spec_i=st.integers(0, len(SPECS) - 1),
)
def test_the_closed_form_threshold_is_where_the_curve_recovers(b, m, spec_i) -> None:
    spec = SPECS[spec_i]
    T = gompertz_recovery_u(b, m, spec)
    c, d = 0.2, 0.9
    lo = c if spec.floor == "asymptote" else gompertz4(spec.u_lo, b, c, d, m)
    hi = d if spec.ceiling == "asymptote" else gompertz4(spec.u_ref, b, c, d, m)
    q = 0.5 if spec.kind == "midpoint" else spec.q
    if spec.kind == "midpoint":
        lo, hi = c, d
    target = lo + q * (hi - lo)
    if not np.isfinite(T):
        assert not (lo < target < hi) or hi - lo < 1e-12
        return
    if hi - lo < 1e-9:
        return
    root = brentq(lambda x: gompertz4(x, b, c, d, m) - target, -50, 50, xtol=1e-13)
    assert pytest.approx(root, abs=1e-7) == T


def test_a_gompertz_fit_recovers_the_curve_from_large_counts() -> None:
    x, k, n = _gompertz_counts(items=1_000_000, x=np.repeat(np.linspace(0.1, 1.0, 10), 2))
    fit = ThresholdFitter(method="gompertz", **FAST).fit(x, k, n=n)
    assert fit.model == "gompertz" and fit.interval == "delta" and fit.converged
    np.testing.assert_allclose(fit.estimates, [8.0, 0.3, 0.85, 0.6], rtol=0.02)
    spec = fit._spec()
    assert fit.threshold == pytest.approx(gompertz_recovery_u(8.0, 0.6, spec), abs=2e-3)
    lo, hi = fit.ci
    assert lo < fit.threshold < hi and hi - lo < 0.02
    assert fit.predict(0.5) == pytest.approx(gompertz4(0.5, *fit.estimates))


def test_a_gompertz_fit_on_scores_and_on_log_x() -> None:
    rng = np.random.default_rng(4)
    y = gompertz4(X, 8.0, 0.3, 0.85, 0.6) + rng.normal(0, 0.01, X.size)
    fit = ThresholdFitter(method="gompertz", **FAST).fit(X, y)
    assert fit.family == "gaussian" and fit.k_ic == 5
    assert fit.estimates[3] == pytest.approx(0.6, abs=0.03)
    dose = np.repeat([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], 3)
    yd = gompertz4(dose, 3.0, 0.1, 0.9, 6.0, log_x=True) + rng.normal(0, 0.01, dose.size)
    fd = ThresholdFitter(method="gompertz", log_x=True, **FAST).fit(dose, yd)
    assert fd.estimates[3] == pytest.approx(6.0, rel=0.1)
    assert 1.0 <= fd.ci[0] < fd.threshold < fd.ci[1] <= 32.0


def test_fixed_floor_and_top_hold() -> None:
    x, k, n = _gompertz_counts()
    fit = ThresholdFitter(method="gompertz", fixed={"c": 0.3, "d": 0.85}, **FAST).fit(x, k, n=n)
    assert fit.params["c"] == 0.3 and fit.params["d"] == 0.85
    assert fit.free_names == ("b", "e") and fit.df_resid == x.size - 2


def test_gompertz_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="breakpoint"):
        ThresholdFitter(method="gompertz", threshold="breakpoint")
    with pytest.raises(ConfigError, match="delta"):
        ThresholdFitter(method="gompertz", interval="profile")
    with pytest.raises(ConfigError, match="average"):
        ThresholdFitter(method="auto", average="median")
    ThresholdFitter(method="gompertz", threshold="midpoint", floor="asymptote")  # allowed


# ------------------------------------------------------------ averaging rules
def test_mata_of_one_candidate_is_its_own_interval() -> None:
    args = (np.array([0.5]), np.array([0.31]), np.array([0.62]), np.array([12.0]))
    lo, hi = average_interval("mata", *args, np.array([1.0]), 0.95, (0.1, 1.0))
    assert (lo, hi) == pytest.approx((0.31, 0.62), abs=1e-6)
    assert average_interval("kang", *args, np.array([1.0]), 0.95, (0.1, 1.0)) == (0.31, 0.62)


@settings(max_examples=50, deadline=None)
@given(
    ts=st.lists(st.floats(0.3, 0.8), min_size=2, max_size=3),
    half=st.floats(0.01, 0.2),
    w0=st.floats(0.05, 0.95),
)
def test_mata_lies_between_the_candidates_limits(ts, half, w0) -> None:
    k = len(ts)
    t = np.array(ts)
    w = np.array([w0] + [(1 - w0) / (k - 1)] * (k - 1))
    los, his = t - half, t + 1.5 * half
    dfs = np.full(k, 10.0)
    lo, hi = average_interval("mata", t, los, his, dfs, w, 0.95, (-np.inf, np.inf))
    assert los.min() - 1e-6 <= lo <= hi <= his.max() + 1e-6
    same = average_interval(
        "mata",
        t[:1].repeat(k),
        los[:1].repeat(k),
        his[:1].repeat(k),
        dfs,
        w,
        0.95,
        (-np.inf, np.inf),
    )
    assert same == pytest.approx((los[0], his[0]), abs=1e-6)  # identical candidates: theirs
    klo, khi = average_interval("kang", t, los, his, dfs, w, 0.95, (-np.inf, np.inf))
    assert (klo, khi) == pytest.approx((w @ los, w @ his))


def test_a_candidate_without_an_interval_is_left_out_of_the_average() -> None:
    ts, los, his = np.array([0.5, 0.6]), np.array([0.4, np.nan]), np.array([0.6, np.nan])
    out = average_interval(
        "mata", ts, los, his, np.array([8.0, 8.0]), np.array([0.5, 0.5]), 0.95, (0.1, 1.0)
    )
    assert out == pytest.approx((0.4, 0.6), abs=1e-6)


# ----------------------------------------------------------------- auto
@pytest.fixture(scope="module")
def auto_fit() -> ThresholdFit:
    x, k, n = simulate_study(2)
    return ThresholdFitter(method="auto", **FAST).fit(x, k, n=n)


def test_auto_averages_three_curves_with_any_rule(auto_fit: ThresholdFit) -> None:
    fit = auto_fit
    assert [c.model for c in fit.candidates] == ["logistic", "gompertz", "hinge"]
    ts = [c.threshold for c in fit.candidates]
    assert fit.threshold == pytest.approx(float(np.dot(fit.weights, ts)))
    assert fit.interval == "kang" and fit.ci == fit.conf_int(method="kang")
    for rule in ("mata", "buckland", "kang"):
        lo, hi = fit.conf_int(method=rule)
        assert 0.1 <= lo < fit.threshold < hi <= 1.0
        lo90, hi90 = fit.conf_int(alpha=0.1, method=rule)
        assert lo <= lo90 and hi90 <= hi
    with pytest.raises(ConfigError, match="model-averaging rule"):
        fit.conf_int(method="profile")
    buck = ThresholdFitter(method="auto", average="buckland", **FAST)
    assert fit.conf_int(method="kang") == pytest.approx(
        tuple(np.dot(fit.weights, [c.ci[i] for c in fit.candidates]) for i in (0, 1))
    )
    x, k, n = simulate_study(2)
    assert buck.fit(x, k, n=n).ci == fit.conf_int(method="buckland")


def test_auto_records_round_trip_and_old_ones_read_as_buckland(auto_fit: ThresholdFit) -> None:
    d = auto_fit.to_dict()
    back = ThresholdFit.from_dict(json.loads(json.dumps(d, allow_nan=False)))
    assert back == auto_fit and back.ci == auto_fit.ci
    old = ThresholdFit.from_dict({**d, "interval": "model-average"})
    assert old.conf_int() == auto_fit.conf_int(method="buckland")
    assert "gompertz" in str(auto_fit.summary())


def test_auto_leaves_out_a_candidate_that_cannot_be_fitted(monkeypatch) -> None:
    monkeypatch.setattr(gz, "threshold_u", lambda fit, spec: (float("nan"), np.full(4, np.nan)))
    x, k, n = simulate_study(2)
    with pytest.warns(ConvergenceWarning, match="auto: the fitted Gompertz"):
        fit = ThresholdFitter(method="auto", **FAST).fit(x, k, n=n)
    assert [c.model for c in fit.candidates] == ["logistic", "hinge"]
    assert sum(fit.weights) == pytest.approx(1.0)


def test_auto_on_a_gompertz_truth_weighs_the_gompertz_curve() -> None:
    x, k, n = _gompertz_counts(items=2000, b=12.0, e=0.7, x=np.repeat(np.linspace(0.1, 1, 10), 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        fit = ThresholdFitter(method="auto", **FAST).fit(x, k, n=n)
    assert fit.weights[1] == max(fit.weights) and fit.weights[1] > 0.5


def _three_shares(seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.repeat([0.1, 0.5, 1.0], 2)
    return x, rng.binomial(64, np.repeat([0.3, 0.5, 0.7], 2)).astype(float)


def test_a_gompertz_curve_on_three_shares_excludes_nothing() -> None:
    x, k = _three_shares()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        fit = ThresholdFitter(method="gompertz", **FAST).fit(x, k, n=64)
    # four parameters on three distinct shares are not identified: no zero-width interval
    assert fit.ci == (0.1, 1.0) and not fit.converged


def test_a_perfect_hinge_fit_excludes_nothing_alone_or_averaged() -> None:
    # identical replicate runs at three shares: the hinge fits exactly (zero residual
    # variance), so its profile-F interval had zero width, and so had auto's
    x = np.repeat([0.1, 0.5, 1.0], 2)
    k = np.array([0.0, 0.0, 35.0, 35.0, 64.0, 64.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        hinge_fit = ThresholdFitter(method="changepoint", **FAST).fit(x, k, n=64)
        fit = ThresholdFitter(method="auto", **FAST).fit(x, k, n=64)
    assert hinge_fit.dispersion < 1e-12 and hinge_fit.ci == (0.1, 1.0)
    assert fit.weights[2] == pytest.approx(1.0)  # AICc cannot score 4 parameters on 6 runs
    assert fit.ci == (0.1, 1.0)
