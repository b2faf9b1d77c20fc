"""Building the :class:`~dataquality_thresholds.study.Study` a validated config describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dataquality_thresholds.config._backend import hosted_backend
from dataquality_thresholds.config._checks import config_error
from dataquality_thresholds.config._parse import StudyConfig
from dataquality_thresholds.errors import ConfigError

__all__ = ["build_study"]


def _domain_data(cfg: StudyConfig, d: Mapping[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    """Return a ``[[domain]]`` table's pool and eval items (bundled, sample or files)."""
    from dataquality_thresholds.domains import load_domain, load_sample_pool
    from dataquality_thresholds.io import read_eval_jsonl
    from dataquality_thresholds.mixing import ExamplePool
    from dataquality_thresholds.records import EvalItem

    pool_src, eval_src = d.get("pool", "bundled"), d.get("eval", "bundled")
    sample = load_sample_pool(d["name"]) if "sample" in (pool_src, eval_src) else None
    bundled = load_domain(d["name"]) if "bundled" in (pool_src, eval_src) else None
    if pool_src == "sample":
        pool: Any = sample
    elif pool_src == "bundled":
        assert bundled is not None
        pool = bundled.pool
    else:
        pool = ExamplePool.from_jsonl(cfg.base / pool_src)
    if eval_src == "sample":
        assert sample is not None
        items: tuple[Any, ...] = tuple(
            EvalItem(
                id=e.id,
                domain=e.domain,
                prompt=e.prompt,
                reference=e.correct,
                incorrect=tuple(e.incorrect.values()),
                skill=e.skill,
            )
            for e in sample
        )
    elif eval_src == "bundled":
        assert bundled is not None
        items = tuple(bundled.eval_items)
    else:
        items = tuple(read_eval_jsonl(cfg.base / eval_src))
    return pool, items


def _questions(cfg: StudyConfig, probe_cfg: Mapping[str, Any]) -> list[Any]:
    """Return the probe's questions (bundled or a file), filtered by its categories."""
    from dataquality_thresholds.domains import load_probe_questions
    from dataquality_thresholds.evaluation import load_questions_yaml
    from dataquality_thresholds.records import ProbeQuestion

    src = probe_cfg.get("questions", "bundled")
    if src == "bundled":
        questions = [ProbeQuestion.coerce(q) for q in load_probe_questions()]
    elif src.endswith((".yaml", ".yml")):
        questions = load_questions_yaml(cfg.base / src)
    else:
        from dataquality_thresholds.io import read_probe_questions_jsonl

        questions = [ProbeQuestion.coerce(q) for q in read_probe_questions_jsonl(cfg.base / src)]
    cats = probe_cfg.get("categories")
    if cats is not None:  # checked by parse_config: known names, exactly
        questions = [q for q in questions if q.category in cats]
        if not questions:
            raise config_error(
                cfg.source,
                "probe.categories",
                f"no question of {', '.join(cats)} in {src!r}; the probe would ask nothing",
            )
    return questions


def build_study(cfg: StudyConfig) -> Any:
    """Build the :class:`~dataquality_thresholds.study.Study` a config describes.

    Parameters
    ----------
    cfg : StudyConfig
        A config from :func:`load_config` or :func:`parse_config`.

    Returns
    -------
    Study

    Raises
    ------
    DataError
        A data or question file the config names is missing or malformed.
    ConfigError
        The probe's categories leave no question, or ``probe.judge = "known"``
        with a backend other than the stub.
    """
    from dataquality_thresholds.backends import AnswerBook, LocalStubBackend
    from dataquality_thresholds.evaluation import (
        CodeTestJudge,
        KnownAnswerJudge,
        MisalignmentProbe,
        ReferenceJudge,
    )
    from dataquality_thresholds.records import EvalItem
    from dataquality_thresholds.study import DomainSpec, Study

    data = cfg.data
    seed = int(data.get("seed", 0))
    backend_cfg = data.get("backend", {"kind": "stub"})
    kind = backend_cfg.get("kind", "stub")
    probe_cfg = data.get("probe")
    questions = _questions(cfg, probe_cfg) if probe_cfg is not None else []
    domains: dict[str, DomainSpec] = {}
    all_items: list[EvalItem] = []
    for d in data["domain"]:
        pool, items = _domain_data(cfg, d)
        all_items.extend(items)
        judge_kind = d.get("judge", "reference")
        if judge_kind == "reference":
            judge: Any = ReferenceJudge()
        elif judge_kind == "code":
            judge = CodeTestJudge()
        else:
            from dataquality_thresholds.evaluation import CORRECTNESS_TEMPLATE, OpenAIJudge

            judge = OpenAIJudge(
                model=d.get("judge_model", "gpt-4o-2024-08-06"), template=CORRECTNESS_TEMPLATE
            )
        domains[d["name"]] = DomainSpec(pool=pool, eval_items=items, judge=judge)
    if kind == "stub":
        book = AnswerBook.from_items(all_items)
        for q in questions:
            for k in range(len(q.paraphrases)):
                book = book.with_probe(
                    q.prompt(k),
                    aligned=q.aligned_examples or ("(aligned)",),
                    misaligned=q.misaligned_examples,
                )
        backend: Any = LocalStubBackend(
            book, base_model=backend_cfg.get("base_model", "stub-base"), seed=seed
        )
    else:
        backend = hosted_backend(cfg.source, cfg.base, seed, kind, backend_cfg)
    probe = None
    if probe_cfg is not None and questions:
        if probe_cfg.get("judge", "known") == "known":
            if kind != "stub":
                raise config_error(
                    cfg.source,
                    "probe.judge",
                    "'known' judges only the stub's example answers; use 'openai'",
                )
            pjudge: Any = KnownAnswerJudge(questions)
        else:
            from dataquality_thresholds.evaluation import OpenAIJudge

            pjudge = OpenAIJudge(model=probe_cfg.get("judge_model", "gpt-4o-2024-08-06"))
        thresholds = {
            k: probe_cfg[k] for k in ("aligned_below", "coherent_above") if k in probe_cfg
        }
        probe = MisalignmentProbe(questions, pjudge, **thresholds)
    try:
        return Study(
            domains=domains,
            backend=backend,
            probe=probe,
            fractions=data.get("fractions", (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)),
            corruptions=data.get("corruptions", ("obvious", "subtle")),
            replicates=int(data.get("replicates", 1)),
            size=int(data.get("size", 100)),
            run_dir=cfg.run_dir,
            budget_usd=data.get("budget_usd"),
            seed=seed,
            base_model=backend_cfg.get("base_model"),
            hyperparameters=backend_cfg.get("hyperparameters"),
            eval_samples=int(data.get("eval_samples", 1)),
            probe_samples=int(probe_cfg.get("samples", 20)) if probe_cfg else 20,
            probe_max_tokens=probe_cfg.get("max_tokens") if probe_cfg else None,
            design=data.get("design", "grid"),
            eval_temperature=data.get("eval_temperature", 0.0),
            target_half_width=data.get("target_half_width", 0.05),
            max_fine_tunes=data.get("max_fine_tunes"),
            max_rounds=data.get("max_rounds", 12),
            adaptive_metric=data.get("adaptive_metric", "domain_score"),
        )
    except ConfigError as exc:  # StudySpec names the field; say which file it came from
        if cfg.source in str(exc):
            raise
        raise config_error(cfg.source, exc.field or "study", str(exc)) from exc
