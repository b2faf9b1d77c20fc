"""Test doubles: a local HTTP server that speaks the parts of the OpenAI API we use.

:class:`FakeOpenAIServer` runs on ``127.0.0.1`` in a background thread. The
real ``openai`` client talks to it through ``base_url``, so tests exercise the
exact code path that runs against OpenAI, including the SDK's retries and
error mapping, with no network:

>>> import openai
>>> from dataquality_thresholds.testing import FakeOpenAIServer
>>> with FakeOpenAIServer() as server:
...     client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
...     reply = client.chat.completions.create(
...         model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
...     )
>>> reply.choices[0].message.content
'fake answer 0 from gpt-4o-mini'

Endpoints: files (multipart create, retrieve, content, list, delete),
fine-tuning jobs (create, retrieve, list with ``metadata[k]=v`` filters and
cursor pagination, cancel, events, checkpoints), chat completions (``n``,
``seed``, ``logprobs``/``top_logprobs``), batches and moderations.

It is scriptable: :meth:`FakeOpenAIServer.script_job` decides how the next job
moves (one status step per retrieve, so tests never sleep), and
:meth:`FakeOpenAIServer.add_fault` answers matching requests with an error
status (429 with ``Retry-After``, 500, 403 ...), added latency, or a connection
dropped *before* or *after* the server acted. Completions come from a
pluggable responder, e.g. ``LocalStubSampler.as_responder()``.

The server checks that a bearer token is present but never stores it.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import json
from collections.abc import Sequence
from typing import Any

from dataquality_thresholds.testing._fake_api import FakeApi
from dataquality_thresholds.testing._fake_state import (
    ApiError,
    JobScript,
    Responder,
    default_responder,
)
from dataquality_thresholds.testing._local_server import Fault, LocalAPIServer, RecordedRequest

__all__ = ["FakeOpenAIServer", "Fault", "JobScript", "RecordedRequest", "default_responder"]


def _kind(status: int) -> str:
    return {
        401: "invalid_request_error",
        403: "permission_denied",
        404: "invalid_request_error",
        429: "rate_limit_exceeded",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")


def _multipart(raw: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        out[str(name)] = (part.get_filename(), payload)
    return out


class FakeOpenAIServer(LocalAPIServer):
    """A stateful fake of the OpenAI API on ``127.0.0.1``; use it as a context manager.

    Parameters
    ----------
    responder : callable, optional
        ``responder(model, messages, *, n, temperature, seed, max_tokens) -> list[str]``
        answers chat completions (default: :func:`default_responder`).
    file_processing_polls : int
        Retrieves of an uploaded file before it is ``processed`` (0: at once).
    blocked_file_words : sequence of str
        A fine-tune file containing one of these ends in status ``error``, as
        if moderation blocked it.
    flagged_words : sequence of str
        Moderation flags inputs containing one of these.
    port : int
        0 picks a free port.

    Attributes
    ----------
    base_url : str
        ``http://127.0.0.1:<port>/v1``, for ``openai.OpenAI(base_url=...)``.
    requests : list of RecordedRequest
        Every request received, in order.
    """

    api_prefix = "/v1"

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        file_processing_polls: int = 1,
        blocked_file_words: Sequence[str] = (),
        flagged_words: Sequence[str] = (),
        port: int = 0,
    ) -> None:
        self.api = FakeApi(
            responder=responder,
            file_processing_polls=file_processing_polls,
            blocked_file_words=blocked_file_words,
            flagged_words=flagged_words,
        )
        super().__init__(port=port)

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"FakeOpenAIServer({state}, jobs={len(self.api.jobs)}, files={len(self.api.files)})"

    # ------------------------------------------------------------------ scripting
    def script_job(
        self,
        statuses: Sequence[str] = ("validating_files", "queued", "running", "succeeded"),
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        trained_tokens: int | None = None,
    ) -> None:
        """Decide how the next created job moves (see :class:`JobScript`); scripts queue up."""
        with self._lock:
            self.api.scripts.append(
                JobScript(
                    statuses=tuple(statuses),
                    error_code=error_code,
                    error_message=error_message,
                    trained_tokens=trained_tokens,
                )
            )

    def set_default_job_script(self, statuses: Sequence[str], **fields: Any) -> None:
        """Set how jobs without a queued script move."""
        with self._lock:
            self.api.default_script = JobScript(statuses=tuple(statuses), **fields)

    @property
    def responder(self) -> Responder:
        """The chat-completion responder (settable)."""
        return self.api.responder

    @responder.setter
    def responder(self, value: Responder) -> None:
        self.api.responder = value

    # ------------------------------------------------------------------ inspection
    @property
    def jobs(self) -> list[dict[str, Any]]:
        """Copies of all fine-tuning jobs, oldest first."""
        with self._lock:
            return [dict(j) for j in self.api.jobs.values()]

    @property
    def files(self) -> list[dict[str, Any]]:
        """Copies of all files, oldest first."""
        with self._lock:
            return [dict(f) for f in self.api.files.values()]

    def file_content(self, file_id: str) -> bytes:
        """Return the bytes of an uploaded file."""
        with self._lock:
            return self.api.file_bytes(file_id)

    # ------------------------------------------------------------------ internals
    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        headers: email.message.Message,
        fault: Fault | None,
    ) -> tuple[int, Any]:
        auth = headers.get("Authorization", "")
        try:
            if not auth.startswith("Bearer ") or not auth[7:].strip():
                raise ApiError(
                    401,
                    "You didn't provide an API key.",
                    code="invalid_api_key",
                    kind="invalid_request_error",
                )
            if fault is not None and fault.status is not None:
                raise ApiError(
                    fault.status, fault.message, code=fault.code, kind=_kind(fault.status)
                )
            with self._lock:
                return self._route(method, path, query, raw, headers.get("Content-Type", ""))
        except ApiError as exc:
            return exc.status, exc.body()

    def _extra_headers(self, path: str, status: int) -> list[tuple[str, str]]:
        # let the tests decide retries by status alone
        return [("x-request-id", "req_fake")] if status >= 400 else []

    def _route(
        self, method: str, path: str, query: dict[str, str], raw: bytes, content_type: str
    ) -> tuple[int, Any]:
        api = self.api
        segs = [s for s in path.split("/") if s]

        def body() -> dict[str, Any]:
            try:
                data = json.loads(raw or b"{}")
            except ValueError as exc:
                raise ApiError(400, f"invalid JSON body: {exc}") from None
            if not isinstance(data, dict):
                raise ApiError(400, "the JSON body must be an object")
            return data

        match method, segs:
            case "POST", ["files"]:
                parts = _multipart(raw, content_type)
                if "file" not in parts:
                    raise ApiError(400, "missing file", code="missing_required_parameter")
                filename, content = parts["file"]
                purpose = parts.get("purpose", (None, b""))[1].decode()
                return 200, api.create_file(filename or "upload.jsonl", content, purpose)
            case "GET", ["files"]:
                return 200, api.list_files(query)
            case "GET", ["files", fid]:
                return 200, api.retrieve_file(fid)
            case "GET", ["files", fid, "content"]:
                return 200, api.file_bytes(fid)
            case "DELETE", ["files", fid]:
                return 200, api.delete_file(fid)
            case "POST", ["fine_tuning", "jobs"]:
                return 200, api.create_job(body())
            case "GET", ["fine_tuning", "jobs"]:
                return 200, api.list_jobs(query)
            case "GET", ["fine_tuning", "jobs", jid]:
                return 200, api.retrieve_job(jid)
            case "POST", ["fine_tuning", "jobs", jid, "cancel"]:
                return 200, api.cancel_job(jid)
            case "GET", ["fine_tuning", "jobs", jid, "events"]:
                return 200, api.list_events(jid, query)
            case "GET", ["fine_tuning", "jobs", jid, "checkpoints"]:
                return 200, api.list_checkpoints(jid, query)
            case "POST", ["chat", "completions"]:
                return 200, api.chat(body())
            case "POST", ["moderations"]:
                return 200, api.moderate(body())
            case "POST", ["batches"]:
                return 200, api.create_batch(body())
            case "GET", ["batches"]:
                return 200, api.list_batches(query)
            case "GET", ["batches", bid]:
                return 200, api.retrieve_batch(bid)
            case "POST", ["batches", bid, "cancel"]:
                return 200, api.cancel_batch(bid)
        raise ApiError(404, f"Unknown endpoint {method} /v1{path}", code="unknown_url")
