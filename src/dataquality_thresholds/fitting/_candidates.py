"""The candidates besides the logistic, and their model average (``method="auto"``).

Each function takes the configured fitter (its options; typed by a protocol so this
module does not import the fitter's) and the run-level data, and returns a
:class:`ThresholdFit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs
import numpy as np

import dataquality_thresholds.fitting._changepoint as _cp
import dataquality_thresholds.fitting._gompertz as _gz
from dataquality_thresholds.errors import ConfigError, FitError
from dataquality_thresholds.fitting._average import weights_for
from dataquality_thresholds.fitting._data import RunData
from dataquality_thresholds.fitting._likelihood import binomial_loglik
from dataquality_thresholds.fitting._models import hinge_recovery_u, segmented_recovery_u
from dataquality_thresholds.fitting._optim import num_grad
from dataquality_thresholds.fitting._result import ThresholdFit, _tup


class FitterOptions(Protocol):
    """What these functions read of the fitter (its options and two helpers)."""

    @property
    def method(self) -> str: ...
    @property
    def threshold(self) -> str: ...
    @property
    def interval(self) -> str | None: ...
    @property
    def changepoint(self) -> str: ...
    @property
    def average(self) -> str: ...
    @property
    def fixed(self) -> Mapping[str, float]: ...
    @property
    def log_x(self) -> bool: ...
    @property
    def dispersion(self) -> str: ...

    def _check_df(self, data: RunData, p: int) -> None: ...

    def _base(self, data: RunData, seed_int: int | None) -> dict[str, Any]: ...


__all__ = ["average", "fit_changepoint", "fit_gompertz", "sigmoid_record"]


class _SigmoidFit(Protocol):
    """What a four-parameter ``(b, c, d, e)`` fit (logistic or Gompertz-type) carries."""

    @property
    def theta(self) -> np.ndarray: ...
    @property
    def free(self) -> np.ndarray: ...
    @property
    def cov(self) -> np.ndarray: ...
    @property
    def dispersion(self) -> float: ...
    @property
    def df_resid(self) -> int: ...
    @property
    def q_df(self) -> float: ...
    @property
    def loglik(self) -> float: ...
    @property
    def k_ic(self) -> int: ...
    @property
    def fitted(self) -> np.ndarray: ...


def sigmoid_record(
    base: dict[str, Any],
    model: str,
    interval: str,
    fit: _SigmoidFit,
    data: RunData,
    log_x: bool,
    converged: bool,
    separation: bool = False,
) -> ThresholdFit:
    """Return the record of a ``(b, c, d, e)`` curve fit, its threshold not yet set.

    With ``log_x`` the midpoint is reported as ``e`` (not ``log e``) and its
    covariance row is scaled by the delta method.
    """
    names = ("b", "c", "d", "e")
    est, cov = fit.theta.copy(), fit.cov.copy()
    if log_x:
        est[3] = np.exp(est[3])
        jac = np.where(fit.free == 3, est[3], 1.0)
        cov = cov * np.outer(jac, jac)
    return ThresholdFit(
        **base,
        model=model,
        interval=interval,
        threshold=float("nan"),
        ci=(float("nan"), float("nan")),
        threshold_se=float("nan"),
        param_names=names,
        estimates=_tup(est),
        free_names=tuple(names[i] for i in fit.free),
        cov=tuple(_tup(r) for r in cov),
        dispersion=fit.dispersion,
        df_resid=fit.df_resid,
        q_df=fit.q_df,
        loglik=fit.loglik,
        k_ic=fit.k_ic,
        converged=converged,
        separation=separation,
        rss=float(np.sum(data.w * (data.y - fit.fitted) ** 2)),
    )


def fit_changepoint(
    fitter: FitterOptions, data: RunData, u: np.ndarray, seed_int: int | None
) -> ThresholdFit:
    """Fit the hinge or segmented model; its threshold's interval is the profile-F or delta."""
    kind = fitter.changepoint
    if not np.all(np.isfinite(u)):
        raise ConfigError(
            "changepoint models need finite x on the working scale; "
            "x = 0 with log_x=True is not allowed",
            field="log_x",
        )
    fitter._check_df(data, 3 if kind == "hinge" else 4)
    fit = _cp.fit_changepoint(data, u, kind)
    names = ("top", "a", "psi") if kind == "hinge" else ("const", "alpha", "beta", "psi")
    est = fit.params.copy()
    cov = fit.cov.copy()
    if fitter.log_x:
        est[-1] = np.exp(est[-1])
        jac = np.ones(est.size)
        jac[-1] = est[-1]
        cov = cov * np.outer(jac, jac)
    interval = fitter.interval if fitter.method != "auto" and fitter.interval else "profile"
    if kind == "segmented" and fitter.threshold == "recovery" and interval == "profile":
        interval = "delta"
    base = fitter._base(data, seed_int)
    base["method"] = fitter.method if fitter.method != "auto" else "changepoint"
    res = ThresholdFit(
        **base,
        model=kind,
        interval=interval,
        threshold=float("nan"),
        ci=(float("nan"), float("nan")),
        threshold_se=float("nan"),
        param_names=names,
        estimates=_tup(est),
        free_names=names,
        cov=tuple(_tup(r) for r in cov),
        dispersion=fit.sigma2,
        df_resid=fit.df_resid,
        q_df=float(fit.df_resid),
        **_changepoint_ic(data, fit),
        converged=fit.converged,
        rss=fit.rss,
        profile_grid=_tup(fit.grid),
        profile_rss=_tup(fit.prof),
    )
    spec = res._spec()

    def thr(params: np.ndarray) -> float:
        if fitter.threshold == "breakpoint":
            return float(params[-1])
        if kind == "hinge":
            return hinge_recovery_u(float(params[-1]), spec)
        return segmented_recovery_u(params, spec)

    u_hat = thr(fit.params)
    g = num_grad(thr, fit.params.copy(), rel=1e-7)
    T = res._from_u(u_hat)
    se = float(np.sqrt(max(g @ fit.cov @ g, 0.0))) * (T if fitter.log_x else 1.0)
    res = attrs.evolve(res, threshold=T, threshold_se=se)
    return attrs.evolve(res, ci=res.conf_int())


def _changepoint_ic(data: RunData, fit: _cp.ChangepointFit) -> dict[str, Any]:
    """Return the changepoint's log-likelihood and parameter count for AIC.

    On counts, the binomial log-likelihood of the counts at the least-squares curve
    with ``p`` parameters (no variance parameter), the logistic's likelihood; on
    scores, the Gaussian one with ``p + 1``.
    """
    if data.family == "binomial" and data.k is not None and data.n is not None:
        return dict(
            loglik=binomial_loglik(data.k, data.n, data.w, fit.fitted),
            k_ic=int(fit.params.size),
        )
    return dict(loglik=fit.loglik, k_ic=fit.k_ic)


def fit_gompertz(
    fitter: FitterOptions, data: RunData, u: np.ndarray, seed_int: int | None
) -> ThresholdFit:
    """Fit the Gompertz-type curve; its threshold's interval is the delta method."""
    fitter._check_df(data, 4 - len(fitter.fixed))
    fit = _gz.fit_gompertz(data, u, fixed=dict(fitter.fixed), dispersion=fitter.dispersion)
    base = fitter._base(data, seed_int)
    base["method"] = "gompertz"
    res = sigmoid_record(base, "gompertz", "delta", fit, data, fitter.log_x, fit.converged)
    names, est = res.param_names, res.estimates
    u_hat, g = _gz.threshold_u(fit, res._spec())
    if not np.isfinite(u_hat):
        raise FitError(
            "the fitted Gompertz-type curve never reaches the requested recovery; "
            f"parameters {dict(zip(names, est, strict=False))}"
        )
    T = res._from_u(u_hat)
    var = float(g @ fit.cov @ g)
    if not np.isfinite(var):  # a singular information matrix: nothing is excluded
        lo, hi = res._admissible_u()
        res = attrs.evolve(res, converged=False, unbounded=True)
        return attrs.evolve(res, threshold=T, ci=(res._from_u(lo), res._from_u(hi)))
    se = float(np.sqrt(max(var, 0.0))) * (T if fitter.log_x else 1.0)
    res = attrs.evolve(res, threshold=T, threshold_se=se)
    return attrs.evolve(res, ci=res.conf_int())


def average(fitter: FitterOptions, data: RunData, fits: list[ThresholdFit]) -> ThresholdFit:
    """Weigh the candidates by AICc (QAICc on overdispersed counts), average the threshold.

    Each candidate's AICc comes from its ``loglik`` and ``k_ic``: the binomial
    log-likelihood of the counts on counts, the Gaussian one of the run means on
    scores, the same for every candidate. With the quasi-binomial dispersion
    estimated, the log-likelihoods are divided by the logistic's ``phi`` (at least 1)
    and each count grows by one: QAICc. The interval is ``average``'s rule; the
    standard error is Buckland's unconditional one.
    """
    c_hat = 1.0
    if data.family == "binomial" and fitter.dispersion == "estimate":
        c_hat = next((f.dispersion for f in fits if f.model == "logistic"), 1.0)
    s, w = weights_for(fits, data.x.size, c_hat)
    best = fits[int(np.argmin(s))]
    ts = np.array([f.threshold for f in fits])
    T = float(w @ ts)
    # Buckland's unconditional standard error: within-model variance plus the spread
    se = float(w @ np.sqrt(np.array([f.threshold_se for f in fits]) ** 2 + (ts - T) ** 2))
    res = attrs.evolve(
        best,
        method="auto",
        interval=fitter.average,
        threshold=T,
        threshold_se=se,
        candidates=tuple(fits),
        weights=_tup(w),
        converged=all(f.converged for f in fits),
        separation=any(f.separation for f in fits),
    )
    return attrs.evolve(res, ci=res.conf_int())
