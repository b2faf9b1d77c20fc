"""The protocols every fine-tuning backend and sampler satisfies.

Anything with these methods works: nobody has to subclass our classes. mypy
checks :class:`~dataquality_thresholds.backends.LocalStubBackend` and
:class:`~dataquality_thresholds.backends.OpenAIBackend` against them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

from dataquality_thresholds.backends._records import (
    JOB_STATUSES,
    TERMINAL_STATUSES,
    CostEstimate,
    FineTuneJob,
)
from dataquality_thresholds.errors import ConfigError, JobTimeoutError
from dataquality_thresholds.mixing import Mixture
from dataquality_thresholds.records import Completion, EvalItem, Message

__all__ = [
    "JOB_STATUSES",
    "TERMINAL_STATUSES",
    "FineTuneBackend",
    "JobTimeoutError",
    "ProgressCallback",
    "Prompt",
    "Sampler",
    "normalize_prompt",
    "prompt_key",
]

#: What a sampler accepts as one prompt: a user message as a string, a
#: conversation (messages or ``{"role", "content"}`` dicts), or an :class:`EvalItem`.
Prompt: TypeAlias = "str | Sequence[Message | Mapping[str, Any]] | EvalItem"

#: Called with the refreshed job after every poll of :meth:`FineTuneBackend.wait`.
ProgressCallback = Callable[[FineTuneJob], None]


def normalize_prompt(prompt: Prompt) -> tuple[Message, ...]:
    """Return ``prompt`` as a tuple of :class:`Message`.

    Parameters
    ----------
    prompt : str, sequence of Message or dict, or EvalItem
        A string is one user message; an :class:`EvalItem` gives its prompt.

    Returns
    -------
    tuple of Message

    Raises
    ------
    ConfigError
        An empty conversation or one of the wrong type.
    """
    if isinstance(prompt, EvalItem):
        return prompt.prompt
    if isinstance(prompt, str):
        return (Message("user", prompt),)
    if not isinstance(prompt, Sequence) or not prompt:
        raise ConfigError(
            f"a prompt must be a string, a non-empty list of messages or an EvalItem, "
            f"got {type(prompt).__name__}",
            field="prompts",
        )
    out = []
    for m in prompt:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, Mapping):
            out.append(Message(**m))
        else:
            raise ConfigError(
                f"a message must be a Message or a mapping, got {type(m).__name__}",
                field="prompts",
            )
    return tuple(out)


def prompt_key(messages: Sequence[Message]) -> str:
    """Return a stable text key of a conversation (roles and contents), for lookups."""
    return "\x1e".join(f"{m.role}\x1f{m.content}" for m in messages)


class ThreadedSampler:
    """Base of a sampler whose work is synchronous (a local model, a blocking SDK).

    A subclass defines :meth:`complete`; :meth:`acomplete`, the async twin the
    :class:`Sampler` protocol asks for, runs it in a worker thread.
    """

    complete: Callable[..., list[list[Completion]]]

    async def acomplete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> list[list[Completion]]:
        """Async twin of :meth:`complete` (runs it in a worker thread)."""
        return await asyncio.to_thread(
            self.complete,
            model,
            prompts,
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            **options,
        )


@runtime_checkable
class Sampler(Protocol):
    """Samples answers of a model to prompts."""

    def complete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Return ``n`` completions per prompt, in prompt order.

        Parameters
        ----------
        model : str
            The model to sample (e.g. :attr:`FineTuneJob.fine_tuned_model`).
        prompts : sequence of Prompt
            The prompts.
        n : int
            Samples per prompt.
        temperature : float
            Sampling temperature; 0 is (near) greedy.
        max_tokens : int, optional
            Cap on each answer's length.
        seed : int, optional
            Seed, for backends that honour one.

        Returns
        -------
        list of list of Completion
            ``result[i][j]`` is sample ``j`` for prompt ``i``.
        """
        ...

    async def acomplete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Async twin of :meth:`complete`."""
        ...


@runtime_checkable
class FineTuneBackend(Protocol):
    """Fine-tunes a base model on a :class:`Mixture` and samples the result.

    A backend never starts two jobs for one ``key``: calling :meth:`submit`
    again with the same key (after a crash, in a new process) returns the job
    that exists.
    """

    name: str

    def submit(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        key: str,
    ) -> FineTuneJob:
        """Start (or find) the job for ``key`` and return it without waiting.

        Parameters
        ----------
        mixture : Mixture
            The training data.
        base_model : str, optional
            The model to fine-tune; the backend's default when None.
        hyperparameters : mapping, optional
            ``n_epochs``, ``batch_size``, ``learning_rate_multiplier``
            (each an int/float or ``"auto"``).
        key : str
            Idempotency key, unique per intended job.

        Returns
        -------
        FineTuneJob
        """
        ...

    def refresh(self, job: FineTuneJob) -> FineTuneJob:
        """Return the job's current state."""
        ...

    def wait(
        self,
        job: FineTuneJob,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> FineTuneJob:
        """Poll until the job is done; return it when it succeeded or was rejected.

        Raises
        ------
        FineTuneJobError
            The job failed or was cancelled.
        JobTimeoutError
            ``timeout`` seconds passed first (the job keeps running).
        """
        ...

    def cancel(self, job: FineTuneJob) -> FineTuneJob:
        """Cancel the job (a no-op when it is done) and return its state."""
        ...

    def estimate_cost(self, mixture: Mixture, **options: Any) -> CostEstimate:
        """Estimate what fine-tuning on ``mixture`` costs, before paying."""
        ...

    def sampler(self) -> Sampler:
        """Return a sampler for the models this backend produces."""
        ...


def check_status(status: str) -> str:
    """Return ``status`` if it is a known job status, else raise :class:`ConfigError`."""
    if status not in JOB_STATUSES:
        raise ConfigError(f"unknown job status {status!r}", field="status")
    return status


def is_terminal(status: str) -> bool:
    """Whether a job in ``status`` never changes again."""
    return status in TERMINAL_STATUSES
