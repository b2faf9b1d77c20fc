"""DomainScorer: how well a model does its job, on held-out items, with an interval.

``DomainScorer(items, judge).score(sampler, model)`` samples each
:class:`~dataquality_thresholds.records.EvalItem`, judges every answer, and
summarises on a 0-1 scale (a judge's 0-100 score divided by 100).

Interval rules
--------------
- **binary** outcomes (every judged score is 0 or 100, as from
  :class:`ReferenceJudge` or :class:`CodeTestJudge`) with one sample per item:
  the Wilson score interval over items;
- otherwise (graded scores, or several samples per item, which are not
  independent): a percentile bootstrap over items of the per-item means.

Answers the judge could not score (``Judgment.score is None``) are left out of
the means and counted in ``n_unscored``; an item with no scored answer is left
out of the interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from dataquality_thresholds._util.stats import item_bootstrap_interval, wilson_interval
from dataquality_thresholds.errors import ConfigError, DataError
from dataquality_thresholds.records import Completion, EvalItem

if TYPE_CHECKING:
    from dataquality_thresholds.backends import Sampler
    from dataquality_thresholds.evaluation._judge import Judge, Judgment

__all__ = ["DomainScore", "DomainScorer", "ItemScore", "SkillScore"]


def _tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class ItemScore:
    """The scores of one item's samples.

    Parameters
    ----------
    item_id : str
        The item.
    skill : str or None
        Its skill.
    scores : tuple of float or None
        One per sample, on 0-1 (None where the judge gave no score).
    labels : tuple of str or None
        The judge's labels, one per sample.
    """

    item_id: str
    skill: str | None
    scores: tuple[float | None, ...] = attrs.field(converter=_tuple)
    labels: tuple[str | None, ...] = attrs.field(converter=_tuple)

    @property
    def mean(self) -> float | None:
        """Mean of the scored samples, or None if none was scored."""
        vals = [s for s in self.scores if s is not None]
        return sum(vals) / len(vals) if vals else None


@attrs.frozen(kw_only=True)
class SkillScore:
    """Summary of one skill (or of the whole domain).

    Parameters
    ----------
    n_items : int
        Items with at least one scored answer.
    mean : float
        Mean score on 0-1 (NaN when no item was scored).
    ci : tuple of float
        Interval at the result's level.
    """

    n_items: int
    mean: float
    ci: tuple[float, float]


@attrs.frozen(kw_only=True)
class DomainScore:
    """The result of :meth:`DomainScorer.score`.

    Parameters
    ----------
    model : str
        The model that answered.
    mean : float
        Mean score on 0-1 over items (each item weighted equally).
    ci : tuple of float
        Interval for ``mean`` at ``level``.
    level : float
        Confidence level.
    interval : {"wilson", "bootstrap"}
        How ``ci`` was computed (see the module notes).
    binary : bool
        Whether every judged score was 0 or 100.
    samples : int
        Samples per item.
    n_items : int
        Items with at least one scored answer.
    n_unscored : int
        Answers the judge could not score.
    per_item : tuple of ItemScore
        Per-item scores, in input order.
    per_skill : mapping of str to SkillScore
        Breakdown by skill (items without a skill under ``"(none)"``).
    completions : tuple of tuple of Completion
        The raw answers, ``completions[i][j]`` for item ``i`` sample ``j``.
    judgments : tuple of tuple of Judgment
        The raw judgments, aligned with ``completions``.
    """

    model: str
    mean: float
    ci: tuple[float, float]
    level: float
    interval: str
    binary: bool
    samples: int
    n_items: int
    n_unscored: int
    per_item: tuple[ItemScore, ...] = attrs.field(converter=_tuple, repr=False)
    per_skill: Mapping[str, SkillScore] = attrs.field(repr=False, hash=False)
    completions: tuple[tuple[Completion, ...], ...] = attrs.field(
        converter=_tuple, repr=False, eq=False
    )
    judgments: tuple[tuple[Judgment, ...], ...] = attrs.field(
        converter=_tuple, repr=False, eq=False
    )

    def to_rows(self) -> list[dict[str, Any]]:
        """Return one tidy row per item and sample: item_id, skill, sample, score, label, text."""
        rows = []
        for item, comps in zip(self.per_item, self.completions, strict=True):
            for j, c in enumerate(comps):
                rows.append(
                    {
                        "item_id": item.item_id,
                        "skill": item.skill,
                        "sample": j,
                        "score": item.scores[j],
                        "label": item.labels[j],
                        "text": c.text,
                    }
                )
        return rows


def summarise_items(
    items: Sequence[ItemScore], *, binary: bool, samples: int, level: float, n_boot: int, seed: int
) -> tuple[SkillScore, str]:
    """Summarise per-item scores: their mean and an interval, with the interval's method.

    Parameters
    ----------
    items : sequence of ItemScore
        Scored items; items without a mean are left out.
    binary : bool
        Whether every score is 0 or 1.
    samples : int
        Samples per item; with binary scores and one sample, the interval is a Wilson
        interval on the items, otherwise an item bootstrap.
    level : float
        Confidence level.
    n_boot : int
        Bootstrap resamples.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    tuple of (SkillScore, str)
        The summary and the interval method (``"wilson"``, ``"bootstrap"`` or ``"none"``).
    """
    means = np.array([m for m in (it.mean for it in items) if m is not None], dtype=float)
    if means.size == 0:
        return SkillScore(n_items=0, mean=math.nan, ci=(math.nan, math.nan)), "none"
    mean = float(means.mean())
    if binary and samples == 1:
        return SkillScore(
            n_items=int(means.size),
            mean=mean,
            ci=wilson_interval(float(means.sum()), float(means.size), level),
        ), "wilson"
    ci = item_bootstrap_interval(means, level, n_boot=n_boot, seed=seed)
    return SkillScore(n_items=int(means.size), mean=mean, ci=ci), "bootstrap"


class DomainScorer:
    """Score a model on held-out evaluation items with a judge.

    Parameters
    ----------
    items : sequence of EvalItem
        The held-out items (ids unique).
    judge : Judge
        Anything with ``score_many(pairs) -> list[Judgment]``; it receives the
        :class:`EvalItem` as the prompt, so reference and test judges see the
        reference and tests.
    level : float
        Confidence level of the intervals.
    n_boot : int
        Bootstrap resamples (graded scores or several samples per item).
    seed : int
        Seed of the bootstrap.

    Examples
    --------
    >>> scorer = DomainScorer(items, ReferenceJudge())          # doctest: +SKIP
    >>> result = scorer.score(sampler, "ft:gpt-4o:...:abc")      # doctest: +SKIP
    >>> result.mean, result.ci                                   # doctest: +SKIP
    """

    def __init__(
        self,
        items: Iterable[EvalItem],
        judge: Judge,
        *,
        level: float = 0.95,
        n_boot: int = 2000,
        seed: int = 0,
    ) -> None:
        self.items: tuple[EvalItem, ...] = tuple(items)
        if not self.items:
            raise ConfigError("DomainScorer needs at least one item", field="items")
        seen: set[str] = set()
        for i, item in enumerate(self.items, start=1):
            if not isinstance(item, EvalItem):
                raise DataError(
                    f"expected an EvalItem, got {type(item).__name__}", line=i, field="items"
                )
            if item.id in seen:
                raise DataError("duplicate item id", line=i, field="id", id=item.id)
            seen.add(item.id)
        if not 0 < level < 1:
            raise ConfigError(f"level must be in (0, 1), got {level!r}", field="level")
        self.judge = judge
        self.level = level
        self.n_boot = n_boot
        self.seed = seed

    def __repr__(self) -> str:
        return f"DomainScorer(n_items={len(self.items)}, judge={type(self.judge).__name__})"

    def score(
        self,
        sampler: Sampler,
        model: str,
        *,
        samples: int = 1,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        seed: int | None = 0,
    ) -> DomainScore:
        """Sample every item ``samples`` times, judge each answer, summarise.

        Parameters
        ----------
        sampler : Sampler
            Produces the answers.
        model : str
            The model to evaluate.
        samples : int
            Answers per item.
        temperature : float
            Sampling temperature (0: greedy, the default for a domain eval).
        max_tokens : int, optional
            Cap on answer length.
        seed : int, optional
            Passed to the sampler.

        Returns
        -------
        DomainScore
        """
        if samples < 1:
            raise ConfigError(f"samples must be >= 1, got {samples}", field="samples")
        completions = sampler.complete(
            model,
            list(self.items),
            n=samples,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
        )
        if len(completions) != len(self.items) or any(len(c) != samples for c in completions):
            raise DataError(
                f"the sampler returned {len(completions)} lists for {len(self.items)} items "
                f"(expected {samples} completions each)",
                field="completions",
            )
        pairs = [
            (item, c.text)
            for item, comps in zip(self.items, completions, strict=True)
            for c in comps
        ]
        flat = list(self.judge.score_many(pairs))
        if len(flat) != len(pairs):
            raise DataError(
                f"the judge returned {len(flat)} judgments for {len(pairs)} answers",
                field="judgments",
            )
        judgments = [tuple(flat[i * samples : (i + 1) * samples]) for i in range(len(self.items))]
        per_item = []
        scored: list[float] = []
        for item, js in zip(self.items, judgments, strict=True):
            scores = tuple(None if j.score is None else float(j.score) / 100.0 for j in js)
            scored.extend(s for s in scores if s is not None)
            per_item.append(
                ItemScore(
                    item_id=item.id,
                    skill=item.skill,
                    scores=scores,
                    labels=tuple(j.label for j in js),
                )
            )
        binary = bool(scored) and all(s in (0.0, 1.0) for s in scored)
        n_unscored = sum(s is None for it in per_item for s in it.scores)
        overall, method = summarise_items(
            per_item,
            binary=binary,
            samples=samples,
            level=self.level,
            n_boot=self.n_boot,
            seed=self.seed,
        )
        skills: dict[str, list[ItemScore]] = {}
        for it in per_item:
            skills.setdefault(it.skill or "(none)", []).append(it)
        per_skill = {
            name: summarise_items(
                group,
                binary=binary,
                samples=samples,
                level=self.level,
                n_boot=self.n_boot,
                seed=self.seed,
            )[0]
            for name, group in sorted(skills.items())
        }
        return DomainScore(
            model=model,
            mean=overall.mean,
            ci=overall.ci,
            level=self.level,
            interval=method,
            binary=binary,
            samples=samples,
            n_items=overall.n_items,
            n_unscored=n_unscored,
            per_item=per_item,
            per_skill=per_skill,
            completions=tuple(tuple(c) for c in completions),
            judgments=judgments,
        )
