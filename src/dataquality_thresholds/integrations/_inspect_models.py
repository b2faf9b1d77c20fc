"""InspectSampler and InspectJudge: inspect_ai's model providers behind our protocols."""

from __future__ import annotations

import asyncio
import concurrent.futures
import string
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from dataquality_thresholds.backends import Prompt, normalize_prompt
from dataquality_thresholds.errors import BackendError, ConfigError
from dataquality_thresholds.evaluation import (
    ALIGNMENT_TEMPLATE,
    MIN_NUMERIC_MASS,
    JudgedPrompt,
    JudgeTemplate,
    Judgment,
    score_distribution as _score_distribution,
    score_top_logprobs as _score_top_logprobs,
)
from dataquality_thresholds.records import Completion, Message

if TYPE_CHECKING:
    from inspect_ai.model import ChatMessage, Model, ModelOutput

__all__ = ["DEFAULT_GRADER", "InspectJudge", "InspectSampler", "to_chat_messages"]

#: The grader used when the ``grader`` model role is not bound (OpenAIJudge's default model).
DEFAULT_GRADER = "openai/gpt-4o-2024-08-06"

T = TypeVar("T")


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    With no running event loop it uses :func:`asyncio.run`; inside one (a
    notebook) it runs on a fresh loop in a worker thread, so it never blocks
    or re-enters the caller's loop.
    """

    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def to_chat_messages(prompt: Prompt) -> list[ChatMessage]:
    """Return ``prompt`` (string, conversation or EvalItem) as inspect chat messages."""
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

    kinds: dict[str, Any] = {
        "system": ChatMessageSystem,
        "user": ChatMessageUser,
        "assistant": ChatMessageAssistant,
    }
    return [kinds[m.role](content=m.content) for m in normalize_prompt(prompt)]


def from_chat_messages(messages: str | Sequence[Any]) -> tuple[Message, ...]:
    """Return inspect's ``state.input`` (a string or chat messages) as our messages.

    Tool messages and messages without text are dropped.
    """
    if isinstance(messages, str):
        return (Message("user", messages),)
    out = []
    for m in messages:
        role = getattr(m, "role", None)
        text = getattr(m, "text", "")
        if role in ("system", "user", "assistant") and text and text.strip():
            out.append(Message(role, text))
    if not out:
        raise ConfigError("the sample's input has no text messages", field="input")
    return tuple(out)


def _top_logprobs(output: ModelOutput) -> tuple[tuple[tuple[str, float], ...], ...] | None:
    if not output.choices or output.choices[0].logprobs is None:
        return None
    positions = []
    for lp in output.choices[0].logprobs.content:
        alts = lp.top_logprobs or []
        own = ((lp.token, float(lp.logprob)),)
        positions.append(tuple((t.token, float(t.logprob)) for t in alts) or own)
    return tuple(positions) or None


def _completion(output: ModelOutput, label: str, index: int, provider_model: str) -> Completion:
    usage = output.usage
    stop = output.choices[0].stop_reason if output.choices else None
    return Completion(
        text=output.completion,
        model=label,
        index=index,
        finish_reason=None if stop is None else str(stop),
        prompt_tokens=None if usage is None else usage.input_tokens,
        completion_tokens=None if usage is None else usage.output_tokens,
        info={"inspect_model": provider_model},
        top_logprobs=_top_logprobs(output),
    )


class InspectSampler:
    """A :class:`~dataquality_thresholds.backends.Sampler` backed by inspect_ai's providers.

    Any provider inspect supports (``openai/...``, ``anthropic/...``,
    ``hf/...``, ``vllm/...``, ``ollama/...``, ``mockllm/model`` ...) can then be
    sampled by :class:`~dataquality_thresholds.DomainScorer` and
    :class:`~dataquality_thresholds.MisalignmentProbe`. Needs the ``[inspect]``
    extra.

    Which inspect model answers ``complete(model, ...)``:

    1. ``model`` contains ``"/"`` (``"openai/ft:gpt-4o:org::abc"``): that model;
    2. else, with ``provider`` given: ``f"{provider}/{model}"``;
    3. else the model this sampler was built with, provided ``model`` names it
       (its full name or the part after the provider); anything else is a
       :class:`ConfigError`, so a sampler never answers for a model it is not.

    Parameters
    ----------
    model : str or inspect_ai.model.Model, optional
        The model this sampler is bound to (rule 3).
    provider : str, optional
        Provider prefix for bare model names (rule 2), e.g. ``"openai"``.
    model_args : mapping, optional
        Passed to :func:`inspect_ai.model.get_model` for models built by name.
    config : mapping, optional
        Further :class:`inspect_ai.model.GenerateConfig` fields (``max_connections``,
        ``timeout``, ``max_retries`` ...); the call's own arguments take precedence.
    max_concurrency : int
        Generate calls in flight at once (inspect adds its own per-provider limits).

    Notes
    -----
    ``n`` samples are ``n`` separate generate calls; with a ``seed``, sample
    ``j`` uses ``seed + j`` so samples differ yet reruns repeat (for providers
    that honour seeds). inspect's own response cache is not used unless
    ``config={"cache": ...}`` says so.

    Examples
    --------
    >>> sampler = InspectSampler("openai/gpt-4o-mini")                   # doctest: +SKIP
    >>> DomainScorer(items, ReferenceJudge()).score(sampler, "gpt-4o-mini")  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | Model | None = None,
        *,
        provider: str | None = None,
        model_args: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        max_concurrency: int = 8,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError("max_concurrency must be >= 1", field="max_concurrency")
        if provider is not None and (not provider.strip() or "/" in provider):
            raise ConfigError(f"provider must be a bare name, got {provider!r}", field="provider")
        self._bound = model
        self.provider = provider
        self.model_args = dict(model_args or {})
        self.config = dict(config or {})
        self.max_concurrency = max_concurrency
        self._models: dict[str, Model] = {}

    def __repr__(self) -> str:
        return f"InspectSampler(model={str(self._bound)!r}, provider={self.provider!r})"

    def resolve(self, model: str) -> Model:
        """Return the inspect model that answers for ``model`` (see the class notes)."""
        from inspect_ai.model import Model, get_model

        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"model must be a non-empty string, got {model!r}", field="model")
        bound_name = None if self._bound is None else str(self._bound)
        if bound_name is not None and model in (bound_name, bound_name.split("/", 1)[-1]):
            if isinstance(self._bound, Model):
                return self._bound
            spec = bound_name
        elif "/" in model:
            spec = model
        elif self.provider is not None:
            spec = f"{self.provider}/{model}"
        elif bound_name is not None:
            raise ConfigError(
                f"this InspectSampler is bound to {bound_name!r} and cannot sample "
                f"{model!r}; pass 'provider/name', or build it with provider=...",
                field="model",
            )
        else:
            raise ConfigError(
                f"cannot tell which provider serves {model!r}: pass 'provider/{model}', "
                "or build the InspectSampler with model= or provider=",
                field="model",
            )
        if spec not in self._models:
            try:
                self._models[spec] = get_model(spec, **self.model_args)
            except Exception as exc:
                raise BackendError(f"inspect could not load model {spec!r}: {exc}") from exc
        return self._models[spec]

    def complete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        top_logprobs: int | None = None,
    ) -> list[list[Completion]]:
        """Return ``n`` completions per prompt, in prompt order (see :class:`Sampler`).

        ``top_logprobs`` asks for that many alternatives per generated token
        (for :class:`~dataquality_thresholds.OpenAIJudge`; the provider must
        support logprobs).
        """
        return run_sync(
            lambda: self.acomplete(
                model,
                prompts,
                n=n,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=seed,
                top_logprobs=top_logprobs,
            )
        )

    async def acomplete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        top_logprobs: int | None = None,
    ) -> list[list[Completion]]:
        """Async twin of :meth:`complete`."""
        from inspect_ai.model import GenerateConfig

        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}", field="n")
        target = self.resolve(model)
        conversations = [to_chat_messages(p) for p in prompts]
        provider_model = str(target)
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(i: int, j: int) -> Completion:
            options: dict[str, Any] = {**self.config, "temperature": temperature}
            if max_tokens is not None:
                options["max_tokens"] = max_tokens
            if seed is not None:
                options["seed"] = seed + j
            if top_logprobs is not None:
                options.update(logprobs=True, top_logprobs=top_logprobs)
            cache = options.pop("cache", False)
            async with gate:
                try:
                    output = await target.generate(
                        conversations[i], config=GenerateConfig(**options), cache=cache
                    )
                except Exception as exc:
                    raise BackendError(
                        f"inspect model {provider_model!r} failed on prompt {i}: {exc}"
                    ) from exc
            if output.error:
                raise BackendError(
                    f"inspect model {provider_model!r} failed on prompt {i}: {output.error}"
                )
            return _completion(output, model, j, provider_model)

        flat = await asyncio.gather(*(one(i, j) for i in range(len(prompts)) for j in range(n)))
        return [list(flat[i * n : (i + 1) * n]) for i in range(len(prompts))]


_PUNCT = string.punctuation + " \t\r\n"


class InspectJudge:
    """A 0-100 LLM judge whose model is an inspect model (by default the ``grader`` role).

    It sends the same delimited judge prompt as
    :class:`~dataquality_thresholds.OpenAIJudge` and, when the provider returns
    logprobs, scores the first token's top logprobs by the same rule
    (:func:`~dataquality_thresholds.evaluation.score_top_logprobs`). Providers
    without logprobs are scored from the answer's text: its first word read as
    an integer 0-100 or one of the template's labels (``raw["scored_from"]``
    says which way each judgment was made); set ``require_logprobs=True`` to
    refuse that instead.

    Parameters
    ----------
    model : str or inspect_ai.model.Model, optional
        The judge model. With ``role`` set, the model bound to that role in the
        running eval (``--model-role grader=...``) takes precedence and this is
        the fallback; :data:`DEFAULT_GRADER` when both are missing.
    role : str or None
        inspect model role to look up (``"grader"``); None to use ``model`` only.
    template : JudgeTemplate
        As for OpenAIJudge (:data:`ALIGNMENT_TEMPLATE` by default); a rubric
        passed to a call replaces its criteria.
    min_mass : float
        Least probability on integer tokens for a score.
    top_logprobs : int
        Alternatives asked for (1-20).
    max_tokens : int
        Tokens the judge may answer (1 suffices with logprobs).
    require_logprobs : bool
        Raise :class:`BackendError` instead of scoring from text.
    seed : int, optional
        Passed to the provider.
    """

    def __init__(
        self,
        model: str | Model | None = None,
        *,
        role: str | None = "grader",
        template: JudgeTemplate = ALIGNMENT_TEMPLATE,
        min_mass: float = MIN_NUMERIC_MASS,
        top_logprobs: int = 20,
        max_tokens: int = 1,
        require_logprobs: bool = False,
        seed: int | None = 0,
    ) -> None:
        from dataquality_thresholds.evaluation import OpenAIJudge

        if max_tokens < 1:
            raise ConfigError("max_tokens must be >= 1", field="max_tokens")
        # OpenAIJudge validates the options and renders the prompts; it never samples here.
        self._prompts = OpenAIJudge(
            str(model or DEFAULT_GRADER),
            template=template,
            min_mass=min_mass,
            top_logprobs=top_logprobs,
            seed=seed,
        )
        self.model = model
        self.role = role
        self.template = template
        self.min_mass = min_mass
        self.top_logprobs = top_logprobs
        self.max_tokens = max_tokens
        self.require_logprobs = require_logprobs
        self.seed = seed

    def __repr__(self) -> str:
        return (
            f"InspectJudge(model={str(self.model)!r}, role={self.role!r}, "
            f"template={self.template.name!r})"
        )

    def resolve(self) -> Model:
        """Return the judge's inspect model (the role's binding, else ``model``)."""
        from inspect_ai.model import Model, get_model

        if isinstance(self.model, Model) and self.role is None:
            return self.model
        fallback = self.model if self.model is not None else DEFAULT_GRADER
        try:
            if self.role is None:
                return get_model(fallback)
            return get_model(role=self.role, default=fallback)
        except Exception as exc:
            raise BackendError(f"inspect could not load the judge model: {exc}") from exc

    def messages(
        self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None
    ) -> tuple[Message, ...]:
        """Return the judge conversation for one answer (what is sent)."""
        return self._prompts.messages(prompt, answer, rubric=rubric)

    def _judgment(self, output: ModelOutput, name: str) -> Judgment:
        labels = self.template.labels
        positions = _top_logprobs(output)
        if positions:
            j = _score_top_logprobs(positions[0], labels=labels, min_mass=self.min_mass)
            source = "logprobs"
        elif self.require_logprobs:
            raise BackendError(f"the judge model {name!r} returned no logprobs")
        else:
            words = output.completion.strip().split()
            first = words[0].strip(_PUNCT) if words else ""
            j = _score_distribution({first: 1.0}, labels=labels, min_mass=self.min_mass)
            source = "text"
        raw = dict(j.raw)
        raw.update(
            template=self.template.name, model=name, text=output.completion, scored_from=source
        )
        return Judgment(score=j.score, label=j.label, raw=raw)

    async def ascore(
        self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None
    ) -> Judgment:
        """Judge one answer (one generate call)."""
        from inspect_ai.model import GenerateConfig

        judge_model = self.resolve()
        msgs = to_chat_messages(self.messages(prompt, answer, rubric=rubric))
        config = GenerateConfig(
            temperature=0.0,
            max_tokens=self.max_tokens,
            logprobs=True,
            top_logprobs=self.top_logprobs,
            seed=self.seed,
        )
        try:
            output = await judge_model.generate(msgs, config=config)
        except Exception as exc:
            raise BackendError(f"the judge model {str(judge_model)!r} failed: {exc}") from exc
        return self._judgment(output, str(judge_model))

    def score(self, prompt: JudgedPrompt, answer: str, *, rubric: str | None = None) -> Judgment:
        """Judge one answer (the synchronous twin of :meth:`ascore`)."""
        return run_sync(lambda: self.ascore(prompt, answer, rubric=rubric))

    def score_many(
        self, pairs: Iterable[tuple[JudgedPrompt, str]], *, rubric: str | None = None
    ) -> list[Judgment]:
        """Judge many answers concurrently, results in order."""
        pairs = list(pairs)

        async def many() -> list[Judgment]:
            return list(await asyncio.gather(*(self.ascore(p, a, rubric=rubric) for p, a in pairs)))

        return run_sync(many)
