"""OpenAISampler: the sampler's ``openai`` half (clients and exceptions).

The sampling engine lives in ``_engine``, the sampler's settings in ``_sampler`` and its raw
calls in ``_transport`` (none of them imports ``openai``); this module builds the
``AsyncOpenAI`` clients, with the SDK's retries off (the engine retries, once), and maps
``openai`` exceptions to retryable or final errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import openai

from dataquality_thresholds.backends.openai._errors import classify
from dataquality_thresholds.backends.openai._sampler import OpenAISamplerBase
from dataquality_thresholds.backends.openai._sdk import error_facts
from dataquality_thresholds.backends.openai._transport import AsyncChatTransport
from dataquality_thresholds.errors import BackendError, BackendUnavailableError

__all__ = ["OpenAISampler"]

#: Requests in flight per HTTP connection pool (see AsyncChatTransport).
_CONNECTIONS_PER_POOL = 10


def _classify(exc: Exception, what: str) -> BackendError:
    """Map an ``openai`` exception to RetryableError or a final BackendError."""
    return classify(error_facts(exc), what)


class _AsyncOpenAITransport(AsyncChatTransport):
    """:class:`AsyncChatTransport` over ``openai.AsyncOpenAI`` clients and ``openai`` errors."""

    def __init__(self, clients: Sequence[openai.AsyncOpenAI]) -> None:
        super().__init__(clients, error=openai.OpenAIError, classify=_classify)


class OpenAISampler(OpenAISamplerBase[openai.OpenAI | openai.AsyncOpenAI]):
    """Sample any OpenAI-compatible chat endpoint: concurrent, rate-limited, cached.

    Implements the :class:`~dataquality_thresholds.backends.Sampler` protocol
    (``complete`` / ``acomplete``), plus ``top_logprobs`` for judges and a
    Batch API mode. See ``docs/sampling.md``.

    Parameters
    ----------
    client : openai.OpenAI or openai.AsyncOpenAI, optional
        Supplies the endpoint, key, organisation and project. The sampler
        builds its own ``AsyncOpenAI`` from them for each run (an async client
        is bound to the event loop it first ran on), with the SDK's retries
        off.
    base_url, api_key : str, optional
        Used when no client is given; else ``OPENAI_BASE_URL`` /
        ``OPENAI_API_KEY``. The key is looked up when the first request is
        made, held privately, and never stored in the cache.
    max_concurrency : int
        Requests in flight at once.
    rpm, tpm : float, optional
        Requests and tokens per minute (tokens are estimated before a request
        as prompt characters / 4 plus ``max_tokens * n``, then corrected with
        the reported usage).
    cache : CompletionCache or path, optional
        Where samples are stored; a rerun of cached work sends no request.
    progress : bool
        Show a tqdm progress bar.
    max_retries : int
        Retries of a request after 429, 5xx, 408/409, a timeout or a dropped
        connection (the SDK's own retries are off, so they never stack).
    backoff, max_backoff : float
        Exponential backoff base and cap (seconds, with jitter) when the
        server sends no ``Retry-After``.
    timeout : float
        Seconds per HTTP request.
    batch : bool
        Send every call through the Batch API (50% cheaper, up to 24 h).
    batch_poll_interval : float
        Seconds between batch polls.
    batch_timeout : float, optional
        Give up waiting for a batch after this many seconds (it keeps running).
    completion_window : str
        The Batch API window.
    seed : int
        Seed of the backoff jitter.
    """

    def _transport(self) -> _AsyncOpenAITransport:
        pools = max(1, -(-self.max_concurrency // _CONNECTIONS_PER_POOL))
        try:
            clients = [
                openai.AsyncOpenAI(
                    api_key=self._api_key.get(),
                    base_url=self.base_url,
                    max_retries=0,
                    timeout=self.timeout,
                    **self._options,
                )
                for _ in range(pools)
            ]
        except openai.OpenAIError as exc:
            raise BackendUnavailableError(
                "cannot build an OpenAI client: no API key. Set OPENAI_API_KEY or pass "
                "api_key=... (or client=...)."
            ) from exc
        return _AsyncOpenAITransport(clients)


if TYPE_CHECKING:  # mypy checks the sampler against the protocol
    from dataquality_thresholds.backends._base import Sampler

    _sampler: Sampler = OpenAISampler()
