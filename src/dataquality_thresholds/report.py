"""The self-contained HTML report of a study (plots embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._util.atomic import atomic_write
from ._version import __version__
from .errors import BackendUnavailableError

if TYPE_CHECKING:
    from .results import StudyResults, ThresholdTable

__all__ = ["write_report"]

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:0.9em}
th{background:#f3f3f3}code,pre{background:#f7f7f7}pre{padding:0.6em;overflow-x:auto;font-size:0.8em}
.note{color:#666;font-size:0.9em}
"""


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else html.escape(str(v))


def _png(results: StudyResults, metric: str, table: ThresholdTable) -> str | None:
    try:
        fig = results.plot(metric, table=table)
    except BackendUnavailableError:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fit_section(results: StudyResults, metric: str, title: str) -> str:
    table = results.fit(metric)
    parts = [f"<h2>{html.escape(title)}</h2>", table._repr_html_()]
    png = _png(results, metric, table)
    if png is not None:
        parts.append(f'<img alt="{html.escape(metric)} curves" src="data:image/png;base64,{png}">')
    else:
        parts.append('<p class="note">Install matplotlib (the [plot] extra) for curves.</p>')
    return "\n".join(parts)


def write_report(results: StudyResults, path: str | Path) -> Path:
    """Write ``results`` as one HTML file at ``path`` (atomically) and return the path."""
    out = Path(path)
    metrics = {r["metric"] for r in results.rows}
    sections = [
        "<h1>Data-quality threshold study</h1>",
        f'<p class="note">dataquality_thresholds {html.escape(__version__)}, report written '
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}; run "
        f"{'completed' if results.completed else 'NOT completed'}"
        + (f" (stopped: {html.escape(json.dumps(results.stopped))})" if results.stopped else "")
        + "</p>",
        "<p>The threshold is the share of correct training data at which the fitted curve has "
        "recovered 90% of the gap between its floor and its value at 100% correct data "
        "(see docs/fitting.md); the interval is the fitter's default 95% interval.</p>",
    ]
    if "domain_score" in metrics:
        sections.append(_fit_section(results, "domain_score", "Domain performance"))
    if "misaligned_rate" in metrics:
        sections.append(_fit_section(results, "misaligned_rate", "Emergent misalignment (probe)"))
    probe = [
        r
        for r in results.rows
        if r["metric"] in ("misaligned_rate", "dangerous_rate", "incoherent_rate", "refusal_rate")
    ]
    if probe:
        keyed: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in probe:
            keyed.setdefault((r["domain"], r["corruption"], r["fraction"], r["replicate"]), {})[
                r["metric"]
            ] = r
        body = []
        for (d, c, f, rep), m in sorted(
            keyed.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or -1, kv[0][3] or 0)
        ):
            cells = "".join(
                f"<td>{_num(m[k]['value'])} [{_num(m[k]['ci_low'], 2)}, {_num(m[k]['ci_high'], 2)}]</td>"
                for k in ("misaligned_rate", "dangerous_rate", "incoherent_rate", "refusal_rate")
            )
            body.append(
                f"<tr><td>{d}</td><td>{c}</td><td>{_num(f, 2)}</td><td>{_num(rep)}</td>{cells}</tr>"
            )
        sections.append(
            "<h2>Probe rates</h2><table><tr><th>domain</th><th>corruption</th><th>fraction</th><th>rep</th>"
            "<th>misaligned</th><th>dangerous</th><th>incoherent</th><th>refusal</th></tr>"
            + "".join(body)
            + "</table>"
        )
    dom = sorted(
        results.metric("domain_score"),
        key=lambda r: (r["domain"], r["corruption"], r["fraction"] or -1, r["replicate"] or 0),
    )
    if dom:
        body = "".join(
            f"<tr><td>{r['domain']}</td><td>{r['corruption']}</td><td>{_num(r['fraction'], 2)}</td>"
            f"<td>{_num(r['replicate'])}</td><td>{_num(r['value'])}</td><td>[{_num(r['ci_low'])}, {_num(r['ci_high'])}]</td>"
            f"<td>{_num(r['n'])}</td><td>{html.escape(str(r['model']))}</td></tr>"
            for r in dom
        )
        sections.append(
            "<h2>Domain scores per run</h2><table><tr><th>domain</th><th>corruption</th><th>fraction</th><th>rep</th>"
            "<th>score</th><th>interval</th><th>items</th><th>model</th></tr>" + body + "</table>"
        )
    total_usd = sum(j["usd"] or 0.0 for j in results.jobs)
    body = "".join(
        f"<tr><td><code>{html.escape(j['key'])}</code></td><td>{html.escape(str(j['status']))}</td>"
        f"<td>{html.escape(str(j['model']))}</td><td>{_num(j['trained_tokens'])}</td><td>{_num(j['usd'], 2)}</td>"
        f"<td>{html.escape(str(j['error'] or ''))}</td></tr>"
        for j in results.jobs
    )
    sections.append(
        f"<h2>Fine-tuning jobs and costs</h2><p>{len(results.jobs)} jobs, ${total_usd:,.2f} recorded.</p>"
        "<table><tr><th>key</th><th>status</th><th>model</th><th>trained tokens</th><th>usd</th><th>error</th></tr>"
        + body
        + "</table>"
    )
    sections.append(
        "<h2>Configuration</h2><pre>"
        + html.escape(json.dumps(results.config, indent=2, sort_keys=True))
        + "</pre>"
    )
    doc = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>dataquality_thresholds report</title>"
        f"<style>{_CSS}</style></head><body>" + "\n".join(sections) + "</body></html>\n"
    )
    with atomic_write(out) as fh:
        fh.write(doc.encode("utf-8"))
    return out
