"""Study configuration files (TOML) for the ``dqt`` command.

A config names the grid, the backend, the domains and the probe::

    run_dir = "runs/finance-study"      # relative to the config file
    seed = 0
    fractions = [0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    corruptions = ["obvious", "subtle"]
    replicates = 2
    size = 200
    budget_usd = 400.0                  # optional

    [backend]
    kind = "stub"                       # or "openai"
    base_model = "gpt-4o-mini-2024-07-18"
    hyperparameters = { n_epochs = 3 }  # optional

    [probe]                             # optional; omit to skip the probe
    questions = "bundled"               # or a path to a Betley-format YAML / our JSONL
    samples = 20
    judge = "known"                     # "known" (offline, stub only) or "openai"
    judge_model = "gpt-4o-2024-08-06"

    [[domain]]
    name = "finance"
    pool = "bundled"                    # or "sample", or a paired-example JSONL path
    eval = "bundled"                    # or "sample", or an eval-item JSONL path
    judge = "reference"                 # "reference", "code" or "openai"

``"sample"`` uses the small bundled sample set (its prompts double as eval
items: a smoke test, not a held-out evaluation). Every error names the file
and the field (``domain[1].judge``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds.errors import ConfigError, DataError

__all__ = ["StudyConfig", "build_study", "load_config", "parse_config"]

_TOP = {
    "run_dir",
    "seed",
    "fractions",
    "corruptions",
    "replicates",
    "size",
    "budget_usd",
    "backend",
    "probe",
    "domain",
    "eval_samples",
    "design",
}
_BACKEND = {"kind", "base_model", "hyperparameters", "base_url"}
_PROBE = {"questions", "samples", "judge", "judge_model", "categories"}
_DOMAIN = {"name", "pool", "eval", "judge", "judge_model"}


@attrs.frozen(kw_only=True)
class StudyConfig:
    """A validated study config (see the module notes for the format).

    Parameters
    ----------
    data : mapping
        The parsed TOML.
    base : Path
        Folder that relative paths are resolved against.
    source : str
        Where the config came from (for error messages).
    """

    data: Mapping[str, Any]
    base: Path
    source: str

    @property
    def run_dir(self) -> Path:
        """The run directory (resolved against the config's folder)."""
        return (self.base / str(self.data["run_dir"])).resolve()


def _err(source: str, field: str, msg: str) -> ConfigError:
    return ConfigError(f"{source}: field '{field}': {msg}", field=field)


def _check_keys(source: str, where: str, obj: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        name = f"{where}.{extra[0]}" if where else extra[0]
        raise _err(source, name, f"unknown key; allowed: {', '.join(sorted(allowed))}")


def parse_config(
    data: Mapping[str, Any], *, base: str | Path = ".", source: str = "<config>"
) -> StudyConfig:
    """Validate a parsed config mapping.

    Raises
    ------
    ConfigError
        Naming the source and the field at fault.
    """
    _check_keys(source, "", data, _TOP)
    if "run_dir" not in data or not isinstance(data["run_dir"], str) or not data["run_dir"].strip():
        raise _err(source, "run_dir", "required: a folder for the ledger and report")
    for key, typ in (("seed", int), ("replicates", int), ("size", int), ("eval_samples", int)):
        if key in data and (
            isinstance(data[key], bool) or not isinstance(data[key], typ) or data[key] < 0
        ):
            raise _err(source, key, f"expected a non-negative integer, got {data[key]!r}")
    if "fractions" in data:
        fr = data["fractions"]
        if (
            not isinstance(fr, list)
            or len(fr) < 3
            or not all(isinstance(f, (int, float)) and 0 <= f <= 1 for f in fr)
        ):
            raise _err(
                source, "fractions", f"expected a list of at least 3 shares in [0, 1], got {fr!r}"
            )
    if "corruptions" in data and (
        not isinstance(data["corruptions"], list)
        or not set(data["corruptions"]) <= {"obvious", "subtle"}
        or not data["corruptions"]
    ):
        raise _err(
            source,
            "corruptions",
            f"expected a list of 'obvious' / 'subtle', got {data['corruptions']!r}",
        )
    if data.get("design", "grid") not in ("grid", "adaptive"):
        raise _err(source, "design", f"expected 'grid' or 'adaptive', got {data['design']!r}")
    if "budget_usd" in data and (
        not isinstance(data["budget_usd"], (int, float)) or data["budget_usd"] < 0
    ):
        raise _err(
            source, "budget_usd", f"expected a non-negative number, got {data['budget_usd']!r}"
        )
    backend = data.get("backend", {"kind": "stub"})
    if not isinstance(backend, dict):
        raise _err(source, "backend", "expected a table")
    _check_keys(source, "backend", backend, _BACKEND)
    if backend.get("kind", "stub") not in ("stub", "openai"):
        raise _err(
            source, "backend.kind", f"expected 'stub' or 'openai', got {backend.get('kind')!r}"
        )
    if "hyperparameters" in backend and not isinstance(backend["hyperparameters"], dict):
        raise _err(source, "backend.hyperparameters", "expected a table")
    probe = data.get("probe")
    if probe is not None:
        if not isinstance(probe, dict):
            raise _err(source, "probe", "expected a table")
        _check_keys(source, "probe", probe, _PROBE)
        if probe.get("judge", "known") not in ("known", "openai"):
            raise _err(
                source, "probe.judge", f"expected 'known' or 'openai', got {probe.get('judge')!r}"
            )
        if "samples" in probe and (not isinstance(probe["samples"], int) or probe["samples"] < 1):
            raise _err(
                source, "probe.samples", f"expected a positive integer, got {probe['samples']!r}"
            )
    domains = data.get("domain")
    if not isinstance(domains, list) or not domains:
        raise _err(source, "domain", "at least one [[domain]] table is required")
    names = set()
    for i, d in enumerate(domains):
        where = f"domain[{i}]"
        if not isinstance(d, dict):
            raise _err(source, where, "expected a table")
        _check_keys(source, where, d, _DOMAIN)
        if not isinstance(d.get("name"), str) or not d["name"].strip():
            raise _err(source, f"{where}.name", "required")
        if d["name"] in names:
            raise _err(source, f"{where}.name", f"duplicate domain {d['name']!r}")
        names.add(d["name"])
        if d.get("judge", "reference") not in ("reference", "code", "openai"):
            raise _err(
                source,
                f"{where}.judge",
                f"expected 'reference', 'code' or 'openai', got {d.get('judge')!r}",
            )
    return StudyConfig(data=dict(data), base=Path(base), source=source)


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a TOML study config.

    Raises
    ------
    DataError
        The file is missing or not valid TOML (naming the line).
    ConfigError
        A field is wrong (naming it).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("config file not found", path=p) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:  # before Python 3.14 the line is only in the message
            import re

            found = re.search(r"at line (\d+)", str(exc))
            line = int(found.group(1)) if found else None
        raise DataError(f"not valid TOML ({exc})", path=p, line=line, field="<toml>") from exc
    return parse_config(data, base=p.parent, source=str(p))


# ---------------------------------------------------------------------- building
def _domain_data(cfg: StudyConfig, i: int, d: Mapping[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    from dataquality_thresholds.domains import load_domain
    from dataquality_thresholds.io import read_eval_jsonl
    from dataquality_thresholds.mixing import ExamplePool
    from dataquality_thresholds.records import EvalItem

    pool_src, eval_src = d.get("pool", "bundled"), d.get("eval", "bundled")
    if "sample" in (pool_src, eval_src):
        from dataquality_thresholds.domains import load_sample_pool

        sample = load_sample_pool(d["name"])
        if pool_src == "sample":
            pool_src_obj: Any = sample
        if eval_src == "sample":
            eval_from_sample = tuple(
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
    bundled = load_domain(d["name"]) if "bundled" in (pool_src, eval_src) else None
    if pool_src == "sample":
        pool = pool_src_obj
    elif pool_src == "bundled":
        assert bundled is not None
        pool = bundled.pool
    else:
        pool = ExamplePool.from_jsonl(cfg.base / pool_src)
    if eval_src == "sample":
        items = eval_from_sample
    elif eval_src == "bundled":
        assert bundled is not None
        items = tuple(bundled.eval_items)
    else:
        items = tuple(read_eval_jsonl(cfg.base / eval_src))
    return pool, items


def build_study(cfg: StudyConfig) -> Any:
    """Build the :class:`~dataquality_thresholds.study.Study` a config describes."""
    from dataquality_thresholds.backends import AnswerBook, LocalStubBackend
    from dataquality_thresholds.domains import load_probe_questions
    from dataquality_thresholds.evaluation import (
        CodeTestJudge,
        KnownAnswerJudge,
        MisalignmentProbe,
        ReferenceJudge,
        load_questions_yaml,
    )
    from dataquality_thresholds.records import EvalItem, ProbeQuestion
    from dataquality_thresholds.study import DomainSpec, Study

    data = cfg.data
    backend_cfg = data.get("backend", {"kind": "stub"})
    kind = backend_cfg.get("kind", "stub")
    probe_cfg = data.get("probe")
    questions: list[ProbeQuestion] = []
    if probe_cfg is not None:
        src = probe_cfg.get("questions", "bundled")
        if src == "bundled":
            cats = probe_cfg.get("categories")
            questions = [ProbeQuestion.coerce(q) for q in load_probe_questions()]
            if cats:
                questions = [q for q in questions if q.category in cats]
        elif str(src).endswith((".yaml", ".yml")):
            questions = load_questions_yaml(cfg.base / src)
        else:
            from dataquality_thresholds.io import read_probe_questions_jsonl

            questions = [
                ProbeQuestion.coerce(q) for q in read_probe_questions_jsonl(cfg.base / src)
            ]
    domains: dict[str, DomainSpec] = {}
    all_items: list[EvalItem] = []
    for i, d in enumerate(data["domain"]):
        pool, items = _domain_data(cfg, i, d)
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
            book,
            base_model=backend_cfg.get("base_model", "stub-base"),
            seed=int(data.get("seed", 0)),
        )
    else:
        from dataquality_thresholds.backends.openai import OpenAIBackend

        backend = OpenAIBackend(
            base_url=backend_cfg.get("base_url"),
            base_model=backend_cfg.get("base_model", "gpt-4o-2024-08-06"),
        )
    probe = None
    if probe_cfg is not None and questions:
        if probe_cfg.get("judge", "known") == "known":
            if kind != "stub":
                raise _err(
                    cfg.source,
                    "probe.judge",
                    "'known' judges only the stub's example answers; use 'openai'",
                )
            pjudge: Any = KnownAnswerJudge(questions)
        else:
            from dataquality_thresholds.evaluation import OpenAIJudge

            pjudge = OpenAIJudge(model=probe_cfg.get("judge_model", "gpt-4o-2024-08-06"))
        probe = MisalignmentProbe(questions, pjudge)
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
        seed=int(data.get("seed", 0)),
        base_model=backend_cfg.get("base_model"),
        hyperparameters=backend_cfg.get("hyperparameters"),
        eval_samples=int(data.get("eval_samples", 1)),
        probe_samples=int(probe_cfg.get("samples", 20)) if probe_cfg else 20,
        design=data.get("design", "grid"),
        eval_temperature=float(data.get("eval_temperature", 0.0)),
        target_half_width=float(data.get("target_half_width", 0.05)),
        max_fine_tunes=data.get("max_fine_tunes"),
    )
