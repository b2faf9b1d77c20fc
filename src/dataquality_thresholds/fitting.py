"""Fit the share of correct data at which a fine-tuned model recovers.

:class:`ThresholdFitter` turns run-level performance at several shares of correct
training data into a threshold with an interval; :class:`ThresholdFit` is the
frozen, JSON-safe result. The run (one fine-tuning job: a ratio and a seed) is the
replicate: per-item outcomes are aggregated to runs before anything is fitted.

The curve models are plain functions usable alone: :func:`logistic4`,
:func:`hinge` and :func:`segmented`. See ``docs/fitting.md`` for the models, the
threshold definitions, the interval methods and the coverage study behind them.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
from scipy.stats import norm

from ._fit import changepoint as _cp
from ._fit import logistic as _lg
from ._fit.data import RunData, prepare
from ._fit.models import hinge, logistic4, segmented, to_u
from ._fit.optim import num_grad
from ._fit.result import bc_from_table, quantile, to_float, to_json_float
from ._util.seeding import SeedLike, as_seed_sequence
from .errors import (
    ConfigError,
    ConvergenceWarning,
    FitError,
    InsufficientDataError,
    SchemaVersionError,
    SeparationWarning,
)

__all__ = ["ThresholdFit", "ThresholdFitter", "hinge", "logistic4", "segmented"]

SCHEMA = "threshold_fit"
SCHEMA_VERSION = 1
_METHODS = ("logistic", "changepoint", "auto")
_THRESHOLDS = ("recovery", "midpoint", "breakpoint")
_INTERVALS = {
    "logistic": ("fieller", "inverse", "delta", "delta_x", "bootstrap"),
    "hinge": ("profile", "delta"),
    "segmented": ("profile", "delta"),
}


def _tup(a: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(a))


def _jf(values: Any) -> list[float | None]:
    return [to_json_float(v) for v in values]


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
    def params(self) -> dict[str, float]:
        """Parameter estimates by name (fixed parameters included)."""
        return dict(zip(self.param_names, self.estimates, strict=False))

    @property
    def bse(self) -> dict[str, float]:
        """Standard errors by name; 0 for fixed parameters."""
        sd: list[float] = (
            np.sqrt(np.maximum(np.diag(np.asarray(self.cov)), 0.0)).tolist() if self.cov else []
        )
        out = dict.fromkeys(self.param_names, 0.0)
        out.update(zip(self.free_names, (float(v) for v in sd), strict=False))
        return out

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
        self, level: float | None = None, method: str | None = None
    ) -> tuple[float, float]:
        """Confidence interval for the threshold.

        Parameters
        ----------
        level : float, optional
            Coverage, in (0, 1); defaults to the fitter's ``level``.
        method : str, optional
            ``"fieller"``, ``"delta"`` (working scale: log-x when ``log_x``),
            ``"delta_x"`` (x scale) or ``"bootstrap"`` (if it was run) for the logistic;
            ``"profile"`` or ``"delta"`` for changepoint models. Defaults to ``interval``.

        Returns
        -------
        tuple of float
            ``(lower, upper)`` on the x scale.

        Raises
        ------
        ConfigError
            Unknown method or level outside (0, 1).
        """
        level = self.level if level is None else float(level)
        if not 0 < level < 1:
            raise ConfigError(f"level must be in (0, 1), got {level}", field="level")
        if self.method == "auto" and self.candidates:
            return self._model_average_ci(level)
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
        fit = self._internal_logistic()
        spec = self._spec()
        if method in ("fieller", "inverse"):
            solve = _lg.fieller if method == "fieller" else _lg.invert
            lo, hi, _ = solve(fit, spec, tq, self._admissible_u())
            return self._from_u(lo), self._from_u(hi)
        u_hat, g = _lg.thr_grad(fit, spec)
        se_u = float(np.sqrt(max(g @ fit.cov @ g, 0.0)))
        if method == "delta":
            adm = self._admissible_u()
            lo, hi = max(u_hat - tq * se_u, adm[0]), min(u_hat + tq * se_u, adm[1])
            return self._from_u(lo), self._from_u(hi)
        T = self._from_u(u_hat)
        se = se_u * T if self.log_x else se_u
        return T - tq * se, T + tq * se

    def _changepoint_ci(self, method: str, tq: float) -> tuple[float, float]:
        if method == "profile" and (self.threshold_kind == "breakpoint" or self.model == "hinge"):
            grid = np.asarray(self.profile_grid)
            prof = np.asarray(self.profile_rss)
            psi = self.estimates[-1] if not self.log_x else float(np.log(self.estimates[-1]))
            assert self.rss is not None
            lo, hi = _cp.profile_interval(grid, prof, psi, self.rss, self.dispersion, tq)
            if self.threshold_kind == "recovery":
                lo, hi = (_hinge_recovery_u(v, self._spec()) for v in (lo, hi))
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

    def _model_average_ci(self, level: float) -> tuple[float, float]:
        w = np.asarray(self.weights)
        ts = np.array([c.threshold for c in self.candidates])
        tbar = float(w @ ts)
        ses = []
        for c in self.candidates:
            lo, hi = c.conf_int(level)
            ses.append((hi - lo) / (2 * quantile(level, c.q_df)))
        se = float(np.sum(w * np.sqrt(np.square(ses) + (ts - tbar) ** 2)))
        tq = quantile(level, min(c.q_df for c in self.candidates))
        lo_b = self.design[0] if self.floor == "range" else -np.inf
        hi_b = float(self.ceiling) if self.ceiling != "asymptote" else np.inf
        lo, hi = max(tbar - tq * se, lo_b), min(tbar + tq * se, hi_b)
        return float(lo), float(hi)

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
    def _rows(self) -> list[tuple[str, str]]:
        lo, hi = self.ci
        rows = [
            (
                "threshold",
                f"{self.threshold:.4g} ({self.threshold_kind}"
                + (f", q={self.recovery:g}" if self.threshold_kind == "recovery" else "")
                + ")",
            ),
            (
                f"{self.level:.0%} interval",
                f"[{lo:.4g}, {hi:.4g}] ({self.interval})"
                + (" clipped to the tested range" if self.unbounded else ""),
            ),
            ("position", self.position),
            ("model", f"{self.model} ({self.family}, method={self.method})"),
            ("runs / items", f"{self.nobs} / {self.n_items}"),
            ("df resid", str(self.df_resid)),
            ("dispersion" if self.family == "binomial" else "sigma^2", f"{self.dispersion:.4g}"),
            (
                "loglik / AIC / AICc / BIC",
                f"{self.loglik:.4g} / {self.aic:.4g} / {self.aicc:.4g} / {self.bic:.4g}",
            ),
            (
                "converged",
                str(self.converged) + (" (separation: Firth penalty)" if self.separation else ""),
            ),
        ]
        if self.exists_pvalue is not None:
            rows.append(
                (
                    "threshold exists (p)",
                    f"{self.exists_pvalue:.3g} (changepoint vs line, parametric bootstrap LR)",
                )
            )
        if self.weights:
            rows.append(
                (
                    "model weights",
                    ", ".join(
                        f"{c.model}={w:.3f}"
                        for c, w in zip(self.candidates, self.weights, strict=False)
                    ),
                )
            )
        bse = self.bse
        for name, val in self.params.items():
            fixed = name not in self.free_names
            rows.append(
                (f"  {name}", f"{val:.5g}" + (" (fixed)" if fixed else f"  se {bse[name]:.4g}"))
            )
        return rows

    def summary(self) -> str:
        """Return a text table of the threshold, its interval, the model and the parameters.

        Returns
        -------
        str
        """
        rows = self._rows()
        width = max(len(k) for k, _ in rows)
        lines = ["ThresholdFit", "=" * 12] + [f"{k:<{width}}  {v}" for k, v in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self._rows()
        )
        return f"<table><caption>ThresholdFit</caption>{cells}</table>"

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
        out: dict[str, Any] = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
        for field in attrs.fields(type(self)):
            v = getattr(self, field.name)
            if field.name == "candidates":
                v = [c.to_dict() for c in v]
            elif field.name == "cov":
                v = [_jf(row) for row in v]
            elif field.name == "ceiling":
                v = v if isinstance(v, str) else float(v)
            elif isinstance(v, tuple):
                v = [x if isinstance(x, str) else to_json_float(x) for x in v]
            elif isinstance(v, float):
                v = to_json_float(v)
            out[field.name] = v
        return out

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
        if data.get("schema") != SCHEMA:
            raise ConfigError(
                f"expected schema {SCHEMA!r}, got {data.get('schema')!r}", field="schema"
            )
        version = int(data.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"threshold_fit schema_version {version} is newer than {SCHEMA_VERSION}; "
                "upgrade dataquality_thresholds",
                found=version,
                supported=SCHEMA_VERSION,
                field="schema_version",
            )
        kw: dict[str, Any] = {}
        for field in attrs.fields(cls):
            if field.name not in data:
                continue
            v = data[field.name]
            if field.name == "candidates":
                v = tuple(cls.from_dict(c) for c in v)
            elif field.name == "cov":
                v = tuple(tuple(to_float(x) for x in row) for row in v)
            elif field.name in ("param_names", "free_names"):
                v = tuple(v)
            elif field.name in (
                "ci",
                "estimates",
                "design",
                "profile_grid",
                "profile_rss",
                "boot_quantiles",
                "weights",
            ):
                v = tuple(to_float(x) for x in v)
            elif field.name == "q_df":
                v = to_float(v, float("inf"))
            elif field.name in ("threshold", "threshold_se", "dispersion", "loglik"):
                v = to_float(v)
            kw[field.name] = v
        return cls(**kw)


def _hinge_recovery_u(psi: float, spec: _lg.ThresholdSpec) -> float:
    """Recovery threshold of the hinge: a non-decreasing function of the breakpoint."""
    ref_gap = 0.0 if spec.ceiling == "asymptote" else max(psi - spec.u_ref, 0.0)
    return psi - (1 - spec.q) * max(psi - spec.u_lo, 0.0) - spec.q * ref_gap


def _segmented_recovery_u(params: np.ndarray, spec: _lg.ThresholdSpec) -> float:
    c, al, be, psi = params
    u_ref = spec.u_ref if spec.ceiling == "value" else max(spec.u_ref, psi)
    grid = np.union1d(np.linspace(spec.u_lo, u_ref, 2001), [psi])
    grid = grid[(grid >= spec.u_lo) & (grid <= u_ref)]
    mu = segmented(grid, c, al, be, psi)
    target = mu[0] + spec.q * (mu[-1] - mu[0])
    sign = np.sign(mu[-1] - mu[0]) or 1.0
    hit = np.flatnonzero(sign * (mu - target) >= 0)
    i = int(hit[0]) if hit.size else grid.size - 1
    if i == 0:
        return float(grid[0])
    m0, m1 = mu[i - 1], mu[i]
    frac = (target - m0) / (m1 - m0) if m1 != m0 else 0.0
    return float(grid[i - 1] + frac * (grid[i] - grid[i - 1]))


def _as_dict(m: Mapping[str, float] | None) -> dict[str, float]:
    return {str(k): float(v) for k, v in (m or {}).items()}


@attrs.frozen(kw_only=True)
class ThresholdFitter:
    """Fit the threshold share of correct data, with an interval that keeps its coverage.

    Configuration goes here; data go to :meth:`fit`. The fitter keeps no reference to
    the data, so one fitter can be reused across domains and threads.

    Parameters
    ----------
    method : {"logistic", "changepoint", "auto"}, default "logistic"
        Four-parameter logistic; a changepoint model (``changepoint``); or both,
        chosen and averaged by run-level AICc.
    threshold : {"recovery", "midpoint", "breakpoint"}, default "recovery"
        Recovery ``T_q`` (smallest x where a share ``recovery`` of the gap between the
        floor and the curve at ``ceiling`` is recovered), the logistic midpoint ``e``,
        or the changepoint breakpoint ``psi``.
    recovery : float, default 0.9
        The share ``q`` in (0, 1) for the recovery threshold.
    level : float, default 0.95
        Coverage of the reported interval.
    seed : int, SeedSequence or Generator, default 0
        Seed for the bootstrap and the threshold-exists test.
    interval : str, optional
        ``"fieller"`` (logistic default), ``"delta"``, ``"delta_x"``, ``"bootstrap"``;
        ``"profile"`` (changepoint default) or ``"delta"``.
    changepoint : {"hinge", "segmented"}, default "hinge"
        Plateau model (slope then flat) or full segmented regression.
    fixed : mapping, optional
        Fixed logistic parameters, e.g. ``{"c": 0.25}`` (chance level) or ``{"d": 1.0}``.
    log_x : bool, default False
        Fit on ``log x`` (log-logistic dose-response curves).
    floor : {"range", "asymptote"}, default "range"
        The recovery floor: the curve at the lowest tested x, or the logistic's
        lower asymptote ``c``.
    ceiling : float or "asymptote", default 1.0
        Where "recovered" performance is read: the curve at this x (1.0 = all data
        correct) or the logistic's upper asymptote ``d``.
    dispersion : {"estimate", "none"}, default "estimate"
        Quasi-binomial dispersion from the run-level Pearson statistic (with t(G - p)
        quantiles), or binomial variance with normal quantiles.
    penalty : {"firth", "none"}, default "firth"
        For binomial data, maximise the likelihood penalised by the Jeffreys prior
        (Firth): removes the first-order bias and keeps the slope finite when the
        data jump between two tested values. ``"none"`` gives the plain MLE (then the
        penalty is used only if separation drives the fit to the edge).
    n_boot : int, default 2000
        Parametric bootstrap resamples when ``interval="bootstrap"``.
    test : bool, default True
        Run the "threshold exists" test (parametric-bootstrap LR, ``n_test`` draws).
    n_test : int, default 999
        Draws for that test.

    Raises
    ------
    ConfigError
        Unknown or inconsistent options.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 3)
    >>> k = np.array([30, 33, 29, 35, 38, 36, 60, 58, 63, 78, 80, 79, 81, 82, 80, 81, 80, 82])
    >>> fit = ThresholdFitter(seed=1).fit(x, k, n=np.full(18, 100))
    >>> 0.4 < fit.threshold < 0.9
    True
    """

    method: str = "logistic"
    threshold: str = "recovery"
    recovery: float = 0.9
    level: float = 0.95
    seed: SeedLike = 0
    interval: str | None = None
    changepoint: str = "hinge"
    fixed: Mapping[str, float] = attrs.field(factory=dict, converter=_as_dict)
    log_x: bool = False
    floor: str = "range"
    ceiling: float | str = 1.0
    dispersion: str = "estimate"
    penalty: str = "firth"
    n_boot: int = 2000
    test: bool = True
    n_test: int = 999

    def __attrs_post_init__(self) -> None:
        def bad(field: str, msg: str) -> ConfigError:
            return ConfigError(f"{field}: {msg}", field=field)

        if self.method not in _METHODS:
            raise bad("method", f"expected one of {_METHODS}, got {self.method!r}")
        if self.threshold not in _THRESHOLDS:
            raise bad("threshold", f"expected one of {_THRESHOLDS}, got {self.threshold!r}")
        if not 0 < float(self.recovery) < 1:
            raise bad("recovery", f"expected a share in (0, 1), got {self.recovery!r}")
        if not 0 < float(self.level) < 1:
            raise bad("level", f"expected a value in (0, 1), got {self.level!r}")
        if self.changepoint not in ("hinge", "segmented"):
            raise bad("changepoint", f"expected 'hinge' or 'segmented', got {self.changepoint!r}")
        if set(self.fixed) - {"c", "d"}:
            raise bad("fixed", f"only 'c' and 'd' can be fixed, got {sorted(self.fixed)}")
        if self.floor not in ("range", "asymptote"):
            raise bad("floor", f"expected 'range' or 'asymptote', got {self.floor!r}")
        if not (self.ceiling == "asymptote" or isinstance(self.ceiling, (int, float))):
            raise bad("ceiling", f"expected a number or 'asymptote', got {self.ceiling!r}")
        if self.penalty not in ("firth", "none"):
            raise bad("penalty", f"expected 'firth' or 'none', got {self.penalty!r}")
        if self.dispersion not in ("estimate", "none"):
            raise bad("dispersion", f"expected 'estimate' or 'none', got {self.dispersion!r}")
        if self.method == "logistic" and self.threshold == "breakpoint":
            raise bad("threshold", "the logistic has no breakpoint; use method='changepoint'")
        if self.method == "changepoint" and self.threshold == "midpoint":
            raise bad(
                "threshold",
                "'midpoint' is the logistic's e; use 'recovery' or "
                "'breakpoint' with method='changepoint'",
            )
        if self.method == "auto" and self.threshold != "recovery":
            raise bad("threshold", "method='auto' averages the recovery threshold only")
        if self.method != "logistic" and (self.floor == "asymptote"):
            raise bad("floor", "only the logistic has an asymptote; use floor='range'")
        model = "logistic" if self.method == "logistic" else self.changepoint
        if (
            self.interval is not None
            and self.method != "auto"
            and self.interval not in _INTERVALS[model]
        ):
            raise bad(
                "interval",
                f"expected one of {_INTERVALS[model]} for {model}, got {self.interval!r}",
            )
        if self.interval == "bootstrap" and self.n_boot < 100:
            raise bad("n_boot", f"need at least 100 resamples, got {self.n_boot}")
        if self.test and self.n_test < 19:
            raise bad("n_test", f"need at least 19 draws, got {self.n_test}")
        as_seed_sequence(self.seed)  # validates

    # ------------------------------------------------------------------- fit
    def fit(
        self, x: Any, y: Any, *, n: Any = None, groups: Any = None, weights: Any = None
    ) -> ThresholdFit:
        """Fit the curve and the threshold.

        Parameters
        ----------
        x : array_like
            Share of correct training data of each run (or of each item's run).
        y : array_like
            Run-level scores; success counts when ``n`` is given; per-item outcomes
            (0/1, or scores in [0, 1]) when ``groups`` is given.
        n : array_like, optional
            Trials per run (binomial counts).
        groups : array_like, optional
            Run label of each item; items are aggregated to runs first.
        weights : array_like, optional
            Run weights (least squares) or likelihood weights.

        Returns
        -------
        ThresholdFit
            A new frozen result; the fitter is unchanged.

        Raises
        ------
        DataError
            NaN, out-of-range values, mismatched lengths (also a ``ValueError``).
        InsufficientDataError
            Fewer than 3 distinct x, all outcomes equal, or fewer runs than parameters.
        FitError
            No threshold can be computed from the fitted curve.

        Warns
        -----
        ConvergenceWarning
            The optimiser stopped early or at a bound.
        SeparationWarning
            All outcomes 0 or all 1 at some x pushed the fit to the edge; the Firth
            (Jeffreys) penalty was used.
        """
        data = prepare(x, y, n=n, groups=groups, weights=weights, log_x=self.log_x)
        seq = as_seed_sequence(self.seed)
        boot_seq, test_seq = seq.spawn(2)
        seed_int = int(self.seed) if isinstance(self.seed, (int, np.integer)) else None
        u = np.asarray(to_u(data.x, self.log_x))
        if self.method == "auto":
            fits = [
                self._fit_logistic(data, boot_seq, seed_int),
                self._fit_changepoint(data, u, seed_int),
            ]
            result = self._average(data, fits)
        elif self.method == "logistic":
            result = self._fit_logistic(data, boot_seq, seed_int)
        else:
            result = self._fit_changepoint(data, u, seed_int)
        if self.test and np.all(np.isfinite(u)):
            w = data.w * (data.n if data.n is not None else 1.0)
            p, stat = _cp.threshold_test(
                u, data.y, w, self.changepoint, self.n_test, np.random.default_rng(test_seq)
            )
            result = attrs.evolve(result, exists_pvalue=p, exists_statistic=stat)
        if not result.converged:
            warnings.warn(
                ConvergenceWarning(
                    f"the {result.model} fit did not converge cleanly (stopped early or at a "
                    "parameter bound, e.g. a step between two tested values); treat the "
                    "threshold and interval with care"
                ),
                stacklevel=2,
            )
        if result.separation:
            warnings.warn(
                SeparationWarning(
                    "all outcomes are 0 or all are 1 at some tested x (separation); the fit uses "
                    "the Firth (Jeffreys) penalty, which keeps the floor and top inside (0, 1)"
                ),
                stacklevel=2,
            )
        return result

    def _base(self, data: RunData, seed_int: int | None) -> dict[str, Any]:
        return dict(
            method=self.method,
            family=data.family,
            threshold_kind=self.threshold,
            recovery=float(self.recovery),
            floor=self.floor,
            ceiling=self.ceiling if self.ceiling == "asymptote" else float(self.ceiling),
            log_x=self.log_x,
            level=float(self.level),
            nobs=int(data.x.size),
            n_items=data.n_items,
            design=_tup(np.unique(data.x)),
            seed=seed_int,
        )

    def _check_df(self, data: RunData, p: int) -> None:
        if data.x.size - p < 1:
            raise InsufficientDataError(
                f"{data.x.size} runs cannot estimate {p} parameters with a residual degree "
                "of freedom; add replicate runs (seeds) or fix parameters"
            )

    def _fit_logistic(
        self, data: RunData, boot_seq: np.random.SeedSequence, seed_int: int | None
    ) -> ThresholdFit:
        p = 4 - len(self.fixed)
        self._check_df(data, p)
        fit = _lg.fit_logistic(
            data,
            log_x=self.log_x,
            fixed=dict(self.fixed),
            dispersion=self.dispersion,
            penalty=self.penalty,
        )
        names = ("b", "c", "d", "e")
        est = fit.theta.copy()
        cov = fit.cov.copy()
        if self.log_x:
            est[3] = np.exp(est[3])
            jac = np.ones(fit.free.size)
            jac[fit.free == 3] = est[3]
            cov = cov * np.outer(jac, jac)
        interval = self.interval if self.method != "auto" and self.interval else "fieller"
        base = self._base(data, seed_int)
        base["method"] = self.method if self.method != "auto" else "logistic"
        res = ThresholdFit(
            **base,
            model="logistic",
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
            converged=bool(fit.converged and not fit.at_bound),
            separation=fit.separation,
            rss=float(np.sum(data.w * (data.y - fit.fitted) ** 2)),
        )
        spec = res._spec()
        u_hat, g = _lg.thr_grad(fit, spec)
        if not np.isfinite(u_hat):
            raise FitError(
                "the fitted logistic never reaches the requested recovery; "
                f"parameters {dict(zip(names, _tup(est), strict=False))}"
            )
        T = res._from_u(u_hat)
        se = float(np.sqrt(max(g @ fit.cov @ g, 0.0))) * (T if self.log_x else 1.0)
        extra: dict[str, Any] = {}
        if interval == "bootstrap":
            draws, failed = _lg.bootstrap(
                data,
                fit,
                spec,
                log_x=self.log_x,
                n_boot=self.n_boot,
                rng=np.random.default_rng(boot_seq),
            )
            if draws.size < 0.5 * self.n_boot:
                raise FitError(
                    f"only {draws.size} of {self.n_boot} bootstrap refits "
                    "converged; use interval='fieller'"
                )
            draws_x = np.exp(draws) if self.log_x else draws
            below = np.mean(draws_x < T) + 0.5 * np.mean(draws_x == T)
            extra = dict(
                boot_quantiles=_tup(np.quantile(draws_x, np.linspace(0, 1, 401))),
                boot_z0=float(norm.ppf(np.clip(below, 1e-6, 1 - 1e-6))),
                boot_failed=failed,
            )
        unbounded = False
        res = attrs.evolve(res, threshold=T, threshold_se=se, **extra)
        if interval == "fieller":
            tq = quantile(self.level, fit.q_df)
            _, _, unbounded = _lg.fieller(fit, spec, tq, res._admissible_u())
        return attrs.evolve(res, ci=res.conf_int(), unbounded=unbounded)

    def _fit_changepoint(self, data: RunData, u: np.ndarray, seed_int: int | None) -> ThresholdFit:
        kind = self.changepoint
        if not np.all(np.isfinite(u)):
            raise ConfigError(
                "changepoint models need finite x on the working scale; "
                "x = 0 with log_x=True is not allowed",
                field="log_x",
            )
        self._check_df(data, 3 if kind == "hinge" else 4)
        fit = _cp.fit_changepoint(data, u, kind)
        names = ("top", "a", "psi") if kind == "hinge" else ("const", "alpha", "beta", "psi")
        est = fit.params.copy()
        cov = fit.cov.copy()
        if self.log_x:
            est[-1] = np.exp(est[-1])
            jac = np.ones(est.size)
            jac[-1] = est[-1]
            cov = cov * np.outer(jac, jac)
        interval = self.interval if self.method != "auto" and self.interval else "profile"
        if kind == "segmented" and self.threshold == "recovery" and interval == "profile":
            interval = "delta"
        base = self._base(data, seed_int)
        base["method"] = self.method if self.method != "auto" else "changepoint"
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
            loglik=fit.loglik,
            k_ic=fit.k_ic,
            converged=fit.converged,
            rss=fit.rss,
            profile_grid=_tup(fit.grid),
            profile_rss=_tup(fit.prof),
        )
        spec = res._spec()

        def thr(params: np.ndarray) -> float:
            if self.threshold == "breakpoint":
                return float(params[-1])
            if kind == "hinge":
                return _hinge_recovery_u(float(params[-1]), spec)
            return _segmented_recovery_u(params, spec)

        u_hat = thr(fit.params)
        g = num_grad(thr, fit.params.copy(), rel=1e-7)
        T = res._from_u(u_hat)
        se = float(np.sqrt(max(g @ fit.cov @ g, 0.0))) * (T if self.log_x else 1.0)
        res = attrs.evolve(res, threshold=T, threshold_se=se)
        return attrs.evolve(res, ci=res.conf_int())

    def _average(self, data: RunData, fits: list[ThresholdFit]) -> ThresholdFit:
        """Choose by run-level AICc (Gaussian on run means) and average the threshold."""
        G = data.x.size
        scores = []
        for f in fits:
            k = len(f.free_names) + 1
            rss = float(np.sum(data.w * (data.y - f.predict(data.x)) ** 2))
            corr = 2 * k * (k + 1) / (G - k - 1) if G - k - 1 > 0 else np.inf
            scores.append(G * np.log(max(rss, 1e-300) / G) + 2 * k + corr)
        s = np.asarray(scores)
        if not np.all(np.isfinite(s)):
            s = np.where(np.isfinite(s), s, np.inf)
        rel = np.exp(-0.5 * (s - s.min()))
        w = rel / rel.sum()
        best = fits[int(np.argmin(s))]
        T = float(w @ np.array([f.threshold for f in fits]))
        res = attrs.evolve(
            best,
            method="auto",
            interval="model-average",
            threshold=T,
            candidates=tuple(fits),
            weights=_tup(w),
            converged=all(f.converged for f in fits),
            separation=any(f.separation for f in fits),
        )
        return attrs.evolve(res, ci=res.conf_int())
