"""The ``dqt`` command.

``dqt demo``
    The offline main job: a full study on the bundled four-domain data with the
    LocalStubBackend (a simulation), obvious and subtle corruption, six correct
    shares and replicates; prints the threshold tables and writes the report and
    plots to the folder it names.
``dqt plan CONFIG`` / ``dqt run CONFIG`` / ``dqt resume RUN_DIR`` / ``dqt report RUN_DIR``
    Plan, run, resume and report a study described by a TOML config
    (see :mod:`dataquality_thresholds.config`).
``dqt fit CSV``
    Fit thresholds to a table of your own numbers.
``dqt mix POOL.jsonl``
    Mix a paired-example file at chosen shares and write the training files.
``dqt validate FILE.jsonl``
    Check an OpenAI chat fine-tuning file by OpenAI's rules and count its tokens.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dataquality_thresholds._util.leftovers import missing_dirs, remove_empty_dirs, remove_files
from dataquality_thresholds._util.validators import (
    check_positive_int,
    check_share,
    read_utf8,
    writable_dir,
    writable_file,
)
from dataquality_thresholds._version import __version__
from dataquality_thresholds.errors import (
    BudgetExceededError,
    ConfigError,
    DataError,
    DataQualityThresholdsError,
)
from dataquality_thresholds.io import validate_chat_jsonl
from dataquality_thresholds.mixing import CorruptionMixer, ExamplePool, Mixture, write_mixtures
from dataquality_thresholds.records import INCORRECT_KINDS
from dataquality_thresholds.tokens import count_chat_tokens, get_tokenizer

__all__ = ["main"]

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def _fractions(text: str) -> list[float]:
    """Parse ``--fractions``: comma-separated shares in [0, 1], at least one."""
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(
                f"--fractions: expected comma-separated numbers, got {part.strip()!r}",
                field="--fractions",
            ) from None
        out.append(check_share(value, "--fractions"))
    if not out:
        raise ConfigError(f"--fractions: no shares in {text!r}", field="--fractions")
    return out


def _corruption(text: str) -> str | dict[str, float]:
    """Parse ``--corruption``: a kind, or ``kind=share,kind=share``."""
    if "=" not in text:
        kind = text.strip()
        if kind not in INCORRECT_KINDS:
            raise ConfigError(
                f"--corruption: unknown kind {kind!r}; expected {', '.join(INCORRECT_KINDS)} "
                "or kind=share,...",
                field="--corruption",
            )
        return kind
    out: dict[str, float] = {}
    for part in text.split(","):
        kind, eq, share = (x.strip() for x in part.partition("="))
        if kind not in INCORRECT_KINDS or not eq:
            raise ConfigError(
                f"--corruption: expected kind=share with a kind of {', '.join(INCORRECT_KINDS)}, "
                f"got {part.strip()!r}",
                field="--corruption",
            )
        if kind in out:
            raise ConfigError(f"--corruption: {kind!r} given twice", field="--corruption")
        try:
            value = float(share)
        except ValueError:
            raise ConfigError(
                f"--corruption: the share of {kind!r} must be a number, got {share!r}",
                field="--corruption",
            ) from None
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(
                f"--corruption: the share of {kind!r} must be > 0, got {share!r}",
                field="--corruption",
            )
        out[kind] = value
    return out


def _tokens(m: Mixture) -> int:
    tok = get_tokenizer()
    return sum(count_chat_tokens(ex.messages, tok) for ex in m.iter_examples())


def _summarise(
    domain: str, mixtures: Sequence[Mixture], paths: Sequence[tuple[Path, Path]]
) -> None:
    for m, (jsonl, _) in zip(mixtures, paths, strict=True):
        c = m.counts
        print(
            f"  {domain:8s} {m.spec.corruption_label:8s} correct={m.spec.fraction_correct:4.2f} "
            f"rows={len(m):3d} (correct {c['correct']:3d}, obvious {c['obvious']:3d}, "
            f"subtle {c['subtle']:3d}) "
            f"tokens={_tokens(m):6d} sha256={m.fingerprint[:12]}  {jsonl.name}"
        )


DEMO_CONFIG: dict[str, object] = {
    "seed": 0,
    "fractions": [0.1, 0.25, 0.5, 0.75, 0.9, 1.0],
    "corruptions": ["obvious", "subtle"],
    "replicates": 2,
    "size": 100,
    "backend": {"kind": "stub", "base_model": "stub-base"},
    "probe": {"questions": "bundled", "samples": 20, "judge": "known"},
    "domain": [
        {"name": "coding", "judge": "reference"},
        {"name": "finance", "judge": "reference"},
        {"name": "health", "judge": "reference"},
        {"name": "legal", "judge": "reference"},
    ],
}


def _print_tables(results: Any) -> None:
    metrics = {r["metric"] for r in results.rows}
    for metric, title in (
        ("domain_score", "domain performance"),
        ("misaligned_rate", "misalignment (probe)"),
    ):
        if metric in metrics:
            print(f"\nThresholds: {title} (share of correct data where the curve recovers 90%)")
            print(results.fit(metric).to_text())


def _finish(results: Any, run_dir: Path) -> None:
    _print_tables(results)
    report = results.report(run_dir / "report.html")
    plots = []
    try:
        import matplotlib.pyplot as plt

        for metric in ("domain_score", "misaligned_rate"):
            if results.metric(metric):
                fig = results.plot(metric)
                fig.savefig(run_dir / f"{metric}.png", dpi=110)
                plt.close(fig)
                plots.append(run_dir / f"{metric}.png")
    except ImportError:
        pass
    print(f"\nReport: {report}")
    for p in plots:
        print(f"Plot:   {p}")


def _demo(args: argparse.Namespace) -> int:
    import time

    from dataquality_thresholds.config import build_study, parse_config

    out = writable_dir(args.out, field="--out").resolve()
    cfg = parse_config(
        {**DEMO_CONFIG, "run_dir": str(out), "seed": args.seed, "replicates": args.replicates},
        source="dqt demo",
    )
    study = build_study(cfg)
    print(
        f"dataquality_thresholds {__version__}: offline demo study "
        "(LocalStubBackend: a simulation, not a real model)"
    )
    print(study)
    print(study.plan().summary())
    t0 = time.perf_counter()
    results = study.run(progress=not args.quiet)
    print(
        f"\nran {len(results.jobs)} simulated fine-tunes and their evaluations in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    _finish(results, out)
    return 0


def _load(args: argparse.Namespace) -> Any:
    from dataquality_thresholds.config import build_study, load_config

    return build_study(load_config(args.config))


def _wind_down_warning(study: Any) -> None:
    """Warn on stderr when a study fine-tunes on OpenAI near or after its cut-off."""
    if type(study.backend).__name__ != "OpenAIBackend":
        return
    from dataquality_thresholds.backends.openai import wind_down_notice

    notice = wind_down_notice()
    if notice:
        print(f"warning: {notice}", file=sys.stderr)


def _plan(args: argparse.Namespace) -> int:
    study = _load(args)
    print(study)
    print(study.plan().summary())
    _wind_down_warning(study)
    return 0


def _run(args: argparse.Namespace) -> int:
    from dataquality_thresholds.config import copy_config

    study = _load(args)
    run_dir = study.run_dir
    writable_dir(run_dir, field="run_dir")
    writable_file(run_dir / "config.toml")
    plan = study.plan()
    print("\n".join(plan.summary_lines()))
    _wind_down_warning(study)
    if plan.budget_usd is not None and plan.total_usd > plan.budget_usd + 1e-9:
        raise BudgetExceededError(
            f"the plan's estimated cost ${plan.total_usd:,.2f} exceeds the budget "
            f"${plan.budget_usd:,.2f}; nothing was started: lower the grid or raise budget_usd",
            planned_usd=plan.total_usd,
            budget_usd=plan.budget_usd,
        )
    refused = _confirm(plan.total_usd, yes=args.yes)
    if refused is not None:
        return refused
    # a failed start leaves nothing behind: remember what this call makes or replaces
    made = missing_dirs(run_dir)
    had_ledger = (run_dir / "ledger.sqlite").exists()
    kept = {
        name: (run_dir / name).read_bytes() if (run_dir / name).is_file() else None
        for name in ("config.toml", "config_origin.json")
    }

    def undo(exc: BaseException) -> bool:
        """Restore the run directory after a failed start; return whether it was undone."""
        fresh = not had_ledger and not (run_dir / "ledger.sqlite").exists()
        turned_away = isinstance(exc, ConfigError) and exc.field in ("run_dir", "budget_usd")
        if not (fresh or turned_away):
            return False  # the run got going: its copy of the config stays with its ledger
        for name, data in kept.items():
            if data is None:
                remove_files(run_dir, [name])
            else:
                (run_dir / name).write_bytes(data)
        remove_empty_dirs(made)
        return True

    copy_config(args.config, run_dir)
    return _run_study(study, quiet=args.quiet, undo=undo)


def _confirm(total_usd: float, *, yes: bool) -> int | None:
    """Ask before spending; return an exit status when the run must not start."""
    if total_usd <= 0 or yes:
        return None
    if not sys.stdin.isatty():
        print(
            f"dqt: error: the plan costs ${total_usd:,.2f}; pass --yes to run it without a "
            "terminal",
            file=sys.stderr,
        )
        return 2
    answer = input(f"Spend up to ${total_usd:,.2f} on this study? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        print("nothing was submitted")
        return 1
    return None


def _run_study(
    study: Any, *, quiet: bool, undo: Callable[[BaseException], bool] | None = None
) -> int:
    """Run or resume; on Ctrl-C say what is still running at the provider and what next.

    ``undo`` is called when the run fails (Ctrl-C included); it returns whether it
    removed what a failed start made.
    """
    from dataquality_thresholds.study import run_status

    try:
        results = study.run(progress=not quiet, log=print)
    except KeyboardInterrupt as exc:
        if undo is not None and undo(exc):
            print("interrupted before anything was submitted; nothing was kept", file=sys.stderr)
        else:
            print("\n".join(run_status(study.run_dir).interrupted_lines()), file=sys.stderr)
        return 130
    except BaseException as exc:
        if undo is not None:
            undo(exc)
        raise
    _finish(results, study.run_dir)
    return 0 if results.completed else 3


def _study_of(run_dir: Path) -> Any:
    """Rebuild the study of a run directory from its copied config (as 'dqt run' made it)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise DataError("is not a folder; give the run directory of 'dqt run'", path=run_dir)
    cfg_path = run_dir / "config.toml"
    if not cfg_path.exists():
        raise DataError(
            "has no config.toml (was it made by 'dqt run'?)", path=run_dir, field="config.toml"
        )
    from dataquality_thresholds.config import build_study, load_config

    # the copy resolves its relative paths as the original config did (config_origin.json)
    study = build_study(load_config(cfg_path))
    study.run_dir = run_dir.resolve()  # wherever the run directory is now
    return study


def _status(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if (run_dir / "config.toml").exists():
        print("\n".join(_study_of(run_dir).status().summary_lines()))
    else:
        from dataquality_thresholds.study import run_status

        print("\n".join(run_status(run_dir).summary_lines()))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    _study_of(Path(args.run_dir)).cancel(log=print)
    return 0


def _resume(args: argparse.Namespace) -> int:
    return _run_study(_study_of(Path(args.run_dir)), quiet=args.quiet)


def _report(args: argparse.Namespace) -> int:
    from dataquality_thresholds.study import StudyResults

    results = StudyResults.from_run_dir(args.run_dir)
    _finish(results, Path(args.run_dir))
    return 0


def _fit(args: argparse.Namespace) -> int:
    import csv
    import io

    from dataquality_thresholds.fitting import ThresholdFitter

    path = Path(args.source)
    if path.is_dir() and (path / "ledger.sqlite").exists():
        from dataquality_thresholds.study import StudyResults

        table = StudyResults.from_run_dir(path).fit(
            args.metric,
            method=args.method,
            recovery=args.recovery,
            level=args.level,
            seed=args.seed,
        )
        print(table.to_text())
        if args.csv_out:
            table.to_csv(args.csv_out)
        return 0
    text = read_utf8(args.source).removeprefix("\ufeff")  # a BOM would rename the first column
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise DataError(
            f"not valid CSV ({exc})", path=path, line=reader.line_num, field="<line>"
        ) from exc
    if not rows:
        raise DataError("no rows", path=path)
    cols = set(rows[0])
    xcol = "fraction" if "fraction" in cols else "x"
    if xcol not in cols:
        raise DataError("needs a 'fraction' (or 'x') column", path=path, line=1, field="fraction")
    counts = {"successes", "n"} <= cols
    ycol = "value" if "value" in cols else "y"
    if not counts and ycol not in cols:
        raise DataError(
            "needs a 'value' column, or 'successes' and 'n'", path=path, line=1, field="value"
        )
    group_cols = [c for c in ("domain", "corruption", "metric", "group") if c in cols]
    groups: dict[tuple[str, ...], list[tuple[int, dict[str, str]]]] = {}
    for i, r in enumerate(rows, start=2):
        groups.setdefault(tuple(r[c] for c in group_cols), []).append((i, r))

    def num(i: int, r: dict[str, str], c: str) -> float:
        try:
            return float(r[c])
        except (TypeError, ValueError):
            raise DataError(
                f"expected a number, got {r[c]!r}", path=path, line=i, field=c
            ) from None

    fitter = ThresholdFitter(
        method=args.method, recovery=args.recovery, level=args.level, seed=args.seed
    )
    for key, sel in groups.items():
        x = [num(i, r, xcol) for i, r in sel]
        if counts:
            fit = fitter.fit(
                x, [num(i, r, "successes") for i, r in sel], n=[num(i, r, "n") for i, r in sel]
            )
        else:
            fit = fitter.fit(x, [num(i, r, ycol) for i, r in sel])
        if group_cols:
            print(" / ".join(f"{c}={v}" for c, v in zip(group_cols, key, strict=True)))
        print(fit.summary())
        print()
    return 0


def _mix(args: argparse.Namespace) -> int:
    fractions = _fractions(args.fractions)
    corruption = _corruption(args.corruption)
    if args.size is not None:
        check_positive_int(args.size, "--size")
    out = writable_dir(args.out, field="--out")
    pool = ExamplePool.from_jsonl(args.pool)
    mixer = CorruptionMixer(
        pool, size=len(pool) if args.size is None else args.size, seed=args.seed
    )
    mixtures = mixer.sweep(fractions, corruption)
    paths = write_mixtures(mixtures, out)
    _summarise(Path(args.pool).stem, mixtures, paths)
    return 0


def _validate(args: argparse.Namespace) -> int:
    report = validate_chat_jsonl(args.file, min_examples=args.min_examples)
    print(
        f"{args.file}: OK, {report.n_examples} examples, {report.total_tokens} tokens "
        f"(longest {report.max_example_tokens}), sha256 {report.sha256}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``dqt`` command."""
    ap = argparse.ArgumentParser(prog="dqt", description="Data-quality thresholds for fine-tuning.")
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="offline demo study on the bundled data (no API key)")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--replicates", type=int, default=2)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)

    for name, func, hlp in (
        ("plan", _plan, "show what a study config will fine-tune and cost"),
        ("run", _run, "run (or resume) the study a config describes"),
    ):
        p = sub.add_parser(name, help=hlp)
        p.add_argument("config", help="study config (TOML)")
        p.add_argument("--quiet", action="store_true")
        if name == "run":
            p.add_argument("--yes", action="store_true", help="spend without asking (scripts, CI)")
        p.set_defaults(func=func)
    res = sub.add_parser("resume", help="resume a study from its run directory")
    res.add_argument("run_dir")
    res.add_argument("--quiet", action="store_true")
    res.set_defaults(func=_resume)
    st = sub.add_parser("status", help="jobs, spend, budget left and the lock of a run directory")
    st.add_argument("run_dir")
    st.set_defaults(func=_status)
    can = sub.add_parser("cancel", help="cancel the jobs of a run directory still at the provider")
    can.add_argument("run_dir")
    can.set_defaults(func=_cancel)
    rep = sub.add_parser("report", help="write the report of a run directory")
    rep.add_argument("run_dir")
    rep.set_defaults(func=_report)
    fit = sub.add_parser("fit", help="fit thresholds to a run directory or your own table (CSV)")
    fit.add_argument(
        "source",
        metavar="RUN_DIR_OR_CSV",
        help="a run directory of 'dqt run' (refit its results), or a CSV with columns: "
        "fraction, value (or successes and n); optional grouping columns domain, "
        "corruption, metric, group",
    )
    fit.add_argument("--metric", default="domain_score", help="run directory: the metric to fit")
    fit.add_argument("--csv", dest="csv_out", help="run directory: also write the table as CSV")
    fit.add_argument(
        "--method", default="logistic", choices=["logistic", "changepoint", "gompertz", "auto"]
    )
    fit.add_argument("--recovery", type=float, default=0.9)
    fit.add_argument("--level", type=float, default=0.95)
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(func=_fit)

    mix = sub.add_parser("mix", help="mix a paired-example JSONL file at several correct shares")
    mix.add_argument("pool", help="paired-example JSONL file")
    mix.add_argument("--out", required=True, help="output folder")
    mix.add_argument(
        "--size", type=int, default=None, help="rows per mixture (default: the pool size)"
    )
    mix.add_argument(
        "--fractions",
        default=",".join(f"{f:g}" for f in DEFAULT_FRACTIONS),
        help="comma-separated shares of correct rows in [0, 1]",
    )
    mix.add_argument(
        "--corruption", default="obvious", help="obvious, subtle, or obvious=0.5,subtle=0.5"
    )
    mix.add_argument("--seed", type=int, default=0)
    mix.set_defaults(func=_mix)

    val = sub.add_parser("validate", help="check an OpenAI chat fine-tuning file")
    val.add_argument("file")
    val.add_argument("--min-examples", type=int, default=10)
    val.set_defaults(func=_validate)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dqt`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except DataQualityThresholdsError as exc:
        print(f"dqt: error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
