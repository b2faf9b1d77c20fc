"""The self-contained HTML report of a study (plots embedded as PNG)."""

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

__all__ = ["ReportSource", "html_table", "write_report"]


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


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:0.9em}
th{background:#f3f3f3}
code,pre{background:#f7f7f7}
pre{padding:0.6em;overflow-x:auto;font-size:0.8em}
.note{color:#666;font-size:0.9em}
"""

_RATES = ("misaligned_rate", "dangerous_rate", "incoherent_rate", "refusal_rate")


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


def _fit_section(results: ReportSource, metric: str, title: str) -> str:
    table = results.fit(metric)
    parts = [f"<h2>{html.escape(title)}</h2>", table._repr_html_()]
    png = _png(results, metric, table)
    if png is not None:
        alt = html.escape(metric)
        parts.append(f'<img alt="{alt} curves" src="data:image/png;base64,{png}">')
    else:
        parts.append('<p class="note">Install matplotlib (the [plot] extra) for curves.</p>')
    return "\n".join(parts)


def _header(results: ReportSource) -> list[str]:
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    status = "completed" if results.completed else "NOT completed"
    if results.stopped:
        status += f" (stopped: {html.escape(json.dumps(results.stopped))})"
    return [
        "<h1>Data-quality threshold study</h1>",
        f'<p class="note">dataquality_thresholds {html.escape(__version__)}, '
        f"report written {when}; run {status}</p>",
        "<p>The threshold is the share of correct training data at which the fitted curve "
        "has recovered 90% of the gap between its floor and its value at 100% correct "
        "data (see docs/fitting.md); the interval is the fitter's default 95% interval.</p>",
    ]


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
    return "<h2>Probe rates</h2>" + html_table([*headers, "incoherent", "refusal"], rows)


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
    return "<h2>Domain scores per run</h2>" + html_table(headers, rows)


def _jobs_section(results: ReportSource) -> str:
    total_usd = sum(j["usd"] or 0.0 for j in results.jobs)
    rows = [
        [
            f"<code>{_text(j['key'])}</code>",
            _text(j["status"]),
            _text(j["model"]),
            _num(j["trained_tokens"]),
            _num(j["usd"], 2),
            _text(j["error"] or ""),
        ]
        for j in results.jobs
    ]
    return (
        "<h2>Fine-tuning jobs and costs</h2>"
        f"<p>{len(results.jobs)} jobs, ${total_usd:,.2f} recorded.</p>"
        + html_table(["key", "status", "model", "trained tokens", "usd", "error"], rows)
    )


def write_report(results: ReportSource, path: str | Path) -> Path:
    """Write ``results`` as one HTML file at ``path`` (atomically) and return the path.

    Sections: threshold tables with curves for domain performance and for the
    probe's misaligned rate, probe rates per run, domain scores per run, the
    fine-tuning jobs and their costs, and the exact config with the library version.
    """
    out = Path(path)
    metrics = {r["metric"] for r in results.rows}
    sections = _header(results)
    if "domain_score" in metrics:
        sections.append(_fit_section(results, "domain_score", "Domain performance"))
    if "misaligned_rate" in metrics:
        sections.append(_fit_section(results, "misaligned_rate", "Emergent misalignment (probe)"))
    for extra in (_probe_section(results), _domain_section(results)):
        if extra is not None:
            sections.append(extra)
    sections.append(_jobs_section(results))
    config = html.escape(json.dumps(results.config, indent=2, sort_keys=True))
    sections.append(f"<h2>Configuration</h2><pre>{config}</pre>")
    doc = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<title>dataquality_thresholds report</title>"
        f"<style>{_CSS}</style></head><body>" + "\n".join(sections) + "</body></html>\n"
    )
    with atomic_write(out) as fh:
        fh.write(doc.encode("utf-8"))
    return out
