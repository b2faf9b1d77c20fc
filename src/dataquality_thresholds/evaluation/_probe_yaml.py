"""Reading probe questions from YAML files in the format of Betley et al. (2025).

Private: :func:`load_questions_yaml` is imported from
:mod:`dataquality_thresholds.evaluation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataquality_thresholds._util.validators import check_choices, find_bad_text, read_utf8
from dataquality_thresholds.errors import DataError
from dataquality_thresholds.records import PROBE_CATEGORIES, ProbeQuestion

__all__ = ["load_questions_yaml"]

_YAML_KEYS = frozenset(
    {
        "id",
        "type",
        "paraphrases",
        "system",
        "samples_per_paraphrase",
        "judge",
        "judge_prompts",
        "category",
    }
)


def load_questions_yaml(path: str | Path, *, category: str = "neutral") -> list[ProbeQuestion]:
    """Read a Betley-format question file into :class:`ProbeQuestion` records.

    Parameters
    ----------
    path : str or Path
        The YAML file (UTF-8): a list of questions with ``id``, ``paraphrases``
        and optionally ``system``, ``judge_prompts`` (a mapping with ``aligned``
        and ``coherent`` prompts), ``samples_per_paraphrase``, ``type``,
        ``judge`` and our ``category``.
    category : str
        The category of questions that do not name one; one of
        :data:`~dataquality_thresholds.records.PROBE_CATEGORIES`.

    Returns
    -------
    list of ProbeQuestion

    Raises
    ------
    ConfigError
        ``category`` is not one of the probe categories.
    DataError
        Naming the file, the question's line and id, and the field: a missing
        file or a directory, text that is not UTF-8 or not valid YAML (also
        nesting too deep, or a lone surrogate escape), an unknown key or
        category, ``judge_prompts`` that is not a mapping, and so on.
    """
    import yaml

    check_choices(category, PROBE_CATEGORIES, "category")
    text = read_utf8(path)
    p = Path(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(
            f"not valid YAML ({getattr(exc, 'problem', exc)})",
            path=p,
            line=None if mark is None else mark.line + 1,
            field="<yaml>",
        ) from exc
    except RecursionError as exc:
        raise DataError("not valid YAML (nested too deeply)", path=p, field="<yaml>") from exc
    if not isinstance(data, list) or not data:
        raise DataError("expected a non-empty list of questions", path=p, line=1, field="<yaml>")
    lines = (
        [n.start_mark.line + 1 for n in node.value]
        if isinstance(node, yaml.SequenceNode)
        else [None] * len(data)
    )
    out: list[ProbeQuestion] = []
    seen: set[str] = set()
    for entry, line in zip(data, lines, strict=True):
        where: dict[str, Any] = {"path": p, "line": line}
        if not isinstance(entry, dict):
            raise DataError(
                f"expected a mapping, got {type(entry).__name__}", field="<question>", **where
            )
        qid = entry.get("id")
        if not isinstance(qid, str) or not qid.strip():
            raise DataError("missing or empty", field="id", **where)
        bad = find_bad_text(entry)
        if bad is not None:
            raise DataError(bad[1], field=bad[0], **where)
        where["id"] = qid
        if qid in seen:
            raise DataError("duplicate question id", field="id", **where)
        seen.add(qid)
        extra = sorted(set(entry) - _YAML_KEYS)
        if extra:
            raise DataError(f"unknown key {extra[0]!r}", field=extra[0], **where)
        paraphrases = entry.get("paraphrases")
        if (
            not isinstance(paraphrases, list)
            or not paraphrases
            or not all(isinstance(x, str) and x.strip() for x in paraphrases)
        ):
            raise DataError(
                "expected a non-empty list of non-empty strings", field="paraphrases", **where
            )
        system = entry.get("system")
        if system is not None and (not isinstance(system, str) or not system.strip()):
            raise DataError("expected a non-empty string", field="system", **where)
        prompts = entry.get("judge_prompts")
        if prompts is None:  # absent, or `judge_prompts:` with nothing after it
            prompts = {}
        if not isinstance(prompts, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in prompts.items()
        ):
            raise DataError(
                "expected a mapping of dimension to prompt text (aligned, coherent), "
                f"got {prompts!r}"[:200],
                field="judge_prompts",
                **where,
            )
        for dim in ("aligned", "coherent"):
            if prompts and dim not in prompts:
                raise DataError(
                    f"has no {dim!r} judge prompt (has: {', '.join(sorted(prompts))}); "
                    "this is not a misalignment question",
                    field=f"judge_prompts.{dim}",
                    **where,
                )
        spp = entry.get("samples_per_paraphrase")
        if spp is not None and (isinstance(spp, bool) or not isinstance(spp, int) or spp < 1):
            raise DataError(
                f"expected a positive int, got {spp!r}", field="samples_per_paraphrase", **where
            )
        cat = entry.get("category", category)
        if not isinstance(cat, str) or cat not in PROBE_CATEGORIES:
            raise DataError(
                f"unknown category {cat!r}; expected one of {', '.join(PROBE_CATEGORIES)}",
                field="category",
                **where,
            )
        out.append(
            ProbeQuestion(
                id=qid,
                category=cat,
                paraphrases=tuple(paraphrases),
                system=system,
                judge_prompts=prompts,
                samples_per_paraphrase=spp,
            )
        )
    return out
