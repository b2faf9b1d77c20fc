"""Simulation study of ThresholdFitter: bias, RMSE, coverage, width, speed.

"whole" is the share of intervals that are the entire admissible range [0.1, 1.0]
(the data exclude no threshold at all).

Usage::

    python benchmarks/coverage.py            # full grid, 1000 replications per cell
    python benchmarks/coverage.py --quick    # 13 representative cells, 800 reps (~12 min)
    python benchmarks/coverage.py --quick --save benchmarks/results/coverage-quick
    python benchmarks/coverage.py --quick --report benchmarks/results/coverage-quick
    python benchmarks/coverage.py --reps 300 --workers 2
    python benchmarks/coverage.py --save runs/cov   # stop at any time, rerun to resume
    python benchmarks/coverage.py --report runs/cov # the tables from what is kept
    python benchmarks/coverage.py --report runs/cov --markdown  # and docs/fitting.md's tables
    python benchmarks/coverage.py --report benchmarks/results/coverage-1000 \
        --taus 0.3,0.6 --no-flat --no-speed --docs-update docs/fitting.md  # rewrite them there

The default fitter's run is kept in benchmarks/results/coverage-1000 (resume it with
``--reps 1000 --taus 0.3,0.6 --no-flat --save benchmarks/results/coverage-1000``).

Design (see docs/fitting.md): fractions {0.1, 0.25, 0.5, 0.75, 0.9, 1.0}; seeds
(runs) per ratio in {2, 3, 5}; items per run in {100, 500}; a run-level random
effect on the logit scale with SD tau in {0, 0.3, 0.6}; true curves logistic,
hinge and a misspecified asymmetric (Gompertz) one; the true recovery threshold
(q = 0.9, floor at x = 0.1, reference x = 1.0, computed on the population-averaged
curve) on a design point (0.5), between points (0.6) and near 1.0 (0.95). A flat
truth measures the type-I error of the "threshold exists" test. Everything is
seeded; the figures are printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
import warnings
from itertools import product
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dataquality_thresholds.errors import (
    DataQualityThresholdsError,
    ThresholdWarning,
)
from dataquality_thresholds.fitting import ThresholdFitter

FRACTIONS = np.array([0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
FLOOR, TOP, Q, SLOPE = 0.35, 0.85, 0.9, 10.0
GH_X, GH_W = np.polynomial.hermite_e.hermegauss(40)
GH_W = GH_W / GH_W.sum()


def conditional_curve(shape: str, par: float):
    """The run-median curve (before the random effect) as a function of x."""
    if shape == "logistic":
        return lambda x: FLOOR + (TOP - FLOOR) * expit(SLOPE * (np.asarray(x) - par))
    if shape == "gompertz":
        return lambda x: (
            FLOOR + (TOP - FLOOR) * (1 - np.exp(-np.exp(SLOPE * (np.asarray(x) - par))))
        )
    if shape == "gompertz_early":  # the opposite asymmetry: steep start, slow approach to the top
        return lambda x: FLOOR + (TOP - FLOOR) * np.exp(-np.exp(-SLOPE * (np.asarray(x) - par)))
    if shape == "hinge":
        a = (TOP - FLOOR) / (par - 0.1)
        return lambda x: TOP + a * np.minimum(np.asarray(x) - par, 0.0)
    if shape == "flat":
        return lambda x: np.full(np.shape(x), 0.6)
    raise ValueError(shape)


def marginal(mu, tau: float):
    def m(x):
        lp = logit(np.clip(mu(x), 1e-12, 1 - 1e-12))
        return np.sum(GH_W * expit(np.asarray(lp)[..., None] + tau * GH_X), axis=-1)

    return m


def recovery(curve) -> float:
    grid = np.linspace(0.1, 1.0, 90001)
    v = curve(grid)
    target = v[0] + Q * (v[-1] - v[0])
    i = int(np.flatnonzero(v >= target)[0])
    if i == 0:
        return 0.1
    return float(np.interp(target, [v[i - 1], v[i]], [grid[i - 1], grid[i]]))


def shape_parameter(shape: str, target: float) -> float:
    if shape == "hinge":
        return (target - 0.1 * (1 - Q)) / Q
    lo, hi = (0.0, 1.2) if shape == "gompertz_early" else (-1.0, 2.0)
    return brentq(lambda p: recovery(conditional_curve(shape, p)) - target, lo, hi, xtol=1e-10)


def identification(shapes, targets, taus) -> None:
    """Print how far the data identify each cell's threshold, whatever the estimator.

    Every simulated study sees the curve only through its values at the tested
    fractions. A twin curve that takes the same values there (here the monotone
    PCHIP interpolant of the truth, a smooth curve) gives every study exactly the
    same distribution of data, so any estimator has the same mean under both; its
    bias is then at least ``|T_truth - T_twin| / 2`` under one of them. Under
    monotonicity alone the data locate T only within the bracket of tested values
    where the curve crosses its recovery target.
    """
    from scipy.interpolate import PchipInterpolator

    print(
        "\nidentification: the same data under a monotone twin (PCHIP through the truth's "
        "values at the tested fractions)"
    )
    print(
        f"{'truth':9s} {'T':>5s} {'tau':>4s} {'T_true':>7s} {'T_twin':>7s} "
        f"{'bias >=':>8s}  bracket (monotone curves only)"
    )
    for shape, target in product(shapes, targets):
        mu = conditional_curve(shape, shape_parameter(shape, target))
        twin = PchipInterpolator(FRACTIONS, mu(FRACTIONS))
        assert np.allclose(twin(FRACTIONS), mu(FRACTIONS), rtol=0, atol=1e-12)
        for tau in taus:
            m = marginal(mu, tau)
            t1, t2 = recovery(m), recovery(marginal(twin, tau))
            v = m(FRACTIONS)
            goal = v[0] + Q * (v[-1] - v[0])
            j = int(np.flatnonzero(v >= goal)[0])
            lo = FRACTIONS[max(j - 1, 0)]
            print(
                f"{shape:9s} {target:5.2f} {tau:4.1f} {t1:7.4f} {t2:7.4f} "
                f"{abs(t1 - t2) / 2:8.4f}  ({lo:.2f}, {FRACTIONS[j]:.2f}]"
            )


def simulate(mu, tau, seeds, items, rng):
    x = np.repeat(FRACTIONS, seeds)
    lp = logit(mu(x)) + tau * rng.standard_normal(x.size)
    k = rng.binomial(items, expit(lp))
    return x, k, np.full(x.size, items)


def run_cell(task):
    cell, reps, seed, options = task
    shape, target, seeds, items, tau = cell
    rng = np.random.default_rng(seed)
    par = shape_parameter(shape, target) if shape != "flat" else 0.0
    mu = conditional_curve(shape, par)
    truth = recovery(marginal(mu, tau)) if shape != "flat" else float("nan")
    flat = shape == "flat"
    fitter = ThresholdFitter(test=flat, n_test=199, **options)
    est, lo, hi, conv, pvals = [], [], [], [], []
    for _ in range(reps):
        x, k, n = simulate(mu, tau, seeds, items, rng)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ThresholdWarning)
            try:
                fit = fitter.fit(x, k, n=n)
            except DataQualityThresholdsError:
                est.append(np.nan), lo.append(np.nan), hi.append(np.nan)
                conv.append(False), pvals.append(np.nan)
                continue
        est.append(fit.threshold)
        lo.append(fit.ci[0])
        hi.append(fit.ci[1])
        conv.append(
            fit.converged and not any(issubclass(w.category, ThresholdWarning) for w in caught)
        )
        pvals.append(fit.exists_pvalue if fit.exists_pvalue is not None else np.nan)
    return cell, truth, np.array(est), np.array(lo), np.array(hi), np.array(conv), np.array(pvals)


def summarise(truth, est, lo, hi, conv):
    ok = np.isfinite(est)
    err = est[ok] - truth
    cover = (lo[ok] <= truth) & (truth <= hi[ok])
    whole = (lo[ok] <= FRACTIONS[0] + 1e-9) & (hi[ok] >= FRACTIONS[-1] - 1e-9)
    return dict(
        bias=float(np.mean(err)),
        rmse=float(np.sqrt(np.mean(err**2))),
        cover=float(np.mean(cover)),
        width=float(np.median(hi[ok] - lo[ok])),
        whole=float(np.mean(whole)),
        nonconv=float(1 - np.mean(conv)),
        failed=int((~ok).sum()),
        covered=int(cover.sum()),
        fitted=int(ok.sum()),
    )


def speed():
    rng = np.random.default_rng(7)
    x = np.repeat(np.linspace(0.1, 1.0, 9), 5)  # 45 runs
    mu = FLOOR + (TOP - FLOOR) * expit(10 * (x - 0.45))
    p = expit(logit(mu) + 0.3 * rng.standard_normal(x.size))
    items = rng.binomial(1, np.repeat(p, 200)).astype(float)
    xi, gi = np.repeat(x, 200), np.repeat(np.arange(x.size), 200)
    fitter = ThresholdFitter(seed=3)
    fitter.fit(xi, items, groups=gi)  # warm-up (imports)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        fitter.fit(xi, items, groups=gi)
        times.append(time.perf_counter() - t0)
    boot = ThresholdFitter(interval="bootstrap", n_boot=2000, seed=3, test=False)
    btimes = []
    for _ in range(3):
        t0 = time.perf_counter()
        fit = boot.fit(xi, items, groups=gi)
        btimes.append(time.perf_counter() - t0)
    print(
        f"speed: one fit with intervals + threshold-exists test (45 runs x 200 items, "
        f"9000 rows): median {np.median(times):.3f} s"
    )
    print(
        f"speed: parametric bootstrap, 2000 resamples refitted (same data): median "
        f"{np.median(btimes):.3f} s ({fit.boot_failed} resamples dropped)"
    )


def simulate_all(args, tasks, t0):
    """Run the tasks; with ``--save``, keep each and skip those an earlier run kept."""
    merged: dict = {}
    todo = list(range(len(tasks)))
    if args.save:
        folder = Path(args.save)
        merged = load(folder)
        todo = [i for i in todo if not (folder / f"task{i:05d}.npz").exists()]
        if len(todo) < len(tasks):
            print(
                f"  resuming: {len(tasks) - len(todo)} of {len(tasks)} tasks already in {folder}",
                file=sys.stderr,
                flush=True,
            )
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for done, (i, (cell, truth, est, lo, hi, conv, pv)) in enumerate(
            pool.imap_unordered(_indexed, [(i, tasks[i]) for i in todo]), 1
        ):
            if done % 20 == 0:
                print(
                    f"  {done}/{len(todo)} tasks, {time.perf_counter() - t0:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            if args.save:
                part = Path(args.save) / f"task{i:05d}.part.npz"
                np.savez(
                    part,
                    cell=np.array(cell, dtype=object),
                    truth=truth,
                    est=est,
                    lo=lo,
                    hi=hi,
                    conv=conv,
                    pv=pv,
                )
                part.replace(part.with_name(f"task{i:05d}.npz"))  # whole files only
            m = merged.setdefault(cell, [truth, [], [], [], [], []])
            for lst, arr in zip(m[1:], (est, lo, hi, conv, pv)):
                lst.append(arr)
    return merged


def _indexed(item):
    i, task = item
    return i, run_cell(task)


def fitter_version() -> str:
    """Digest of the fitter's source: a resumed run never mixes two versions of it."""
    src = Path(__file__).resolve().parents[1] / "src" / "dataquality_thresholds"
    h = hashlib.sha256()
    for f in sorted((src / "fitting").glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _check_folder(folder: Path, config: dict) -> None:
    """Keep a run's settings with its tasks; refuse to mix tasks of different runs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.json"
    if path.exists():
        kept = json.loads(path.read_text())
        if kept != config:
            diff = sorted(k for k in set(kept) | set(config) if kept.get(k) != config.get(k))
            raise SystemExit(
                f"{folder} holds tasks of a run with other settings ({', '.join(diff)}); "
                "use another folder"
            )
    else:
        path.write_text(json.dumps(config, indent=1, sort_keys=True))


def _check_report(folder: Path) -> None:
    """Say which fitter a saved run measured, and whether it is the one here now."""
    path = folder / "run.json"
    if not path.exists():
        print(f"  {folder} has no run.json: the fitter that made its tasks is unknown")
        return
    kept = json.loads(path.read_text()).get("fitter")
    now = fitter_version()
    if kept == now:
        print(f"  tasks made by this fitter (source digest {now})")
    else:
        print(
            f"  WARNING: tasks made by another version of the fitter (source digest {kept}; "
            f"this checkout's is {now}): the tables below describe that version"
        )


def load(folder: Path) -> dict:
    merged: dict = {}
    for f in sorted(folder.glob("task[0-9]*[0-9].npz")):
        z = np.load(f, allow_pickle=True)
        cell = tuple(z["cell"].tolist())
        m = merged.setdefault(cell, [float(z["truth"]), [], [], [], [], []])
        for lst, key in zip(m[1:], ("est", "lo", "hi", "conv", "pv")):
            lst.append(z[key])
    return merged


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a coverage of ``k`` in ``n`` (the Monte Carlo error)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(mid - half), float(mid + half)


def cell_stats(cells, merged) -> list[tuple[tuple, float, dict]]:
    """Per non-flat cell: (cell, true threshold, summary with the Monte Carlo interval)."""
    out = []
    for cell in cells:
        if cell[0] == "flat" or cell not in merged:
            continue
        truth, *parts = merged[cell]
        est, lo, hi, conv, _ = (np.concatenate(p) for p in parts)
        s = summarise(truth, est, lo, hi, conv)
        s["reps"] = int(est.size)
        s["mc"] = wilson(s["covered"], s["fitted"])
        out.append((cell, truth, s))
    return out


SUMMARY_BLOCK, CELLS_BLOCK = "coverage summary", "coverage cells"


def markdown(stats) -> tuple[list[str], list[str]]:
    """docs/fitting.md's tables from ``cell_stats`` as markdown lines: (summary over seeds x items, every cell)."""
    stats = [row for row in stats if row[0][4] > 0]
    groups: dict = {}
    for cell, _, s in stats:
        groups.setdefault((cell[0], cell[1], cell[4]), []).append(s)
    summary = [
        "| truth | T | tau | coverage | bias | median width | whole range | reps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (shape, target, tau), ss in groups.items():
        cov = [s["cover"] for s in ss]
        bias = [s["bias"] for s in ss]
        width = [s["width"] for s in ss]
        reps = [s["reps"] for s in ss]
        summary.append(
            f"| {shape} | {target:.2f} | {tau:.1f} | {min(cov):.3f}-{max(cov):.3f} | "
            f"{min(bias):+.3f} to {max(bias):+.3f} | {min(width):.2f}-{max(width):.2f} | "
            f"{max(s['whole'] for s in ss):.2f} | {min(reps)}-{max(reps)} |"
        )
    full = [
        "| truth | T | seeds | items | tau | T_true | bias | RMSE | coverage | "
        "Monte Carlo 95% | width | whole | non-conv | reps |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell, truth, s in stats:
        full.append(
            f"| {cell[0]} | {cell[1]:.2f} | {cell[2]} | {cell[3]} | {cell[4]:.1f} | "
            f"{truth:.4f} | {s['bias']:+.4f} | {s['rmse']:.4f} | {s['cover']:.3f} | "
            f"{s['mc'][0]:.3f}-{s['mc'][1]:.3f} | {s['width']:.3f} | {s['whole']:.3f} | "
            f"{s['nonconv']:.3f} | {s['reps']} |"
        )
    return summary, full


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _block(lines: list[str], name: str, path: Path) -> tuple[int, int]:
    """Line indices of the table between ``<!-- begin: name -->`` and ``<!-- end: name -->``."""
    begin, end = f"<!-- begin: {name} -->", f"<!-- end: {name} -->"
    found = [i for i, line in enumerate(lines) if line.strip() == begin]
    if len(found) != 1:
        raise SystemExit(f"{path}: expected one line {begin!r}, found {len(found)}")
    start = found[0] + 1
    stop = next((i for i in range(start, len(lines)) if lines[i].strip() == end), None)
    if stop is None:
        raise SystemExit(f"{path}:{found[0] + 1}: {begin!r} has no {end!r} after it")
    return start, stop


def _carry_columns(old: list[str], new: list[str], path: Path, first: int) -> list[str]:
    """The new summary, with the old table's columns past the generated ones kept by row.

    Those columns come from other runs (the Fieller interval's); a row is matched on
    (truth, T, tau) and gets ``-`` where the old table had no such row.
    """
    table = [(i, line) for i, line in enumerate(old) if line.startswith("|")]
    if len(table) < 2:
        return new
    width = len(_cells(new[0]))
    header = _cells(table[0][1])
    if header[:width] != _cells(new[0]):
        raise SystemExit(
            f"{path}:{first + table[0][0] + 1}: the table's first {width} columns are not "
            f"the generated ones ({' | '.join(_cells(new[0]))})"
        )
    extra = header[width:]
    if not extra:
        return new
    kept = {}
    for i, line in table[2:]:
        row = _cells(line)
        if len(row) != len(header):
            raise SystemExit(
                f"{path}:{first + i + 1}: {len(row)} cells in a table of {len(header)} columns"
            )
        kept[tuple(row[:3])] = row[width:]
    out = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for line in new[2:]:
        row = _cells(line)
        out.append("| " + " | ".join(row + kept.get(tuple(row[:3]), ["-"] * len(extra))) + " |")
    return out


def update_docs(path: Path, summary: list[str], full: list[str]) -> None:
    """Replace the two marked tables in ``path`` (all or nothing: written via a temporary file)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    s0, s1 = _block(lines, SUMMARY_BLOCK, path)
    f0, f1 = _block(lines, CELLS_BLOCK, path)
    if s0 < f1 and f0 < s1:
        raise SystemExit(f"{path}: the {SUMMARY_BLOCK!r} and {CELLS_BLOCK!r} blocks overlap")
    blocks = {s0: (s1, _carry_columns(lines[s0:s1], summary, path, s0)), f0: (f1, full)}
    for start in sorted(blocks, reverse=True):  # the later block first: indices stay valid
        stop, table = blocks[start]
        lines[start:stop] = ["", *table, ""]
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def report(cells, merged):
    """Print the tables; return the per-cell summaries (``cell_stats``) they were made from."""
    print(
        f"{'truth':9s} {'T':>5s} {'seeds':>5s} {'items':>5s} {'tau':>4s} {'T_true':>7s} "
        f"{'bias':>8s} {'rmse':>7s} {'cover':>6s} {'width':>6s} {'whole':>6s} {'nonconv':>7s} "
        f"{'reps':>5s}"
    )
    worst = {}
    stats = cell_stats(cells, merged)
    for cell, truth, s in stats:
        n_reps = s["reps"]
        flag = (
            ""
            if (cell[4] == 0 or (0.93 <= s["cover"] <= 0.97 and abs(s["bias"]) < 0.01))
            else "  <- misses target"
        )
        print(
            f"{cell[0]:9s} {cell[1]:5.2f} {cell[2]:5d} {cell[3]:5d} {cell[4]:4.1f} {truth:7.4f} "
            f"{s['bias']:+8.4f} {s['rmse']:7.4f} {s['cover']:6.3f} {s['width']:6.3f} "
            f"{s['whole']:6.3f} {s['nonconv']:7.3f} {n_reps:5d}{flag}"
        )
        key = cell[0]
        worst.setdefault(key, []).append((s["cover"], abs(s["bias"]), cell[4], s["mc"]))
    print("\ntype-I error of 'threshold exists' (flat truth, alpha = 0.05, 199 bootstrap draws):")
    for cell in cells:
        if cell[0] != "flat" or cell not in merged:
            continue
        pv = np.concatenate(merged[cell][5])
        pv = pv[np.isfinite(pv)]
        print(
            f"  seeds {cell[2]} items {cell[3]:3d} tau {cell[4]:.1f}: "
            f"{np.mean(pv < 0.05):.3f} (n = {pv.size})"
        )
    print("\nsummary over tau > 0 cells (coverage min / max, max |bias|):")
    for key, vals in worst.items():
        pos = [v for v in vals if v[2] > 0]
        if not pos:
            continue
        print(
            f"  {key:9s} coverage {min(v[0] for v in pos):.3f} - {max(v[0] for v in pos):.3f}, "
            f"max |bias| {max(v[1] for v in pos):.4f}"
        )
    pos = [v for vals in worst.values() for v in vals if v[2] > 0]
    if pos:
        band = [0.93 <= v[0] <= 0.97 for v in pos]
        print(
            f"\ntarget over the {len(pos)} tau > 0 cells: coverage in 93-97% in {sum(band)} "
            f"({sum(v[0] > 0.97 for v in pos)} above, {sum(v[0] < 0.93 for v in pos)} below); "
            f"|bias| < 0.01 in {sum(v[1] < 0.01 for v in pos)}; both in "
            f"{sum(b and v[1] < 0.01 for b, v in zip(band, pos, strict=True))}"
        )
        # a cell's coverage is an estimate: say which cells are clearly off the band
        above = sum(v[3][0] > 0.97 for v in pos)
        below = sum(v[3][1] < 0.93 for v in pos)
        print(
            f"Monte Carlo error: the 95% Wilson interval of coverage lies wholly above 0.97 in "
            f"{above} cells, wholly below 0.93 in {below}, and meets the band in "
            f"{len(pos) - above - below}"
        )
    return stats


def quick(args) -> None:
    import coverage_quick as cq

    reps = args.reps or 800
    if args.report:
        _check_report(Path(args.report))
        merged = cq.load(Path(args.report))
    else:
        t0 = time.perf_counter()
        print(f"quick coverage check: {len(cq.CELLS)} cells x {reps} replications", flush=True)
        save = Path(args.save) if args.save else None
        if save is not None:
            _check_folder(
                save, {"quick": True, "reps": reps, "seed": args.seed, "fitter": fitter_version()}
            )
        merged = cq.simulate(cq.tasks_for(reps, args.seed), args.workers, save)
        print(f"simulation wall time {time.perf_counter() - t0:.0f} s")
    lines = cq.report(merged)
    if args.docs_update:
        cq.update_docs(Path(args.docs_update), lines)
        print(f"\n{args.docs_update}: quick coverage table replaced")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="the quick check (benchmarks/coverage_quick.py): 13 representative cells, "
        "800 replications each, method='auto' with every candidate and rule recorded",
    )
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--shapes", default="logistic,hinge,gompertz")
    ap.add_argument("--interval", default=None, help="override the default interval method")
    ap.add_argument("--method", default=None, help="override the default method")
    ap.add_argument("--targets", default="0.5,0.6,0.95", help="nominal thresholds to simulate")
    ap.add_argument("--taus", default="0.0,0.3,0.6", help="run-level random-effect SDs")
    ap.add_argument("--no-flat", action="store_true", help="skip the type-I error cells")
    ap.add_argument(
        "--identification",
        action="store_true",
        help="only print how far the design identifies each threshold (no simulation)",
    )
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument(
        "--markdown", action="store_true", help="also print the tables of docs/fitting.md"
    )
    ap.add_argument(
        "--docs-update",
        default=None,
        metavar="FILE",
        help="with --report: replace the tables between FILE's '<!-- begin: coverage summary -->' "
        "and '<!-- begin: coverage cells -->' markers (and their end markers) by this run's",
    )
    ap.add_argument(
        "--save",
        default=None,
        help="folder to keep each finished task in; run again with the same folder and "
        "settings to resume (the tasks already there are skipped)",
    )
    ap.add_argument(
        "--report", default=None, help="only print the tables from the tasks saved in this folder"
    )
    args = ap.parse_args(argv)
    if args.docs_update and not args.report:
        ap.error("--docs-update needs --report FOLDER (the tables come from a saved run)")
    if args.quick:
        quick(args)
        return
    reps = args.reps or 1000
    options = {}
    if args.method:
        options["method"] = args.method
    if args.interval:
        options["interval"] = args.interval
    shapes = args.shapes.split(",")
    targets = tuple(float(t) for t in args.targets.split(","))
    taus = tuple(float(t) for t in args.taus.split(","))
    cells = list(product(shapes, targets, (2, 3, 5), (100, 500), taus))
    if not args.no_flat:
        cells += list(product(["flat"], (0.0,), (2, 3, 5), (100, 500), taus))
    seeds = np.random.SeedSequence(args.seed).spawn(len(cells))
    chunk = max(1, min(100, reps // 4))
    n_chunks = (reps + chunk - 1) // chunk
    subs = [ss.spawn(n_chunks) for ss in seeds]
    # replication chunks outermost: a run stopped early still covers every cell
    tasks = [
        (cell, min(chunk, reps - j * chunk), sub[j], options)
        for j in range(n_chunks)
        for cell, sub in zip(cells, subs)
    ]
    if args.identification:
        identification(shapes, targets, taus)
        return
    t0 = time.perf_counter()
    print(
        f"coverage study: {len(cells)} cells x {reps} replications, {args.workers} workers, "
        f"fitter options {options} (defaults otherwise)",
        flush=True,
    )
    if args.report:
        _check_report(Path(args.report))
        merged = load(Path(args.report))
    else:
        if args.save:
            config = {
                "reps": reps,
                "seed": args.seed,
                "options": options,
                "cells": [list(c) for c in cells],
                "fitter": fitter_version(),
            }
            _check_folder(Path(args.save), config)
        merged = simulate_all(args, tasks, t0)
    elapsed = time.perf_counter() - t0
    stats = report(cells, merged)
    if args.markdown or args.docs_update:
        summary, full = markdown(stats)
        if args.markdown:
            print("", *summary, "", *full, sep="\n")
        if args.docs_update:
            update_docs(Path(args.docs_update), summary, full)
            print(f"\n{args.docs_update}: tables replaced")
    print(f"\nsimulation wall time {elapsed:.0f} s")
    identification(shapes, targets, taus)
    if not args.no_speed:
        speed()


if __name__ == "__main__":
    main()
