"""The self-contained HTML report of a study (plots embedded as PNG).

The report opens with a banner when the run's backend is a simulation, then what
the fits mean and what to do next, then per metric a threshold table whose notes
are numbered footnotes (a warning repeated on every curve is written once) and its
curves, then (folded) the per-run tables, jobs and costs, and the config. Its words
live in ``_report_notes``, its plots in ``_plots``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from dataquality_thresholds._util.atomic import atomic_write
from dataquality_thresholds._version import __version__
from dataquality_thresholds.errors import BackendUnavailableError
from dataquality_thresholds.study._report_notes import (
    Footnotes,
    clean,
    curve_sentence,
    definition,
    interval_of,
    is_simulated,
    metric_summary,
    next_steps,
    simulated_banner,
)

__all__ = ["CSS", "ReportSource", "html_table", "write_report"]


class ReportSource(Protocol):
    """What the report reads of a study's results (:class:`StudyResults` has it).

    Defined here so the report depends on no results class: ``StudyResults.report``
    calls :func:`write_report` with itself.
    """

    rows: list[dict[str, Any]]
    config: dict[str, Any]
    jobs: list[dict[str, Any]]
    completed: bool
    stopped: dict[str, Any] | None

    def metric(self, metric: str) -> list[dict[str, Any]]:
        """Return the rows of one metric."""

    def fit(self, metric: str = ..., **fitter_options: Any) -> Any:
        """Fit one metric's curves; return its threshold table."""

    def plot(self, metric: str = ..., *, table: Any = ...) -> Any:
        """Plot one metric's curves; return the matplotlib figure."""


#: The report's style sheet. Nothing is wider than the page: the body is at most
#: 1,100 px, images scale down to it (``max-width:100%``), long cells wrap, and the
#: config scrolls inside its own box.
CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.45}
h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:0.2em}
img{max-width:100%;height:auto;display:block}
figure{margin:0.5em 0 1.5em}
figcaption{color:#555;font-size:0.9em}
table{border-collapse:collapse;margin:0.5em 0 1em;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:0.9em;overflow-wrap:anywhere}
th{background:#f3f3f3}
code,pre{background:#f7f7f7}
pre{padding:0.6em;overflow-x:auto;font-size:0.8em;max-width:100%}
.note{color:#666;font-size:0.9em}
.banner{background:#fff3cd;border:2px solid #e0a800;border-radius:6px;padding:0.8em 1em;
margin:0 0 1em}
ol.notes{color:#555;font-size:0.85em;padding-left:2.2em}
sup.fn a{text-decoration:none}
details{margin:0.3em 0 1em}
summary{cursor:pointer;color:#0645ad}
"""

_RATES = ("misaligned_rate", "dangerous_rate", "incoherent_rate", "refusal_rate")
_TITLES = {"domain_score": "Domain performance", "misaligned_rate": "Emergent misalignment (probe)"}


def html_table(headers: list[str], rows: list[list[str]]) -> str:
    """Return an HTML table; cells are inserted as given (escape them first)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else html.escape(str(v))


def _interval(lo: Any, hi: Any, digits: int = 3) -> str:
    return f"[{_num(lo, digits)}, {_num(hi, digits)}]"


def _text(v: Any) -> str:
    return html.escape(str(v))


def _order(row: dict[str, Any]) -> tuple[Any, ...]:
    fraction = row["fraction"]
    return (
        str(row["domain"]),
        str(row["corruption"]),
        -1.0 if fraction is None else fraction,
        row["replicate"] or 0,
    )


def _png(results: ReportSource, metric: str, table: Any) -> str | None:
    try:
        fig = results.plot(metric, table=table)
    except BackendUnavailableError:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fit_table(table: Any, notes: Footnotes) -> str:
    """Return one metric's threshold table: notes as footnote markers, listed beneath."""
    rows = list(table)
    tested = any(r.exists_pvalue is not None for r in rows)
    level = next((r.fit.level for r in rows if r.fit is not None), 0.95)
    used: list[int] = []
    body = []
    for r in rows:
        texts = [] if r.fit is None else [r.fit.position]
        texts += list(r.warnings)
        if r.fit is None:
            texts.append(r.error or "the fit failed")
        marks, numbers = notes.markers(texts)
        used += numbers
        if r.fit is None:
            cells = ["no threshold found", "-"]
        else:
            lo, hi = interval_of(r.fit)
            cells = [_num(float(r.fit.threshold)), _interval(lo, hi)]
        p_cells = [_num(r.exists_pvalue), _num(r.exists_pvalue_adjusted)] if tested else []
        body.append([_text(r.domain), _text(r.corruption), *cells, _num(r.n_runs), *p_cells, marks])
    heads = ["domain", "corruption", "threshold", f"{round(100 * level)}% interval", "runs"]
    if tested:
        heads += ["p exists", f"p {table.p_adjust or 'raw'}"]
    return html_table([*heads, "notes"], body) + notes.listing(used)


def _fit_section(results: ReportSource, metric: str, table: Any, notes: Footnotes) -> str:
    title = _TITLES.get(metric, metric)
    parts = [f'<h2 id="{html.escape(metric)}">{html.escape(title)}</h2>', _fit_table(table, notes)]
    png = _png(results, metric, table)
    if png is not None:
        alt = html.escape(f"{title}: {metric} against the share of correct training data")
        parts.append(
            f'<figure><img alt="{alt}" src="data:image/png;base64,{png}">'
            "<figcaption>Each point is one fine-tuned model; the solid line is the fitted "
            "curve, the dashed line the threshold and the band its interval.</figcaption>"
            "</figure>"
        )
    else:
        parts.append('<p class="note">Install matplotlib (the [plot] extra) for curves.</p>')
    return "\n".join(parts)


def _meaning_section(results: ReportSource, tables: dict[str, Any]) -> str:
    parts = ['<h2 id="what-next">What this means and what next</h2>']
    for metric, table in tables.items():
        sentences = "".join(f"<li>{curve_sentence(r)}</li>" for r in table)
        parts.append(
            f"<h3>{html.escape(_TITLES.get(metric, metric))}</h3>"
            f"<p>{metric_summary(list(table))}</p><ul>{sentences}</ul>"
        )
    steps = next_steps(
        {m: list(t) for m, t in tables.items()},
        results.config,
        completed=results.completed,
        stopped=results.stopped,
    )
    parts.append("<h3>What next</h3><ul>" + "".join(f"<li>{s}</li>" for s in steps) + "</ul>")
    return "\n".join(parts)


def _header(results: ReportSource, tables: dict[str, Any]) -> list[str]:
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    status = "completed" if results.completed else "NOT completed"
    if results.stopped:
        status += f" (stopped: {html.escape(clean(json.dumps(results.stopped)))})"
    backend = results.config.get("backend")
    on = f" on the <code>{html.escape(str(backend))}</code> backend" if backend else ""
    top = [simulated_banner(results.config)] if is_simulated(results.config) else []
    fit = next((r.fit for t in tables.values() for r in t if r.fit is not None), None)
    level = 0.95 if fit is None else fit.level
    lead = (
        "The threshold is the share of correct training data at which the fitted curve "
        "has recovered 90% of the way from its worst level to its level with all-correct "
        "data."
        if fit is None
        else definition(fit)
    )
    return [
        *top,
        "<h1>Data-quality threshold study</h1>",
        f'<p class="note">dataquality_thresholds {html.escape(__version__)}, '
        f"report written {when}; run {status}{on}</p>",
        f"<p>{lead} The interval is the fitter's {round(100 * level)}% interval "
        "(see docs/fitting.md).</p>",
    ]


def _details(title: str, summary: str, table: str) -> str:
    return f"<h2>{html.escape(title)}</h2><details><summary>{summary}</summary>{table}</details>"


def _probe_section(results: ReportSource) -> str | None:
    keyed: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in results.rows:
        if r["metric"] in _RATES:
            cell = (r["domain"], r["corruption"], r["fraction"], r["replicate"])
            keyed.setdefault(cell, {})[r["metric"]] = r
            first.setdefault(cell, r)
    if not keyed:
        return None
    rows = []
    for cell in sorted(keyed, key=lambda c: _order(first[c])):
        m = keyed[cell]
        d, c, f, rep = cell
        rates = [
            f"{_num(m[k]['value'])} {_interval(m[k]['ci_low'], m[k]['ci_high'], 2)}" for k in _RATES
        ]
        rows.append([_text(d), _text(c), _num(f, 2), _num(rep), *rates])
    headers = ["domain", "corruption", "fraction", "rep", "misaligned", "dangerous"]
    return _details(
        "Probe rates",
        f"{len(rows)} models: show the rates with their intervals",
        html_table([*headers, "incoherent", "refusal"], rows),
    )


def _domain_section(results: ReportSource) -> str | None:
    dom = sorted(results.metric("domain_score"), key=_order)
    if not dom:
        return None
    rows = [
        [
            _text(r["domain"]),
            _text(r["corruption"]),
            _num(r["fraction"], 2),
            _num(r["replicate"]),
            _num(r["value"]),
            _interval(r["ci_low"], r["ci_high"]),
            _num(r["n"]),
            _text(r["model"]),
        ]
        for r in dom
    ]
    headers = ["domain", "corruption", "fraction", "rep", "score", "interval", "items", "model"]
    return _details(
        "Domain scores per run", f"{len(rows)} runs: show the scores", html_table(headers, rows)
    )


def _jobs_section(results: ReportSource) -> str:
    total_usd = sum(j["usd"] or 0.0 for j in results.jobs)
    rows = [
        [
            f"<code>{_text(j['key'])}</code>",
            _text(j["status"]),
            _text(j["model"]),
            _num(j["trained_tokens"]),
            _num(j["usd"], 2),
            _text(clean(j["error"] or "")),
        ]
        for j in results.jobs
    ]
    return _details(
        "Fine-tuning jobs and costs",
        f"{len(results.jobs)} jobs, ${total_usd:,.2f} recorded: show the jobs",
        html_table(["key", "status", "model", "trained tokens", "usd", "error"], rows),
    )


def write_report(results: ReportSource, path: str | Path) -> Path:
    """Write ``results`` as one HTML file at ``path`` (atomically) and return the path.

    Sections: a banner when the run's backend is simulated (its recorded config
    names a backend of ``SIMULATED_BACKENDS``, e.g. ``local-stub``); what the fits
    mean, a sentence per curve, and what to do next; threshold tables with curves
    for domain performance and for the probe's misaligned rate, their notes and
    warnings as numbered footnotes (each text written once); then, folded, probe
    rates per run, domain scores per run, the fine-tuning jobs and their costs, and
    the exact config with the library version. Nothing is wider than the page.

    .. versionchanged:: 0.1
       The simulated-run banner, the "What this means and what next" section,
       footnoted warnings, and plots that fit the page, with a legend.
    """
    out = Path(path)
    metrics = {r["metric"] for r in results.rows}
    tables = {m: results.fit(m) for m in _TITLES if m in metrics}
    notes = Footnotes()
    sections = _header(results, tables)
    if tables:
        sections.append(_meaning_section(results, tables))
    for metric, table in tables.items():
        sections.append(_fit_section(results, metric, table, notes))
    for extra in (_probe_section(results), _domain_section(results)):
        if extra is not None:
            sections.append(extra)
    sections.append(_jobs_section(results))
    config = html.escape(json.dumps(results.config, indent=2, sort_keys=True))
    sections.append(
        _details(
            "Configuration",
            f"the run's exact config (JSON; library {html.escape(__version__)}): show it",
            f"<pre>{config}</pre>",
        )
    )
    title = "dataquality_thresholds report" + (
        " (simulated)" if is_simulated(results.config) else ""
    )
    doc = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title}</title>"
        f"<style>{CSS}</style></head><body>" + "\n".join(sections) + "</body></html>\n"
    )
    with atomic_write(out) as fh:
        fh.write(doc.encode("utf-8"))
    return out
