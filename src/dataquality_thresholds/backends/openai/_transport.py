"""The raw calls of the OpenAI sampler, over ``AsyncOpenAI``-shaped clients.

:class:`AsyncChatTransport` is the
:class:`~dataquality_thresholds.backends.openai.Transport` of
:class:`~dataquality_thresholds.backends.openai.OpenAISampler`: chat requests
and the Batch API calls (upload, create, find, poll, download). It is handed
its clients, the SDK's base exception class and the function that classifies
those exceptions, so it imports nothing from ``openai``;
:mod:`~dataquality_thresholds.backends.openai` builds it with the real ones.
The clients run with the SDK's retries off: only the sampling engine retries
(on the :class:`~dataquality_thresholds.backends.openai.RetryableError`
that ``classify`` returns), so retries never stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dataquality_thresholds.errors import BackendError

__all__ = ["AsyncChatTransport"]


class AsyncChatTransport:
    """The raw calls of :class:`ChatSampler`, over ``openai.AsyncOpenAI`` clients.

    Chat requests are spread round-robin over several clients (one connection
    pool each): the HTTP pool scans all its connections on every request, so
    one pool of 50 connections costs far more CPU per request than five of 10.

    Parameters
    ----------
    clients : sequence of openai.AsyncOpenAI
        At least one; batch calls use the first.
    error : type
        The SDK's base exception (``openai.OpenAIError``); anything else a
        call raises passes through unchanged.
    classify : callable
        ``classify(exc, what)`` maps such an exception to the
        :class:`BackendError` raised in its place (``from exc``).
    """

    def __init__(
        self,
        clients: Sequence[Any],
        *,
        error: type[Exception],
        classify: Callable[[Exception, str], BackendError],
    ) -> None:
        self._clients = list(clients)
        self._client = self._clients[0]
        self._next = 0
        self._error = error
        self._classify = classify

    def _pick(self) -> Any:
        self._next = (self._next + 1) % len(self._clients)
        return self._clients[self._next]

    async def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Send one chat-completions request; return the decoded JSON reply."""
        # the client's generic POST: same auth, headers and error mapping as
        # ``chat.completions.create``, without validating our (already plain
        # JSON) body against the typed parameters or parsing the reply into
        # pydantic models: that costs more CPU per request than the rest of
        # the sampler together
        try:
            raw = await self._pick().post("/chat/completions", cast_to=bytes, body=dict(body))
        except self._error as exc:
            raise self._classify(exc, f"sampling {body.get('model')}") from exc
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise BackendError("the server answered chat/completions with a non-object")
        return data

    async def upload(self, content: bytes, filename: str) -> str:
        """Upload a batch input file; return its id."""
        try:
            f = await self._client.files.create(file=(filename, content), purpose="batch")
        except self._error as exc:
            raise self._classify(exc, "uploading the batch file") from exc
        return str(f.id)

    async def create_batch(
        self, input_file_id: str, *, completion_window: str, input_digest: str
    ) -> dict[str, Any]:
        """Create a chat-completions batch tagged with ``input_digest``."""
        try:
            b = await self._client.batches.create(
                input_file_id=input_file_id,
                endpoint="/v1/chat/completions",
                completion_window=completion_window,
                metadata={"created_by": "dataquality_thresholds", "dqt_input": input_digest},
            )
        except self._error as exc:
            raise self._classify(exc, "creating the batch") from exc
        return dict(b.model_dump())

    async def find_batch(self, input_digest: str) -> dict[str, Any] | None:
        """Return a live batch (not failed, expired or cancelled) tagged ``input_digest``."""
        try:
            page = await self._client.batches.list(limit=100)
        except self._error as exc:
            raise self._classify(exc, "listing batches") from exc
        for b in page.data:
            meta = b.metadata or {}
            if meta.get("dqt_input") == input_digest and b.status not in (
                "failed",
                "expired",
                "cancelled",
                "cancelling",
            ):
                return dict(b.model_dump())
        return None

    async def retrieve_batch(self, batch_id: str) -> dict[str, Any]:
        """Return a batch's current state."""
        try:
            b = await self._client.batches.retrieve(batch_id)
        except self._error as exc:
            raise self._classify(exc, f"polling batch {batch_id}") from exc
        return dict(b.model_dump())

    async def file_content(self, file_id: str) -> bytes:
        """Download a file's bytes."""
        try:
            resp = await self._client.files.content(file_id)
        except self._error as exc:
            raise self._classify(exc, f"downloading file {file_id}") from exc
        return bytes(resp.content)

    async def aclose(self) -> None:
        """Close every client."""
        for c in self._clients:
            await c.close()
