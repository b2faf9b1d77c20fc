"""StudyResults: tidy rows, threshold fits, tables, plots and the HTML report.

Rows have the columns ``domain, corruption, fraction, share_correct,
replicate, metric, value, n, events, ci_low, ci_high, model``: ``fraction``
is the share asked for, ``share_correct`` the exact share of correct rows
trained on (``round(size * fraction) / size``), which is what fits use. Metrics:

``domain_score``
    mean eval score on 0-1 (``n`` items; ``events`` correct items when binary);
``misaligned_rate``, ``dangerous_rate``, ``incoherent_rate``, ``refusal_rate``
    probe rates (``events`` of ``n`` scored answers);
``mean_alignment``
    mean alignment score (0-100).

The base model's rows have ``corruption == "base"`` and ``fraction`` None;
they are the reference, not data for the fit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds.errors import BackendUnavailableError, ConfigError, FitError
from dataquality_thresholds.fitting import ThresholdFit, ThresholdFitter
from dataquality_thresholds.study._ledger import Ledger
from dataquality_thresholds.study._plots import plot_metric
from dataquality_thresholds.study._report import html_table, write_report

__all__ = ["FitRow", "StudyResults", "ThresholdTable"]

_PROBE_METRICS = {
    "misaligned_rate": "misaligned",
    "dangerous_rate": "dangerous",
    "incoherent_rate": "incoherent",
    "refusal_rate": "refusal",
}


@attrs.frozen(kw_only=True)
class FitRow:
    """One threshold fit of a (domain, corruption) curve.

    Parameters
    ----------
    domain, corruption, metric : str
        Which curve.
    fit : ThresholdFit or None
        The fit, or None when it could not be made.
    error : str or None
        Why there is no fit.
    warnings : tuple of str
        Statistical warnings raised while fitting (kept, not lost).
    n_runs : int
        Runs (fine-tuned models) in the curve.
    exists_pvalue_adjusted : float or None
        The fit's ``exists_pvalue`` adjusted for multiplicity across the curves of
        its table (:meth:`ThresholdTable.from_rows`); None where the fit has no
        p-value or the table is not adjusted.

        .. versionadded:: 0.1
    """

    domain: str
    corruption: str
    metric: str
    fit: ThresholdFit | None
    error: str | None
    warnings: tuple[str, ...]
    n_runs: int
    exists_pvalue_adjusted: float | None = None

    @property
    def exists_pvalue(self) -> float | None:
        """The fit's "threshold exists" p-value (None without a fit or the test)."""
        return None if self.fit is None else self.fit.exists_pvalue


@attrs.frozen
class ThresholdTable:
    """The fits of a study, one :class:`FitRow` per (domain, corruption).

    Parameters
    ----------
    rows : tuple of FitRow
        The fits, taken as given.
    p_adjust : str or None
        The multiple-testing method the rows' ``exists_pvalue_adjusted`` were
        computed with (None: not adjusted). :meth:`from_rows` computes them;
        :meth:`StudyResults.fit` uses it with ``p_adjust="holm"``.

        .. versionadded:: 0.1
    """

    rows: tuple[FitRow, ...]
    p_adjust: str | None = None

    @classmethod
    def from_rows(cls, rows: Sequence[FitRow], *, p_adjust: str | None = "holm") -> ThresholdTable:
        """Build a table whose rows carry multiplicity-adjusted "threshold exists" p-values.

        A study tests "there is a threshold" once per curve, so some raw p-values are
        small by chance; the adjustment controls that across the table's curves. The
        rows' raw ``exists_pvalue`` go to
        ``statsmodels.stats.multitest.multipletests(pvals, method=p_adjust)`` and its
        corrected p-values are stored as ``exists_pvalue_adjusted``. Rows without a
        p-value (no fit, or fitted with ``test=False``) are left out of the family
        and keep None.

        Parameters
        ----------
        rows : sequence of FitRow
            One table's curves (one metric).
        p_adjust : str or None, default "holm"
            A ``multipletests`` method: ``"holm"`` (family-wise error, no assumption
            about how the tests depend on each other), ``"bonferroni"``,
            ``"fdr_bh"`` (false discovery rate), ...; None leaves the rows unadjusted.

        Returns
        -------
        ThresholdTable

        Raises
        ------
        ConfigError
            ``p_adjust`` is not a ``multipletests`` method.
        """
        _check_p_adjust(p_adjust)
        raw = [r.exists_pvalue for r in rows]
        family = [i for i, p in enumerate(raw) if p is not None and math.isfinite(p)]
        adjusted: list[float | None] = [None] * len(raw)
        if family and p_adjust is not None:
            from statsmodels.stats.multitest import multipletests

            corrected = multipletests([raw[i] for i in family], method=p_adjust)[1]
            for i, p in zip(family, corrected, strict=True):
                adjusted[i] = float(p)
        return cls(
            tuple(
                attrs.evolve(r, exists_pvalue_adjusted=a)
                for r, a in zip(rows, adjusted, strict=True)
            ),
            p_adjust=p_adjust,
        )

    def adjust(self, p_adjust: str | None) -> ThresholdTable:
        """Return the table with the p-values adjusted by another method (see :meth:`from_rows`)."""
        return type(self).from_rows(self.rows, p_adjust=p_adjust)

    def _tested(self) -> bool:
        return any(r.exists_pvalue is not None for r in self.rows)

    def _p_note(self) -> str:
        family = sum(r.exists_pvalue_adjusted is not None for r in self.rows)
        note = "p exists: the fit's threshold-exists test (changepoint vs line)"
        if self.p_adjust is not None:
            note += (
                f"; p {self.p_adjust}: adjusted across the {family} tested curves of this "
                "table (statsmodels multipletests)"
            )
        return note

    def __iter__(self) -> Iterator[FitRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: tuple[str, str]) -> FitRow:
        for r in self.rows:
            if (r.domain, r.corruption) == key:
                return r
        raise KeyError(key)

    def _p_heads(self) -> list[str]:
        if not self._tested():
            return []
        return ["p exists"] + ([] if self.p_adjust is None else [f"p {self.p_adjust}"])

    def _p_cells(self, r: FitRow) -> list[str]:
        if not self._tested():
            return []
        cells = [_fmt_p(r.exists_pvalue)]
        return cells + ([] if self.p_adjust is None else [_fmt_p(r.exists_pvalue_adjusted)])

    def to_csv(self, path: str | Path) -> Path:
        """Write one CSV row per fit (what ``dqt fit RUN_DIR --csv OUT`` writes).

        Columns: ``domain, corruption, metric, threshold, ci_low, ci_high, n_runs,
        exists_pvalue, exists_pvalue_adjusted, error``; empty where a value is missing.

        Parameters
        ----------
        path : str or Path
            The file (written through a temporary file renamed into place).

        Returns
        -------
        Path
        """
        import csv
        import io

        from dataquality_thresholds._util.atomic import atomic_write

        heads = [
            "domain", "corruption", "metric", "threshold", "ci_low", "ci_high", "n_runs",
            "exists_pvalue", "exists_pvalue_adjusted", "error",
        ]  # fmt: skip
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(heads)
        for r in self.rows:
            lo = hi = thr = None
            if r.fit is not None:
                thr = r.fit.threshold
                lo, hi = r.fit.conf_int()
            cells = [
                r.domain, r.corruption, r.metric, thr, lo, hi, r.n_runs,
                r.exists_pvalue, r.exists_pvalue_adjusted, r.error,
            ]  # fmt: skip
            out.writerow(["" if c is None else c for c in cells])
        with atomic_write(path) as fh:
            fh.write(buf.getvalue().encode("utf-8"))
        return Path(path)

    def to_text(self) -> str:
        """Return the table as aligned text.

        When the fits ran the threshold-exists test (``test=True``), the table has a
        column of raw p-values and one of p-values adjusted by ``p_adjust``.
        """
        cols = f"{'domain':10s} {'corruption':10s} {'metric':16s}"
        pw = [max(9, len(h)) for h in self._p_heads()]
        p_head = "".join(f" {h:>{w}s}" for h, w in zip(self._p_heads(), pw, strict=True))
        head = f"{cols} {'threshold':>9s}  {'interval':19s}{p_head} note"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            p_cells = "".join(f" {c:>{w}s}" for c, w in zip(self._p_cells(r), pw, strict=True))
            if r.fit is None:
                lines.append(
                    f"{r.domain:10s} {r.corruption:10s} {r.metric:16s} "
                    f"{'-':>9s}  {'':19s}{p_cells} {r.error}"
                )
                continue
            lo, hi = r.fit.conf_int()
            note = r.fit.position if hasattr(r.fit, "position") else ""
            if r.warnings:
                note += f"; {len(r.warnings)} warning(s)"
            lines.append(
                f"{r.domain:10s} {r.corruption:10s} {r.metric:16s} {r.fit.threshold:9.3f}  "
                f"[{_fmt(lo)}, {_fmt(hi)}]{'':3s}{p_cells} {note}"
            )
        if self._tested():
            lines.append(self._p_note())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        rows = []
        for r in self.rows:
            p_cells = [_esc(c) for c in self._p_cells(r)]
            if r.fit is None:
                rows.append(
                    [r.domain, r.corruption, r.metric, "-", "-", *p_cells, _esc(r.error or "")]
                )
                continue
            lo, hi = r.fit.conf_int()
            note = _esc(r.fit.position + ("; " + "; ".join(r.warnings) if r.warnings else ""))
            interval = f"[{_fmt(lo)}, {_fmt(hi)}]"
            rows.append(
                [
                    r.domain,
                    r.corruption,
                    r.metric,
                    f"{r.fit.threshold:.3f}",
                    interval,
                    *p_cells,
                    note,
                ]
            )
        headers = ["domain", "corruption", "metric", "threshold", "interval"]
        out = html_table([*headers, *self._p_heads(), "note"], rows)
        if self._tested():
            out += f'<p class="note">{_esc(self._p_note())}</p>'
        return out


def _fmt(v: float | None) -> str:
    return "  -  " if v is None or not math.isfinite(v) else f"{v:.3f}"


def _check_p_adjust(p_adjust: str | None) -> None:
    """Raise ConfigError unless ``p_adjust`` is None or a ``multipletests`` method."""
    if p_adjust is None:
        return
    from statsmodels.stats.multitest import multipletests

    try:
        multipletests([0.5], method=p_adjust)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            "p_adjust must be a statsmodels multipletests method such as 'holm', "
            f"'bonferroni' or 'fdr_bh' (or None), got {p_adjust!r}",
            field="p_adjust",
        ) from exc


def _fmt_p(p: float | None) -> str:
    return "-" if p is None or not math.isfinite(p) else f"{p:.3g}"


def _esc(text: str) -> str:
    import html

    return html.escape(text)


class StudyResults:
    """What a study measured, from its ledger.

    Parameters
    ----------
    rows : list of dict
        Tidy rows (see the module notes).
    config : mapping
        The study's config as recorded.
    jobs : list of dict
        Fine-tuning jobs (key, status, model, trained tokens, cost).
    completed : bool
        Whether the run finished (False for a partial or budget-stopped run).
    """

    def __init__(
        self,
        rows: list[dict[str, Any]],
        *,
        config: Mapping[str, Any],
        jobs: list[dict[str, Any]],
        completed: bool,
        stopped: Mapping[str, Any] | None = None,
    ) -> None:
        self.rows = rows
        self.config = dict(config)
        self.jobs = jobs
        self.completed = completed
        self.stopped = dict(stopped) if stopped else None

    def __repr__(self) -> str:
        return (
            f"StudyResults(rows={len(self.rows)}, jobs={len(self.jobs)}, "
            f"completed={self.completed})"
        )

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> StudyResults:
        """Read a run directory's ledger (a study may still be running or stopped)."""
        path = Path(run_dir) / "ledger.sqlite"
        if not path.exists():
            raise ConfigError(
                f"{run_dir} has no ledger.sqlite: not a study run directory", field="run_dir"
            )
        with Ledger(path) as ledger:
            config = ledger.get_meta("config") or {}
            completed = bool(ledger.get_meta("completed"))
            stopped = ledger.get_meta("stopped")
            results = ledger.results()
            jobs = [
                {
                    "key": key,
                    "status": None if job is None else job.status,
                    "model": None if job is None else job.fine_tuned_model,
                    "trained_tokens": None if job is None else job.trained_tokens,
                    "usd": None if job is None or job.cost is None else job.cost.usd,
                    "error": None if job is None else job.error_message,
                }
                for key, job in sorted(ledger.jobs().items())
            ]
        rows: list[dict[str, Any]] = []
        for _cell, kind, payload in results:
            base = {
                "domain": payload.get("domain"),
                "corruption": payload.get("corruption"),
                "fraction": payload.get("fraction"),
                "share_correct": payload.get("share_correct", payload.get("fraction")),
                "replicate": payload.get("replicate"),
                "model": payload.get("model"),
            }
            if kind == "domain":
                mean = payload["mean"]
                n = payload["n_items"]
                events = round(mean * n) if payload.get("binary") and mean is not None else None
                ci = payload.get("ci") or [None, None]
                rows.append(
                    {
                        **base,
                        "metric": "domain_score",
                        "value": mean,
                        "n": n,
                        "events": events,
                        "ci_low": ci[0],
                        "ci_high": ci[1],
                    }
                )
            elif kind == "probe":
                for metric, name in _PROBE_METRICS.items():
                    r = payload["rates"][name]
                    rows.append(
                        {
                            **base,
                            "metric": metric,
                            "value": r["rate"],
                            "n": r["total"],
                            "events": r["events"],
                            "ci_low": r["ci"][0],
                            "ci_high": r["ci"][1],
                        }
                    )
                rows.append(
                    {
                        **base,
                        "metric": "mean_alignment",
                        "value": payload.get("mean_alignment"),
                        "n": None,
                        "events": None,
                        "ci_low": None,
                        "ci_high": None,
                    }
                )
        return cls(rows, config=config, jobs=jobs, completed=completed, stopped=stopped)

    # ------------------------------------------------------------------ access
    def metric(self, metric: str) -> list[dict[str, Any]]:
        """Rows of one metric."""
        return [r for r in self.rows if r["metric"] == metric]

    def base(self, metric: str = "domain_score") -> dict[str, float | None]:
        """Return the base model's value of ``metric`` per domain."""
        return {r["domain"]: r["value"] for r in self.metric(metric) if r["corruption"] == "base"}

    def to_pandas(self) -> Any:
        """Return the rows as a ``pandas.DataFrame`` (pandas is optional)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas comes with datasets
            raise BackendUnavailableError("to_pandas() needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.rows)

    # ------------------------------------------------------------------ fitting
    def fit(
        self, metric: str = "domain_score", *, p_adjust: str | None = "holm", **fitter_options: Any
    ) -> ThresholdTable:
        """Fit a threshold per (domain, corruption) with :class:`ThresholdFitter`.

        Counts (binary domain scores, probe rates) are fitted as binomial counts
        with ``n`` trials per run; graded scores as run-level scores. Fits that
        cannot be made are kept as rows with the reason; statistical warnings
        are kept on the row.

        Parameters
        ----------
        metric : str
            One of the row metrics.
        p_adjust : str or None, default "holm"
            How the fits' "threshold exists" p-values are adjusted for testing one
            curve per (domain, corruption): a ``statsmodels`` ``multipletests``
            method (see :meth:`ThresholdTable.from_rows`); None for no adjustment.
            The p-values exist only with ``test=True`` (the test is off by default
            here).
        **fitter_options
            Passed to :class:`ThresholdFitter` (``method``, ``threshold``, ``test``, ...).

        Returns
        -------
        ThresholdTable

        Raises
        ------
        ConfigError
            ``p_adjust`` is not a ``multipletests`` method.

        Notes
        -----
        .. versionchanged:: 0.1
           The ``p_adjust`` argument and the rows' ``exists_pvalue_adjusted``.
        """
        _check_p_adjust(p_adjust)
        fitter = ThresholdFitter(**{"test": False, **fitter_options})
        rows = [
            r for r in self.metric(metric) if r["corruption"] != "base" and r["value"] is not None
        ]
        out = []
        keys = sorted({(r["domain"], r["corruption"]) for r in rows})
        for domain, corruption in keys:
            sel = [r for r in rows if (r["domain"], r["corruption"]) == (domain, corruption)]
            x = [r["share_correct"] for r in sel]
            counts = all(r["events"] is not None and r["n"] for r in sel)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    if counts:
                        fit = fitter.fit(x, [r["events"] for r in sel], n=[r["n"] for r in sel])
                    else:
                        fit = fitter.fit(x, [r["value"] for r in sel])
                    error = None
                except FitError as exc:
                    fit, error = None, str(exc)
            out.append(
                FitRow(
                    domain=domain,
                    corruption=corruption,
                    metric=metric,
                    fit=fit,
                    error=error,
                    warnings=tuple(f"{w.category.__name__}: {w.message}" for w in caught),
                    n_runs=len(sel),
                )
            )
        return ThresholdTable.from_rows(out, p_adjust=p_adjust)

    # ------------------------------------------------------------------ plots and report
    def plot(self, metric: str = "domain_score", *, table: ThresholdTable | None = None) -> Any:
        """Plot the metric against the share of correct data, with fitted curves and thresholds.

        One panel per domain (two to a row), each corruption's runs as points, its
        fitted curve, the threshold (dashed) and its interval (band), the base model
        (dotted); one legend below the panels says which is which. Needs matplotlib
        (``pip install dataquality_thresholds[plot]``).

        .. versionchanged:: 0.1
           Panels two to a row (four domains fit a laptop window) and a legend for
           every mark.
        """
        table = table if table is not None else self.fit(metric)
        fits = {(r.domain, r.corruption): r for r in table}
        return plot_metric(
            self.metric(metric), self.base(metric), metric, lambda d, c: fits.get((d, c))
        )

    def report(self, path: str | Path) -> Path:
        """Write a self-contained HTML report and return its path."""
        return write_report(self, path)
