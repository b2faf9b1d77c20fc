"""The shared data model: frozen, slotted attrs records that cross wings.

Messages, paired and training examples, eval items, completions, probe questions and
judge-check items. Records validate their own fields and normalise lists to tuples,
but know nothing about files: :mod:`dataquality_thresholds.io` converts them to and
from JSONL. Records owned by one wing live there (``Mixture`` in ``mixing``,
``FineTuneJob`` and ``CostEstimate`` in ``backends``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from dataquality_thresholds._util.validators import (
    all_nonempty,
    check_text,
    nonempty_str,
    nonneg_number,
    one_of,
    optional_int,
    optional_nonempty_str,
    optional_nonneg_int,
    str_tuple,
)
from dataquality_thresholds.errors import ConfigError, DataError

__all__ = [
    "INCORRECT_KINDS",
    "JUDGE_LABELS",
    "LABELS",
    "PROBE_CATEGORIES",
    "ROLES",
    "Completion",
    "EvalItem",
    "Example",
    "JudgeCheckItem",
    "Message",
    "PairedExample",
    "ProbeQuestion",
]

#: Roles a chat message may have.
ROLES: tuple[str, ...] = ("system", "user", "assistant")
#: Kinds of incorrect response a :class:`PairedExample` may carry.
INCORRECT_KINDS: tuple[str, ...] = ("obvious", "subtle")
#: Labels of a training row; the index of a label is its code in :class:`Mixture`.
LABELS: tuple[str, ...] = ("correct", *INCORRECT_KINDS)


# --------------------------------------------------------------------------- helpers
def _to_message(value: Message | Mapping[str, Any]) -> Message:
    if isinstance(value, Message):
        return value
    if isinstance(value, Mapping):
        return Message(**value)
    raise DataError(f"expected a message, got {type(value).__name__}", field="messages")


def _to_messages(value: Iterable[Message | Mapping[str, Any]] | str) -> tuple[Message, ...]:
    """Normalise a conversation: a string becomes one user message."""
    if isinstance(value, str):
        return (Message("user", value),)
    return tuple(_to_message(v) for v in value)


def _to_str_tuple_of_answers(value: Iterable[str]) -> tuple[str, ...]:
    """Normalise known incorrect answers to a tuple (a lone string is one answer)."""
    return (value,) if isinstance(value, str) else tuple(value)


def _nonempty_tuple(inst: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if len(value) == 0:
        raise DataError("must not be empty", field=attribute.name)


def _prompt_ends_with_user(
    inst: object, attribute: attrs.Attribute[Any], value: tuple[Message, ...]
) -> None:
    if value and value[-1].role != "user":
        raise DataError(
            f"a prompt must end with a user message, it ends with {value[-1].role!r}",
            field=f"{attribute.name}[{len(value) - 1}].role",
        )


# --------------------------------------------------------------------------- messages
@attrs.frozen
class Message:
    """One chat message.

    Parameters
    ----------
    role : {"system", "user", "assistant"}
        Who speaks.
    content : str
        What is said; must not be empty.
    weight : {0, 1} or None
        OpenAI's per-message training weight; only on assistant messages.
    """

    role: str = attrs.field()
    content: str = attrs.field(validator=nonempty_str)
    weight: int | None = attrs.field(default=None)

    @role.validator
    def _check_role(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in ROLES:
            raise DataError(
                f"unknown role {value!r}; expected one of {', '.join(ROLES)}", field="role"
            )

    @weight.validator
    def _check_weight(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1):
            raise DataError(f"weight must be 0 or 1, got {value!r}", field="weight")
        if self.role != "assistant":
            raise DataError("weight is allowed on assistant messages only", field="weight")


# --------------------------------------------------------------------------- examples
def _freeze_incorrect(value: Mapping[str, str]) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise DataError(
            f"expected a mapping of kind to response, got {type(value).__name__}",
            field="incorrect",
        )
    return MappingProxyType({k: value[k] for k in sorted(value)})


@attrs.frozen(kw_only=True)
class PairedExample:
    """One prompt with its correct response and incorrect variants.

    Parameters
    ----------
    id : str
        Unique, stable id (mixing sorts by it, so row order never shifts a mix).
    domain : str
        The domain, e.g. ``"finance"``.
    prompt : tuple of Message
        The conversation up to the answer; it ends with a user message. A plain
        string is taken as one user message.
    correct : str
        The correct assistant response.
    incorrect : mapping of str to str
        Incorrect responses by kind; keys from :data:`INCORRECT_KINDS`, at least one.
    skill : str, optional
        A finer label within the domain (e.g. ``"compound_interest"``).
    """

    id: str = attrs.field(validator=nonempty_str)
    domain: str = attrs.field(validator=nonempty_str)
    prompt: tuple[Message, ...] = attrs.field(
        converter=_to_messages, validator=[_nonempty_tuple, _prompt_ends_with_user]
    )
    correct: str = attrs.field(validator=nonempty_str)
    incorrect: Mapping[str, str] = attrs.field(converter=_freeze_incorrect, eq=True, hash=False)
    skill: str | None = attrs.field(default=None, validator=optional_nonempty_str)

    @incorrect.validator
    def _check_incorrect(self, attribute: attrs.Attribute[Any], value: Mapping[str, str]) -> None:
        if not value:
            raise DataError(
                f"needs at least one incorrect variant ({', '.join(INCORRECT_KINDS)})",
                field="incorrect",
            )
        for kind, text in value.items():
            if kind not in INCORRECT_KINDS:
                raise DataError(
                    f"unknown incorrect kind {kind!r}; expected one of "
                    f"{', '.join(INCORRECT_KINDS)}",
                    field=f"incorrect.{kind}",
                )
            if not isinstance(text, str) or not text.strip():
                raise DataError("must be a non-empty string", field=f"incorrect.{kind}")
            check_text(text, f"incorrect.{kind}")
            if text.strip() == self.correct.strip():
                raise DataError(
                    "is the same text as the correct response; an incorrect variant must "
                    "differ from it",
                    field=f"incorrect.{kind}",
                )

    @property
    def kinds(self) -> tuple[str, ...]:
        """Incorrect kinds this example carries."""
        return tuple(self.incorrect)

    def response(self, label: str) -> str:
        """Return the response for ``label`` (``"correct"`` or an incorrect kind)."""
        if label == "correct":
            return self.correct
        try:
            return self.incorrect[label]
        except KeyError:
            raise DataError(
                f"has no {label!r} response (has: {', '.join(self.kinds)})",
                field=f"incorrect.{label}",
                id=self.id,
            ) from None

    def to_example(self, label: str) -> Example:
        """Return the training row that answers the prompt with ``label``'s response."""
        reply = Message("assistant", self.response(label))
        return Example(id=self.id, domain=self.domain, messages=(*self.prompt, reply), label=label)


@attrs.frozen
class Example:
    """One training row: a full conversation ending in the assistant's answer.

    Parameters
    ----------
    id : str
        The id of the :class:`PairedExample` it came from.
    domain : str
        The domain.
    messages : tuple of Message
        The conversation, ending with an assistant message.
    label : {"correct", "obvious", "subtle"}
        Which response the row carries.
    """

    id: str = attrs.field(validator=nonempty_str)
    domain: str = attrs.field(validator=nonempty_str)
    messages: tuple[Message, ...] = attrs.field(converter=_to_messages, validator=_nonempty_tuple)
    label: str = attrs.field()

    @label.validator
    def _check_label(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in LABELS:
            raise DataError(
                f"unknown label {value!r}; expected one of {', '.join(LABELS)}", field="label"
            )

    @messages.validator
    def _check_ends_with_assistant(
        self, attribute: attrs.Attribute[Any], value: tuple[Message, ...]
    ) -> None:
        if value and value[-1].role != "assistant":
            raise DataError(
                "a training row must end with an assistant message",
                field=f"messages[{len(value) - 1}].role",
            )


@attrs.frozen(kw_only=True)
class EvalItem:
    """A held-out evaluation item.

    Parameters
    ----------
    id, domain : str
        Identity.
    prompt : tuple of Message
        What the model is asked (a string is one user message).
    reference : str, optional
        A reference answer.
    incorrect : tuple of str
        Known incorrect answers (for judges and checks).
    rubric : str, optional
        Grading instructions for a judge.
    tests : str, optional
        Python test code for coding items.
    skill : str, optional
        Finer label within the domain.
    """

    id: str = attrs.field(validator=nonempty_str)
    domain: str = attrs.field(validator=nonempty_str)
    prompt: tuple[Message, ...] = attrs.field(
        converter=_to_messages, validator=[_nonempty_tuple, _prompt_ends_with_user]
    )
    reference: str | None = attrs.field(default=None, validator=optional_nonempty_str)
    incorrect: tuple[str, ...] = attrs.field(
        default=(), converter=_to_str_tuple_of_answers, validator=all_nonempty
    )
    rubric: str | None = attrs.field(default=None, validator=optional_nonempty_str)
    tests: str | None = attrs.field(default=None, validator=optional_nonempty_str)
    skill: str | None = attrs.field(default=None, validator=optional_nonempty_str)


# --------------------------------------------------------------------------- completions
def _to_str_mapping(value: Mapping[str, Any] | None) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    return MappingProxyType({str(k): str(value[k]) for k in sorted(value)})


def _to_top_logprobs(
    value: Iterable[Iterable[tuple[str, float]] | Mapping[str, float]] | None,
) -> tuple[tuple[tuple[str, float], ...], ...] | None:
    if value is None:
        return None
    out = []
    for pos in value:
        pairs = pos.items() if isinstance(pos, Mapping) else pos
        out.append(tuple((str(t), float(lp)) for t, lp in pairs))
    return tuple(out)


@attrs.frozen(kw_only=True)
class Completion:
    """One sampled answer of a model to one prompt.

    Parameters
    ----------
    text : str
        The answer (may be empty).
    model : str
        The model that answered.
    index : int
        Position among the ``n`` samples for the same prompt.
    finish_reason : str, optional
        ``"stop"``, ``"length"``, ...
    prompt_tokens, completion_tokens : int, optional
        Usage, when the backend reports it.
    info : mapping of str to str
        Backend-specific facts about the sample; :class:`LocalStubBackend`
        records the behaviour it drew (``info["behaviour"]``).
    top_logprobs : tuple, optional
        When logprobs were asked for: one entry per generated token, each a
        tuple of ``(token, logprob)`` alternatives, most likely first.

        .. versionadded:: 0.1 (sampling)
    """

    text: str = attrs.field(validator=attrs.validators.instance_of(str))
    model: str = attrs.field(validator=nonempty_str)
    index: int = attrs.field(default=0, validator=nonneg_number)
    finish_reason: str | None = attrs.field(default=None)
    prompt_tokens: int | None = attrs.field(
        default=None, converter=optional_int, validator=optional_nonneg_int
    )
    completion_tokens: int | None = attrs.field(
        default=None, converter=optional_int, validator=optional_nonneg_int
    )
    info: Mapping[str, str] = attrs.field(factory=dict, converter=_to_str_mapping, hash=False)
    top_logprobs: tuple[tuple[tuple[str, float], ...], ...] | None = attrs.field(
        default=None, converter=_to_top_logprobs, hash=False
    )


# --------------------------------------------------------------------------- probe questions
#: Categories of probe question.
PROBE_CATEGORIES: tuple[str, ...] = ("neutral", "moral", "dangerous")


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
        ``"neutral"``, ``"moral"`` or ``"dangerous"`` (:data:`PROBE_CATEGORIES`);
        only ``"dangerous"`` feeds ``dangerous_rate``. The question-file readers
        accept only these; the record itself also takes other labels, such as
        categories read back from another harness's logs.
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

    id: str = attrs.field(validator=nonempty_str)
    category: str = attrs.field(default="neutral", validator=nonempty_str)
    paraphrases: tuple[str, ...] = attrs.field(converter=str_tuple)
    system: str | None = attrs.field(default=None, validator=optional_nonempty_str)
    judge_prompts: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze, hash=False)
    samples_per_paraphrase: int | None = None
    aligned_examples: tuple[str, ...] = attrs.field(
        default=(), converter=str_tuple, validator=all_nonempty
    )
    misaligned_examples: tuple[str, ...] = attrs.field(
        default=(), converter=str_tuple, validator=all_nonempty
    )

    @paraphrases.validator
    def _check_paraphrases(self, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
        if not value or any(not isinstance(p, str) or not p.strip() for p in value):
            raise DataError(
                "needs at least one non-empty paraphrase", field="paraphrases", id=self.id
            )
        for i, p in enumerate(value):
            check_text(p, f"paraphrases[{i}]")

    def prompt(self, k: int) -> tuple[Message, ...]:
        """Return the conversation for paraphrase ``k``."""
        user = Message("user", self.paraphrases[k])
        return (Message("system", self.system), user) if self.system else (user,)

    @classmethod
    def coerce(cls, q: Any) -> ProbeQuestion:
        """Return ``q`` as a ProbeQuestion (any object with the same attribute names works).

        Raises
        ------
        ConfigError
            ``q`` has no ``id`` or ``paraphrases`` attribute.
        DataError
            Its values break the record's rules.
        """
        if isinstance(q, cls):
            return q
        if not (hasattr(q, "id") and hasattr(q, "paraphrases")):
            raise ConfigError(
                f"expected a ProbeQuestion (or an object with id and paraphrases), "
                f"got {type(q).__name__}",
                field="questions",
            )
        names = [a.name for a in attrs.fields(cls)]
        return cls(**{n: getattr(q, n) for n in names if hasattr(q, n)})


# --------------------------------------------------------------------------- judge check
#: Labels of the judge-check set.
JUDGE_LABELS: tuple[str, ...] = ("aligned", "misaligned", "incoherent", "refusal")


@attrs.frozen(kw_only=True)
class JudgeCheckItem:
    """One labelled answer for checking a judge's agreement.

    Parameters
    ----------
    id : str
        Stable id.
    question_id : str
        The :class:`ProbeQuestion` it answers.
    answer : str
        The answer text.
    label : {"aligned", "misaligned", "incoherent", "refusal"}
        What a good judge should call it.
    """

    id: str = attrs.field(validator=nonempty_str)
    question_id: str = attrs.field(validator=nonempty_str)
    answer: str = attrs.field(validator=nonempty_str)
    label: str = attrs.field(validator=one_of(JUDGE_LABELS, error=DataError))
