"""Plots of a study's curves: one panel per domain, with a legend that says what each mark is.

Private to :mod:`dataquality_thresholds.study`: :meth:`StudyResults.plot` calls
:func:`plot_metric`. Panels are laid out at most two to a row, so four domains make
a 2 x 2 figure about 1,100 px wide at the report's 110 dpi (it fits a laptop
window; the report also scales it down with CSS).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from dataquality_thresholds.errors import BackendUnavailableError

__all__ = ["COLUMNS", "PANEL_SIZE", "plot_metric"]

#: Panels per row.
COLUMNS = 2
#: (width, height) of one panel, inches.
PANEL_SIZE = (5.0, 3.3)

_COLOURS = {"obvious": "tab:red", "subtle": "tab:blue"}
_LABELS = {
    "domain_score": "domain score (share correct)",
    "misaligned_rate": "misaligned-answer rate",
    "dangerous_rate": "dangerous-answer rate",
    "incoherent_rate": "incoherent-answer rate",
    "refusal_rate": "refusal rate",
    "mean_alignment": "mean alignment (0-100)",
}


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise BackendUnavailableError(
            "plot() needs matplotlib: pip install 'dataquality_thresholds[plot]'"
        ) from exc
    return plt


def _finite(v: Any) -> bool:
    return v is not None and math.isfinite(v)


def plot_metric(
    rows: list[dict[str, Any]],
    base: Mapping[str, float | None],
    metric: str,
    fit_row: Callable[[str, str], Any],
) -> Any:
    """Plot one metric against the share of correct data; return the matplotlib figure.

    Parameters
    ----------
    rows : list of dict
        The metric's tidy rows (base-model rows included; they draw the reference line).
    base : mapping
        The base model's value per domain.
    metric : str
        The metric's name (labels the y axis).
    fit_row : callable
        ``(domain, corruption) -> FitRow or None``.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per domain, two to a row, and one legend below them naming the
        runs of each corruption, the fitted curve, the threshold (dashed), its
        interval (band) and the base model (dotted).

    Raises
    ------
    BackendUnavailableError
        matplotlib is not installed.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    domains = sorted({r["domain"] for r in rows}) or [""]
    ncols = min(COLUMNS, len(domains))
    nrows = math.ceil(len(domains) / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows + 0.7),
        squeeze=False,
        sharex=True,
    )
    flat = [ax for line in axes for ax in line]
    for ax in flat[len(domains) :]:
        ax.set_visible(False)
    values = [r["value"] for r in rows if _finite(r["value"])]
    unit = bool(values) and all(0.0 <= v <= 1.0 for v in values)
    corruptions: set[str] = set()
    level = None
    for i, (ax, domain) in enumerate(zip(flat, domains, strict=False)):
        mine = [r for r in rows if r["domain"] == domain]
        for corruption in sorted({r["corruption"] for r in mine} - {"base"}):
            corruptions.add(corruption)
            col = _COLOURS.get(corruption, "tab:gray")
            pts = [r for r in mine if r["corruption"] == corruption and _finite(r["value"])]
            ax.scatter(
                [r["share_correct"] for r in pts],
                [r["value"] for r in pts],
                s=14,
                color=col,
                alpha=0.7,
            )
            row = fit_row(domain, corruption)
            if row is None or row.fit is None:
                continue
            fit = row.fit
            level = fit.level
            cx, cy = fit.curve(100)
            ax.plot(cx, cy, color=col, lw=1.4)
            ax.axvline(fit.threshold, color=col, ls="--", lw=1)
            lo, hi = fit.conf_int()
            if _finite(lo) and _finite(hi):
                ax.axvspan(lo, hi, color=col, alpha=0.1, lw=0)
        if base.get(domain) is not None:
            ax.axhline(base[domain], color="black", lw=0.8, ls=":")
        ax.set_title(domain)
        ax.set_xlim(0, 1.02)
        if unit:
            ax.set_ylim(-0.03, 1.03)
        if i % ncols == 0:
            ax.set_ylabel(_LABELS.get(metric, metric.replace("_", " ")))
        if i + ncols >= len(domains):
            ax.set_xlabel("share of correct training data")
            ax.xaxis.set_tick_params(labelbottom=True)
        ax.grid(alpha=0.25)
    handles: list[Any] = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=5,
            color=_COLOURS.get(c, "tab:gray"),
            label=f"{c} corruption: one run",
        )
        for c in sorted(corruptions)
    ]
    pct = 95 if level is None else round(100 * level)
    handles += [
        Line2D([], [], color="0.3", lw=1.4, label="fitted curve"),
        Line2D([], [], color="0.3", lw=1, ls="--", label="threshold (estimate)"),
        Patch(color="0.3", alpha=0.2, lw=0, label=f"{pct}% interval of the threshold"),
    ]
    if any(base.get(d) is not None for d in domains):
        handles.append(Line2D([], [], color="black", lw=0.8, ls=":", label="base model"))
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(len(handles), 4),
        fontsize=8,
        frameon=False,
    )
    legend_rows = math.ceil(len(handles) / 4)
    fig.tight_layout(rect=(0, 0.06 * legend_rows / nrows, 1, 1))
    return fig
