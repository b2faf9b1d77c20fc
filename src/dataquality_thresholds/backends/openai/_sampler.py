"""The settings half of :class:`~dataquality_thresholds.backends.openai.OpenAISampler`.

:class:`OpenAISamplerBase` works out the endpoint, key, organisation and
project (from a given client, else the arguments, else the environment) and
configures the sampling engine,
:class:`~dataquality_thresholds.backends.openai.ChatSampler`. The subclass
in :mod:`~dataquality_thresholds.backends.openai` adds the one thing that needs
``openai``: building the ``AsyncOpenAI`` clients of each run. A given client is
read here through the :class:`ClientSettings` protocol, which
``openai.OpenAI`` and ``openai.AsyncOpenAI`` both satisfy, so nothing here
imports ``openai``; the exact client type is a type parameter, so the public
signature stays exact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from dataquality_thresholds.backends._cache import CompletionCache
from dataquality_thresholds.backends.openai._engine import ChatSampler
from dataquality_thresholds.backends.openai._secret import Secret
from dataquality_thresholds.backends.openai._wire import Transport

__all__ = ["DEFAULT_BASE_URL", "ClientSettings", "OpenAISamplerBase"]

#: The endpoint used when neither a client, ``base_url`` nor ``OPENAI_BASE_URL`` gives one.
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class ClientSettings(Protocol):
    """What the sampler reads from a client it is given (``openai.OpenAI`` or ``AsyncOpenAI``)."""

    @property
    def base_url(self) -> object:
        """The endpoint (a URL object; its ``str`` is used)."""
        ...

    @property
    def api_key(self) -> str:
        """The API key."""
        ...

    @property
    def organization(self) -> str | None:
        """The organisation id, if any."""
        ...

    @property
    def project(self) -> str | None:
        """The project id, if any."""
        ...


ClientT = TypeVar("ClientT", bound=ClientSettings)


class OpenAISamplerBase(ChatSampler, Generic[ClientT]):
    """:class:`~dataquality_thresholds.backends.openai.OpenAISampler` without its clients.

    The parameters are documented on ``OpenAISampler``; ``ClientT`` is the type
    of the client it takes (``openai.OpenAI | openai.AsyncOpenAI``). A subclass implements
    :meth:`_transport` from ``self.base_url``, ``self._api_key``,
    ``self.timeout`` and ``self._options`` (organisation and project).
    """

    def __init__(
        self,
        client: ClientT | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 16,
        rpm: float | None = None,
        tpm: float | None = None,
        cache: CompletionCache | str | Path | None = None,
        progress: bool = False,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 120.0,
        batch: bool = False,
        batch_poll_interval: float = 30.0,
        batch_timeout: float | None = None,
        completion_window: str = "24h",
        seed: int = 0,
    ) -> None:
        self._options: dict[str, Any] = {}
        if client is not None:
            base_url = str(client.base_url)
            api_key = client.api_key
            self._options = {"organization": client.organization, "project": client.project}
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self._api_key = Secret(api_key)
        self.timeout = float(timeout)
        super().__init__(
            transport_factory=self._transport,
            base_url=base_url.rstrip("/"),
            max_concurrency=max_concurrency,
            rpm=rpm,
            tpm=tpm,
            cache=cache,
            progress=progress,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
            batch=batch,
            batch_poll_interval=batch_poll_interval,
            batch_timeout=batch_timeout,
            completion_window=completion_window,
            seed=seed,
        )

    def __repr__(self) -> str:
        return (
            f"OpenAISampler(base_url={self.base_url!r}, max_concurrency={self.max_concurrency}, "
            f"rpm={self.rpm!r}, tpm={self.tpm!r}, cache={self.cache!r})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("OpenAISampler holds credentials; build it again in the new process")

    def _transport(self) -> Transport:
        """Build the transport of one event loop (its own clients)."""
        raise NotImplementedError
