"""Reading and validating a config: :func:`load_config` (TOML) and :func:`parse_config`.

Every value is checked for its type and range when the config is parsed, before
anything is built or written; errors name the file and the field.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds._util.validators import (
    check_choices,
    check_nonneg_int,
    check_nonneg_number,
    check_positive_int,
    check_share,
    read_utf8,
)
from dataquality_thresholds.config._backend import check_backend
from dataquality_thresholds.config._checks import (
    checked,
    choice,
    config_error,
    only_keys,
    source_value,
    table,
    text,
)
from dataquality_thresholds.config._copy import config_base
from dataquality_thresholds.errors import ConfigError, DataError
from dataquality_thresholds.records import INCORRECT_KINDS, PROBE_CATEGORIES

__all__ = ["StudyConfig", "load_config", "parse_config"]

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
_PROBE = {
    "questions",
    "samples",
    "judge",
    "judge_model",
    "categories",
    "max_tokens",
    "aligned_below",
    "coherent_above",
}
_DOMAIN = {"name", "pool", "eval", "judge", "judge_model"}


@attrs.frozen(kw_only=True)
class StudyConfig:
    """A validated study config (see :mod:`dataquality_thresholds.config` for the format).

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


def _check_top(source: str, data: Mapping[str, Any], out: dict[str, Any]) -> None:
    if "run_dir" not in data:
        raise config_error(source, "run_dir", "required: a folder for the ledger and report")
    text(source, "run_dir", data["run_dir"])
    if "seed" in data:
        checked(source, "seed", check_nonneg_int, data["seed"], "seed")
    for key in ("replicates", "size", "eval_samples"):
        if key in data:
            checked(source, key, check_positive_int, data[key], key)
    if "fractions" in data:
        fr = data["fractions"]
        if not isinstance(fr, list) or len(fr) < 3:
            raise config_error(
                source, "fractions", f"expected a list of at least 3 shares in [0, 1], got {fr!r}"
            )
        shares = [
            checked(source, f"fractions[{i}]", check_share, f, f"fractions[{i}]")
            for i, f in enumerate(fr)
        ]
        if len(set(shares)) != len(shares):
            raise config_error(source, "fractions", f"shares must be distinct, got {fr!r}")
        out["fractions"] = shares
    if "corruptions" in data:
        kinds = checked(
            source,
            "corruptions",
            check_choices,
            data["corruptions"],
            INCORRECT_KINDS,
            "corruptions",
        )
        if len(set(kinds)) != len(kinds):
            raise config_error(source, "corruptions", f"duplicate kind in {data['corruptions']!r}")
        out["corruptions"] = list(kinds)
    if "design" in data:
        choice(source, "design", data["design"], ("grid", "adaptive"))
    for key, rule in (
        ("eval_temperature", check_nonneg_number),
        ("target_half_width", check_nonneg_number),
        ("max_fine_tunes", check_positive_int),
        ("max_rounds", check_positive_int),
    ):
        if key in data:
            checked(source, key, rule, data[key], key)
    if "adaptive_metric" in data:
        text(source, "adaptive_metric", data["adaptive_metric"])
    if "budget_usd" in data:
        out["budget_usd"] = checked(
            source, "budget_usd", check_nonneg_number, data["budget_usd"], "budget_usd"
        )


def _check_probe(source: str, data: Mapping[str, Any], out: dict[str, Any]) -> None:
    if data.get("probe") is None:
        return
    probe = table(source, "probe", data["probe"])
    only_keys(source, "probe", probe, _PROBE)
    checked_ = dict(probe)
    choice(source, "probe.judge", probe.get("judge", "known"), ("known", "openai"))
    if "judge_model" in probe:
        text(source, "probe.judge_model", probe["judge_model"])
    for key in ("samples", "max_tokens"):
        if key in probe:
            checked(source, f"probe.{key}", check_positive_int, probe[key], f"probe.{key}")
    for key in ("aligned_below", "coherent_above"):
        if key in probe:
            value = checked(source, f"probe.{key}", check_nonneg_number, probe[key], f"probe.{key}")
            if value > 100:
                raise config_error(source, f"probe.{key}", f"expected 0 to 100, got {value!r}")
    if "questions" in probe:
        source_value(source, "probe.questions", probe["questions"], ("bundled",))
    if "categories" in probe:
        checked_["categories"] = list(
            checked(
                source,
                "probe.categories",
                check_choices,
                probe["categories"],
                PROBE_CATEGORIES,
                "probe.categories",
            )
        )
    out["probe"] = checked_


def _check_domains(source: str, data: Mapping[str, Any]) -> None:
    from dataquality_thresholds.domains import DOMAINS, SAMPLE_DOMAINS

    domains = data.get("domain")
    if not isinstance(domains, list) or not domains:
        raise config_error(source, "domain", "at least one [[domain]] table is required")
    names = set()
    for i, d in enumerate(domains):
        where = f"domain[{i}]"
        if not isinstance(d, dict):
            raise config_error(source, where, "expected a table")
        only_keys(source, where, d, _DOMAIN)
        if not isinstance(d.get("name"), str) or not d["name"].strip():
            raise config_error(source, f"{where}.name", "required")
        if d["name"] in names:
            raise config_error(source, f"{where}.name", f"duplicate domain {d['name']!r}")
        names.add(d["name"])
        for key in ("pool", "eval"):
            src = source_value(
                source, f"{where}.{key}", d.get(key, "bundled"), ("bundled", "sample")
            )
            known = {"bundled": DOMAINS, "sample": SAMPLE_DOMAINS}.get(src)
            if known is not None and d["name"] not in known:
                raise config_error(
                    source,
                    f"{where}.name",
                    f"no {src} data for domain {d['name']!r} (choose from {', '.join(known)}, "
                    f"or give {key} = <a JSONL path>)",
                )
        choice(
            source, f"{where}.judge", d.get("judge", "reference"), ("reference", "code", "openai")
        )
        if "judge_model" in d:
            text(source, f"{where}.judge_model", d["judge_model"])


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
        With ``fractions``, ``corruptions``, ``budget_usd``, ``hyperparameters``,
        the backend's settings and prices and ``probe.categories`` normalised.

    Raises
    ------
    ConfigError
        Naming the source and the field at fault.

    .. versionchanged:: 0.1
       The OpenAI backend's settings and price overrides and the probe's
       ``max_tokens``, ``aligned_below`` and ``coherent_above`` are accepted keys.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a table, got {type(data).__name__}", field="<config>"
        )
    only_keys(source, "", data, _TOP)
    out = dict(data)
    _check_top(source, data, out)
    check_backend(source, data, out)
    _check_probe(source, data, out)
    _check_domains(source, data)
    return StudyConfig(data=out, base=Path(base), source=source)


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a TOML study config.

    Relative paths in it (``run_dir``, data and question files, ``work_dir``,
    ``output_dir``) are resolved against the config's folder; a run directory's
    copy (``config.toml`` beside ``config_origin.json``, written by ``dqt run``)
    resolves them against the original config's folder instead, as the original did.

    Parameters
    ----------
    path : str or Path
        The TOML file.

    Returns
    -------
    StudyConfig

    Raises
    ------
    DataError
        The file is missing, a directory, not UTF-8 or not valid TOML (naming the line),
        or a copy's ``config_origin.json`` is damaged.
    ConfigError
        A field is wrong (naming it).

    .. versionchanged:: 0.1
       A run directory's copy resolves paths as the original config did.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    text_ = read_utf8(path)
    p = Path(path)
    try:
        data = tomllib.loads(text_)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:  # before Python 3.14 the line is only in the message
            import re

            found = re.search(r"at line (\d+)", str(exc))
            line = int(found.group(1)) if found else None
        raise DataError(f"not valid TOML ({exc})", path=p, line=line, field="<toml>") from exc
    except RecursionError as exc:
        raise DataError("not valid TOML (nested too deeply)", path=p, field="<toml>") from exc
    base = config_base(p)
    return parse_config(data, base=p.parent if base is None else base, source=str(p))
