"""ThresholdFit speaks statsmodels: conf_int(alpha=), named Series, comparable llf/AIC, scalar n."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from fitsim import simulate_study
from scipy.stats import binom

from dataquality_thresholds.errors import ConfigError, DataError, ThresholdWarning
from dataquality_thresholds.fitting import ThresholdFit, ThresholdFitter, hinge

FAST = {"test": False}
X10 = np.repeat(np.linspace(0.1, 1.0, 10), 3)


def _hinge_counts(seed: int = 5, items: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = np.clip(hinge(X10, 0.85, 1.0, 0.6), 0.01, 0.99)
    return X10, rng.binomial(items, mu).astype(float), np.full(X10.size, float(items))


def _fit(method: str = "logistic", data=None, **kw) -> ThresholdFit:
    x, k, n = simulate_study(1, tau=0.0) if data is None else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        return ThresholdFitter(method=method, **FAST, **kw).fit(x, k, n=n)


@pytest.fixture(scope="module")
def logistic_fit() -> ThresholdFit:
    return _fit()


# ------------------------------------------------------------------ conf_int
def test_conf_int_alpha_is_statsmodels_alpha(logistic_fit: ThresholdFit) -> None:
    fit = logistic_fit
    assert fit.conf_int(alpha=0.05) == fit.conf_int(level=0.95) == fit.ci
    assert fit.conf_int(alpha=0.2) == fit.conf_int(level=0.8)
    lo80, hi80 = fit.conf_int(alpha=0.2)
    lo95, hi95 = fit.ci
    assert lo95 < lo80 < fit.threshold < hi80 < hi95
    for method in ("fieller", "delta", "delta_x", "inverse"):
        assert fit.conf_int(alpha=0.1, method=method) == fit.conf_int(level=0.9, method=method)


def test_a_positional_005_is_no_longer_the_5_percent_interval(logistic_fit: ThresholdFit) -> None:
    fit = logistic_fit
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read as alpha: no warning
        ci = fit.conf_int(0.05)
        assert fit.conf_int(0.2, "delta") == fit.conf_int(alpha=0.2, method="delta")
    assert ci == fit.ci == fit.conf_int(alpha=0.05)
    five = fit.conf_int(level=0.05)  # what conf_int(0.05) returned before
    assert ci != five
    assert ci[0] < five[0] < fit.threshold < five[1] < ci[1]


def test_a_positional_level_above_one_half_still_works_and_is_deprecated(
    logistic_fit: ThresholdFit,
) -> None:
    fit = logistic_fit
    with pytest.warns(
        DeprecationWarning, match=r"conf_int\(alpha=0\.1\) or conf_int\(level=0\.9\)"
    ):
        ci = fit.conf_int(0.9)
    assert ci == fit.conf_int(level=0.9) == fit.conf_int(alpha=0.1)
    with pytest.warns(DeprecationWarning):
        assert fit.conf_int(0.95, "delta") == fit.conf_int(level=0.95, method="delta")
    with pytest.warns(DeprecationWarning) as record:
        fit.conf_int(0.9)
    assert record[0].filename == __file__  # points at the caller


def test_one_half_reads_the_same_either_way(logistic_fit: ThresholdFit) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert logistic_fit.conf_int(0.5) == logistic_fit.conf_int(level=0.5)


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f.conf_int(alpha=0.05, level=0.95),
        lambda f: f.conf_int(0.05, alpha=0.05),
        lambda f: f.conf_int(0.95, level=0.95),
        lambda f: f.conf_int(alpha=0.0),
        lambda f: f.conf_int(alpha=1.0),
        lambda f: f.conf_int(alpha=float("nan")),
        lambda f: f.conf_int(alpha=True),
        lambda f: f.conf_int(alpha="0.05"),
        lambda f: f.conf_int(level=1.5),
        lambda f: f.conf_int(1.5),
        lambda f: f.conf_int(-0.05),
    ],
)
def test_bad_conf_int_arguments_are_config_errors_without_warnings(
    logistic_fit: ThresholdFit, call
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConfigError):
            call(logistic_fit)


def test_alpha_works_for_changepoint_and_auto_fits() -> None:
    data = _hinge_counts()
    for method in ("changepoint", "auto"):
        fit = _fit(method, data)
        assert fit.conf_int(alpha=0.05) == fit.ci
        assert fit.conf_int(alpha=0.2) == fit.conf_int(level=0.8)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert fit.conf_int(0.1) == fit.conf_int(level=0.9)


# ------------------------------------------------------------- params / bse
def test_params_and_bse_are_named_series(logistic_fit: ThresholdFit) -> None:
    fit = logistic_fit
    for s in (fit.params, fit.bse):
        assert isinstance(s, pd.Series) and s.dtype == float
        assert list(s.index) == ["b", "c", "d", "e"]
    assert fit.params.tolist() == list(fit.estimates)
    assert fit.params["e"] == fit.estimates[3]
    assert fit.params.to_dict() == dict(zip(fit.param_names, fit.estimates, strict=True))
    cov = np.asarray(fit.cov)
    np.testing.assert_allclose(fit.bse.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-15)
    # arithmetic aligns by name, as with statsmodels results
    t = fit.params / fit.bse
    assert list(t.index) == list(fit.param_names)


def test_fixed_parameters_have_zero_bse_in_the_series() -> None:
    fit = _fit(fixed={"c": 0.3})
    assert list(fit.bse.index) == ["b", "c", "d", "e"]
    assert fit.bse["c"] == 0.0 and fit.params["c"] == 0.3
    assert (fit.bse.drop("c") > 0).all()


def test_changepoint_params_are_named_too() -> None:
    fit = _fit("changepoint", _hinge_counts())
    assert list(fit.params.index) == ["top", "a", "psi"] == list(fit.bse.index)
    seg = _fit("changepoint", _hinge_counts(), changepoint="segmented")
    assert list(seg.params.index) == ["const", "alpha", "beta", "psi"]


def test_fitting_does_not_import_pandas_until_params_are_read(tmp_path) -> None:
    code = (
        "import sys, numpy as np;"
        "from dataquality_thresholds.fitting import ThresholdFitter;"
        "x = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 3);"
        "k = np.array([30, 33, 29, 35, 38, 36, 60, 58, 63, 78, 80, 79, 81, 82, 80, 81, 80, 82]);"
        "fit = ThresholdFitter(test=False).fit(x, k, n=100);"
        "fit.conf_int(alpha=0.1); fit.llf; fit.aic;"
        "before = 'pandas' in sys.modules; fit.params;"
        "print(before, 'pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"]


# -------------------------------------------------------- llf, aic and bic
def _binomial_llf(fit: ThresholdFit, x, k, n) -> float:
    return float(np.sum(binom.logpmf(k, n, fit.predict(x))))


@pytest.mark.parametrize("changepoint", ["hinge", "segmented"])
def test_on_counts_every_model_reports_the_binomial_llf_of_the_counts(changepoint: str) -> None:
    x, k, n = data = _hinge_counts()
    lg = _fit("logistic", data)
    cp = _fit("changepoint", data, changepoint=changepoint)
    assert lg.family == cp.family == "binomial"
    for fit in (lg, cp):
        assert fit.llf == fit.loglik
        assert fit.llf == pytest.approx(_binomial_llf(fit, x, k, n), rel=1e-10)
    p = len(cp.param_names)
    assert cp.k_ic == p  # the curve's parameters; no variance parameter on counts
    assert cp.aic == pytest.approx(2 * p - 2 * cp.llf)
    assert cp.bic == pytest.approx(p * np.log(x.size) - 2 * cp.llf)
    assert lg.aic == pytest.approx(2 * 4 - 2 * lg.llf)


def test_aic_picks_the_curve_that_generated_the_counts() -> None:
    hinge_data = _hinge_counts()
    assert _fit("changepoint", hinge_data).aic < _fit("logistic", hinge_data).aic
    for seed in (1, 2):
        logistic_data = simulate_study(seed, tau=0.0)
        assert _fit("logistic", logistic_data).aic < _fit("changepoint", logistic_data).aic


def test_on_scores_the_changepoint_keeps_its_gaussian_llf() -> None:
    rng = np.random.default_rng(12)
    y = hinge(X10, 0.85, 1.0, 0.6) + rng.normal(0, 0.01, X10.size)
    cp = ThresholdFitter(method="changepoint", **FAST).fit(X10, y)
    lg = ThresholdFitter(**FAST).fit(X10, y)
    for fit in (cp, lg):
        rss = float(np.sum((y - fit.predict(X10)) ** 2))
        G = X10.size
        assert fit.llf == pytest.approx(-G / 2 * (np.log(2 * np.pi * rss / G) + 1), rel=1e-9)
        assert fit.k_ic == len(fit.free_names) + 1
    assert cp.aic < lg.aic


def test_changepoint_summary_on_counts_says_what_its_likelihood_is() -> None:
    fit = _fit("changepoint", _hinge_counts())
    text = " ".join(str(fit.summary()).split())
    assert "Sigma^2:" in text and "Dispersion:" not in text
    assert "binomial ones of the counts" in text
    assert f"Log-likelihood: {fit.llf:.4g}" in text and f"AIC: {fit.aic:.4g}" in text


# ------------------------------------------------------------ auto weights
def _aicc(llf: float, k: int, G: int, c: float = 1.0) -> float:
    return -2 * llf / c + 2 * k + 2 * k * (k + 1) / (G - k - 1)


def _weights(scores: list[float]) -> np.ndarray:
    s = np.asarray(scores)
    rel = np.exp(-0.5 * (s - s.min()))
    return rel / rel.sum()


def test_auto_on_scores_weighs_exactly_as_before() -> None:
    """The Gaussian AICc on run means, as ``_average`` computed it before."""
    rng = np.random.default_rng(3)
    y = hinge(X10, 0.85, 1.0, 0.6) + rng.normal(0, 0.04, X10.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        fit = ThresholdFitter(method="auto", **FAST).fit(X10, y)
    G, old = X10.size, []
    for c in fit.candidates:
        k = len(c.free_names) + 1
        rss = float(np.sum((y - c.predict(X10)) ** 2))
        old.append(G * np.log(rss / G) + 2 * k + 2 * k * (k + 1) / (G - k - 1))
    np.testing.assert_allclose(fit.weights, _weights(old), rtol=1e-9, atol=1e-12)


def test_auto_on_counts_weighs_by_qaicc_of_the_binomial_llf() -> None:
    data = simulate_study(2)  # run-level noise: phi about 5
    x = data[0]
    fit = _fit("auto", data)
    lg, gz, cp = fit.candidates
    assert (lg.model, gz.model, cp.model) == ("logistic", "gompertz", "hinge")
    c = lg.dispersion
    assert c > 2
    scores = [_aicc(f.llf, f.k_ic + 1, x.size, c) for f in (lg, gz, cp)]
    np.testing.assert_allclose(fit.weights, _weights(scores), rtol=1e-9)
    ts = [f.threshold for f in (lg, gz, cp)]
    assert fit.threshold == pytest.approx(float(np.dot(fit.weights, ts)))


def test_auto_without_dispersion_weighs_by_plain_aicc() -> None:
    data = _hinge_counts()
    x = data[0]
    fit = _fit("auto", data, dispersion="none")
    scores = [_aicc(f.llf, f.k_ic, x.size) for f in fit.candidates]
    np.testing.assert_allclose(fit.weights, _weights(scores), rtol=1e-9)
    assert fit.weights[2] > 0.5  # the hinge generated these counts


# ------------------------------------------------------------------ scalar n
@pytest.mark.parametrize("scalar", [200, 200.0, np.int64(200), np.array(200.0)])
def test_a_scalar_n_applies_to_every_run(scalar) -> None:
    x, k, n = _hinge_counts()
    one = ThresholdFitter(**FAST).fit(x, k, n=scalar)
    many = ThresholdFitter(**FAST).fit(x, k, n=n)
    assert one == many
    assert one.n_items == 200 * x.size


@pytest.mark.parametrize(
    ("n", "match"),
    [
        (0, "outside"),
        (-3, "outside"),
        (float("nan"), "outside"),
        (np.inf, "outside"),
        ("many", "expected a number"),
    ],
)
def test_a_bad_scalar_n_is_a_data_error(n, match: str) -> None:
    x, k, _ = _hinge_counts()
    with pytest.raises(DataError, match=match) as info:
        ThresholdFitter(**FAST).fit(x, k, n=n)
    assert info.value.field == "n"


def test_counts_above_a_scalar_n_name_the_row() -> None:
    x, k, _ = _hinge_counts()
    k = k.copy()
    k[4] = 250
    with pytest.raises(DataError) as info:
        ThresholdFitter(**FAST).fit(x, k, n=200)
    assert info.value.field == "y" and info.value.line == 5


# ------------------------------------------------------------- records
def test_round_trips_keep_the_comparable_llf() -> None:
    data = _hinge_counts()
    for method in ("logistic", "changepoint", "auto"):
        fit = _fit(method, data)
        back = ThresholdFit.from_dict(json.loads(json.dumps(fit.to_dict(), allow_nan=False)))
        assert back == fit and back.llf == fit.llf and back.aic == fit.aic
        assert back.params.equals(fit.params) and back.bse.equals(fit.bse)
        assert back.conf_int(alpha=0.1) == fit.conf_int(alpha=0.1)
        again = pickle.loads(pickle.dumps(fit))
        assert again == fit and again.params.equals(fit.params)


def test_an_old_changepoint_record_on_counts_reads_without_its_gaussian_llf() -> None:
    fit = _fit("auto", _hinge_counts())
    d = fit.to_dict()
    p = len(d["param_names"])
    # as written before: the hinge's Gaussian log-likelihood with k_ic = p + 1
    old = {**d, "loglik": 58.5, "k_ic": p + 1}
    old["candidates"] = [
        *d["candidates"][:2],
        {**d["candidates"][2], "loglik": 58.5, "k_ic": p + 1},
    ]
    back = ThresholdFit.from_dict(old)
    assert back.model == "hinge" and np.isnan(back.llf) and np.isnan(back.aic)
    assert back.k_ic == p
    assert np.isnan(back.candidates[2].llf)
    assert back.candidates[:2] == fit.candidates[:2]  # the others are untouched
    assert back.threshold == fit.threshold and back.ci == fit.ci


def test_information_criteria_edge_cases() -> None:
    from dataquality_thresholds.fitting._likelihood import ic_scores

    # a perfect fit (Gaussian residuals of 0: llf +inf) takes all the weight
    _, w = ic_scores([1.0, np.inf], [4, 3], 18)
    assert w.tolist() == [0.0, 1.0]
    # too few runs for AICc's correction, or no llf: weight 0; none defined: equal weights
    _, w = ic_scores([-10.0, -12.0], [5, 3], 6)
    assert w.tolist() == [0.0, 1.0]
    _, w = ic_scores([np.nan, np.nan], [4, 3], 18)
    assert w.tolist() == [0.5, 0.5]
    # c_hat at or below 1 is plain AICc
    s1, _ = ic_scores([-10.0, -12.0], [4, 3], 18, 0.7)
    s2, _ = ic_scores([-10.0, -12.0], [4, 3], 18)
    assert s1.tolist() == s2.tolist()
