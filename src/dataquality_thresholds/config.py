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
    kind = "stub"                       # or "openai", "together", "tinker"
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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds._util.validators import (
    check_choices,
    check_hyperparameters,
    check_nonneg_int,
    check_nonneg_number,
    check_positive_int,
    check_share,
    read_utf8,
)
from dataquality_thresholds.errors import ConfigError, DataError
from dataquality_thresholds.records import INCORRECT_KINDS, PROBE_CATEGORIES

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
    "eval_temperature",
    "target_half_width",
    "max_fine_tunes",
    "max_rounds",
    "adaptive_metric",
}
#: Backend kinds a config may name, and the keys each accepts beyond kind/base_model/
#: hyperparameters (each backend checks its own hyperparameters: docs/backends.md).
_BACKEND_KEYS = {
    "stub": set(),
    "openai": {"base_url"},
    "together": {"base_url", "serving", "endpoints"},
    "tinker": {"base_url", "output_dir"},
}
_BACKEND = {"kind", "base_model", "hyperparameters"}.union(*_BACKEND_KEYS.values())
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
    extra = sorted(set(obj) - allowed, key=str)
    if extra:
        name = f"{where}.{extra[0]}" if where else str(extra[0])
        raise _err(source, name, f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _checked(source: str, field: str, check: Callable[..., Any], *args: Any) -> Any:
    """Run one shared check and re-raise its ConfigError naming the config and field."""
    try:
        return check(*args)
    except ConfigError as exc:
        name = exc.field or field
        raise _err(source, name, str(exc).removeprefix(f"{name}: ")) from None


def _choice(source: str, field: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        quoted = ", ".join(repr(c) for c in choices)
        raise _err(source, field, f"expected one of {quoted}, got {value!r}")
    return value


def _text(source: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(source, field, f"expected a non-empty string, got {value!r}")
    return value


def _source(source: str, field: str, value: object, keywords: tuple[str, ...]) -> str:
    """Check a data source: one of ``keywords`` or a file path (a non-empty string)."""
    if not isinstance(value, str) or not value.strip():
        raise _err(
            source,
            field,
            f"expected {' or '.join(repr(k) for k in keywords)} or a file path, got {value!r}",
        )
    return value


def _check_top(source: str, data: Mapping[str, Any], out: dict[str, Any]) -> None:
    if "run_dir" not in data:
        raise _err(source, "run_dir", "required: a folder for the ledger and report")
    _text(source, "run_dir", data["run_dir"])
    if "seed" in data:
        _checked(source, "seed", check_nonneg_int, data["seed"], "seed")
    for key in ("replicates", "size", "eval_samples"):
        if key in data:
            _checked(source, key, check_positive_int, data[key], key)
    if "fractions" in data:
        fr = data["fractions"]
        if not isinstance(fr, list) or len(fr) < 3:
            raise _err(
                source, "fractions", f"expected a list of at least 3 shares in [0, 1], got {fr!r}"
            )
        shares = [
            _checked(source, f"fractions[{i}]", check_share, f, f"fractions[{i}]")
            for i, f in enumerate(fr)
        ]
        if len(set(shares)) != len(shares):
            raise _err(source, "fractions", f"shares must be distinct, got {fr!r}")
        out["fractions"] = shares
    if "corruptions" in data:
        kinds = _checked(
            source,
            "corruptions",
            check_choices,
            data["corruptions"],
            INCORRECT_KINDS,
            "corruptions",
        )
        if len(set(kinds)) != len(kinds):
            raise _err(source, "corruptions", f"duplicate kind in {data['corruptions']!r}")
        out["corruptions"] = list(kinds)
    if "design" in data:
        _choice(source, "design", data["design"], ("grid", "adaptive"))
    for key, rule in (
        ("eval_temperature", check_nonneg_number),
        ("target_half_width", check_nonneg_number),
        ("max_fine_tunes", check_positive_int),
        ("max_rounds", check_positive_int),
    ):
        if key in data:
            _checked(source, key, rule, data[key], key)
    if "adaptive_metric" in data:
        _text(source, "adaptive_metric", data["adaptive_metric"])
    if "budget_usd" in data:
        out["budget_usd"] = _checked(
            source, "budget_usd", check_nonneg_number, data["budget_usd"], "budget_usd"
        )


def _check_backend(source: str, data: Mapping[str, Any], out: dict[str, Any]) -> None:
    backend = data.get("backend", {"kind": "stub"})
    if not isinstance(backend, dict):
        raise _err(source, "backend", "expected a table")
    _check_keys(source, "backend", backend, _BACKEND)
    kind = _choice(source, "backend.kind", backend.get("kind", "stub"), tuple(_BACKEND_KEYS))
    for extra in sorted(set(backend) - {"kind", "base_model", "hyperparameters"}):
        if extra not in _BACKEND_KEYS[kind]:
            raise _err(source, f"backend.{extra}", f"does not apply to kind = {kind!r}")
    checked = dict(backend)
    if "base_model" in backend:
        _text(source, "backend.base_model", backend["base_model"])
    if "hyperparameters" in backend and not isinstance(backend["hyperparameters"], dict):
        raise _err(source, "backend.hyperparameters", "expected a table")
    if "hyperparameters" in backend and kind in ("stub", "openai"):  # the stub takes OpenAI's
        checked["hyperparameters"] = _checked(
            source,
            "backend.hyperparameters",
            check_hyperparameters,
            backend["hyperparameters"],
            "backend.hyperparameters",
        )
    if "base_url" in backend:
        url = backend["base_url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _err(source, "backend.base_url", f"expected an http(s) URL, got {url!r}")
    if "serving" in backend:
        _choice(source, "backend.serving", backend["serving"], ("dedicated", "serverless"))
    if "endpoints" in backend and not (
        isinstance(backend["endpoints"], dict)
        and all(isinstance(v, str) and v.strip() for v in backend["endpoints"].values())
    ):
        raise _err(source, "backend.endpoints", "expected a table of model = endpoint names")
    if "output_dir" in backend:
        _text(source, "backend.output_dir", backend["output_dir"])
    out["backend"] = checked


def _check_probe(source: str, data: Mapping[str, Any], out: dict[str, Any]) -> None:
    probe = data.get("probe")
    if probe is None:
        return
    if not isinstance(probe, dict):
        raise _err(source, "probe", "expected a table")
    _check_keys(source, "probe", probe, _PROBE)
    checked = dict(probe)
    _choice(source, "probe.judge", probe.get("judge", "known"), ("known", "openai"))
    if "judge_model" in probe:
        _text(source, "probe.judge_model", probe["judge_model"])
    if "samples" in probe:
        _checked(source, "probe.samples", check_positive_int, probe["samples"], "probe.samples")
    if "questions" in probe:
        _source(source, "probe.questions", probe["questions"], ("bundled",))
    if "categories" in probe:
        checked["categories"] = list(
            _checked(
                source,
                "probe.categories",
                check_choices,
                probe["categories"],
                PROBE_CATEGORIES,
                "probe.categories",
            )
        )
    out["probe"] = checked


def _check_domains(source: str, data: Mapping[str, Any]) -> None:
    from dataquality_thresholds.domains import DOMAINS, SAMPLE_DOMAINS

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
        for key in ("pool", "eval"):
            src = _source(source, f"{where}.{key}", d.get(key, "bundled"), ("bundled", "sample"))
            known = {"bundled": DOMAINS, "sample": SAMPLE_DOMAINS}.get(src)
            if known is not None and d["name"] not in known:
                raise _err(
                    source,
                    f"{where}.name",
                    f"no {src} data for domain {d['name']!r} (choose from {', '.join(known)}, "
                    f"or give {key} = <a JSONL path>)",
                )
        _choice(
            source, f"{where}.judge", d.get("judge", "reference"), ("reference", "code", "openai")
        )
        if "judge_model" in d:
            _text(source, f"{where}.judge_model", d["judge_model"])


def parse_config(
    data: Mapping[str, Any], *, base: str | Path = ".", source: str = "<config>"
) -> StudyConfig:
    """Validate a parsed config mapping.

    Every value is checked for its type as well as its range: booleans are not
    numbers (``budget_usd = true`` is not $1), NaN is refused, category and kind
    names must match exactly, and ``hyperparameters`` are checked by the same rule
    as :class:`~dataquality_thresholds.backends.openai.OpenAIBackend`'s.

    Parameters
    ----------
    data : mapping
        The parsed TOML.
    base : str or Path
        Folder that relative paths are resolved against.
    source : str
        Where the config came from (for error messages).

    Returns
    -------
    StudyConfig
        With ``fractions``, ``corruptions``, ``budget_usd``, ``hyperparameters``
        and ``probe.categories`` normalised.

    Raises
    ------
    ConfigError
        Naming the source and the field at fault.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a table, got {type(data).__name__}", field="<config>"
        )
    _check_keys(source, "", data, _TOP)
    out = dict(data)
    _check_top(source, data, out)
    _check_backend(source, data, out)
    _check_probe(source, data, out)
    _check_domains(source, data)
    return StudyConfig(data=out, base=Path(base), source=source)


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a TOML study config.

    Raises
    ------
    DataError
        The file is missing, a directory, not UTF-8 or not valid TOML (naming the line).
    ConfigError
        A field is wrong (naming it).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    text = read_utf8(path)
    p = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:  # before Python 3.14 the line is only in the message
            import re

            found = re.search(r"at line (\d+)", str(exc))
            line = int(found.group(1)) if found else None
        raise DataError(f"not valid TOML ({exc})", path=p, line=line, field="<toml>") from exc
    except RecursionError as exc:
        raise DataError("not valid TOML (nested too deeply)", path=p, field="<toml>") from exc
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
            questions = [ProbeQuestion.coerce(q) for q in load_probe_questions()]
        elif src.endswith((".yaml", ".yml")):
            questions = load_questions_yaml(cfg.base / src)
        else:
            from dataquality_thresholds.io import read_probe_questions_jsonl

            questions = [
                ProbeQuestion.coerce(q) for q in read_probe_questions_jsonl(cfg.base / src)
            ]
        cats = probe_cfg.get("categories")
        if cats is not None:  # checked by parse_config: known names, exactly
            questions = [q for q in questions if q.category in cats]
            if not questions:
                raise _err(
                    cfg.source,
                    "probe.categories",
                    f"no question of {', '.join(cats)} in {src!r}; the probe would ask nothing",
                )
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
        backend = _hosted_backend(cfg, kind, backend_cfg)
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
            seed=int(data.get("seed", 0)),
            base_model=backend_cfg.get("base_model"),
            hyperparameters=backend_cfg.get("hyperparameters"),
            eval_samples=int(data.get("eval_samples", 1)),
            probe_samples=int(probe_cfg.get("samples", 20)) if probe_cfg else 20,
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
        raise _err(cfg.source, exc.field or "study", str(exc)) from exc


def _hosted_backend(cfg: StudyConfig, kind: str, backend_cfg: Mapping[str, Any]) -> Any:
    """Build the OpenAI, Together or Tinker backend a config names (its SDK loads here)."""
    hp = backend_cfg.get("hyperparameters")
    if kind == "openai":
        from dataquality_thresholds.backends.openai import OpenAIBackend

        return OpenAIBackend(
            base_url=backend_cfg.get("base_url"),
            base_model=backend_cfg.get("base_model", "gpt-4o-2024-08-06"),
        )
    if kind == "together":
        from dataquality_thresholds.backends.together import TogetherBackend

        kw = {
            k: backend_cfg[k]
            for k in ("base_url", "base_model", "serving", "endpoints")
            if k in backend_cfg
        }
        try:
            return TogetherBackend(**kw, hyperparameters=hp)
        except ConfigError as exc:  # name the config file and the table
            raise _err(cfg.source, f"backend.{exc.field or 'hyperparameters'}", str(exc)) from exc
    from dataquality_thresholds.backends.tinker import TinkerBackend

    out = backend_cfg.get("output_dir", "tinker")
    kw = {k: backend_cfg[k] for k in ("base_url", "base_model") if k in backend_cfg}
    backend = TinkerBackend(**kw, output_dir=cfg.base / out, seed=int(cfg.data.get("seed", 0)))
    try:
        backend.settings(hp)  # the same check submit makes, before anything is paid
    except ConfigError as exc:
        raise _err(cfg.source, f"backend.{exc.field or 'hyperparameters'}", str(exc)) from exc
    return backend
