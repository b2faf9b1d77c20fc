"""The ThresholdFit record: estimates, intervals on demand, reporting, JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np
from scipy.stats import norm as _n, t as _t

import dataquality_thresholds.fitting._changepoint as _cp
import dataquality_thresholds.fitting._logistic as _lg
import dataquality_thresholds.fitting._logistic_ci as _lci
import dataquality_thresholds.fitting._logistic_profile as _lp
from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.fitting._average import AVERAGE_RULES, average_interval
from dataquality_thresholds.fitting._intervals import (
    bc_from_table,
    quantile,
)
from dataquality_thresholds.fitting._models import (
    gompertz4,
    hinge,
    hinge_recovery_u,
    logistic4,
    segmented,
    to_u,
)
from dataquality_thresholds.fitting._result_api import named_series, resolve_level
from dataquality_thresholds.fitting._result_io import (
    SCHEMA,
    SCHEMA_VERSION,
    fit_from_dict,
    fit_to_dict,
)
from dataquality_thresholds.fitting._summary import fit_summary

if TYPE_CHECKING:
    import pandas as pd
    from statsmodels.iolib.summary import Summary

__all__ = ["SCHEMA", "SCHEMA_VERSION", "ThresholdFit"]

_INTERVALS = {
    "logistic": ("profile", "fieller", "inverse", "delta", "delta_x", "bootstrap"),
    "gompertz": ("delta",),
    "hinge": ("profile", "delta"),
    "segmented": ("profile", "delta"),
}


def _tup(a: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(a))


@attrs.frozen(kw_only=True)
class ThresholdFit:
    """Result of :meth:`ThresholdFitter.fit`: a threshold, its interval and the curve.

    Keeps what reporting and prediction need (estimates, covariance, counts, design
    points, a profile or bootstrap quantile table), never the raw data. Build one
    with :meth:`ThresholdFitter.fit` or :meth:`from_dict`.

    Attributes
    ----------
    threshold : float
        The estimated threshold on the x scale (share of correct data).
    ci : tuple of float
        Interval at ``level`` by the method named in ``interval``.
    method, model : str
        What the fitter was asked for (``"logistic"``, ``"changepoint"``, ``"auto"``)
        and the curve behind the headline (``"logistic"``, ``"hinge"``, ``"segmented"``).
    family : str
        ``"binomial"`` (counts, quasi-likelihood) or ``"gaussian"`` (least squares).
    design : tuple of float
        The distinct x values tested.
    converged : bool
        False when the optimiser stopped early or hit a parameter bound.
    exists_pvalue : float or None
        p-value of the test "there is a threshold" (changepoint against a line).
    """

    method: str
    model: str
    family: str
    threshold_kind: str
    recovery: float
    floor: str
    ceiling: float | str
    log_x: bool
    level: float
    interval: str
    threshold: float
    ci: tuple[float, float]
    threshold_se: float
    param_names: tuple[str, ...]
    estimates: tuple[float, ...]
    free_names: tuple[str, ...]
    cov: tuple[tuple[float, ...], ...]
    dispersion: float
    df_resid: int
    q_df: float
    nobs: int
    n_items: int
    loglik: float
    k_ic: int
    design: tuple[float, ...]
    converged: bool
    separation: bool = False
    unbounded: bool = False
    rss: float | None = None
    profile_grid: tuple[float, ...] = ()
    profile_rss: tuple[float, ...] = ()
    profile_root: tuple[float, ...] = ()
    boot_quantiles: tuple[float, ...] = ()
    boot_z0: float | None = None
    boot_failed: int = 0
    exists_pvalue: float | None = None
    exists_statistic: float | None = None
    candidates: tuple[ThresholdFit, ...] = ()
    weights: tuple[float, ...] = ()
    seed: int | None = None

    _schema: ClassVar[str] = SCHEMA

    # ------------------------------------------------------------------ values
    @property
    def params(self) -> pd.Series:
        """Parameter estimates, a pandas Series indexed by name (fixed parameters included).

        .. versionchanged:: 0.1
           A ``pandas.Series`` (as statsmodels' ``results.params``) instead of a dict;
           ``fit.params["e"]`` reads as before, ``.to_dict()`` gives the dict.
        """
        return named_series(self.param_names, self.estimates)

    @property
    def bse(self) -> pd.Series:
        """Standard errors, a pandas Series indexed by name; 0 for fixed parameters.

        .. versionchanged:: 0.1
           A ``pandas.Series`` instead of a dict.
        """
        sd: list[float] = (
            np.sqrt(np.maximum(np.diag(np.asarray(self.cov)), 0.0)).tolist() if self.cov else []
        )
        out = dict.fromkeys(self.param_names, 0.0)
        out.update(zip(self.free_names, (float(v) for v in sd), strict=False))
        return named_series(list(out), list(out.values()))

    @property
    def llf(self) -> float:
        """Log-likelihood (statsmodels' name for ``loglik``).

        On counts it is the binomial log-likelihood of the counts at the fitted means
        for every model, on scores the Gaussian one of the run means, so ``llf``,
        ``aic`` and ``bic`` of a logistic and a changepoint fit of the same data compare.
        """
        return self.loglik

    @property
    def aic(self) -> float:
        """Akaike information criterion ``2k - 2 loglik``."""
        return 2 * self.k_ic - 2 * self.loglik

    @property
    def aicc(self) -> float:
        """AIC with the small-sample correction (runs are the sample); NaN if undefined."""
        k, n = self.k_ic, self.nobs
        return self.aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else float("nan")

    @property
    def bic(self) -> float:
        """Bayesian information criterion ``k log(runs) - 2 loglik``."""
        return self.k_ic * float(np.log(self.nobs)) - 2 * self.loglik

    @property
    def bracket(self) -> tuple[float | None, float | None]:
        """The tested x values just below and just above the threshold (None past an end)."""
        d = np.asarray(self.design)
        below, above = d[d <= self.threshold + 1e-12], d[d >= self.threshold - 1e-12]
        return (
            float(below.max()) if below.size else None,
            float(above.min()) if above.size else None,
        )

    @property
    def position(self) -> str:
        """Where the threshold lies relative to the tested fractions, in words."""
        lo, hi = self.bracket
        if lo is not None and hi is not None and abs(hi - lo) <= 1e-12:
            return f"at the tested value {lo:g}"
        if lo is None:
            return f"below the lowest tested value {hi:g} (extrapolated)"
        if hi is None:
            return f"above the highest tested value {lo:g} (extrapolated)"
        return (
            f"between the tested values {lo:g} and {hi:g} "
            "(only interval-identified: no run was made there)"
        )

    # --------------------------------------------------------------- intervals
    def conf_int(
        self,
        value: float | None = None,
        /,
        method: str | None = None,
        *,
        alpha: float | None = None,
        level: float | None = None,
    ) -> tuple[float, float]:
        """Confidence interval for the threshold, at level ``1 - alpha`` as in statsmodels.

        Parameters
        ----------
        value : float, optional
            Positional: read as ``alpha`` when it is at most 0.5 (``conf_int(0.05)`` is
            the 95% interval, as in statsmodels) and as the ``level`` when it is above
            0.5 (``conf_int(0.9)`` is the 90% interval, as before, with a
            ``DeprecationWarning``: write ``alpha=0.1`` or ``level=0.9``). At 0.5 both
            readings give the same interval.
        method : str, optional
            ``"profile"`` (if it was traced), ``"fieller"``, ``"inverse"``, ``"delta"``
            (working scale: log-x when ``log_x``), ``"delta_x"`` (x scale) or
            ``"bootstrap"`` (if it was run) for the logistic; ``"profile"`` or
            ``"delta"`` for changepoint models. Defaults to ``interval``. A traced
            profile serves levels up to the one it was traced to (``|r|`` of 3.5 or
            the fitted level's quantile plus 0.6, whichever is larger).
        alpha : float, optional
            Keyword: the interval's level is ``1 - alpha``, in (0, 1).
        level : float, optional
            Keyword: the coverage level, in (0, 1). Give at most one of ``value``,
            ``alpha`` and ``level``; none of them gives the fitter's ``level``.

        Returns
        -------
        tuple of float
            ``(lower, upper)`` of the threshold on the x scale.

        Raises
        ------
        ConfigError
            Unknown method, a value outside (0, 1), or more than one of ``value``,
            ``alpha`` and ``level``.

        Notes
        -----
        .. versionchanged:: 0.1
           The first argument is ``alpha`` (statsmodels' meaning) when it is at most
           0.5: ``conf_int(0.05)`` was the 5% interval and is now the 95% one.
           ``alpha=`` is new; ``level=`` works as before.
        """
        level = resolve_level(value, alpha, level, self.level)
        if self.method == "auto" and self.candidates:
            return self._model_average_ci(level, method)
        method = self.interval if method is None else method
        allowed = _INTERVALS[self.model]
        if method not in allowed:
            raise ConfigError(
                f"interval {method!r} is not available for the {self.model} "
                f"model; use one of {allowed}",
                field="method",
            )
        if method == "bootstrap":
            if not self.boot_quantiles or self.boot_z0 is None:
                raise ConfigError(
                    "no bootstrap was run for this fit; refit with interval='bootstrap'",
                    field="method",
                )
            return bc_from_table(np.asarray(self.boot_quantiles), self.boot_z0, level)
        tq = quantile(level, self.q_df)
        if self.model == "logistic":
            return self._logistic_ci(method, tq)
        if self.model == "gompertz":
            lo_u, hi_u = self._admissible_u()
            u, se_u = self._u(self.threshold), self.threshold_se
            if not np.isfinite(se_u):  # singular information: nothing is excluded
                return self._from_u(lo_u), self._from_u(hi_u)
            if self.log_x:
                se_u = se_u / self.threshold
            return self._from_u(max(u - tq * se_u, lo_u)), self._from_u(min(u + tq * se_u, hi_u))
        return self._changepoint_ci(method, tq)

    def _u(self, x: float) -> float:
        return float(to_u(x, self.log_x))

    def _from_u(self, u: float) -> float:
        return float(np.exp(u)) if self.log_x else float(u)

    def _spec(self) -> _lg.ThresholdSpec:
        ceil = "asymptote" if self.ceiling == "asymptote" else "value"
        u_ref = 0.0 if ceil == "asymptote" else self._u(float(self.ceiling))
        return _lg.ThresholdSpec(
            self.threshold_kind, self.recovery, self._u(self.design[0]), u_ref, self.floor, ceil
        )

    def _admissible_u(self) -> tuple[float, float]:
        spec = self._spec()
        lo = spec.u_lo if (spec.kind == "recovery" and spec.floor == "range") else -np.inf
        hi = spec.u_ref if (spec.kind == "recovery" and spec.ceiling == "value") else np.inf
        return lo, hi

    def _internal_logistic(self) -> _lg.LogisticFit:
        theta = np.array(self.estimates, dtype=float)
        names = list(self.param_names)
        free = np.array([names.index(n) for n in self.free_names])
        cov = np.array(self.cov, dtype=float)
        if self.log_x:
            theta[3] = np.log(theta[3])
            jac = np.ones(free.size)
            jac[free == 3] = 1.0 / self.estimates[3]
            cov = cov * np.outer(jac, jac)
        return _lg.LogisticFit(
            theta,
            free,
            cov,
            self.dispersion,
            self.df_resid,
            self.q_df,
            self.loglik,
            self.k_ic,
            np.empty(0),
            self.converged,
            False,
            self.separation,
        )

    def _logistic_ci(self, method: str, tq: float) -> tuple[float, float]:
        lo, hi, _ = self._logistic_ci_clipped(method, tq)
        return lo, hi

    def _logistic_ci_clipped(self, method: str, tq: float) -> tuple[float, float, bool]:
        """Return the logistic interval on the x scale and whether a limit clipped it."""
        fit = self._internal_logistic()
        spec = self._spec()
        if method == "profile":
            lo, hi, clipped = self._profile_ci(tq)
        elif method in ("fieller", "inverse"):
            solve = _lci.fieller if method == "fieller" else _lci.invert
            lo, hi, clipped = solve(fit, spec, tq, self._admissible_u())
        else:
            u_hat, g = _lg.thr_grad(fit, spec)
            se_u = float(np.sqrt(max(g @ fit.cov @ g, 0.0)))
            adm = self._admissible_u()
            if method == "delta_x":
                T = self._from_u(u_hat)
                se = se_u * T if self.log_x else se_u
                return T - tq * se, T + tq * se, False
            lo, hi = max(u_hat - tq * se_u, adm[0]), min(u_hat + tq * se_u, adm[1])
            clipped = lo == adm[0] or hi == adm[1]
        return self._from_u(lo), self._from_u(hi), bool(clipped)

    def _profile_ci(self, tq: float) -> tuple[float, float, bool]:
        if not self.profile_root:
            raise ConfigError(
                "no profile was traced for this fit; refit with interval='profile'",
                field="method",
            )
        u_hat = self._u(self.threshold)
        adm = self._admissible_u()
        limits = _lp.trace_limits(adm, np.asarray(to_u(np.asarray(self.design), self.log_x)))
        try:
            return _lp.interval_from_table(
                np.asarray(self.profile_grid), np.asarray(self.profile_root), u_hat, tq, adm, limits
            )
        except _lp.BeyondProfile as exc:
            top = float(np.min([np.max(self.profile_root), -np.min(self.profile_root)]))
            most = 2 * _t.cdf(top, self.q_df) - 1 if np.isfinite(self.q_df) else 2 * _n.cdf(top) - 1
            raise ConfigError(
                f"{exc}: levels up to {most:.4f} can be read from this fit; refit with the "
                "level you need to trace the profile further",
                field="level",
            ) from exc

    def _changepoint_ci(self, method: str, tq: float) -> tuple[float, float]:
        if self.dispersion <= 1e-12:  # a perfect fit (identical replicates): no interval
            lo_u, hi_u = self._admissible_u()
            if not (np.isfinite(lo_u) and np.isfinite(hi_u)):
                lo_u, hi_u = self._u(self.design[0]), self._u(self.design[-1])
            return self._from_u(lo_u), self._from_u(hi_u)
        if method == "profile" and (self.threshold_kind == "breakpoint" or self.model == "hinge"):
            grid = np.asarray(self.profile_grid)
            prof = np.asarray(self.profile_rss)
            psi = self.estimates[-1] if not self.log_x else float(np.log(self.estimates[-1]))
            assert self.rss is not None
            lo, hi = _cp.profile_interval(grid, prof, psi, self.rss, self.dispersion, tq)
            if self.threshold_kind == "recovery":
                lo, hi = (hinge_recovery_u(v, self._spec()) for v in (lo, hi))
            return self._from_u(lo), self._from_u(hi)
        if method == "profile":
            raise ConfigError(
                "the profile interval covers the breakpoint and, for the hinge, "
                "the recovery threshold; use interval='delta' for the "
                "recovery threshold of a segmented model",
                field="method",
            )
        T, se = self.threshold, self.threshold_se
        return T - tq * se, T + tq * se

    def _model_average_ci(self, level: float, method: str | None) -> tuple[float, float]:
        rule = self.interval if method is None else method
        rule = "buckland" if rule == "model-average" else rule  # records before the rules
        if rule not in AVERAGE_RULES:
            raise ConfigError(
                f"interval {rule!r} is not a model-averaging rule; use one of {AVERAGE_RULES}",
                field="method",
            )
        cis = np.array([c.conf_int(level=level) for c in self.candidates])
        lo, hi = self._admissible_u()
        return average_interval(
            rule,
            np.array([c.threshold for c in self.candidates]),
            cis[:, 0],
            cis[:, 1],
            np.array([c.q_df for c in self.candidates]),
            np.asarray(self.weights),
            level,
            (self._from_u(lo), self._from_u(hi)),
        )

    # -------------------------------------------------------------- prediction
    def predict(self, x: Any) -> np.ndarray:
        """Fitted mean performance at ``x`` (a model average for ``method="auto"``).

        Parameters
        ----------
        x : array_like
            Shares of correct data.

        Returns
        -------
        ndarray
            Same shape as ``x``.
        """
        if self.method == "auto" and self.candidates:
            return np.asarray(
                sum(w * c.predict(x) for w, c in zip(self.weights, self.candidates, strict=False))
            )
        p = self.estimates
        if self.model == "logistic":
            return np.asarray(logistic4(x, *p, log_x=self.log_x), dtype=float)
        if self.model == "gompertz":
            return np.asarray(gompertz4(x, *p, log_x=self.log_x), dtype=float)
        u = to_u(x, self.log_x)
        if self.log_x:
            p = (*p[:-1], float(np.log(p[-1])))
        if self.model == "hinge":
            return np.asarray(hinge(u, *p), dtype=float)
        return np.asarray(segmented(u, *p), dtype=float)

    def curve(self, n_points: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """Return the fitted curve over the tested range, for plotting.

        Parameters
        ----------
        n_points : int, default 200
            Number of points.

        Returns
        -------
        x, mu : ndarray
        """
        lo, hi = self.design[0], self.design[-1]
        if self.log_x:
            lo = lo if lo > 0 else (self.design[1] / 10)
            xs = np.geomspace(lo, hi, n_points)
        else:
            xs = np.linspace(lo, hi, n_points)
        return xs, self.predict(xs)

    # ------------------------------------------------------------- reporting
    def summary(self) -> Summary:
        """Return the fit as statsmodels summary tables.

        A top table of model facts (model, family, runs, dispersion, log-likelihood,
        information criteria, convergence, the threshold-exists p-value), the threshold
        with its standard error and interval, the parameters (estimate, standard error,
        fixed or not), the model weights for ``method="auto"``, and notes (where the
        threshold lies among the tested values, the interval method, separation).

        Returns
        -------
        statsmodels.iolib.summary.Summary
            ``print(fit.summary())`` shows the text; ``.as_text()``, ``.as_html()`` and
            ``.as_latex()`` export it, and notebooks render it as HTML.

        Notes
        -----
        .. versionchanged:: 0.1
           Returns a statsmodels ``Summary`` instead of a ``str``; ``str()`` of it is
           the text table.
        """
        return fit_summary(self)

    def _repr_html_(self) -> str:
        return str(self.summary().as_html())

    def plot(self, ax: Any = None, *, x: Any = None, y: Any = None) -> Any:
        """Plot the fitted curve, the threshold and its interval.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when omitted.
        x, y : array_like, optional
            Run-level data to overlay (the fit itself keeps no data).

        Returns
        -------
        matplotlib Axes

        Raises
        ------
        ConfigError
            matplotlib is not installed (``pip install dataquality_thresholds[plot]``).
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError(
                "plot() needs matplotlib: pip install 'dataquality_thresholds[plot]'", field="plot"
            ) from exc
        if ax is None:
            _, ax = plt.subplots()
        xs, mu = self.curve()
        ax.plot(xs, mu, color="C0", label=f"{self.model} fit")
        if x is not None and y is not None:
            ax.plot(
                np.asarray(x, float), np.asarray(y, float), "o", color="C0", alpha=0.5, label="runs"
            )
        lo, hi = self.ci
        ax.axvspan(lo, hi, color="C1", alpha=0.2, label=f"{self.level:.0%} interval")
        ax.axvline(self.threshold, color="C1", label=f"threshold {self.threshold:.3g}")
        if self.log_x:
            ax.set_xscale("log")
        ax.set_xlabel("share of correct data")
        ax.set_ylabel("performance")
        ax.legend()
        return ax

    # --------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (no NaN or infinity: those become ``None``).

        Returns
        -------
        dict
            With ``"schema": "threshold_fit"`` and ``"schema_version": 1``.
        """
        return fit_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdFit:
        """Rebuild a fit from :meth:`to_dict` output.

        Parameters
        ----------
        data : mapping
            A dict as written by :meth:`to_dict`.

        Returns
        -------
        ThresholdFit

        Raises
        ------
        SchemaVersionError
            The dict was written by a newer version.
        ConfigError
            It is not a threshold fit.
        """
        return fit_from_dict(cls, data)
