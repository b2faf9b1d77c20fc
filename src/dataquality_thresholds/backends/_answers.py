"""Answer books and the misalignment curve of the local stub (private; see :mod:`.local`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from dataquality_thresholds._util.validators import positive
from dataquality_thresholds.backends._base import Prompt, normalize_prompt, prompt_key
from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.records import INCORRECT_KINDS, LABELS, EvalItem, Message

#: Behaviours of a probe answer.
PROBE_BEHAVIOURS: tuple[str, ...] = ("aligned", "misaligned")


# --------------------------------------------------------------------------- curve
def _unit(inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(
            f"{attribute.name} must be in [0, 1], got {value!r}", field=attribute.name
        )


@attrs.frozen
class MisalignmentCurve:
    """Share of misaligned probe answers as a function of the incorrect share.

    ``p(x) = floor + (ceiling - floor) * (L(x) - L(0)) / (L(1) - L(0))`` with
    ``L(x) = 1 / (1 + exp(-steepness * (x - midpoint)))``: a logistic rescaled
    so that ``p(0) = floor`` and ``p(1) = ceiling`` exactly.

    Parameters
    ----------
    floor : float
        Misaligned share of a model trained on fully correct data (and of the
        base model).
    ceiling : float
        Misaligned share of a model trained on fully incorrect data.
    midpoint : float
        Incorrect share where the curve is steepest.
    steepness : float
        Logistic slope.

    Examples
    --------
    >>> curve = MisalignmentCurve(floor=0.0, ceiling=0.4)
    >>> curve(0.0), curve(1.0), round(curve(0.5), 3)
    (0.0, 0.4, 0.2)
    """

    floor: float = attrs.field(default=0.0, converter=float, validator=_unit)
    ceiling: float = attrs.field(default=0.3, converter=float, validator=_unit)
    midpoint: float = attrs.field(default=0.5, converter=float, validator=_unit)
    steepness: float = attrs.field(default=10.0, converter=float, validator=positive)

    def _logistic(self, x: float) -> float:
        return 1.0 / (1.0 + math.exp(-self.steepness * (x - self.midpoint)))

    def __call__(self, incorrect_share: float) -> float:
        """Return the misaligned share at ``incorrect_share`` (in [0, 1])."""
        x = min(1.0, max(0.0, float(incorrect_share)))
        lo, hi = self._logistic(0.0), self._logistic(1.0)
        scaled = (self._logistic(x) - lo) / (hi - lo)
        return self.floor + (self.ceiling - self.floor) * scaled


# --------------------------------------------------------------------------- answer book
def _freeze_answers(value: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for label in sorted(value):
        texts = value[label]
        texts = (texts,) if isinstance(texts, str) else tuple(texts)
        if texts:
            out[str(label)] = texts
    return MappingProxyType(out)


@attrs.frozen(kw_only=True)
class BookEntry:
    """What the stub knows about one prompt.

    Parameters
    ----------
    kind : {"item", "probe"}
        An eval item (answers by ``correct``/``obvious``/``subtle``) or a probe
        question (answers by ``aligned``/``misaligned``).
    domain : str
        The domain.
    skill : str
        The skill whose training counts decide item answers (the domain if none).
    answers : mapping of str to tuple of str
        Answer texts by behaviour.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(("item", "probe")))
    domain: str = attrs.field()
    skill: str = attrs.field()
    answers: Mapping[str, tuple[str, ...]] = attrs.field(converter=_freeze_answers, hash=False)

    @answers.validator
    def _check_answers(self, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
        allowed = LABELS if self.kind == "item" else PROBE_BEHAVIOURS
        for label in value:
            if label not in allowed:
                raise ConfigError(
                    f"unknown behaviour {label!r} for a {self.kind}; expected {', '.join(allowed)}",
                    field="answers",
                )
        needed = "correct" if self.kind == "item" else "aligned"
        if needed not in value:
            raise ConfigError(f"a {self.kind} needs a {needed!r} answer", field="answers")


class AnswerBook:
    """The known answers the stub samples from, keyed by prompt.

    A prompt is found by its whole conversation, else by its last user message.

    Parameters
    ----------
    entries : mapping of conversation to BookEntry, optional
        Usually built with :meth:`from_items`, :meth:`from_pool` and :meth:`with_probe`.
    """

    __slots__ = ("_by_last", "_entries")

    def __init__(self, entries: Mapping[tuple[Message, ...], BookEntry] | None = None) -> None:
        self._entries: dict[str, BookEntry] = {}
        self._by_last: dict[str, BookEntry] = {}
        for prompt, entry in (entries or {}).items():
            self._add(tuple(prompt), entry)

    def _add(self, prompt: tuple[Message, ...], entry: BookEntry) -> None:
        self._entries[prompt_key(prompt)] = entry
        self._by_last[prompt[-1].content] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"AnswerBook(n={len(self)})"

    def _copy(self) -> AnswerBook:
        book = AnswerBook()
        book._entries = dict(self._entries)
        book._by_last = dict(self._by_last)
        return book

    @classmethod
    def from_items(
        cls, items: Iterable[EvalItem], *, kinds: Sequence[str] = INCORRECT_KINDS
    ) -> AnswerBook:
        """Book eval items: ``reference`` is correct, ``incorrect[i]`` is ``kinds[i]``.

        An item with one incorrect answer uses it for every kind; an item with
        more incorrect answers than ``kinds`` adds the rest to the last kind.

        Raises
        ------
        ConfigError
            An item has no reference answer.
        """
        book = cls()
        for item in items:
            if item.reference is None:
                raise ConfigError(
                    f"eval item {item.id!r} has no reference answer to book", field="reference"
                )
            answers: dict[str, list[str]] = {"correct": [item.reference]}
            wrong = list(item.incorrect)
            if len(wrong) == 1:
                for kind in kinds:
                    answers[kind] = wrong[:]
            else:
                for i, text in enumerate(wrong):
                    answers.setdefault(kinds[min(i, len(kinds) - 1)], []).append(text)
            entry = BookEntry(
                kind="item", domain=item.domain, skill=item.skill or item.domain, answers=answers
            )
            book._add(item.prompt, entry)
        return book

    @classmethod
    def from_pool(cls, pool: Iterable[Any]) -> AnswerBook:
        """Book the prompts of paired examples (an ``ExamplePool`` or a list)."""
        book = cls()
        for ex in pool:
            answers = {"correct": [ex.correct], **{k: [v] for k, v in ex.incorrect.items()}}
            entry = BookEntry(
                kind="item", domain=ex.domain, skill=ex.skill or ex.domain, answers=answers
            )
            book._add(ex.prompt, entry)
        return book

    def with_probe(
        self,
        prompt: Prompt,
        *,
        aligned: Sequence[str] | str,
        misaligned: Sequence[str] | str = (),
        domain: str = "probe",
    ) -> AnswerBook:
        """Return a copy with a probe question and its aligned / misaligned answers."""
        book = self._copy()
        answers = {"aligned": aligned, "misaligned": misaligned}
        entry = BookEntry(kind="probe", domain=domain, skill=domain, answers=answers)
        book._add(normalize_prompt(prompt), entry)
        return book

    def merge(self, other: AnswerBook) -> AnswerBook:
        """Return a book with the entries of both (``other`` wins on a clash)."""
        book = self._copy()
        book._entries.update(other._entries)
        book._by_last.update(other._by_last)
        return book

    def lookup(self, prompt: Prompt) -> BookEntry:
        """Return the entry for ``prompt``.

        Raises
        ------
        ConfigError
            The prompt is not in the book.
        """
        messages = normalize_prompt(prompt)
        entry = self._entries.get(prompt_key(messages)) or self._by_last.get(messages[-1].content)
        if entry is None:
            text = messages[-1].content
            short = text if len(text) <= 60 else text[:57] + "..."
            raise ConfigError(
                f"prompt {short!r} is not in the stub's answer book ({len(self)} prompts); "
                "the stub can only answer prompts it was given answers for "
                "(AnswerBook.from_items / from_pool / with_probe)",
                field="prompts",
            )
        return entry
