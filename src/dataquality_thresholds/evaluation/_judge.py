"""The judgment record, the Judge protocol and the logprob-weighted scoring rule."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, TypeAlias, runtime_checkable

import attrs

from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.records import EvalItem, Message

__all__ = [
    "MIN_NUMERIC_MASS",
    "Judge",
    "JudgedPrompt",
    "Judgment",
    "question_text",
    "score_distribution",
    "score_top_logprobs",
]

#: Share of probability that tokens parsing as integers 0..100 must carry for a score.
MIN_NUMERIC_MASS = 0.25

#: What a judge accepts as the prompt that was answered.
JudgedPrompt: TypeAlias = "str | EvalItem | Sequence[Message | Mapping[str, Any]]"


def _to_raw(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    data = {} if value is None else dict(value)
    try:
        json.dumps(data, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Judgment.raw must be JSON-safe: {exc}", field="raw") from exc
    return MappingProxyType(data)


def _check_score(inst: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and 0.0 <= value <= 100.0):
        raise ConfigError(f"a judgment score must lie in [0, 100], got {value!r}", field="score")


def _to_float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


@attrs.frozen(kw_only=True)
class Judgment:
    """A judge's verdict on one answer.

    Parameters
    ----------
    score : float or None
        0 (worst) to 100 (best); None when the judge gave no usable number.
    label : str or None
        A non-numeric verdict the judge's template allows (``"REFUSAL"``,
        ``"CODE"``), or a judge-specific outcome (``"passed"``, ``"timeout"``).
    raw : mapping
        JSON-safe evidence: the judge's token distribution, the sandbox's
        output, which reference matched ...
    """

    score: float | None = attrs.field(
        default=None, converter=_to_float_or_none, validator=_check_score
    )
    label: str | None = attrs.field(default=None)
    raw: Mapping[str, Any] = attrs.field(factory=dict, converter=_to_raw, eq=False, hash=False)


def question_text(prompt: JudgedPrompt) -> str:
    """Return the text a judge shows as "the question" for ``prompt``.

    A single user message (or a string) is shown as is; a longer conversation
    as ``role: content`` lines.
    """
    from dataquality_thresholds.backends import normalize_prompt

    messages = normalize_prompt(prompt)
    if len(messages) == 1 and messages[0].role == "user":
        return messages[0].content
    return "\n".join(f"{m.role}: {m.content}" for m in messages)


@runtime_checkable
class Judge(Protocol):
    """Scores answers; anything with these three methods is a judge."""

    def score(self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None) -> Judgment:
        """Judge one answer to ``prompt``.

        Parameters
        ----------
        prompt : str, conversation or EvalItem
            What was asked. Judges that need a reference or tests require an
            :class:`~dataquality_thresholds.records.EvalItem`.
        answer : str
            The answer to judge.
        rubric : str, optional
            What to judge, for judges that take one.

        Returns
        -------
        Judgment
        """
        ...

    async def ascore(
        self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None
    ) -> Judgment:
        """Async twin of :meth:`score`."""
        ...

    def score_many(
        self, pairs: Iterable[tuple[JudgedPrompt, str]], *, rubric: str | None = None
    ) -> list[Judgment]:
        """Judge many ``(prompt, answer)`` pairs, in order, as efficiently as the judge can."""
        ...


class SyncJudgeMixin:
    """``ascore`` and ``score_many`` for judges whose :meth:`score` is cheap and local."""

    def score(
        self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None
    ) -> Judgment:  # pragma: no cover - overridden
        raise NotImplementedError

    async def ascore(
        self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None
    ) -> Judgment:
        """Async twin of :meth:`score` (runs it in a worker thread)."""
        return await asyncio.to_thread(self.score, prompt, answer, rubric=rubric)

    def score_many(
        self, pairs: Iterable[tuple[JudgedPrompt, str]], *, rubric: str | None = None
    ) -> list[Judgment]:
        """Judge many ``(prompt, answer)`` pairs, in order."""
        return [self.score(p, a, rubric=rubric) for p, a in pairs]


def _parse_int_token(token: str, lo: int, hi: int) -> int | None:
    t = token.strip()
    if not t or not t.isascii() or not t.isdigit():
        return None
    value = int(t)
    return value if lo <= value <= hi else None


def _match_label(token: str, labels: Sequence[str]) -> str | None:
    t = token.strip().upper()
    if not t:
        return None
    exact = [lab for lab in labels if lab.upper() == t]
    if exact:
        return exact[0]
    if len(t) < 2:
        return None
    prefixed = [lab for lab in labels if lab.upper().startswith(t)]
    return prefixed[0] if len(prefixed) == 1 else None


def score_distribution(
    probs: Mapping[str, float],
    *,
    labels: Sequence[str] = (),
    min_mass: float = MIN_NUMERIC_MASS,
    low: int = 0,
    high: int = 100,
) -> Judgment:
    """Turn a judge's first-token probabilities into a :class:`Judgment`.

    The score is the probability-weighted mean of the integers ``low..high``
    among the tokens, renormalised over those tokens:
    ``sum(v * p_v) / sum(p_v)``. Tokens are stripped of surrounding whitespace
    before parsing, and tokens that parse to the same integer are pooled.

    Parameters
    ----------
    probs : mapping of str to float
        Token to probability (e.g. the exponentiated top-20 logprobs).
    labels : sequence of str
        Non-numeric answers the judge may give. A token counts toward a label
        when it equals it or is a prefix (at least two characters) of exactly
        one label, case-insensitively.
    min_mass : float
        When the integer tokens carry less than this share of the
        probability, the score is None.
    low, high : int
        The integer range that counts as a score.

    Returns
    -------
    Judgment
        ``score`` as above or None. When there is no score, ``label`` is the
        allowed label with the most probability, provided it carries at least
        ``min_mass``; otherwise None. ``raw`` holds ``numeric_mass``,
        ``label_mass`` and the input ``probs``.

    Raises
    ------
    ConfigError
        A probability that is negative or not finite, or ``min_mass`` outside [0, 1].

    Examples
    --------
    >>> score_distribution({"80": 0.5, "90": 0.25, "hello": 0.25}).score  # doctest: +ELLIPSIS
    83.33...
    >>> score_distribution({"REF": 0.9, "0": 0.1}, labels=("REFUSAL",)).label
    'REFUSAL'
    """
    if not 0.0 <= min_mass <= 1.0:
        raise ConfigError(f"min_mass must lie in [0, 1], got {min_mass!r}", field="min_mass")
    numeric_mass = 0.0
    weighted = 0.0
    seen: list[int] = []
    label_mass: dict[str, float] = {}
    for token, p in probs.items():
        p = float(p)
        if not math.isfinite(p) or p < 0.0:
            raise ConfigError(f"token {token!r} has probability {p!r}", field="probs")
        value = _parse_int_token(token, low, high)
        if value is not None:
            numeric_mass += p
            weighted += value * p
            seen.append(value)
            continue
        label = _match_label(token, labels) if labels else None
        if label is not None:
            label_mass[label] = label_mass.get(label, 0.0) + p
    raw: dict[str, Any] = {
        "numeric_mass": numeric_mass,
        "label_mass": label_mass,
        "probs": {str(k): float(v) for k, v in probs.items()},
    }
    if numeric_mass >= min_mass and numeric_mass > 0.0:
        # a weighted mean lies between the values it averages; rounding can step
        # past them (100 * p / p = 100.00000000000001), so hold it there
        score = min(max(weighted / numeric_mass, min(seen)), max(seen))
        return Judgment(score=score, label=None, raw=raw)
    best = max(label_mass.items(), key=lambda kv: (kv[1], kv[0]), default=None)
    label = best[0] if best is not None and best[1] >= min_mass and best[1] > 0 else None
    return Judgment(score=None, label=label, raw=raw)


def score_top_logprobs(
    top_logprobs: Mapping[str, float] | Iterable[tuple[str, float]],
    *,
    labels: Sequence[str] = (),
    min_mass: float = MIN_NUMERIC_MASS,
    low: int = 0,
    high: int = 100,
) -> Judgment:
    """Like :func:`score_distribution`, for natural-log probabilities.

    Parameters
    ----------
    top_logprobs : mapping or iterable of (token, logprob)
        The first generated token's ``top_logprobs``. Repeated tokens are
        pooled (their probabilities added).
    labels, min_mass, low, high
        As for :func:`score_distribution`.

    Returns
    -------
    Judgment
    """
    items = top_logprobs.items() if isinstance(top_logprobs, Mapping) else top_logprobs
    probs: dict[str, float] = {}
    for token, lp in items:
        probs[token] = probs.get(token, 0.0) + math.exp(float(lp))
    return score_distribution(probs, labels=labels, min_mass=min_mass, low=low, high=high)
