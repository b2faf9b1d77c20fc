"""``ThresholdFit.summary()``: the fit as statsmodels summary tables.

Built with ``statsmodels.iolib.summary.Summary`` and ``SimpleTable``, the classes behind
every statsmodels ``results.summary()``, so a fit prints, renders in a notebook and
exports (``as_text``, ``as_html``, ``as_latex``, ``as_csv``) like a statsmodels result.
statsmodels is imported inside :func:`fit_summary`, so importing the fitting wing stays
cheap.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from statsmodels.iolib.summary import Summary

__all__ = ["fit_summary"]

_WIDTH = 78  # statsmodels' summary width
_STUB, _COL = 16, 11


class _Fit(Protocol):
    """What the summary reads of a fit (:class:`ThresholdFit` has it).

    Defined here so this module depends on no result class: ``ThresholdFit.summary``
    calls :func:`fit_summary` with itself.
    """

    @property
    def method(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def threshold_kind(self) -> str: ...
    @property
    def recovery(self) -> float: ...
    @property
    def level(self) -> float: ...
    @property
    def interval(self) -> str: ...
    @property
    def threshold(self) -> float: ...
    @property
    def ci(self) -> tuple[float, float]: ...
    @property
    def threshold_se(self) -> float: ...
    @property
    def unbounded(self) -> bool: ...
    @property
    def position(self) -> str: ...
    @property
    def nobs(self) -> int: ...
    @property
    def n_items(self) -> int: ...
    @property
    def df_resid(self) -> int: ...
    @property
    def dispersion(self) -> float: ...
    @property
    def loglik(self) -> float: ...
    @property
    def aic(self) -> float: ...
    @property
    def aicc(self) -> float: ...
    @property
    def bic(self) -> float: ...
    @property
    def converged(self) -> bool: ...
    @property
    def separation(self) -> bool: ...
    @property
    def exists_pvalue(self) -> float | None: ...
    @property
    def candidates(self) -> Sequence[_Fit]: ...
    @property
    def weights(self) -> tuple[float, ...]: ...
    @property
    def free_names(self) -> tuple[str, ...]: ...
    @property
    def param_names(self) -> tuple[str, ...]: ...
    @property
    def estimates(self) -> tuple[float, ...]: ...
    @property
    def cov(self) -> tuple[tuple[float, ...], ...]: ...


def _g(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if math.isfinite(value) else str(value)


def _widths(ndata: int) -> list[int]:
    """Column widths (stub first) that align the tables' first columns and fill the width."""
    head = [_STUB] + [_COL] * (ndata - 1)
    return [*head, _WIDTH - sum(head) - ndata]


def _kind(fit: _Fit) -> str:
    if fit.threshold_kind == "recovery":
        return f"recovery, q={fit.recovery:g}"
    return fit.threshold_kind


def _interval_name(fit: _Fit) -> str:
    return f"model-average ({fit.interval})" if fit.method == "auto" else fit.interval


def _quasi(fit: _Fit) -> bool:
    """Whether ``dispersion`` is the quasi-binomial one (else a residual variance)."""
    return fit.family == "binomial" and fit.model in ("logistic", "gompertz")


def _top(fit: _Fit) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    left = [
        ("Model:", fit.model),
        ("Family:", fit.family),
        ("Method:", fit.method),
        ("Threshold:", _kind(fit)),
        ("No. runs:", str(fit.nobs)),
        ("No. items:", str(fit.n_items)),
        ("Df resid:", str(fit.df_resid)),
    ]
    right = [
        ("Dispersion:" if _quasi(fit) else "Sigma^2:", _g(fit.dispersion)),
        ("Log-likelihood:", _g(fit.loglik)),
        ("AIC:", _g(fit.aic)),
        ("AICc:", _g(fit.aicc)),
        ("BIC:", _g(fit.bic)),
        ("Converged:", str(fit.converged)),
    ]
    if fit.exists_pvalue is not None:
        right.append(("Exists p-value:", _g(fit.exists_pvalue, 3)))
    return left, right


def _notes(fit: _Fit) -> list[str]:
    lo, hi = fit.ci
    notes = [
        f"The threshold lies {fit.position}.",
        f"{fit.level:.0%} interval [{_g(lo)}, {_g(hi)}] by "
        + (
            f"model averaging ({fit.interval} rule)"
            if fit.method == "auto"
            else f"the {fit.interval} method"
        )
        + (", clipped to the tested range." if fit.unbounded else "."),
    ]
    if fit.family == "binomial" and fit.model not in ("logistic", "gompertz"):
        notes.append(
            f"The {fit.model} is fitted by least squares on the run proportions; its "
            "log-likelihood, AIC and BIC are the binomial ones of the counts at those fitted "
            "means, as the logistic's, so they compare."
        )
    if fit.separation:
        notes.append("Separation: all outcomes 0 or 1 at some x; fitted with the Firth penalty.")
    if fit.exists_pvalue is not None:
        notes.append(
            f"Exists p-value {_g(fit.exists_pvalue, 3)}: changepoint vs line, "
            "parametric-bootstrap LR test."
        )
    return [
        textwrap.fill(f"[{i}] {text}", _WIDTH, subsequent_indent="    ", break_on_hyphens=False)
        for i, text in enumerate(notes, 1)
    ]


def fit_summary(fit: _Fit) -> Summary:
    """Return the fit's ``statsmodels.iolib.summary.Summary``.

    Tables: model facts (two columns, as statsmodels' top table), the threshold with
    its standard error and interval, the curve parameters (estimate, standard error,
    whether the parameter was fixed), and for ``method="auto"`` the candidates' weights.
    Where the threshold lies among the tested values, the interval method, separation
    and the threshold-exists test are numbered notes.

    Parameters
    ----------
    fit : ThresholdFit
        The fit to describe.

    Returns
    -------
    statsmodels.iolib.summary.Summary
        ``str()`` gives the text; ``as_html()``, ``as_latex()`` the other formats.
    """
    from statsmodels.iolib.summary import Summary
    from statsmodels.iolib.table import SimpleTable
    from statsmodels.iolib.tableformatting import fmt_2cols, fmt_params

    left, right = _top(fit)
    right += [(" ", " ")] * (len(left) - len(right))
    top = SimpleTable(
        [[v] for _, v in left],
        None,
        [k for k, _ in left],
        title="ThresholdFit Results",
        txt_fmt=fmt_2cols,
    )
    top.extend_right(
        SimpleTable([[v] for _, v in right], None, [f"{'  ' + k:<21}" for k, _ in right])
    )

    def fmt(ndata: int) -> dict[str, object]:
        return {**fmt_params, "data_fmts": ["%s"], "colwidths": _widths(ndata)}

    lo, hi = fit.ci
    tail = (1 - fit.level) / 2
    threshold = SimpleTable(
        [[_g(fit.threshold), _g(fit.threshold_se), _g(lo), _g(hi), _interval_name(fit)]],
        ["estimate", "std err", f"[{tail:.3g}", f"{1 - tail:.3g}]", "interval"],
        ["threshold"],
        txt_fmt=fmt(5),
    )
    cov, rows = fit.cov, []
    for name, value in zip(fit.param_names, fit.estimates, strict=True):
        if name in fit.free_names:
            i = fit.free_names.index(name)
            rows.append([f"{value:.5g}", _g(math.sqrt(max(cov[i][i], 0.0))), "no"])
        else:
            rows.append([f"{value:.5g}", "-", "yes"])
    params = SimpleTable(
        rows, ["estimate", "std err", "fixed"], list(fit.param_names), txt_fmt=fmt(3)
    )
    summary = Summary()
    summary.tables += [top, threshold, params]
    if fit.weights:
        summary.tables.append(
            SimpleTable(
                [
                    [f"{w:.3f}", _g(c.threshold)]
                    for c, w in zip(fit.candidates, fit.weights, strict=True)
                ],
                ["weight", "threshold"],
                [c.model for c in fit.candidates],
                txt_fmt=fmt(2),
            )
        )
    summary.add_extra_txt(["Notes:", *_notes(fit)])
    return summary
