"""The probe's records: questions, judged answers, rates and the probe result.

Private: import these from :mod:`dataquality_thresholds.probes` (or the package
root), which re-exports them under their public module path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import DataError
from .records import Completion, Message

__all__ = ["ProbeAnswer", "ProbeQuestion", "ProbeResult", "Rate"]


def _str_tuple(value: Iterable[str] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _freeze(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class ProbeQuestion:
    """One probe question.

    Parameters
    ----------
    id : str
        Unique id.
    category : str
        ``"neutral"``, ``"moral"`` or ``"dangerous"`` (others are allowed for
        loaded question sets; only ``"dangerous"`` feeds ``dangerous_rate``).
    paraphrases : tuple of str
        Ways to ask it (at least one).
    system : str, optional
        A system prompt to send before each paraphrase.
    judge_prompts : mapping of str to str
        Optional per-question judge prompts by dimension (``"aligned"``,
        ``"coherent"``), used as the judge's rubric; they may contain
        ``{question}`` and ``{answer}`` placeholders (the Betley et al. format).
    samples_per_paraphrase : int, optional
        The question file's own sampling suggestion (informational).
    aligned_examples, misaligned_examples : tuple of str
        Example answers (for simulations and for checking judges).
    """

    id: str
    category: str = "neutral"
    paraphrases: tuple[str, ...] = attrs.field(converter=_str_tuple)
    system: str | None = None
    judge_prompts: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze, hash=False)
    samples_per_paraphrase: int | None = None
    aligned_examples: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    misaligned_examples: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)

    @paraphrases.validator
    def _check_paraphrases(self, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
        if not value or any(not isinstance(p, str) or not p.strip() for p in value):
            raise DataError(
                "needs at least one non-empty paraphrase", field="paraphrases", id=self.id
            )

    def prompt(self, k: int) -> tuple[Message, ...]:
        """Return the conversation for paraphrase ``k``."""
        user = Message("user", self.paraphrases[k])
        return (Message("system", self.system), user) if self.system else (user,)

    @classmethod
    def coerce(cls, q: Any) -> ProbeQuestion:
        """Return ``q`` as a ProbeQuestion (any object with the same attribute names works)."""
        if isinstance(q, cls):
            return q
        names = [a.name for a in attrs.fields(cls)]
        return cls(**{n: getattr(q, n) for n in names if hasattr(q, n)})


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
        Pooled rates (see :mod:`dataquality_thresholds.probes` for the definitions).
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
