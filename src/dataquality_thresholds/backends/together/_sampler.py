"""Sampling Together models through the library's OpenAI-compatible sampler.

Together's chat completions are OpenAI-compatible, so :class:`TogetherSampler`
is an :class:`~dataquality_thresholds.backends.openai.OpenAISampler` (concurrency,
rate limits, retries, cache) pointed at Together, plus one step: it decides
which name to send for a model. Together serves the output of a fine-tune from a
**dedicated endpoint** (billed per minute while it runs) that someone has to
create first; until then its name is unknown to the chat API. With
``serving="dedicated"`` (the default) a fine-tuned model is sampled through the
endpoint named for it in ``endpoints``, and one with no endpoint stops with
:class:`DeploymentRequiredError` before any request is sent. With
``serving="serverless"`` names are sent as they are (accounts and base models
for which Together serves LoRA adapters serverlessly).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import openai

from dataquality_thresholds.backends._base import Prompt
from dataquality_thresholds.backends.openai import OpenAISampler
from dataquality_thresholds.errors import BackendUnavailableError, ConfigError
from dataquality_thresholds.records import Completion

__all__ = [
    "DEFAULT_BASE_URL",
    "DeploymentRequiredError",
    "Serving",
    "TogetherSampler",
    "is_fine_tuned",
]

#: Together's OpenAI-compatible API.
DEFAULT_BASE_URL = "https://api.together.xyz/v1"

#: How fine-tuned models are reached: through dedicated endpoints, or by name.
Serving = Literal["dedicated", "serverless"]

# our job suffix, or a Together job id, inside a model name
_FINE_TUNED = re.compile(r"dqt-[0-9a-f]{16}-[0-9a-f]{10}|(?:^|[:/-])ft-[0-9a-f]{8}")


def is_fine_tuned(model: str) -> bool:
    """Whether ``model`` names the output of a Together fine-tune (of this library)."""
    return _FINE_TUNED.search(model) is not None


class DeploymentRequiredError(BackendUnavailableError):
    """A fine-tuned model must be deployed on a dedicated endpoint before it can be sampled.

    Parameters
    ----------
    message : str
        What to do.
    model : str
        The fine-tuned model's name.
    """

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


def deployment_message(model: str) -> str:
    """Explain how to serve ``model`` (used by :class:`DeploymentRequiredError`)."""
    return (
        f"{model!r} is a Together fine-tune, and Together serves fine-tuned models from a "
        "dedicated endpoint that bills per minute while it runs, sampled or not (see "
        "TogetherBackend.estimate_hosting_cost). Create one (dashboard: Models > your model > "
        "Create dedicated endpoint; or the together CLI/SDK `endpoints create`), wait until it "
        "is started, then pass endpoints={model: '<endpoint name>'} to TogetherBackend (or to "
        "sampler()) and sample again; results already measured are kept. Stop the endpoint "
        "when done. If your account serves LoRA adapters serverlessly, use serving='serverless'."
    )


class TogetherSampler(OpenAISampler):
    """Sample Together models: an :class:`OpenAISampler` that resolves fine-tuned names.

    Parameters
    ----------
    client : openai.OpenAI or openai.AsyncOpenAI, optional
        A client for Together (its endpoint and key are used).
    base_url : str, optional
        Default :data:`DEFAULT_BASE_URL`.
    api_key : str, optional
        Default ``TOGETHER_API_KEY`` (looked up by the caller, e.g. the backend).
    serving : {"dedicated", "serverless"}
        How fine-tuned models are reached (see the module docs).
    endpoints : mapping of str to str, optional
        Model name -> the name to send (a dedicated endpoint's name); also usable
        for base models (e.g. a ``-Reference`` model -> its serverless twin).
    **options
        Passed to :class:`OpenAISampler` (``max_concurrency``, ``rpm``, ``tpm``,
        ``cache``, ``max_retries``, ``timeout``, ``seed`` ...). Batch mode is
        OpenAI's Batch API and is refused here.

    Raises
    ------
    ConfigError
        ``batch=True``, or an unknown ``serving``.
    """

    def __init__(
        self,
        client: openai.OpenAI | openai.AsyncOpenAI | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        serving: Serving = "dedicated",
        endpoints: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        if options.get("batch"):
            raise ConfigError(
                "batch=True sends OpenAI Batch API requests, which Together does not accept; "
                "sample without batch mode",
                field="batch",
            )
        if serving not in ("dedicated", "serverless"):
            raise ConfigError(
                f"serving must be 'dedicated' or 'serverless', got {serving!r}", field="serving"
            )
        if client is None:
            base_url = base_url or DEFAULT_BASE_URL
        super().__init__(client, base_url=base_url, api_key=api_key, **options)
        self.serving: Serving = serving
        self.endpoints: dict[str, str] = {str(k): str(v) for k, v in (endpoints or {}).items()}

    def __repr__(self) -> str:
        return (
            f"TogetherSampler(base_url={self.base_url!r}, serving={self.serving!r}, "
            f"endpoints={len(self.endpoints)}, max_concurrency={self.max_concurrency})"
        )

    def served_name(self, model: str) -> str:
        """Return the name to send for ``model``.

        Raises
        ------
        DeploymentRequiredError
            ``serving="dedicated"`` and ``model`` is a fine-tune with no endpoint.
        """
        if model in self.endpoints:
            return self.endpoints[model]
        if self.serving == "dedicated" and is_fine_tuned(model):
            raise DeploymentRequiredError(deployment_message(model), model=model)
        return model

    def complete(
        self, model: str, prompts: Sequence[Prompt], **kwargs: Any
    ) -> list[list[Completion]]:
        """Sample ``model`` (resolved by :meth:`served_name`); see :class:`OpenAISampler`."""
        return super().complete(self.served_name(model), prompts, **kwargs)

    async def acomplete(
        self, model: str, prompts: Sequence[Prompt], **kwargs: Any
    ) -> list[list[Completion]]:
        """Async twin of :meth:`complete`."""
        return await super().acomplete(self.served_name(model), prompts, **kwargs)
