"""Read inspect ``.eval`` logs back into our result rows (for ThresholdFitter / StudyResults)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dataquality_thresholds.errors import ConfigError, DataError
from dataquality_thresholds.evaluation import (
    ItemScore,
    MisalignmentProbe,
    ProbeAnswer,
    summarise_items,
)
from dataquality_thresholds.integrations._inspect_tasks import DOMAIN_SCORER_NAME, PROBE_SCORER_NAME
from dataquality_thresholds.records import Completion, ProbeQuestion
from dataquality_thresholds.study import StudyResults

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog

__all__ = ["DESIGN_FIELDS", "eval_log_rows", "results_from_eval_logs"]

#: Fields of a row that say which run a model is; from ``design``, the log's metadata or kwargs.
DESIGN_FIELDS = ("domain", "corruption", "fraction", "share_correct", "replicate")

_PROBE_METRICS = {
    "misaligned_rate": "misaligned",
    "dangerous_rate": "dangerous",
    "incoherent_rate": "incoherent",
    "refusal_rate": "refusal",
}


def _read(log: EvalLog | str | Path) -> EvalLog:
    from inspect_ai.log import EvalLog, read_eval_log

    if isinstance(log, EvalLog):
        if log.samples is None:
            return read_eval_log(log.location)
        return log
    try:
        return read_eval_log(str(log))
    except FileNotFoundError:
        raise DataError("eval log not found", path=Path(log)) from None
    except Exception as exc:
        raise DataError(f"not a readable inspect eval log ({exc})", path=Path(log)) from exc


def _check_status(log: EvalLog) -> None:
    """Refuse a log whose eval did not finish: its samples are partial or missing."""
    status = getattr(log, "status", "success")
    if status == "success":
        return
    error = getattr(log, "error", None)
    detail = getattr(error, "message", None) or (str(error) if error else "")
    location = getattr(log, "location", None)
    raise DataError(
        f"the inspect eval did not finish (status {status!r}"
        + (f": {detail.strip().splitlines()[0]}" if detail and detail.strip() else "")
        + "); its rows would be partial or empty. Rerun it (inspect eval-retry) or "
        "leave this log out",
        path=location or None,
        field="status",
    )


def _scores(sample: Any, name: str) -> Any:
    scores = sample.scores or {}
    for key, s in scores.items():
        if key == name or key.endswith(f"/{name}"):
            return s
    return None


def _design(
    log: EvalLog, design: Mapping[str, Mapping[str, Any]] | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    model = log.eval.model
    out: dict[str, Any] = {k: None for k in DESIGN_FIELDS}
    task_args = dict(log.eval.task_args or {})
    if task_args.get("domain") is not None:
        out["domain"] = task_args["domain"]
    meta = dict(log.eval.metadata or {})
    for k in DESIGN_FIELDS:
        if meta.get(k) is not None:
            out[k] = meta[k]
    if design:
        short = model.split("/", 1)[-1]
        entry = design.get(model, design.get(short))
        if entry is not None:
            unknown = sorted(set(entry) - set(DESIGN_FIELDS))
            if unknown:
                raise ConfigError(
                    f"design entry for {model!r} has unknown field {unknown[0]!r}; "
                    f"known: {', '.join(DESIGN_FIELDS)}",
                    field="design",
                )
            out.update({k: v for k, v in entry.items() if v is not None})
    out.update({k: v for k, v in fields.items() if v is not None})
    for k in ("fraction", "share_correct"):
        if out[k] is not None:
            out[k] = float(out[k])
    if out["share_correct"] is None:
        out["share_correct"] = out["fraction"]
    if out["replicate"] is None:
        out["replicate"] = 0
    out["model"] = model
    return out


def _row(
    base: Mapping[str, Any], metric: str, value: Any, n: Any, events: Any, ci: Any
) -> dict[str, Any]:
    ci = ci if ci is not None else (None, None)
    return {
        "domain": base["domain"],
        "corruption": base["corruption"],
        "fraction": base["fraction"],
        "share_correct": base["share_correct"],
        "replicate": base["replicate"],
        "metric": metric,
        "value": value,
        "n": n,
        "events": events,
        "ci_low": ci[0],
        "ci_high": ci[1],
        "model": base["model"],
    }


def _probe_rows(log: EvalLog, base: Mapping[str, Any], level: float) -> list[dict[str, Any]]:
    answers: list[ProbeAnswer] = []
    categories: dict[str, str] = {}
    thresholds: tuple[float, float] | None = None
    counters: dict[str, int] = {}
    for sample in log.samples or []:
        s = _scores(sample, PROBE_SCORER_NAME)
        if s is None or not s.metadata:
            continue
        md = s.metadata
        qid = str(md["question_id"])
        categories[qid] = str(md.get("category", "neutral"))
        thresholds = (float(md["aligned_below"]), float(md["coherent_above"]))
        j = counters.get(qid, 0)
        counters[qid] = j + 1
        answers.append(
            ProbeAnswer(
                question_id=qid,
                category=categories[qid],
                paraphrase=int(md.get("paraphrase", 0)),
                sample=j,
                text=str(s.answer or ""),
                aligned=md.get("aligned"),
                coherent=md.get("coherent"),
                label=md.get("label"),
                verdict=str(md["verdict"]),
            )
        )
    if not answers or thresholds is None:
        return []
    # The probe's own summary, so rates and intervals follow exactly its rules.
    probe = MisalignmentProbe(
        [
            ProbeQuestion(id=q, category=c, paraphrases=("(inspect log)",))
            for q, c in categories.items()
        ],
        cast(Any, None),
        aligned_below=thresholds[0],
        coherent_above=thresholds[1],
        level=level,
    )
    model = str(base["model"])
    result = probe.summarise(
        model, tuple(answers), tuple(Completion(text=a.text, model=model) for a in answers)
    )
    rows = []
    for metric, attr in _PROBE_METRICS.items():
        r = getattr(result, attr)
        rows.append(_row(base, metric, r.rate, r.total, r.events, r.ci))
    mean = result.mean_alignment
    rows.append(_row(base, "mean_alignment", None if math.isnan(mean) else mean, None, None, None))
    return rows


def _domain_rows(
    log: EvalLog, base: Mapping[str, Any], level: float, n_boot: int, seed: int
) -> list[dict[str, Any]]:
    by_item: dict[str, list[tuple[float | None, str | None]]] = {}
    skills: dict[str, str | None] = {}
    domains: set[str] = set()
    for sample in log.samples or []:
        s = _scores(sample, DOMAIN_SCORER_NAME)
        if s is None or not s.metadata:
            continue
        md = s.metadata
        item_id = str(md.get("item_id", sample.id))
        score = md.get("score")
        by_item.setdefault(item_id, []).append(
            (None if score is None else float(score) / 100.0, md.get("label"))
        )
        skills[item_id] = md.get("skill")
        if md.get("domain"):
            domains.add(str(md["domain"]))
    if not by_item:
        return []
    per_item = [
        ItemScore(
            item_id=i,
            skill=skills[i],
            scores=tuple(s for s, _ in v),
            labels=tuple(lab for _, lab in v),
        )
        for i, v in sorted(by_item.items())
    ]
    scored = [s for it in per_item for s in it.scores if s is not None]
    binary = bool(scored) and all(s in (0.0, 1.0) for s in scored)
    samples = max(len(v) for v in by_item.values())
    summary, _ = summarise_items(
        per_item, binary=binary, samples=samples, level=level, n_boot=n_boot, seed=seed
    )
    if base["domain"] is None and len(domains) == 1:
        base = {**base, "domain": next(iter(domains))}
    mean = None if math.isnan(summary.mean) else summary.mean
    events = round(mean * summary.n_items) if binary and samples == 1 and mean is not None else None
    return [_row(base, "domain_score", mean, summary.n_items, events, summary.ci)]


def eval_log_rows(
    log: EvalLog | str | Path,
    *,
    design: Mapping[str, Mapping[str, Any]] | None = None,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    **fields: Any,
) -> list[dict[str, Any]]:
    """Turn one inspect eval log into :class:`StudyResults`-style rows.

    Samples scored by :func:`misalignment_judge` give the probe metrics
    (``misaligned_rate``, ``dangerous_rate``, ``incoherent_rate``,
    ``refusal_rate``, ``mean_alignment``), computed from every epoch's answer
    with MisalignmentProbe's rules and intervals; samples scored by
    :func:`reference_scorer` give ``domain_score`` with DomainScorer's
    interval. Both may come from anyone's Task that used our scorers.

    Which run the model is (domain, corruption, fraction, share_correct,
    replicate) comes from, later winning: the task's ``domain`` argument,
    the eval's metadata (``inspect eval ... --metadata fraction=0.5
    --metadata corruption=obvious``), ``design[model]`` and ``fields``.

    Parameters
    ----------
    log : EvalLog, str or Path
        A log or its location (``.eval`` or ``.json``).
    design : mapping, optional
        Model name (``"openai/ft:..."`` or without the provider) to a mapping
        of :data:`DESIGN_FIELDS`.
    level : float
        Confidence level of the intervals.
    n_boot, seed : int
        Bootstrap of graded domain scores.
    **fields
        Values of :data:`DESIGN_FIELDS` for this log.

    Returns
    -------
    list of dict
        Rows with the columns of :class:`StudyResults` (empty when the log
        holds neither scorer's results).

    Raises
    ------
    DataError
        The log cannot be read, or its eval did not finish (``status`` other
        than ``"success"``: ``"error"``, ``"cancelled"``, ``"started"``); such a
        log is refused rather than read as zero or partial rows.
    ConfigError
        An unknown field.
    """
    unknown = sorted(set(fields) - set(DESIGN_FIELDS))
    if unknown:
        raise ConfigError(
            f"unknown field {unknown[0]!r}; known: {', '.join(DESIGN_FIELDS)}", field=unknown[0]
        )
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}", field="level")
    ev = _read(log)
    _check_status(ev)
    base = _design(ev, design, fields)
    return _probe_rows(ev, base, level) + _domain_rows(ev, base, level, n_boot, seed)


def results_from_eval_logs(
    logs: str | Path | EvalLog | Iterable[EvalLog | str | Path],
    *,
    design: Mapping[str, Mapping[str, Any]] | None = None,
    level: float = 0.95,
) -> StudyResults:
    """Collect inspect eval logs into :class:`StudyResults` for fitting thresholds.

    Parameters
    ----------
    logs : path, EvalLog or iterable of them
        Logs, or a folder whose ``*.eval`` and ``*.json`` logs are all read.
    design : mapping, optional
        As for :func:`eval_log_rows`: which run each model is.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    StudyResults
        ``results.fit("domain_score")`` or ``results.fit("misaligned_rate")``
        fits a threshold per (domain, corruption).

    Raises
    ------
    ConfigError
        A model that is not the base model (``corruption="base"``) has no
        ``fraction`` / ``share_correct``.
    DataError
        A log cannot be read, a folder holds no logs, or a log's eval did not
        finish (status ``"error"``, ``"cancelled"`` or ``"started"``; the error
        names the log): pass only finished logs.
    """
    if isinstance(logs, (str, Path)) and Path(logs).is_dir():
        folder = Path(logs)
        items: list[Any] = sorted([*folder.glob("*.eval"), *folder.glob("*.json")])
        if not items:
            raise DataError("no inspect logs (*.eval, *.json) in folder", path=folder)
    elif isinstance(logs, (str, Path)) or not isinstance(logs, Iterable):
        items = [logs]
    else:
        items = list(logs)
    rows: list[dict[str, Any]] = []
    for log in items:
        rows.extend(eval_log_rows(log, design=design, level=level))
    missing = sorted(
        {r["model"] for r in rows if r["share_correct"] is None and r["corruption"] != "base"}
    )
    if missing:
        raise ConfigError(
            f"no share of correct data for model {missing[0]!r}: give it in design=, or run "
            "inspect with --metadata fraction=... --metadata corruption=... (or "
            "corruption=base for the base model)",
            field="design",
        )
    return StudyResults(
        rows, config={"source": "inspect", "logs": len(items)}, jobs=[], completed=True
    )
