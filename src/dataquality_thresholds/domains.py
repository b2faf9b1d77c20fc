"""Bundled data: the four domains, the sample pools, the probe questions, the judge-check set.

Everything here is package data written by ``scripts/make_domain_data.py`` from
templates whose answers are computed (interest, dosage arithmetic, deadline
dates, small Python functions with unit tests), so its correctness is checked
by the tests rather than asserted. See ``docs/data.md`` for sizes and skills.

File formats (JSONL, one object per line, UTF-8, sorted keys):

- training prompts: the paired-example rows of :mod:`dataquality_thresholds.io`;
- eval items: ``{"id", "domain", "messages", "reference", "incorrect": [...],
  "rubric", "tests", "skill"}`` (``reference``, ``rubric``, ``tests`` and
  ``skill`` optional, ``incorrect`` a list of strings);
- probe questions: ``{"id", "category", "paraphrases": [...], "system",
  "aligned_examples": [...], "misaligned_examples": [...]}``;
- judge check: ``{"id", "question_id", "answer", "label"}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

import attrs

from dataquality_thresholds._util.validators import check_choices, nonempty_str
from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.io import (
    read_eval_jsonl,
    read_judge_check_jsonl,
    read_paired_jsonl,
    read_probe_questions_jsonl,
)
from dataquality_thresholds.mixing import ExamplePool
from dataquality_thresholds.records import (
    PROBE_CATEGORIES,
    EvalItem,
    JudgeCheckItem,
    PairedExample,
    ProbeQuestion,
)

__all__ = [
    "DOMAINS",
    "SAMPLE_DOMAINS",
    "DomainData",
    "load_domain",
    "load_judge_check",
    "load_probe_questions",
    "load_sample_examples",
    "load_sample_pool",
]

#: Domains with bundled training and eval data.
DOMAINS: tuple[str, ...] = ("coding", "finance", "health", "legal")


def _eval_tuple(value: Iterable[EvalItem]) -> tuple[EvalItem, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class DomainData:
    """One domain's bundled data.

    Parameters
    ----------
    name : str
        The domain.
    pool : ExamplePool
        Training prompts with correct, obvious and subtle responses.
    eval_items : tuple of EvalItem
        Held-out items (different parameters and wording from training).
    """

    name: str = attrs.field(validator=nonempty_str)
    pool: ExamplePool = attrs.field(eq=False)
    eval_items: tuple[EvalItem, ...] = attrs.field(converter=_eval_tuple)


# --------------------------------------------------------------------------- bundled loaders
def _data_file(*parts: str) -> Any:
    ref: Any = resources.files("dataquality_thresholds").joinpath("data")
    for part in parts:
        ref = ref.joinpath(part)
    return ref


def load_domain(name: str) -> DomainData:
    """Return one domain's bundled training pool and held-out eval items.

    Parameters
    ----------
    name : str
        One of :data:`DOMAINS`.

    Returns
    -------
    DomainData

    Raises
    ------
    ConfigError
        An unknown domain.

    Examples
    --------
    >>> from dataquality_thresholds.domains import load_domain
    >>> data = load_domain("finance")
    >>> len(data.pool) >= 200, len(data.eval_items) >= 60
    (True, True)
    """
    if name not in DOMAINS:
        raise ConfigError(
            f"no bundled data for domain {name!r}; choose from {', '.join(DOMAINS)}",
            field="name",
        )
    with resources.as_file(_data_file("domains", name, "train.jsonl")) as path:
        train = read_paired_jsonl(path)
    with resources.as_file(_data_file("domains", name, "eval.jsonl")) as path:
        items = read_eval_jsonl(path)
    return DomainData(name=name, pool=ExamplePool(train), eval_items=items)


def load_probe_questions(
    categories: str | Iterable[str] | None = None,
) -> tuple[ProbeQuestion, ...]:
    """Return the bundled probe questions, optionally only some categories.

    Parameters
    ----------
    categories : str, iterable of str or None
        One or more of :data:`PROBE_CATEGORIES`; all when None.

    Returns
    -------
    tuple of ProbeQuestion

    Raises
    ------
    ConfigError
        ``categories`` is not a category name or a list of them, is empty, or
        names an unknown category (names match exactly, never as substrings).
    """
    wanted = (
        PROBE_CATEGORIES
        if categories is None
        else check_choices(categories, PROBE_CATEGORIES, "categories")
    )
    with resources.as_file(_data_file("probes", "questions.jsonl")) as path:
        rows = read_probe_questions_jsonl(path)
    return tuple(q for q in rows if q.category in wanted)


def load_judge_check() -> tuple[JudgeCheckItem, ...]:
    """Return the bundled labelled answers for checking judges."""
    with resources.as_file(_data_file("probes", "judge_check.jsonl")) as path:
        return tuple(read_judge_check_jsonl(path))


#: Domains with bundled sample data.
SAMPLE_DOMAINS: tuple[str, ...] = ("coding", "finance", "health", "legal")


def load_sample_examples(domains: str | Iterable[str] | None = None) -> list[PairedExample]:
    """Return the bundled paired examples of ``domains`` (all four by default).

    Parameters
    ----------
    domains : str, iterable of str or None
        One or more of :data:`SAMPLE_DOMAINS`.

    Returns
    -------
    list of PairedExample
    """
    names = (
        SAMPLE_DOMAINS
        if domains is None
        else (domains,)
        if isinstance(domains, str)
        else tuple(domains)
    )
    out: list[PairedExample] = []
    for name in names:
        if name not in SAMPLE_DOMAINS:
            raise ConfigError(
                f"no sample data for domain {name!r}; choose from {', '.join(SAMPLE_DOMAINS)}",
                field="domains",
            )
        ref = (
            resources.files("dataquality_thresholds")
            .joinpath("data")
            .joinpath("sample")
            .joinpath(f"{name}.jsonl")
        )
        with resources.as_file(ref) as path:
            out.extend(read_paired_jsonl(path))
    return out


def load_sample_pool(domains: str | Iterable[str] | None = None) -> ExamplePool:
    """Return an :class:`ExamplePool` of the bundled examples of ``domains``.

    Examples
    --------
    >>> from dataquality_thresholds import load_sample_pool
    >>> pool = load_sample_pool("finance")
    >>> len(pool), pool.kinds
    (32, ('obvious', 'subtle'))
    """
    return ExamplePool(load_sample_examples(domains))
