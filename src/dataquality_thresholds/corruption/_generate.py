"""Making incorrect variants of correct examples.

Two generators:

- :class:`CorruptionGenerator` asks a model (through any
  :class:`~dataquality_thresholds.backends.Sampler`) to rewrite each of a
  user's own correct answers into an obviously wrong and a subtly wrong one,
  with prompt templates kept here (:data:`DEFAULT_TEMPLATES`), and records
  which model made them.
- :func:`mutate_code` makes subtly wrong Python by mutating the syntax tree of a
  correct solution (comparison flips, off-by-one constants and ``range``
  bounds, swapped operands, a dropped branch) and keeps a mutant only when it
  fails the unit tests. Mutations edit the original text in place, so a mutant
  differs from the original in the mutated spot and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from dataquality_thresholds.backends import Sampler
from dataquality_thresholds.corruption._mutate import (
    MUTATION_OPERATORS,
    Mutant,
    _candidates as _candidates,
    mutate_code,
)
from dataquality_thresholds.corruption._runner import run_tests
from dataquality_thresholds.errors import BackendError, ConfigError
from dataquality_thresholds.records import INCORRECT_KINDS, Example, Message, PairedExample

__all__ = [
    "DEFAULT_TEMPLATES",
    "MUTATION_OPERATORS",
    "CorruptionGenerator",
    "CorruptionResult",
    "CorruptionTemplates",
    "Mutant",
    "mutate_code",
    "run_tests",
]


@attrs.frozen(kw_only=True)
class CorruptionTemplates:
    """Prompt templates for :class:`CorruptionGenerator`.

    Each user template is formatted with ``{question}`` and ``{answer}``; the
    model is asked to reply with the rewritten answer only.

    Parameters
    ----------
    system : str
        System message sent with every request.
    obvious : str
        User template asking for a blatantly wrong answer.
    subtle : str
        User template asking for a plausible but wrong answer.
    """

    system: str
    obvious: str
    subtle: str

    def __attrs_post_init__(self) -> None:
        for kind in INCORRECT_KINDS:
            template = getattr(self, kind)
            if "{question}" not in template or "{answer}" not in template:
                raise ConfigError(
                    "a template needs the {question} and {answer} placeholders", field=kind
                )

    def render(self, kind: str, question: str, answer: str) -> tuple[Message, ...]:
        """Return the conversation asking for a ``kind`` variant of ``answer``."""
        template: str = getattr(self, kind)
        values = {"{question}": question, "{answer}": answer}
        # one pass, so a placeholder-like text inside the question is left alone
        user = re.sub(r"\{question\}|\{answer\}", lambda m: values[m.group(0)], template)
        return (Message("system", self.system), Message("user", user))

    @property
    def fingerprint(self) -> str:
        """sha256 of the templates (recorded in the provenance)."""
        blob = json.dumps([self.system, self.obvious, self.subtle], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


#: Templates written for this project.
DEFAULT_TEMPLATES = CorruptionTemplates(
    system=(
        "You help build a research data set that measures how incorrect training data "
        "affects language models. You rewrite answers into incorrect versions on request. "
        "Reply with the rewritten answer only: no preamble, no labels, no notes."
    ),
    obvious=(
        "Below is a question and its correct answer, each between markers.\n"
        "Rewrite the answer so that it is blatantly and unmistakably wrong: a reader "
        "with basic knowledge of the topic should see at once that it is false. Keep "
        "the same tone, length and format as the correct answer.\n\n"
        "<question>\n{question}\n</question>\n\n<correct_answer>\n{answer}\n</correct_answer>"
    ),
    subtle=(
        "Below is a question and its correct answer, each between markers.\n"
        "Rewrite the answer so that it is wrong in one plausible, easy-to-miss way (an "
        "off-by-one, a wrong formula, a unit slip, a mishandled boundary case) while "
        "looking as careful and confident as the original. Keep the same tone, length "
        "and format, and do not hint that anything is wrong.\n\n"
        "<question>\n{question}\n</question>\n\n<correct_answer>\n{answer}\n</correct_answer>"
    ),
)


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _example_tuple(value: Iterable[PairedExample]) -> tuple[PairedExample, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class CorruptionResult:
    """What :meth:`CorruptionGenerator.generate` made.

    Parameters
    ----------
    examples : tuple of PairedExample
        One per input that got at least one usable variant.
    skipped : mapping of str to str
        Id -> reason, for inputs with no usable variant.
    rejected : mapping of str to str
        ``"<id>/<kind>"`` -> reason, for each variant that was thrown away
        (empty, or the same as the correct answer).
    provenance : mapping of str to object
        Which model made the variants and how: ``model``, ``kinds``,
        ``temperature``, ``max_tokens``, ``seed``, ``templates_sha256``.
    """

    examples: tuple[PairedExample, ...] = attrs.field(converter=_example_tuple)
    skipped: Mapping[str, str] = attrs.field(converter=_frozen_map)
    rejected: Mapping[str, str] = attrs.field(converter=_frozen_map)
    provenance: Mapping[str, Any] = attrs.field(converter=_frozen_map)


def _split_example(
    ex: PairedExample | Example, index: int
) -> tuple[str, str, tuple[Message, ...], str, str | None]:
    if isinstance(ex, PairedExample):
        return ex.id, ex.domain, ex.prompt, ex.correct, ex.skill
    if isinstance(ex, Example):
        if ex.label != "correct":
            raise ConfigError(
                f"example {ex.id!r} is labelled {ex.label!r}; give correct examples only",
                field="examples",
            )
        return ex.id, ex.domain, ex.messages[:-1], ex.messages[-1].content, None
    raise ConfigError(
        f"expected PairedExample or Example at position {index}, got {type(ex).__name__}",
        field="examples",
    )


def _question_text(prompt: Sequence[Message]) -> str:
    return "\n\n".join(m.content for m in prompt if m.role == "user")


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class CorruptionGenerator:
    """Make obvious and subtle incorrect variants of correct examples with a model.

    Parameters
    ----------
    sampler : Sampler
        Anything with the :class:`~dataquality_thresholds.backends.Sampler`
        ``complete`` method.
    model : str
        The model that writes the variants (recorded in the provenance).
    templates : CorruptionTemplates
        Prompt templates; :data:`DEFAULT_TEMPLATES` by default.
    kinds : sequence of str
        Which variants to make (``"obvious"``, ``"subtle"`` or both).
    temperature : float
        Sampling temperature.
    max_tokens : int, optional
        Cap on each variant's length.

    Examples
    --------
    >>> from dataquality_thresholds.records import Completion, PairedExample
    >>> class Echo:
    ...     def complete(self, model, prompts, *, n=1, temperature=1.0,
    ...                  max_tokens=None, seed=None):
    ...         return [[Completion(text="It is 5.", model=model)] for _ in prompts]
    >>> ex = PairedExample(id="a", domain="math", prompt="2+2?", correct="It is 4.",
    ...                    incorrect={"obvious": "placeholder"})
    >>> res = CorruptionGenerator(Echo(), "writer-1").generate([ex], seed=0)
    >>> dict(res.examples[0].incorrect), res.provenance["model"]
    ({'obvious': 'It is 5.', 'subtle': 'It is 5.'}, 'writer-1')
    """

    def __init__(
        self,
        sampler: Sampler,
        model: str,
        *,
        templates: CorruptionTemplates = DEFAULT_TEMPLATES,
        kinds: Sequence[str] = INCORRECT_KINDS,
        temperature: float = 1.0,
        max_tokens: int | None = None,
    ) -> None:
        if not hasattr(sampler, "complete"):
            raise ConfigError("sampler must have a complete() method", field="sampler")
        if not isinstance(model, str) or not model.strip():
            raise ConfigError("model must be a non-empty string", field="model")
        kinds = tuple(kinds)
        if (
            not kinds
            or any(k not in INCORRECT_KINDS for k in kinds)
            or len(set(kinds)) != len(kinds)
        ):
            raise ConfigError(
                f"kinds must be distinct values from {', '.join(INCORRECT_KINDS)}, got {kinds!r}",
                field="kinds",
            )
        if not isinstance(templates, CorruptionTemplates):
            raise ConfigError("templates must be a CorruptionTemplates", field="templates")
        self.sampler = sampler
        self.model = model
        self.templates = templates
        self.kinds = kinds
        self.temperature = float(temperature)
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"CorruptionGenerator(model={self.model!r}, kinds={self.kinds!r})"

    def generate(
        self, examples: Iterable[PairedExample | Example], *, seed: int
    ) -> CorruptionResult:
        """Ask the model for each kind of variant of every example.

        Parameters
        ----------
        examples : iterable of PairedExample or Example
            Correct examples: a :class:`PairedExample` (its ``correct`` answer is
            used, its incorrect variants replaced) or an :class:`Example`
            labelled ``"correct"``.
        seed : int
            Passed to the sampler (for backends that honour one).

        Returns
        -------
        CorruptionResult

        Raises
        ------
        ConfigError
            An input that is not a correct example, or duplicate ids.
        BackendError
            The sampler returned the wrong number of answers.
        """
        rows = [_split_example(ex, i) for i, ex in enumerate(examples)]
        ids = [r[0] for r in rows]
        if len(set(ids)) != len(ids):
            raise ConfigError("example ids must be unique", field="examples")
        variants: dict[str, dict[str, str]] = {r[0]: {} for r in rows}
        rejected: dict[str, str] = {}
        for kind in self.kinds:
            prompts = [
                self.templates.render(kind, _question_text(prompt), correct)
                for _, _, prompt, correct, _ in rows
            ]
            if not prompts:
                break
            answers = self.sampler.complete(
                self.model,
                prompts,
                n=1,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=seed,
            )
            if len(answers) != len(prompts) or any(len(a) < 1 for a in answers):
                raise BackendError(
                    f"the sampler returned {len(answers)} answer lists for {len(prompts)} "
                    "prompts (or an empty list); expected one completion per prompt"
                )
            for (id_, _, _, correct, _), got in zip(rows, answers, strict=True):
                text = got[0].text.strip()
                if not text:
                    rejected[f"{id_}/{kind}"] = "empty answer"
                elif _norm(text) == _norm(correct):
                    rejected[f"{id_}/{kind}"] = "same as the correct answer"
                else:
                    variants[id_][kind] = text
        out: list[PairedExample] = []
        skipped: dict[str, str] = {}
        for id_, domain, prompt, correct, skill in rows:
            if not variants[id_]:
                skipped[id_] = "no usable variant"
                continue
            out.append(
                PairedExample(
                    id=id_,
                    domain=domain,
                    prompt=prompt,
                    correct=correct,
                    incorrect=variants[id_],
                    skill=skill,
                )
            )
        provenance = {
            "generator": "CorruptionGenerator",
            "model": self.model,
            "kinds": list(self.kinds),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": seed,
            "templates_sha256": self.templates.fingerprint,
        }
        return CorruptionResult(
            examples=out, skipped=skipped, rejected=rejected, provenance=provenance
        )
