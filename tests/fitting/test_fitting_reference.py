"""Reproduce fits published by R drc, R segmented and piecewise-regression.

The cases live in ``../shared/reference_fits`` (a sibling of the repository); each
test skips with a message where that folder is absent. Tolerances are the ones each
``case.json`` suggests.
"""

from __future__ import annotations

import numpy as np
import pytest

from dataquality_thresholds.fitting import ThresholdFitter


def close(actual: float, expected: float, *, rel: float = 0.0, abs_: float = 0.0) -> None:
    assert actual == pytest.approx(expected, rel=rel, abs=abs_), (actual, expected)


# ------------------------------------------------------------ drc ryegrass LL.4
def _ryegrass(reference_case, q: float | None = None, interval: str = "delta_x"):
    case, data = reference_case("drc_ryegrass_LL4")
    fitter = ThresholdFitter(
        log_x=True,
        floor="asymptote",
        ceiling="asymptote",
        recovery=0.5 if q is None else q,
        interval=interval,
        test=False,
    )
    return case, fitter.fit(data["conc"], data["rootl"])


def test_ryegrass_ll4_parameters_and_observed_information_se(reference_case) -> None:
    case, fit = _ryegrass(reference_case)
    pub, tol = case["published"], case["suggested_tolerance"]
    # drc writes c + (d - c) / (1 + exp(b (log x - log e))): its lower asymptote c is the
    # value at high doses. Ours is c + (d - c) expit(b (log x - log e)) with b > 0 rising
    # from c (x -> 0) to d (x -> inf), so drc's (b, c, d) is our (b, d, c).
    ours = {"b": "b", "c": "d", "d": "c", "e": "e"}
    for drc_name, key in (("b", "b"), ("c", "c"), ("d", "d"), ("e", "e_ED50")):
        est, se = pub[key]
        close(fit.params[ours[drc_name]], est, rel=tol["estimates_rel"])
        close(fit.bse[ours[drc_name]], se, rel=tol["se_rel"])
    close(np.sqrt(fit.dispersion), pub["residual_se"], rel=tol["estimates_rel"])
    assert fit.df_resid == pub["df"]
    rep = case["reproduced"]
    close(fit.loglik, rep["logLik_ML_sigma"], abs_=1e-4)
    close(fit.aic, rep["AIC_k5"], abs_=1e-4)
    # the Gauss-Newton J'J standard error of b is about 1.5% smaller: we are not using it
    assert abs(fit.bse["b"] / rep["se_gauss_newton_JtJ"]["b"] - 1) > 0.01


@pytest.mark.parametrize("name", ["ED10", "ED50", "ED90"])
def test_ryegrass_ed_delta_intervals(reference_case, name: str) -> None:
    # drc's EDp "relative to control" is the dose that removes p% of the gap from the
    # control level (our floor c, the x -> 0 asymptote) towards the other asymptote
    q = int(name[2:]) / 100
    case, fit = _ryegrass(reference_case, q=q)
    est, se, lo, hi = case["published"]["ED_delta"][name]
    tol = case["suggested_tolerance"]
    close(fit.threshold, est, rel=tol["estimates_rel"])
    close(fit.threshold_se, se, rel=tol["se_rel"])
    got_lo, got_hi = fit.ci
    close(got_lo, lo, abs_=tol["ci_abs"])
    close(got_hi, hi, abs_=tol["ci_abs"])


# ----------------------------------------------------------- drc finney71 LL.2
def _finney(reference_case, q: float, interval: str):
    case, data = reference_case("drc_finney71_LL2_binomial")
    fitter = ThresholdFitter(
        log_x=True,
        fixed={"c": 0.0, "d": 1.0},
        floor="asymptote",
        ceiling="asymptote",
        recovery=q,
        dispersion="none",  # plain binomial: normal quantiles, as drc
        penalty="none",  # the plain maximum-likelihood estimate
        interval=interval,
        test=False,
    )
    return case, fitter.fit(data["dose"], data["affected"], n=data["total"])


def test_finney_ll2_binomial_parameters(reference_case) -> None:
    case, fit = _finney(reference_case, 0.5, "delta_x")
    rep, pub, tol = case["reproduced"], case["published"], case["suggested_tolerance"]
    # drc's b is negative for a rising curve (its sign convention); the exact MLE is the
    # reproduced one (drc stops its optimiser early in the fifth digit)
    close(fit.params["b"], -rep["b"][0], rel=tol["estimates_rel"])
    close(fit.bse["b"], rep["b"][1], rel=tol["se_rel"])
    close(fit.params["b"], -pub["b"][0], rel=tol["estimates_rel"])
    close(fit.bse["b"], pub["b"][1], rel=tol["se_rel"])
    close(fit.params["e"], rep["e_ED50"][0], rel=tol["estimates_rel"])
    close(fit.bse["e"], pub["e_ED50"][1], rel=tol["se_rel"])
    assert fit.free_names == ("b", "e") and fit.q_df == float("inf")


@pytest.mark.parametrize("name", ["ED10", "ED20", "ED50"])
def test_finney_ed_delta_and_log_scale_intervals(reference_case, name: str) -> None:
    q = int(name[2:]) / 100
    case, fit = _finney(reference_case, q, "delta_x")
    tol = case["suggested_tolerance"]
    est, _se, lo, hi = case["reproduced"]["ED_delta"][name]
    close(fit.threshold, est, rel=tol["estimates_rel"])
    close(fit.threshold_se, case["published"]["ED_delta"][name][1], rel=tol["se_rel"])
    close(fit.ci[0], lo, abs_=tol["ci_abs"])
    close(fit.ci[1], hi, abs_=tol["ci_abs"])
    # "fls": the delta interval on log(dose), back-transformed = our working scale
    _, fls = _finney(reference_case, q, "delta")
    f_est, f_lo, f_hi = case["published"]["ED_fls"][name]
    close(fls.ci[0], f_lo, abs_=tol["ci_abs"])
    close(fls.ci[1], f_hi, abs_=tol["ci_abs"])
    assert fls.threshold == pytest.approx(f_est, abs=1e-4)


def test_finney_agrees_with_statsmodels_glm(reference_case) -> None:
    # the two-parameter case is a binomial GLM with logit link on log dose
    import statsmodels.api as sm

    _case, data = reference_case("drc_finney71_LL2_binomial")
    keep = data["dose"] > 0
    X = sm.add_constant(np.log(data["dose"][keep]))
    endog = np.column_stack([data["affected"][keep], (data["total"] - data["affected"])[keep]])
    glm = sm.GLM(endog, X, family=sm.families.Binomial()).fit()
    _, fit = _finney(reference_case, 0.5, "delta")
    b = fit.params["b"]
    close(glm.params[1], b, rel=1e-6)
    close(np.exp(-glm.params[0] / glm.params[1]), fit.params["e"], rel=1e-6)
    close(glm.bse[1], fit.bse["b"], rel=1e-4)


# ------------------------------------------------------------- segmented (R)
def test_segmented_r_one_breakpoint(reference_case) -> None:
    case, data = reference_case("segmented_R_1breakpoint")
    fit = ThresholdFitter(
        method="changepoint", changepoint="segmented", threshold="breakpoint", test=False
    ).fit(data["x"], data["y"])
    rep, pub = case["reproduced"], case["published"]
    tol = case["suggested_tolerance"]["abs"]
    for ours, key in (("const", "const"), ("alpha", "alpha1"), ("beta", "beta1"), ("psi", "psi1")):
        close(fit.params[ours], rep[key][0], abs_=tol)
        close(fit.bse[ours], rep[key][1], abs_=tol)
        # and the published R output to the digits it prints
        digits = len(str(pub[key][0]).split(".")[1])
        assert round(fit.params[ours], digits) == pytest.approx(pub[key][0], abs=10**-digits)
    close(fit.rss or 0.0, pub["rss"], abs_=tol)
    close(fit.threshold, fit.params["psi"], abs_=1e-12)


# ---------------------------------------------------- piecewise-regression README
def test_piecewise_regression_readme_case(reference_case) -> None:
    case, data = reference_case("piecewise_regression_readme_1bp")
    fit = ThresholdFitter(
        method="changepoint",
        changepoint="segmented",
        threshold="breakpoint",
        interval="delta",  # the package reports a Wald interval with t quantiles
        n_test=199,
        seed=0,
    ).fit(data["x"], data["y"])
    pub = case["published"]
    rel = case["suggested_tolerance"]["rel"]
    for ours, key in (
        ("const", "const"),
        ("alpha", "alpha1"),
        ("beta", "beta1"),
        ("psi", "breakpoint1"),
    ):
        est, se, lo, hi = pub[key]
        close(fit.params[ours], est, rel=rel)
        close(fit.bse[ours], se, rel=5e-3)  # SEs are printed to 3 significant digits
    _, _, lo, hi = pub["breakpoint1"]
    close(fit.ci[0], lo, rel=rel)
    close(fit.ci[1], hi, rel=rel)
    close(fit.params["alpha"] + fit.params["beta"], pub["alpha2"][0], rel=rel)
    close(fit.rss or 0.0, pub["rss"], rel=rel)
    n = data["x"].size
    bic = n * np.log((fit.rss or 0.0) / n) + 4 * np.log(n)  # the package's convention
    close(bic, pub["bic"]["1"][0], rel=rel)
    # the breakpoint is overwhelmingly significant: every null draw is below the statistic
    assert fit.exists_pvalue == pytest.approx(1 / 200)
    # the profile-F interval agrees closely with Wald here (a sharp, well-identified kink)
    prof = fit.conf_int(method="profile")
    assert prof[0] == pytest.approx(lo, abs=0.05) and prof[1] == pytest.approx(hi, abs=0.05)
