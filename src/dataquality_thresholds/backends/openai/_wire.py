"""The transport contract of :class:`~dataquality_thresholds.backends.openai.ChatSampler`.

:class:`Transport` is the handful of raw calls the sampling engine makes (chat
completions, batch files and batches), with plain JSON dicts in and out;
:class:`RetryableError` is how a transport says "try again", and
:class:`BatchError` is what a batch with failed requests ends in.

All three are public under :mod:`~dataquality_thresholds.backends.openai`,
which re-exports them and sets their ``__module__`` to that path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from dataquality_thresholds.errors import BackendError

__all__ = ["BatchError", "RetryableError", "Transport"]


class RetryableError(BackendError):
    """A request failed in a way worth retrying (429, 5xx, timeout, dropped connection).

    Parameters
    ----------
    message : str
        What happened.
    retry_after : float, optional
        The server's ``Retry-After``, seconds.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatchError(BackendError):
    """Some requests of a batch failed (the others were cached and returned nothing).

    Parameters
    ----------
    message : str
        Summary.
    batch_id : str
        The provider's batch id.
    errors : mapping of str to str
        ``custom_id`` -> error message, from the error file (and the output
        file's non-200 lines).
    """

    def __init__(self, message: str, *, batch_id: str, errors: Mapping[str, str]) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.errors = dict(errors)


class Transport(Protocol):
    """The few raw calls the engine needs; bodies and results are plain JSON dicts."""

    async def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /chat/completions; raise :class:`RetryableError` or :class:`BackendError`."""
        ...

    async def upload(self, content: bytes, filename: str) -> str:
        """Upload a batch input file; return its id."""
        ...

    async def create_batch(
        self, input_file_id: str, *, completion_window: str, input_digest: str
    ) -> dict[str, Any]:
        """Create a chat-completions batch tagged with ``input_digest``; return it."""
        ...

    async def find_batch(self, input_digest: str) -> dict[str, Any] | None:
        """Return a recent batch tagged ``input_digest`` that did not fail, or None."""
        ...

    async def retrieve_batch(self, batch_id: str) -> dict[str, Any]:
        """Return the batch object."""
        ...

    async def file_content(self, file_id: str) -> bytes:
        """Return a file's bytes."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
