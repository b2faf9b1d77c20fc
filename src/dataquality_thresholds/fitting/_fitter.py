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

import warnings
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
from scipy.stats import norm

import dataquality_thresholds.fitting._candidates as _cand
import dataquality_thresholds.fitting._changepoint as _cp
import dataquality_thresholds.fitting._logistic as _lg
import dataquality_thresholds.fitting._logistic_ci as _lci
import dataquality_thresholds.fitting._logistic_profile as _lp
from dataquality_thresholds._util.seeding import SeedLike, as_seed_sequence
from dataquality_thresholds.errors import (
    ConfigError,
    ConvergenceWarning,
    FitError,
    InsufficientDataError,
    SeparationWarning,
    ThresholdWarning,
)
from dataquality_thresholds.fitting._average import AVERAGE_RULES
from dataquality_thresholds.fitting._data import RunData, as_fixed, is_count, is_real, prepare
from dataquality_thresholds.fitting._intervals import quantile
from dataquality_thresholds.fitting._models import (
    to_u,
)
from dataquality_thresholds.fitting._result import _INTERVALS, ThresholdFit, _tup

__all__ = ["ThresholdFitter"]

_METHODS = ("logistic", "changepoint", "gompertz", "auto")
_THRESHOLDS = ("recovery", "midpoint", "breakpoint")


@attrs.frozen(kw_only=True)
class ThresholdFitter:
    """Fit the threshold share of correct data, with an interval that keeps its coverage.

    Configuration goes here; data go to :meth:`fit`. The fitter keeps no reference to
    the data, so one fitter can be reused across domains and threads.

    Parameters
    ----------
    method : {"logistic", "changepoint", "gompertz", "auto"}, default "logistic"
        Four-parameter logistic; a changepoint model (``changepoint``); the
        asymmetric Gompertz-type curve (:func:`gompertz4`); or ``"auto"``: the
        logistic, the Gompertz-type curve and the hinge averaged with AICc weights
        (QAICc on overdispersed counts), for when the curve's shape is unknown. The
        coverage of each is measured in docs/fitting.md.
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
        For the logistic: ``"profile"`` (default; the quasi-likelihood profile of the
        threshold), ``"fieller"``, ``"inverse"``, ``"delta"``, ``"delta_x"``,
        ``"bootstrap"``. For changepoint models: ``"profile"`` (default) or ``"delta"``.
    average : {"kang", "mata", "buckland"}, default "kang"
        ``method="auto"``'s interval: Kang's (the weighted mean of the candidates'
        limits; drc's ``maED``), the model-averaged tail area (the limits of the
        weighted mixture of the candidates' sampling distributions) or Buckland's
        (drc's other rule). Kang's is the default because it was the best calibrated
        of the three in the quick coverage check (docs/fitting.md).
    changepoint : {"hinge", "segmented"}, default "hinge"
        Plateau model (slope then flat) or full segmented regression.
    fixed : mapping, optional
        Fixed logistic parameters, e.g. ``{"c": 0.25}`` (chance level) or ``{"d": 1.0}``.
    log_x : bool, default False
        Fit on ``log x`` (log-logistic dose-response curves).
    floor : {"range", "asymptote"}, default "range"
        The recovery floor: the curve at the lowest tested x, or the logistic's
        lower asymptote ``c``.
    ceiling : float, "asymptote" or None, default None
        Where "recovered" performance is read: the curve at this x or the logistic's
        upper asymptote ``d``. None reads it at 1.0 (all data correct) when every x is a
        share in [0, 1], and at the largest tested x otherwise (doses, percent scales).
        A number must lie between the smallest tested x and 1.0 for shares, or within
        the tested range otherwise (a reference outside the data is refused, not
        extrapolated).

        .. versionchanged:: 0.1
           The default was 1.0 whatever the scale of x.
    dispersion : {"estimate", "none"}, default "estimate"
        Quasi-binomial dispersion from the run-level Pearson statistic (with t(G - p)
        quantiles), or binomial variance with normal quantiles.
    penalty : {"firth", "none"}, default "firth"
        For binomial data, maximise the likelihood penalised by the Jeffreys prior
        (Firth) on the curve's parameters ``(b, c, d, e)``: it reduces their
        small-sample bias (exactly first-order unbiased only for a GLM's canonical
        parameters, which these are not) and keeps the slope finite when the data jump
        between two tested values. ``"none"`` gives the plain MLE (then the
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
    average: str = "kang"
    fixed: Mapping[str, float] = attrs.field(factory=dict, converter=as_fixed)
    log_x: bool = False
    floor: str = "range"
    ceiling: float | str | None = None
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
        if not (is_real(self.recovery) and 0 < float(self.recovery) < 1):
            raise bad("recovery", f"expected a share in (0, 1), got {self.recovery!r}")
        if not (is_real(self.level) and 0 < float(self.level) < 1):
            raise bad("level", f"expected a value in (0, 1), got {self.level!r}")
        if self.average not in AVERAGE_RULES:
            raise bad("average", f"expected one of {AVERAGE_RULES}, got {self.average!r}")
        if self.changepoint not in ("hinge", "segmented"):
            raise bad("changepoint", f"expected 'hinge' or 'segmented', got {self.changepoint!r}")
        if set(self.fixed) - {"c", "d"}:
            raise bad("fixed", f"only 'c' and 'd' can be fixed, got {sorted(self.fixed)}")
        if self.floor not in ("range", "asymptote"):
            raise bad("floor", f"expected 'range' or 'asymptote', got {self.floor!r}")
        if not (
            self.ceiling is None
            or self.ceiling == "asymptote"
            or (is_real(self.ceiling) and np.isfinite(float(self.ceiling)))
        ):
            raise bad(
                "ceiling", f"expected a finite number, 'asymptote' or None, got {self.ceiling!r}"
            )
        for flag in ("log_x", "test"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise bad(flag, f"expected True or False, got {getattr(self, flag)!r}")
        for count in ("n_boot", "n_test"):
            if not is_count(getattr(self, count)):
                raise bad(count, f"expected a whole number, got {getattr(self, count)!r}")
        if self.penalty not in ("firth", "none"):
            raise bad("penalty", f"expected 'firth' or 'none', got {self.penalty!r}")
        if self.dispersion not in ("estimate", "none"):
            raise bad("dispersion", f"expected 'estimate' or 'none', got {self.dispersion!r}")
        if self.method in ("logistic", "gompertz") and self.threshold == "breakpoint":
            raise bad("threshold", f"the {self.method} has no breakpoint; use method='changepoint'")
        if self.method == "changepoint" and self.threshold == "midpoint":
            raise bad(
                "threshold",
                "'midpoint' is the logistic's e; use 'recovery' or "
                "'breakpoint' with method='changepoint'",
            )
        if self.method == "auto" and self.threshold != "recovery":
            raise bad("threshold", "method='auto' averages the recovery threshold only")
        if self.method in ("changepoint", "auto") and (self.floor == "asymptote"):
            raise bad("floor", "the hinge has no lower asymptote; use floor='range'")
        model = self.method if self.method in ("logistic", "gompertz") else self.changepoint
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
        n : array_like or number, optional
            Trials per run (binomial counts); one number applies to every run.
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
        ceiling = self._ceiling_for(data)
        if ceiling != self.ceiling:
            return attrs.evolve(self, ceiling=ceiling)._fit(data)
        return self._fit(data)

    def _ceiling_for(self, data: RunData) -> float | str:
        """Return the recovery reference for these data (see the ``ceiling`` parameter)."""
        lo, hi = float(data.x.min()), float(data.x.max())
        shares = lo >= 0.0 and hi <= 1.0
        if self.ceiling is None:
            return 1.0 if shares else hi
        if self.ceiling == "asymptote":
            return "asymptote"
        c = float(self.ceiling)
        top = 1.0 if shares else hi
        if not lo <= c <= top + 1e-12:
            raise ConfigError(
                f"ceiling: {c:g} is outside the data (x runs from {lo:g} to {hi:g}; "
                f"the reference must lie in [{lo:g}, {top:g}]); leave ceiling=None to read "
                "recovery at 1.0 for shares or at the largest tested x, or use 'asymptote'",
                field="ceiling",
            )
        return c

    def _fit(self, data: RunData) -> ThresholdFit:
        seq = as_seed_sequence(self.seed)
        boot_seq, test_seq = seq.spawn(2)
        seed_int = int(self.seed) if isinstance(self.seed, (int, np.integer)) else None
        u = np.asarray(to_u(data.x, self.log_x))
        try:
            if self.method == "auto":
                fits = [self._fit_logistic(data, boot_seq, seed_int)]
                for other in (self._fit_gompertz, self._fit_changepoint):
                    try:
                        fits.append(other(data, u, seed_int))
                    except FitError as exc:  # the others still average
                        warnings.warn(ConvergenceWarning(f"auto: {exc}; left out"), stacklevel=3)
                result = self._average(data, fits)
            elif self.method == "logistic":
                result = self._fit_logistic(data, boot_seq, seed_int)
            elif self.method == "gompertz":
                result = self._fit_gompertz(data, u, seed_int)
            else:
                result = self._fit_changepoint(data, u, seed_int)
            if self.test and np.all(np.isfinite(u)):
                w = data.w * (data.n if data.n is not None else 1.0)
                p, stat = _cp.threshold_test(
                    u, data.y, w, self.changepoint, self.n_test, np.random.default_rng(test_seq)
                )
                result = attrs.evolve(result, exists_pvalue=p, exists_statistic=stat)
        except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError) as exc:
            raise FitError(
                f"the {self.method} fit failed numerically ({exc}); check that the runs "
                "span the transition, or try method='changepoint' or fixing c/d"
            ) from exc
        lo, hi = result.ci
        if lo > hi:  # never shown to a user: a bug, not a result
            raise FitError(
                f"the {result.model} fit produced an interval whose lower end {lo:.4g} is above "
                f"its upper end {hi:.4g}; please report this with the data"
            )
        self._warn_hinge_cap(result)
        if not result.converged:
            warnings.warn(
                ConvergenceWarning(
                    f"the {result.model} fit did not converge cleanly (stopped early or at a "
                    "parameter bound, e.g. a step between two tested values); treat the "
                    "threshold and interval with care"
                ),
                stacklevel=3,
            )
        if result.separation:
            warnings.warn(
                SeparationWarning(
                    "all outcomes are 0 or all are 1 at some tested x (separation); the fit uses "
                    "the Firth (Jeffreys) penalty, which keeps the floor and top inside (0, 1)"
                ),
                stacklevel=3,
            )
        return result

    def _warn_hinge_cap(self, result: ThresholdFit) -> None:
        """Warn when the hinge's recovery interval runs into the model's own ceiling.

        With the plateau at or past the reference x, the hinge is a straight line
        over the data and its recovery threshold is ``x_lo + q (ceiling - x_lo)``
        whatever the breakpoint: a curve still rising there (a threshold nearer the
        reference) is outside what the model can express.
        """
        if not (
            self.method == "changepoint"
            and result.model == "hinge"
            and self.threshold == "recovery"
            and self.ceiling != "asymptote"
        ):
            return
        spec = result._spec()
        cap = result._from_u(spec.u_lo + spec.q * (spec.u_ref - spec.u_lo))
        if result.ci[1] >= cap - 1e-9:
            warnings.warn(
                ThresholdWarning(
                    f"the hinge's recovery interval reaches {cap:.4g}, the largest recovery "
                    "threshold a hinge can have (its plateau at or past the reference x); "
                    "if the curve may still be rising there, use method='logistic'"
                ),
                stacklevel=4,
            )

    def _base(self, data: RunData, seed_int: int | None) -> dict[str, Any]:
        return dict(
            method=self.method,
            family=data.family,
            threshold_kind=self.threshold,
            recovery=float(self.recovery),
            floor=self.floor,
            ceiling=self.ceiling if isinstance(self.ceiling, str) else float(self.ceiling or 1.0),
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
        interval = self.interval if self.method != "auto" and self.interval else "profile"
        base = self._base(data, seed_int)
        base["method"] = self.method if self.method != "auto" else "logistic"
        converged = bool(fit.converged and not fit.at_bound)
        res = _cand.sigmoid_record(
            base, "logistic", interval, fit, data, self.log_x, converged, fit.separation
        )
        names, est = res.param_names, res.estimates
        spec = res._spec()
        u_hat, g = _lg.thr_grad(fit, spec)
        if not np.isfinite(u_hat):
            raise FitError(
                "the fitted logistic never reaches the requested recovery; "
                f"parameters {dict(zip(names, est, strict=False))}"
            )
        T = res._from_u(u_hat)
        se_u = float(np.sqrt(max(g @ fit.cov @ g, 0.0)))  # working scale
        se = se_u * (T if self.log_x else 1.0)
        extra: dict[str, Any] = {}
        if interval == "bootstrap":
            draws, failed = _lci.bootstrap(
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
                    "converged; use interval='profile' (the default)"
                )
            draws_x = np.exp(draws) if self.log_x else draws
            below = np.mean(draws_x < T) + 0.5 * np.mean(draws_x == T)
            extra = dict(
                boot_quantiles=_tup(np.quantile(draws_x, np.linspace(0, 1, 401))),
                boot_z0=float(norm.ppf(np.clip(below, 1e-6, 1 - 1e-6))),
                boot_failed=failed,
            )
        tq = quantile(self.level, fit.q_df)
        res = attrs.evolve(res, threshold=T, threshold_se=se, **extra)
        if interval == "profile":
            firth = data.family == "binomial" and (self.penalty == "firth" or fit.separation)
            try:
                prof = _lp.profile_threshold(
                    data,
                    fit,
                    spec,
                    to_u(data.x, self.log_x),
                    firth=firth,
                    tq=tq,
                    adm=res._admissible_u(),
                    se=se_u,
                )
                traced = attrs.evolve(
                    res, profile_grid=_tup(prof.grid), profile_root=_tup(prof.root)
                )
                lo, hi, unbounded = traced._logistic_ci_clipped("profile", tq)
                return attrs.evolve(traced, ci=(lo, hi), unbounded=unbounded)
            # ValueError includes ConfigError: a traced table short of the fitted level
            except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
                warnings.warn(
                    ConvergenceWarning(
                        f"the threshold's profile could not be traced ({exc}); the interval "
                        "is the Fieller-type one instead (interval='fieller')"
                    ),
                    stacklevel=4,
                )
                interval = "fieller"
                res = attrs.evolve(res, interval=interval)
        if interval == "fieller":
            lo, hi, unbounded = res._logistic_ci_clipped(interval, tq)
            return attrs.evolve(res, ci=(lo, hi), unbounded=unbounded)
        return attrs.evolve(res, ci=res.conf_int())

    def _fit_changepoint(self, data: RunData, u: np.ndarray, seed_int: int | None) -> ThresholdFit:
        return _cand.fit_changepoint(self, data, u, seed_int)

    def _fit_gompertz(self, data: RunData, u: np.ndarray, seed_int: int | None) -> ThresholdFit:
        return _cand.fit_gompertz(self, data, u, seed_int)

    def _average(self, data: RunData, fits: list[ThresholdFit]) -> ThresholdFit:
        return _cand.average(self, data, fits)
