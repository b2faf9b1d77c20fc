"""OpenAIJudge: one token, top-20 logprobs, probability-weighted 0-100 score."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from dataquality_thresholds.errors import BackendError, ConfigError
from dataquality_thresholds.evaluation._judge import (
    MIN_NUMERIC_MASS,
    JudgedPrompt,
    Judgment,
    question_text,
    score_top_logprobs,
)
from dataquality_thresholds.evaluation._templates import (
    ALIGNMENT_TEMPLATE,
    JudgeTemplate,
    rubric_template,
)
from dataquality_thresholds.records import Completion, EvalItem, Message

__all__ = ["LogprobSampler", "OpenAIJudge"]


class LogprobSampler(Protocol):
    """A sampler that can return the top logprobs of each generated token."""

    def complete(
        self,
        model: str,
        prompts: Sequence[Any],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        top_logprobs: int | None = None,
    ) -> list[list[Completion]]:
        """Return completions whose ``top_logprobs`` are filled in."""
        ...

    async def acomplete(
        self,
        model: str,
        prompts: Sequence[Any],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        top_logprobs: int | None = None,
    ) -> list[list[Completion]]:
        """Async twin of :meth:`complete`."""
        ...


class OpenAIJudge:
    """An LLM judge scored from the first token's top logprobs.

    The judge model is asked (``temperature=0, max_tokens=1, logprobs=True,
    top_logprobs=20``) for one integer 0-100. The score is the
    probability-weighted mean over the returned tokens that parse as integers
    0..100, renormalised over them; None when they carry less than
    ``min_mass`` of the probability, in which case a non-numeric answer the
    template allows (``template.labels``, e.g. ``CODE``, ``REFUSAL``) is
    returned as the label. See :func:`score_distribution`.

    Parameters
    ----------
    model : str
        The judge model.
    template : JudgeTemplate
        The prompt; :data:`ALIGNMENT_TEMPLATE` by default. The judged answer
        is embedded in delimited blocks (see :class:`JudgeTemplate`). When a
        call passes a ``rubric`` (or the item has one) and the template has no
        ``{rubric}`` slot, the rubric replaces the template's criteria
        (:func:`rubric_template`, keeping the template's labels): so one judge
        can rate alignment and coherence with the probe's two rubrics.
    sampler : LogprobSampler, optional
        Usually an :class:`~dataquality_thresholds.backends.OpenAISampler`
        (built with default settings on first use when None), so judge calls
        share its concurrency limits, rate limits and cache.
    min_mass : float
        Least probability on integer tokens for a score.
    top_logprobs : int
        How many alternatives to ask for (the API allows up to 20).
    seed : int, optional
        Passed through to the API.
    """

    def __init__(
        self,
        model: str = "gpt-4o-2024-08-06",
        *,
        template: JudgeTemplate = ALIGNMENT_TEMPLATE,
        sampler: LogprobSampler | None = None,
        min_mass: float = MIN_NUMERIC_MASS,
        top_logprobs: int = 20,
        seed: int | None = 0,
    ) -> None:
        if not 1 <= top_logprobs <= 20:
            raise ConfigError("top_logprobs must be in 1..20", field="top_logprobs")
        if not 0.0 <= min_mass <= 1.0:
            raise ConfigError("min_mass must lie in [0, 1]", field="min_mass")
        self.model = model
        self.template = template
        self._sampler = sampler
        self.min_mass = min_mass
        self.top_logprobs = top_logprobs
        self.seed = seed

    def __repr__(self) -> str:
        return f"OpenAIJudge(model={self.model!r}, template={self.template.name!r})"

    @property
    def sampler(self) -> LogprobSampler:
        """The sampler used for judge calls (built on first use)."""
        if self._sampler is None:
            from dataquality_thresholds.backends.openai import OpenAISampler

            self._sampler = OpenAISampler()
        return self._sampler

    def messages(
        self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None
    ) -> tuple[Message, ...]:
        """Return the judge conversation for one answer (what is sent)."""
        return self._template_for(prompt, rubric).render(
            question=question_text(prompt),
            answer=answer,
            reference=prompt.reference if isinstance(prompt, EvalItem) else None,
            rubric=self._rubric(prompt, rubric),
        )

    @staticmethod
    def _rubric(prompt: JudgedPrompt, rubric: str | None) -> str | None:
        if rubric is None and isinstance(prompt, EvalItem):
            return prompt.rubric
        return rubric

    def _template_for(self, prompt: JudgedPrompt, rubric: str | None) -> JudgeTemplate:
        """Return the template, or a rubric-only one when a rubric has no slot in it."""
        if self._rubric(prompt, rubric) is not None and "{rubric}" not in self.template.system:
            return rubric_template(self.template.labels)
        return self.template

    def _options(self) -> dict[str, Any]:
        return {
            "n": 1,
            "temperature": 0.0,
            "max_tokens": 1,
            "seed": self.seed,
            "top_logprobs": self.top_logprobs,
        }

    def _judgment(self, completion: Completion, template: JudgeTemplate) -> Judgment:
        positions = getattr(completion, "top_logprobs", None)
        if not positions:
            raise BackendError(
                f"the judge model {self.model!r} returned no logprobs; it must support "
                "logprobs=True and top_logprobs"
            )
        j = score_top_logprobs(positions[0], labels=template.labels, min_mass=self.min_mass)
        raw = dict(j.raw)
        raw.update(template=template.name, model=self.model, text=completion.text)
        return Judgment(score=j.score, label=j.label, raw=raw)

    def score(self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None) -> Judgment:
        """Judge one answer (one API call, or none when cached).

        Parameters
        ----------
        prompt : str, conversation or EvalItem
            The question that was answered; an EvalItem also supplies its
            reference and rubric to templates that use them.
        answer : str
            The judged answer.
        rubric : str, optional
            Overrides the item's / template's rubric.

        Returns
        -------
        Judgment

        Raises
        ------
        BackendError
            The API failed after retries, or returned no logprobs.
        """
        return self.score_many([(prompt, answer)], rubric=rubric)[0]

    async def ascore(
        self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None
    ) -> Judgment:
        """Async twin of :meth:`score`."""
        msgs = self.messages(prompt, answer, rubric=rubric)
        out = await self.sampler.acomplete(self.model, [msgs], **self._options())
        return self._judgment(out[0][0], self._template_for(prompt, rubric))

    def score_many(
        self, pairs: Iterable[tuple[JudgedPrompt, str]], *, rubric: str | None = None
    ) -> list[Judgment]:
        """Judge many answers in one sampler call (concurrent, rate-limited, cached)."""
        pairs = list(pairs)
        prompts = [self.messages(p, a, rubric=rubric) for p, a in pairs]
        if not prompts:
            return []
        out = self.sampler.complete(self.model, prompts, **self._options())
        return [
            self._judgment(c[0], self._template_for(p, rubric))
            for c, (p, _) in zip(out, pairs, strict=True)
        ]
