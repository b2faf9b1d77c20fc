"""The quick coverage check: a dozen representative cells, enough replications to see 0.015.

``python benchmarks/coverage.py --quick`` runs it (see that script for the simulation
design). Each study is fitted once with ``method="auto"``, which fits the default
logistic (profile interval), the Gompertz-type curve and the hinge as its candidates, so
one fit measures the default logistic, each candidate alone and every model-averaging
rule on the same simulated data. Midpoint cells fit the logistic alone (``auto``
averages the recovery threshold only).

Cells: correctly specified (logistic truth) at a tested fraction, between two, near
1.0 and the midpoint definition; misspecified truths (the Gompertz-type curve, inside
``auto``'s family; the hinge; and a Gompertz curve of the opposite asymmetry, outside
it), with tau 0 and 0.3 and 2 or 3 seeds per ratio.

    python benchmarks/coverage.py --quick --save benchmarks/results/coverage-quick
    python benchmarks/coverage.py --quick --report benchmarks/results/coverage-quick --markdown
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from scipy.stats import t as t_dist

from dataquality_thresholds.errors import DataQualityThresholdsError, ThresholdWarning
from dataquality_thresholds.fitting import ThresholdFitter

#: (label, truth shape, threshold kind, nominal threshold, seeds per ratio, items, tau)
CELLS = (
    ("L1", "logistic", "recovery", 0.5, 2, 100, 0.0),
    ("L2", "logistic", "recovery", 0.5, 3, 500, 0.3),
    ("L3", "logistic", "recovery", 0.6, 2, 500, 0.3),
    ("L4", "logistic", "recovery", 0.95, 3, 100, 0.3),
    ("M1", "logistic", "midpoint", 0.5, 2, 500, 0.3),
    ("M2", "logistic", "midpoint", 0.6, 3, 100, 0.0),
    ("G1", "gompertz", "recovery", 0.6, 3, 500, 0.0),
    ("G2", "gompertz", "recovery", 0.6, 2, 100, 0.3),
    ("G3", "gompertz", "recovery", 0.95, 2, 500, 0.3),
    ("H1", "hinge", "recovery", 0.95, 3, 500, 0.3),
    ("H2", "hinge", "recovery", 0.95, 2, 100, 0.0),
    ("H3", "hinge", "recovery", 0.6, 3, 500, 0.3),
    ("E1", "gompertz_early", "recovery", 0.6, 3, 500, 0.3),
)
#: The per-study record; NaN where a column does not apply (midpoint cells: logistic only).
FIELDS = tuple(
    [
        "T_auto",
        "lo_mata",
        "hi_mata",
        "lo_buckland",
        "hi_buckland",
        "lo_kang",
        "hi_kang",
        "T_log",
        "lo_log",
        "hi_log",
        "lo_log_z",
        "hi_log_z",
        "T_gom",
        "lo_gom",
        "hi_gom",
        "T_hin",
        "lo_hin",
        "hi_hin",
        "w_log",
        "w_gom",
        "w_hin",
        "phi",
        "warned",
    ]
)
RULES = ("mata", "buckland", "kang")


def midpoint_truth(marg) -> float:
    """Where the population-averaged curve is halfway between its two asymptotes."""
    lo, hi = float(marg(np.array([-50.0]))[0]), float(marg(np.array([50.0]))[0])
    return float(brentq(lambda x: float(marg(np.array([x]))[0]) - (lo + hi) / 2, -5, 5))


def _study(fitter: ThresholdFitter, kind: str, x, k, n) -> np.ndarray:
    row = np.full(len(FIELDS), np.nan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ThresholdWarning)
        try:
            fit = fitter.fit(x, k, n=n)
        except DataQualityThresholdsError:
            return row
    row[FIELDS.index("warned")] = float(
        any(issubclass(w.category, ThresholdWarning) for w in caught)
    )
    log = fit if kind == "midpoint" else fit.candidates[0]
    # the same profile read at the normal quantile 1.96: the level whose t(df) quantile is it
    z_level = 2 * t_dist.cdf(1.959964, log.q_df) - 1
    values = {
        "T_log": log.threshold,
        "lo_log": log.ci[0],
        "hi_log": log.ci[1],
        "phi": log.dispersion,
    }
    with contextlib.suppress(DataQualityThresholdsError):
        values["lo_log_z"], values["hi_log_z"] = log.conf_int(level=z_level)
    if kind != "midpoint":
        gom, hin = fit.candidates[1], fit.candidates[2]
        values.update(T_auto=fit.threshold, T_gom=gom.threshold, T_hin=hin.threshold)
        values.update(lo_gom=gom.ci[0], hi_gom=gom.ci[1], lo_hin=hin.ci[0], hi_hin=hin.ci[1])
        values.update(w_log=fit.weights[0], w_gom=fit.weights[1], w_hin=fit.weights[2])
        for rule in RULES:
            values[f"lo_{rule}"], values[f"hi_{rule}"] = fit.conf_int(method=rule)
    for key, v in values.items():
        row[FIELDS.index(key)] = v
    return row


def run_task(task):
    """Simulate and fit ``reps`` studies of one cell; return the truth and the records."""
    import coverage as cv  # the simulation design lives there

    cell, reps, seed = task
    label, shape, kind, target, seeds, items, tau = cell
    rng = np.random.default_rng(seed)
    if kind == "midpoint":
        mu = cv.conditional_curve(shape, target)
        truth = midpoint_truth(cv.marginal(mu, tau))
        fitter = ThresholdFitter(threshold="midpoint", test=False)
    else:
        mu = cv.conditional_curve(shape, cv.shape_parameter(shape, target))
        truth = cv.recovery(cv.marginal(mu, tau))
        fitter = ThresholdFitter(method="auto", test=False)
    rows = [_study(fitter, kind, *cv.simulate(mu, tau, seeds, items, rng)) for _ in range(reps)]
    return label, truth, np.array(rows)


def _indexed(item):
    i, task = item
    return i, run_task(task)


def tasks_for(reps: int, seed: int, chunk: int = 50):
    """Chunks of replications, chunk index outermost (a run stopped early covers every cell)."""
    n_chunks = (reps + chunk - 1) // chunk
    subs = [ss.spawn(n_chunks) for ss in np.random.SeedSequence(seed).spawn(len(CELLS))]
    return [
        (cell, min(chunk, reps - j * chunk), sub[j])
        for j in range(n_chunks)
        for cell, sub in zip(CELLS, subs, strict=True)
    ]


def simulate(tasks, workers: int, save: Path | None) -> dict:
    merged: dict = {}
    todo = list(range(len(tasks)))
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        merged = load(save)
        todo = [i for i in todo if not (save / f"task{i:04d}.npz").exists()]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        for done, (i, (label, truth, rows)) in enumerate(
            pool.imap_unordered(_indexed, [(i, tasks[i]) for i in todo]), 1
        ):
            if save is not None:
                part = save / f"task{i:04d}.part.npz"
                np.savez(part, label=label, truth=truth, rows=rows)
                part.replace(save / f"task{i:04d}.npz")
            entry = merged.setdefault(label, [truth, []])
            entry[1].append(rows)
            if done % 13 == 0:
                print(
                    f"  {done}/{len(todo)} tasks, {time.perf_counter() - t0:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return merged


def load(folder: Path) -> dict:
    merged: dict = {}
    for f in sorted(folder.glob("task*.npz")):
        if f.name.endswith(".part.npz"):
            continue
        with np.load(f) as z:
            entry = merged.setdefault(str(z["label"]), [float(z["truth"]), []])
            entry[1].append(z["rows"])
    return merged


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _cover(truth: float, rows: np.ndarray, lo: str, hi: str, est: str):
    a = rows[:, FIELDS.index(lo)]
    b = rows[:, FIELDS.index(hi)]
    t = rows[:, FIELDS.index(est)]
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(t)
    if not ok.any():
        return None
    hit = (a[ok] <= truth) & (truth <= b[ok])
    return dict(
        cover=float(hit.mean()),
        mc=_wilson(int(hit.sum()), int(ok.sum())),
        bias=float(np.mean(t[ok] - truth)),
        width=float(np.median(b[ok] - a[ok])),
        n=int(ok.sum()),
    )


COLUMNS = (
    ("logistic (default)", "lo_log", "hi_log", "T_log"),
    ("logistic, z", "lo_log_z", "hi_log_z", "T_log"),
    ("gompertz", "lo_gom", "hi_gom", "T_gom"),
    ("hinge", "lo_hin", "hi_hin", "T_hin"),
    ("auto: mata", "lo_mata", "hi_mata", "T_auto"),
    ("auto: buckland", "lo_buckland", "hi_buckland", "T_auto"),
    ("auto: kang", "lo_kang", "hi_kang", "T_auto"),
)


def report(merged: dict, markdown: bool = False) -> list[str]:
    """Print (and return as markdown lines) the table of the quick check.

    Each method's cell reads "coverage (its 95% Wilson Monte Carlo interval) median
    width"; the auto columns add the bias of the averaged threshold and the mean
    Akaike weights.
    """
    lines = [
        "| cell | truth | threshold | seeds x items | tau | studies | "
        + " | ".join(c[0] for c in COLUMNS)
        + " | auto bias | mean weights (log / gom / hinge) |",
        "|---" * (6 + len(COLUMNS) + 2) + "|",
    ]
    for label, shape, kind, _, seeds, items, tau in CELLS:
        if label not in merged:
            continue
        truth, parts = merged[label]
        rows = np.concatenate(parts)
        cells = []
        for _, lo, hi, est in COLUMNS:
            s = _cover(truth, rows, lo, hi, est)
            cells.append(
                "-"
                if s is None
                else f"{s['cover']:.3f} ({s['mc'][0]:.3f}-{s['mc'][1]:.3f}) {s['width']:.2f}"
            )
        auto = _cover(truth, rows, "lo_mata", "hi_mata", "T_auto")
        wcols = rows[:, [FIELDS.index(f) for f in ("w_log", "w_gom", "w_hin")]]
        w = np.nanmean(wcols, axis=0) if np.isfinite(wcols).any() else np.full(3, np.nan)
        name = "recovery" if kind == "recovery" else "midpoint"
        lines.append(
            f"| {label} | {shape} | {name} {truth:.4f} | {seeds} x {items} | {tau:g} | "
            f"{rows.shape[0]} | "
            + " | ".join(cells)
            + (
                f" | {auto['bias']:+.4f} | {w[0]:.2f} / {w[1]:.2f} / {w[2]:.2f} |"
                if auto
                else " | - | - |"
            )
        )
    print("\n".join(lines))
    return lines


BEGIN, END = "<!-- begin: quick coverage -->", "<!-- end: quick coverage -->"


def update_docs(path: Path, lines: list[str]) -> None:
    """Replace the table between the quick-coverage markers of ``path`` (whole file or nothing)."""
    text = path.read_text(encoding="utf-8")
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"{path}: expected one {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(
            head + BEGIN + "\n\n" + "\n".join(lines) + "\n\n" + END + tail, encoding="utf-8"
        )
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
