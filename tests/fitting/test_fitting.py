"""ThresholdFitter and ThresholdFit: behaviour, errors, records, properties."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings

import attrs
import hypothesis.strategies as st
import numpy as np
import pytest
from fitsim import FRACTIONS, simulate_study
from hypothesis import HealthCheck, given, settings
from scipy.special import expit

from dataquality_thresholds.errors import (
    ConfigError,
    ConvergenceWarning,
    DataError,
    InsufficientDataError,
    SchemaVersionError,
    SeparationWarning,
    ThresholdWarning,
)
from dataquality_thresholds.fitting import (
    ThresholdFit,
    ThresholdFitter,
    hinge,
    logistic4,
    segmented,
)

FAST = {"test": False}


def true_recovery(e: float, slope: float, q: float = 0.9) -> float:
    s_lo, s_hi = expit(slope * (0.1 - e)), expit(slope * (1.0 - e))
    t = s_lo + q * (s_hi - s_lo)
    return float(e + np.log(t / (1 - t)) / slope)


# ----------------------------------------------------------------- models
def test_curve_functions_have_their_defining_properties() -> None:
    assert logistic4(0.4, 8.0, 0.2, 0.9, 0.4) == pytest.approx(0.55)
    assert logistic4(0.0, 3.0, 0.1, 0.9, 2.0, log_x=True) == pytest.approx(0.1)
    assert logistic4(50.0, 3.0, 0.1, 0.9, 2.0, log_x=True) > 0.89
    assert hinge(np.array([0.1, 0.6, 0.9]), 0.8, 1.0, 0.6).tolist() == pytest.approx(
        [0.3, 0.8, 0.8]
    )
    y = segmented(np.array([0.0, 1.0, 3.0]), 1.0, 2.0, -1.5, 1.0)
    assert y.tolist() == pytest.approx([1.0, 3.0, 4.0])


# ------------------------------------------------------------- logistic fit
def test_logistic_recovers_threshold_and_interval_contains_it(study) -> None:
    x, k, n = study(1, seeds_per_ratio=3, items=500, tau=0.1)
    fitter = ThresholdFitter(seed=1)
    before = attrs.asdict(fitter)
    fit = fitter.fit(x, k, n=n)
    assert attrs.asdict(fitter) == before  # the fitter is untouched
    truth = true_recovery(0.45, 10.0)
    assert fit.threshold == pytest.approx(truth, abs=0.05)
    lo, hi = fit.ci
    assert lo < fit.threshold < hi
    assert lo <= truth <= hi
    assert fit.method == "logistic" and fit.model == "logistic" and fit.family == "binomial"
    assert fit.interval == "profile" and fit.level == 0.95
    assert fit.nobs == 18 and fit.n_items == 9000 and fit.df_resid == 14
    assert set(fit.params.index) == {"b", "c", "d", "e"}
    assert fit.params["c"] == pytest.approx(0.35, abs=0.05)
    assert fit.params["d"] == pytest.approx(0.85, abs=0.05)
    assert all(v > 0 for v in fit.bse)
    assert fit.converged and not fit.separation
    assert fit.exists_pvalue is not None and fit.exists_pvalue < 0.01
    assert fit.aic < fit.aicc and np.isfinite(fit.bic)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fit.threshold = 0.3  # type: ignore[misc]


def test_threshold_is_on_x_scale_and_solves_the_recovery_equation(study) -> None:
    x, k, n = study(2)
    fit = ThresholdFitter(**FAST).fit(x, k, n=n)
    lo_mu, ref_mu = fit.predict([0.1, 1.0])
    at_t = float(fit.predict(fit.threshold))
    assert at_t == pytest.approx(lo_mu + 0.9 * (ref_mu - lo_mu), rel=1e-7)


def test_per_item_outcomes_are_aggregated_to_runs(study) -> None:
    x, k, n = study(3, items=50)
    rows_x, rows_y, rows_g = [], [], []
    for run, (xi, ki, ni) in enumerate(zip(x, k, n)):
        outcomes = np.zeros(int(ni))
        outcomes[: int(ki)] = 1
        rows_x += [xi] * int(ni)
        rows_y += outcomes.tolist()
        rows_g += [f"run-{run}"] * int(ni)
    fitter = ThresholdFitter(**FAST)
    by_item = fitter.fit(rows_x, rows_y, groups=rows_g)
    by_run = fitter.fit(x, k, n=n)
    assert by_item.threshold == pytest.approx(by_run.threshold, rel=1e-9)
    assert by_item.ci == pytest.approx(by_run.ci, rel=1e-9)
    assert by_item.nobs == x.size and by_item.n_items == int(n.sum())


def test_continuous_scores_use_least_squares() -> None:
    rng = np.random.default_rng(4)
    x = np.repeat(FRACTIONS, 3)
    y = 40 + 45 * expit(12 * (x - 0.5)) + rng.normal(0, 2, x.size)  # judge scores 0-100
    fit = ThresholdFitter(**FAST).fit(x, y)
    assert fit.family == "gaussian"
    assert fit.threshold == pytest.approx(true_recovery(0.5, 12.0), abs=0.06)
    assert fit.k_ic == 5  # four curve parameters and sigma
    assert fit.dispersion == pytest.approx(4.0, rel=0.8)


def test_fixed_parameters_are_respected(study) -> None:
    x, k, n = study(5)
    fit = ThresholdFitter(fixed={"c": 0.25, "d": 0.9}, **FAST).fit(x, k, n=n)
    assert fit.params["c"] == 0.25 and fit.params["d"] == 0.9
    assert fit.free_names == ("b", "e") and fit.bse["c"] == 0.0
    assert fit.df_resid == x.size - 2


def test_interval_methods_and_levels_nest(study) -> None:
    x, k, n = study(6)
    fit = ThresholdFitter(**FAST).fit(x, k, n=n)
    for method in ("profile", "fieller", "inverse", "delta", "delta_x"):
        lo95, hi95 = fit.conf_int(level=0.95, method=method)
        lo80, hi80 = fit.conf_int(level=0.80, method=method)
        assert lo95 <= lo80 < fit.threshold < hi80 <= hi95
    assert fit.conf_int() == fit.ci
    with pytest.raises(ConfigError):
        fit.conf_int(method="wald")
    with pytest.raises(ConfigError):
        fit.conf_int(method="bootstrap")  # not run
    with pytest.raises(ConfigError):
        fit.conf_int(1.5)


def test_bootstrap_is_seeded_and_brackets_the_estimate(study) -> None:
    x, k, n = study(7)
    fitter = ThresholdFitter(interval="bootstrap", n_boot=400, seed=11, **FAST)
    a, b = fitter.fit(x, k, n=n), fitter.fit(x, k, n=n)
    assert a.ci == b.ci  # same seed, same draws
    c = attrs.evolve(fitter, seed=12).fit(x, k, n=n)
    assert c.ci != a.ci
    lo, hi = a.ci
    assert lo < a.threshold < hi
    delta = a.conf_int(method="delta")
    assert 0.5 < (hi - lo) / (delta[1] - delta[0]) < 2.0
    assert a.conf_int(level=0.8) != a.ci  # levels are read from the stored quantile table
    assert a.boot_failed < 0.1 * 400


@pytest.mark.parametrize(("phi", "scores"), [(1.0, False), (12.0, False), (0.004, True)])
def test_bootstrap_resamples_have_the_fitted_mean_and_dispersion(phi, scores) -> None:
    from dataquality_thresholds.fitting._data import prepare
    from dataquality_thresholds.fitting._logistic_ci import simulate_runs

    x, k, n = simulate_study(4)
    data = prepare(x, k / n, log_x=False) if scores else prepare(x, k, n=n, log_x=False)
    mu = 0.35 + 0.5 * expit(10 * (data.x - 0.45))
    y, counts = simulate_runs(data, mu, phi, 4000, np.random.default_rng(0))
    assert y.shape == (4000, x.size)
    np.testing.assert_allclose(y.mean(axis=0), mu, atol=0.01)
    if scores:
        assert counts is None
        assert float(np.mean(y.var(axis=0))) == pytest.approx(phi, rel=0.03)
    else:
        assert counts is not None and np.array_equal(counts, np.round(counts))
        assert counts.min() >= 0 and np.all(counts <= n)
        ratio = y.var(axis=0) / (mu * (1 - mu) / n)  # the dispersion, per run
        assert float(np.mean(ratio)) == pytest.approx(phi, rel=0.03)


# ---------------------------------------------------------- changepoint fits
def _hinge_data(seed: int, psi: float = 0.6, seeds: int = 3, sd: float = 0.02):
    rng = np.random.default_rng(seed)
    x = np.repeat(np.linspace(0.1, 1.0, 10), seeds)
    y = hinge(x, 0.85, 1.0, psi) + rng.normal(0, sd, x.size)
    return x, y


def test_hinge_finds_the_breakpoint_with_a_profile_interval() -> None:
    x, y = _hinge_data(2)
    fit = ThresholdFitter(method="changepoint", threshold="breakpoint", **FAST).fit(x, y)
    assert fit.model == "hinge" and fit.interval == "profile"
    assert fit.params["psi"] == pytest.approx(0.6, abs=0.03)
    lo, hi = fit.ci
    assert lo < fit.params["psi"] < hi and lo < 0.6 < hi and hi - lo < 0.2
    assert lo >= 0.1 and hi <= 1.0
    rec = ThresholdFitter(method="changepoint", **FAST).fit(x, y)
    psi = rec.params["psi"]
    assert rec.threshold == pytest.approx(0.9 * psi + 0.1 * 0.1, rel=1e-9)
    # the recovery interval is the breakpoint interval mapped through the same rule
    assert rec.ci == pytest.approx(tuple(0.9 * v + 0.01 for v in fit.ci), rel=1e-9)


def test_hinge_warns_when_its_interval_reaches_what_a_hinge_can_express() -> None:
    # a curve still rising at the reference x: the hinge's plateau sits at the end of the
    # range and its recovery threshold cannot exceed x_lo + q (1 - x_lo) = 0.91
    rng = np.random.default_rng(4)
    x = np.repeat(np.linspace(0.1, 1.0, 10), 3)
    y = 0.3 + 0.5 * x**3 + rng.normal(0, 0.01, x.size)
    with pytest.warns(ThresholdWarning, match="largest recovery threshold a hinge can have"):
        fit = ThresholdFitter(method="changepoint", **FAST).fit(x, y)
    assert fit.ci[1] == pytest.approx(0.91, abs=1e-9)
    # a plateau well inside the range: no such warning (warnings are errors in tests)
    x2, y2 = _hinge_data(3)
    ThresholdFitter(method="changepoint", **FAST).fit(x2, y2)


def test_profile_search_is_global() -> None:
    # a profile with a local minimum near the start of the range must not trap the fit
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] * 2)
    y = np.where(x < 0.75, 0.3 + 0.5 * (x - 0.1) / 0.65, 0.8)
    y = y + np.tile([0.004, -0.004], 10)
    fit = ThresholdFitter(method="changepoint", threshold="breakpoint", **FAST).fit(x, y)
    assert fit.params["psi"] == pytest.approx(0.75, abs=0.01)


def test_threshold_exists_test_separates_flat_from_threshold() -> None:
    rng = np.random.default_rng(9)
    x = np.repeat(FRACTIONS, 3)
    with warnings.catch_warnings():
        # on a flat truth the breakpoint is not identified: a ConvergenceWarning is right,
        # and so is the warning that the interval runs to the hinge's largest threshold
        warnings.simplefilter("ignore", ThresholdWarning)
        flat = ThresholdFitter(method="changepoint", seed=1).fit(x, 0.6 + rng.normal(0, 0.03, 18))
    x2, y2 = _hinge_data(10)
    strong = ThresholdFitter(method="changepoint", seed=1).fit(x2, y2)
    assert flat.exists_pvalue is not None and flat.exists_pvalue > 0.05
    assert strong.exists_pvalue is not None and strong.exists_pvalue < 0.01
    again = ThresholdFitter(method="changepoint", seed=1).fit(x2, y2)
    assert again.exists_pvalue == strong.exists_pvalue


def test_auto_weighs_models_by_aicc() -> None:
    x, y = _hinge_data(12, sd=0.01)
    fit = ThresholdFitter(method="auto", **FAST).fit(x, y)
    assert fit.method == "auto" and fit.interval == "kang"
    assert sum(fit.weights) == pytest.approx(1.0)
    assert [c.model for c in fit.candidates] == ["logistic", "gompertz", "hinge"]
    assert fit.weights[2] > 0.9  # a sharp hinge: the changepoint wins
    ts = [c.threshold for c in fit.candidates]
    assert min(ts) - 1e-12 <= fit.threshold <= max(ts) + 1e-12
    lo, hi = fit.ci
    assert lo < fit.threshold < hi
    assert fit.predict(0.3) == pytest.approx(
        sum(w * c.predict(0.3) for w, c in zip(fit.weights, fit.candidates))
    )


# --------------------------------------------------------------- warnings
def test_separation_warns_and_stays_finite() -> None:
    x = np.repeat(FRACTIONS, 2)
    n = np.full(x.size, 40.0)
    k = np.array([0, 0, 0, 1, 18, 22, 35, 37, 39, 40, 40, 40], dtype=float)
    with pytest.warns(SeparationWarning):
        fit = ThresholdFitter(**FAST).fit(x, k, n=n)
    assert np.isfinite(fit.threshold) and np.all(np.isfinite(fit.ci))
    assert fit.separation
    assert issubclass(SeparationWarning, ThresholdWarning)


def test_step_between_design_points_warns_convergence() -> None:
    x = np.repeat(FRACTIONS, 2)
    y = np.where(x <= 0.5, 0.3, 0.8) + np.tile([1e-4, -1e-4], 6)
    with pytest.warns(ConvergenceWarning):
        fit = ThresholdFitter(**FAST).fit(x, y)
    assert not fit.converged
    assert 0.5 <= fit.threshold <= 0.75


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"x": [0.1, 0.1, 0.5, 0.5], "y": [1.0, 2.0, 3.0, 4.0]}, InsufficientDataError),
        ({"x": [0.1, 0.5, 0.9, 1.0], "y": [1.0, np.nan, 3.0, 4.0]}, DataError),
        ({"x": [0.1, 0.5, np.inf, 1.0], "y": [1.0, 2.0, 3.0, 4.0]}, DataError),
        ({"x": [0.1, 0.5, 0.9], "y": [1.0, 2.0]}, DataError),
        ({"x": [0.1, 0.5, 0.9, 1.0], "y": [2.0, 2.0, 2.0, 2.0]}, InsufficientDataError),
        ({"x": [0.1, 0.5, 0.9], "y": [5.0, 6.0, 11.0], "n": [10, 10, 10]}, DataError),
        ({"x": [0.1, 0.5, 0.9], "y": [-1.0, 6.0, 9.0], "n": [10, 10, 10]}, DataError),
        ({"x": [0.1, 0.5, 0.9], "y": [0.0, 0.0, 0.0], "n": [10, 10, 10]}, InsufficientDataError),
        ({"x": [0.1, 0.5, 0.9], "y": [1.0, 1.0, 1.2], "groups": [1, 2, 3]}, DataError),
        ({"x": [0.1, 0.5, 0.9, 0.1], "y": [1, 0, 1, 0], "groups": [1, 2, 3, 2]}, DataError),
        ({"x": [0.1, 0.5, 0.9], "y": [1.0, 2.0, 3.0], "weights": [1, 0, 1]}, DataError),
        ({"x": [0.1, 0.5, 0.9], "y": [1.0, 2.0, 3.0]}, InsufficientDataError),  # 3 runs, 4 params
        ({"x": [[0.1, 0.5, 0.9]], "y": [[1.0, 2.0, 3.0]]}, DataError),
    ],
)
def test_bad_input_raises_typed_errors(kwargs, error) -> None:
    with pytest.raises(error) as info:
        ThresholdFitter(**FAST).fit(**kwargs)
    assert isinstance(info.value, ValueError)  # both trees are ValueErrors too


def test_data_error_names_field_and_row() -> None:
    with pytest.raises(DataError) as info:
        ThresholdFitter(**FAST).fit([0.1, 0.5, 0.9, 1.0], [1.0, 2.0, np.nan, 4.0])
    assert info.value.field == "y" and info.value.line == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "spline"},
        {"threshold": "ed50"},
        {"recovery": 1.0},
        {"level": 0.0},
        {"method": "logistic", "threshold": "breakpoint"},
        {"method": "changepoint", "threshold": "midpoint"},
        {"method": "auto", "threshold": "breakpoint"},
        {"fixed": {"b": 1.0}},
        {"interval": "wald"},
        {"method": "changepoint", "interval": "fieller"},
        {"changepoint": "spline"},
        {"floor": "zero"},
        {"method": "changepoint", "floor": "asymptote"},
        {"penalty": "ridge"},
        {"seed": -1},
        {"seed": "abc"},
    ],
)
def test_bad_options_raise_config_error(kwargs) -> None:
    with pytest.raises(ConfigError):
        ThresholdFitter(**kwargs)


# --------------------------------------------------------- serialisation
def test_to_dict_round_trip_is_json_safe_and_small(study) -> None:
    x, k, n = study(13)
    for fitter in (
        ThresholdFitter(seed=3),
        ThresholdFitter(method="changepoint", seed=3),
        ThresholdFitter(method="auto", seed=3),
        ThresholdFitter(interval="bootstrap", n_boot=300, seed=3, test=False),
    ):
        fit = fitter.fit(x, k, n=n)
        d = fit.to_dict()
        assert d["schema"] == "threshold_fit" and d["schema_version"] == 1
        text = json.dumps(d, allow_nan=False, sort_keys=True)
        assert len(text) < 40_000
        back = ThresholdFit.from_dict(json.loads(text))
        assert back == fit
        assert back.conf_int(level=0.9) == fit.conf_int(level=0.9)
        assert pickle.loads(pickle.dumps(fit)) == fit


def test_result_keeps_no_raw_data(study) -> None:
    x, k, n = study(14, items=50)
    small = ThresholdFitter(**FAST).fit(x, k, n=n)
    big_x, big_k, big_n = (np.tile(a, 20) for a in (x, k, n))
    big = ThresholdFitter(**FAST).fit(big_x, big_k, n=big_n)
    assert len(json.dumps(big.to_dict())) <= len(json.dumps(small.to_dict())) + 200
    assert big.nobs == 20 * small.nobs


def test_newer_schema_is_refused(study) -> None:
    x, k, n = study(15)
    d = ThresholdFitter(**FAST).fit(x, k, n=n).to_dict()
    with pytest.raises(SchemaVersionError):
        ThresholdFit.from_dict({**d, "schema_version": 2})
    with pytest.raises(ConfigError):
        ThresholdFit.from_dict({**d, "schema": "mixture"})
    with pytest.raises(ConfigError):
        ThresholdFit.from_dict({k: v for k, v in d.items() if k != "threshold"})


# ------------------------------------------------------------- reporting
def test_summary_html_curve_and_position(study) -> None:
    x, k, n = study(16)
    fit = ThresholdFitter(**FAST).fit(x, k, n=n)
    text = str(fit.summary())
    assert "threshold" in text and "interval" in text and "profile" in text
    assert fit._repr_html_().startswith('<table class="simpletable">')
    xs, mu = fit.curve(50)
    assert xs.shape == mu.shape == (50,) and xs[0] == 0.1 and xs[-1] == 1.0
    lo, hi = fit.bracket
    assert lo is not None and hi is not None and lo <= fit.threshold <= hi
    assert "tested" in fit.position


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_summary_is_a_statsmodels_summary_with_everything_the_text_had(study) -> None:
    from statsmodels.iolib.summary import Summary

    x, k, n = study(16)
    fit = ThresholdFitter(fixed={"c": 0.25}, **FAST).fit(x, k, n=n)
    fit = attrs.evolve(fit, exists_pvalue=0.012, separation=True, unbounded=True)
    s = fit.summary()
    assert isinstance(s, Summary)
    text = str(s)
    assert text == s.as_text() and _flat(text) == _flat(str(fit.summary()))
    lo, hi = fit.ci
    flat = _flat(text)
    for needle in (
        "ThresholdFit Results",
        f"{fit.threshold:.4g}",
        f"{fit.threshold_se:.4g}",
        "recovery, q=0.9",
        f"95% interval [{lo:.4g}, {hi:.4g}] by the profile method, clipped to the tested range",
        _flat(f"The threshold lies {fit.position}."),
        "Model: logistic",
        "Family: binomial",
        "Method: logistic",
        f"No. runs: {fit.nobs}",
        f"No. items: {fit.n_items}",
        f"Df resid: {fit.df_resid}",
        f"Dispersion: {fit.dispersion:.4g}",
        f"Log-likelihood: {fit.loglik:.4g}",
        f"AIC: {fit.aic:.4g}",
        f"AICc: {fit.aicc:.4g}",
        f"BIC: {fit.bic:.4g}",
        f"Converged: {fit.converged}",
        "Firth penalty",
        "Exists p-value: 0.012",
        "changepoint vs line, parametric-bootstrap LR test",
        "estimate std err [0.025 0.975] interval",
        "estimate std err fixed",
    ):
        assert needle in flat, needle
    bse = fit.bse
    for name, value in fit.params.items():
        row = (
            f"{name} {value:.5g} - yes" if name == "c" else f"{name} {value:.5g} {bse[name]:.4g} no"
        )
        assert row in flat, row
    # the level labels the interval columns, as statsmodels' [0.025 0.975]
    assert "[0.05 0.95]" in _flat(str(attrs.evolve(fit, level=0.9).summary()))
    html = s.as_html()
    assert html.startswith('<table class="simpletable">') and "ThresholdFit Results" in html
    assert fit._repr_html_() == html
    assert "\\begin{tabular}" in s.as_latex()


def test_summary_of_auto_and_changepoint_fits() -> None:
    x, y = _hinge_data(12, sd=0.01)
    fit = ThresholdFitter(method="auto", **FAST).fit(x, y)
    flat = _flat(str(fit.summary()))
    assert "Method: auto" in flat and "Sigma^2:" in flat and "Exists p-value" not in flat
    assert "model-average" in flat and "weight threshold" in flat
    for c, w in zip(fit.candidates, fit.weights, strict=True):
        assert f"{c.model} {w:.3f} {c.threshold:.4g}" in flat
    hinge_fit = fit.candidates[2]
    flat = _flat(str(hinge_fit.summary()))
    assert "Model: hinge" in flat and "weight" not in flat
    assert all(f"{name} {v:.5g}" in flat for name, v in hinge_fit.params.items())


def test_plot_draws_and_matplotlib_is_imported_lazily(study) -> None:
    code = "import sys, dataquality_thresholds.fitting as f; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, k, n = study(17)
    fit = ThresholdFitter(**FAST).fit(x, k, n=n)
    ax = fit.plot(x=x, y=k / n)
    assert len(ax.lines) >= 3
    plt.close("all")


# ------------------------------------------------------------ properties
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), perm_seed=st.integers(0, 2**31 - 1))
def test_row_order_does_not_matter(seed: int, perm_seed: int) -> None:
    x, k, n = simulate_study(seed, seeds_per_ratio=2, items=100)
    perm = np.random.default_rng(perm_seed).permutation(x.size)
    fitter = ThresholdFitter(seed=5, n_test=99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        a = fitter.fit(x, k, n=n)
        b = fitter.fit(x[perm], k[perm], n=n[perm])
    assert a == b


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=12),
    n_distinct=st.integers(1, 2),
)
def test_fewer_than_three_distinct_x_is_insufficient(values, n_distinct) -> None:
    x = [(0.2, 0.8)[i % n_distinct] for i in range(len(values))]
    with pytest.raises(InsufficientDataError):
        ThresholdFitter(**FAST).fit(x, values)


@settings(max_examples=30, deadline=None)
@given(
    y=st.lists(st.floats(-5, 5), min_size=6, max_size=12),
    where=st.integers(0, 11),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
    column=st.sampled_from(["x", "y"]),
)
def test_non_finite_values_raise_data_error(y, where, bad, column) -> None:
    x = np.linspace(0.1, 1.0, len(y))
    yy = np.array(y)
    target = x if column == "x" else yy
    target[where % len(y)] = bad
    with pytest.raises(DataError) as info:
        ThresholdFitter(**FAST).fit(x, yy)
    assert info.value.field == column and info.value.line == where % len(y) + 1


@settings(max_examples=30, deadline=None)
@given(
    k=st.lists(st.integers(0, 20), min_size=6, max_size=12),
    where=st.integers(0, 11),
    excess=st.integers(1, 5),
)
def test_counts_above_trials_raise_data_error(k, where, excess) -> None:
    x = np.linspace(0.1, 1.0, len(k))
    kk = np.array(k, dtype=float)
    kk[where % len(k)] = 20 + excess
    with pytest.raises(DataError):
        ThresholdFitter(**FAST).fit(x, kk, n=np.full(len(k), 20))


@settings(max_examples=20, deadline=None)
@given(n_x=st.integers(1, 30), n_y=st.integers(1, 30))
def test_mismatched_lengths_raise_data_error(n_x, n_y) -> None:
    if n_x == n_y:
        n_y += 1
    with pytest.raises(DataError):
        ThresholdFitter(**FAST).fit(np.linspace(0.1, 1, n_x), np.linspace(0, 1, n_y))


@settings(max_examples=20, deadline=None)
@given(value=st.sampled_from([0.0, 1.0]), runs=st.integers(6, 15))
def test_all_equal_outcomes_are_insufficient(value, runs) -> None:
    x = np.linspace(0.1, 1.0, runs)
    items = np.full(runs * 10, value)
    with pytest.raises(InsufficientDataError):
        ThresholdFitter(**FAST).fit(np.repeat(x, 10), items, groups=np.repeat(np.arange(runs), 10))
