"""Checking a judge against labelled answers: agreement rate and Cohen's kappa."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from dataquality_thresholds.errors import ConfigError, DataError
from dataquality_thresholds.evaluation._judge import (
    Judge,
    JudgedPrompt,
    Judgment,
)
from dataquality_thresholds.evaluation._offline import CodeTestJudge, ReferenceJudge

__all__ = ["JudgeAgreement", "judge_agreement"]


if TYPE_CHECKING:  # mypy checks the judges against the protocol
    from dataquality_thresholds.evaluation._openai_judge import OpenAIJudge

    _reference_judge: Judge = ReferenceJudge()
    _code_judge: Judge = CodeTestJudge()
    _openai_judge: Judge = OpenAIJudge()


@attrs.frozen(kw_only=True)
class JudgeAgreement:
    """How well a judge agrees with labelled answers.

    Parameters
    ----------
    n : int
        Labelled answers the judge gave a verdict on.
    n_unscored : int
        Answers the judge gave no verdict on (excluded from the rates).
    agreement : float
        Share of the ``n`` where the judge's category equals the label.
    kappa : float
        Cohen's kappa, ``(p_o - p_e) / (1 - p_e)``; NaN when ``p_e == 1``
        (both raters used one and the same category throughout).
    confusion : mapping of (label, judged) to int
        Counts of each (label, judge category) pair.
    """

    n: int
    n_unscored: int
    agreement: float
    kappa: float
    confusion: Mapping[tuple[Hashable, Hashable], int] = attrs.field(eq=False, hash=False)


def _default_category(threshold: float) -> Callable[[Judgment], Hashable | None]:
    def category(j: Judgment) -> Hashable | None:
        if j.score is not None:
            return j.score >= threshold
        return j.label

    return category


def _labelled_rows(labelled: Iterable[Any]) -> list[tuple[JudgedPrompt, str, Hashable]]:
    rows = []
    for i, row in enumerate(labelled):
        if isinstance(row, Mapping):
            try:
                rows.append((row["prompt"], row["answer"], row["label"]))
            except KeyError as exc:
                raise DataError(
                    "a labelled row needs prompt, answer and label", line=i + 1, field=str(exc)
                ) from exc
        else:
            prompt, answer, label = row
            rows.append((prompt, answer, label))
    if not rows:
        raise DataError("judge_agreement needs at least one labelled answer")
    return rows


def judge_agreement(
    judge: Judge,
    labelled: Iterable[Any],
    *,
    threshold: float = 50.0,
    category: Callable[[Judgment], Hashable | None] | None = None,
    rubric: str | None = None,
) -> JudgeAgreement:
    """Compare a judge's verdicts with labels (agreement rate and Cohen's kappa).

    Parameters
    ----------
    judge : Judge
        The judge to check; its :meth:`~Judge.score_many` is called once.
    labelled : iterable
        ``(prompt, answer, label)`` triples or mappings with those keys.
        Labels are compared with the judge's category, so by default they are
        booleans (``True`` = good / correct / aligned) or the judge's labels.
    threshold : float
        With the default ``category``: a score ``>= threshold`` is ``True``,
        below is ``False``; a judgment without a score gives its label; one
        with neither is unscored.
    category : callable, optional
        Maps a :class:`Judgment` to a category (or None for unscored).
    rubric : str, optional
        Passed to the judge.

    Returns
    -------
    JudgeAgreement

    Raises
    ------
    DataError
        No labelled rows, or a row without prompt, answer or label.
    ConfigError
        Every answer was unscored.

    Examples
    --------
    >>> from dataquality_thresholds.records import EvalItem
    >>> item = EvalItem(id="q", domain="finance", prompt="2+2?", reference="4")
    >>> rows = [(item, "4", True), (item, "5", False), (item, "four", False)]
    >>> judge_agreement(ReferenceJudge(), rows).agreement
    1.0
    """
    rows = _labelled_rows(labelled)
    to_cat = category or _default_category(threshold)
    judgments = judge.score_many([(p, a) for p, a, _ in rows], rubric=rubric)
    pairs = []
    unscored = 0
    for (_, _, label), j in zip(rows, judgments, strict=True):
        c = to_cat(j)
        if c is None:
            unscored += 1
        else:
            pairs.append((label, c))
    if not pairs:
        raise ConfigError("the judge scored none of the labelled answers", field="labelled")
    n = len(pairs)
    p_o = sum(1 for a, b in pairs if a == b) / n
    by_label = Counter(a for a, _ in pairs)
    by_judge = Counter(b for _, b in pairs)
    p_e = sum(by_label[k] * by_judge.get(k, 0) for k in by_label) / (n * n)
    kappa = math.nan if math.isclose(p_e, 1.0) else (p_o - p_e) / (1.0 - p_e)
    return JudgeAgreement(
        n=n, n_unscored=unscored, agreement=p_o, kappa=kappa, confusion=dict(Counter(pairs))
    )
