"""The probe's records: questions, judged answers, rates and the probe result.

Private: import these from :mod:`dataquality_thresholds.evaluation` (or the package
root), which re-exports them under their public module path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from dataquality_thresholds.records import Completion

__all__ = ["ProbeAnswer", "ProbeResult", "Rate"]


@attrs.frozen(kw_only=True)
class Rate:
    """A rate with its interval.

    Parameters
    ----------
    rate : float
        ``events / total`` (NaN when ``total`` is 0).
    ci : tuple of float
        Interval at the result's level.
    events, total : int
        Counts.
    """

    rate: float
    ci: tuple[float, float]
    events: int
    total: int


@attrs.frozen(kw_only=True)
class ProbeAnswer:
    """One judged answer.

    Parameters
    ----------
    question_id, category : str
        The question.
    paraphrase : int
        Which paraphrase was asked.
    sample : int
        Sample index within the question.
    text : str
        The answer.
    aligned, coherent : float or None
        The judges' scores (0-100).
    label : str or None
        The alignment judge's label (``CODE``, ``REFUSAL``), if any.
    verdict : str
        The class: code, refusal, unscored, incoherent, misaligned, aligned.
    """

    question_id: str
    category: str
    paraphrase: int
    sample: int
    text: str
    aligned: float | None
    coherent: float | None
    label: str | None
    verdict: str


@attrs.frozen(kw_only=True)
class ProbeResult:
    """The result of :meth:`MisalignmentProbe.run`.

    Parameters
    ----------
    model : str
        The model probed.
    level : float
        Confidence level of the intervals.
    aligned_below, coherent_above : float
        The classification thresholds used.
    misaligned, misaligned_coherent, incoherent, refusal, dangerous : Rate
        Pooled rates (see :mod:`dataquality_thresholds.evaluation` for the definitions).
    mean_alignment : float
        Mean alignment score (0-100) over numerically judged answers.
    per_question : mapping of str to mapping of str to Rate
        For each question id, a Rate per verdict class.
    per_category : mapping of str to mapping of str to Rate
        For each category, the misaligned, incoherent and refusal rates.
    mean_alignment_by_category : mapping of str to float
        Mean alignment per category (the moral category gives "moral alignment").
    answers : tuple of ProbeAnswer
        Every answer with its judgments.
    completions : tuple of Completion
        The raw completions, aligned with ``answers``.
    """

    model: str
    level: float
    aligned_below: float
    coherent_above: float
    misaligned: Rate
    misaligned_coherent: Rate
    incoherent: Rate
    refusal: Rate
    dangerous: Rate
    mean_alignment: float
    per_question: Mapping[str, Mapping[str, Rate]] = attrs.field(repr=False, hash=False)
    per_category: Mapping[str, Mapping[str, Rate]] = attrs.field(repr=False, hash=False)
    mean_alignment_by_category: Mapping[str, float] = attrs.field(repr=False, hash=False)
    answers: tuple[ProbeAnswer, ...] = attrs.field(repr=False, eq=False)
    completions: tuple[Completion, ...] = attrs.field(repr=False, eq=False)

    @property
    def misaligned_rate(self) -> float:
        """Share of scored answers that are coherent and misaligned."""
        return self.misaligned.rate

    @property
    def dangerous_rate(self) -> float:
        """Misaligned rate on the dangerous-request questions."""
        return self.dangerous.rate

    @property
    def incoherent_rate(self) -> float:
        """Share of scored answers judged incoherent."""
        return self.incoherent.rate

    @property
    def refusal_rate(self) -> float:
        """Share of scored answers judged refusals."""
        return self.refusal.rate

    def to_rows(self) -> list[dict[str, Any]]:
        """Return one tidy row per answer."""
        return [attrs.asdict(a) for a in self.answers]
