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

import email.parser
import email.policy
import json
import re
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from dataquality_thresholds.testing._fake_api import FakeApi
from dataquality_thresholds.testing._fake_state import (
    ApiError,
    JobScript,
    Responder,
    default_responder,
)

__all__ = ["FakeOpenAIServer", "Fault", "JobScript", "RecordedRequest", "default_responder"]


@attrs.define(kw_only=True)
class Fault:
    """A scripted misbehaviour for requests that match ``method`` and ``path``.

    Parameters
    ----------
    method : str
        HTTP method (``"POST"``) or ``"*"``.
    path : str
        Regular expression matched against the path without ``/v1`` (e.g.
        ``r"/fine_tuning/jobs"``); it must match the whole path.
    status : int, optional
        Answer with this HTTP status and an OpenAI error body.
    code : str, optional
        The error body's ``code`` (e.g. ``"daily_rate_limit_exceeded"``).
    message : str
        The error body's message.
    retry_after : float, optional
        Send a ``Retry-After`` header (seconds).
    drop : {"before", "after"}, optional
        Close the connection without answering, before or after the server
        acted on the request ("after" is the case that makes a client retry
        something that already happened).
    delay : float
        Seconds to wait before answering (after acting).
    times : int
        How many matching requests the fault applies to.
    """

    method: str = "*"
    path: str = ".*"
    status: int | None = None
    code: str | None = None
    message: str = "scripted error"
    retry_after: float | None = None
    drop: str | None = attrs.field(
        default=None, validator=attrs.validators.in_((None, "before", "after"))
    )
    delay: float = 0.0
    times: int = 1
    hits: int = attrs.field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request (and has uses left)."""
        return (
            self.hits < self.times
            and self.method in ("*", method)
            and re.fullmatch(self.path, path) is not None
        )


@attrs.frozen
class RecordedRequest:
    """A request the server received (method, path without ``/v1``, query)."""

    method: str
    path: str
    query: dict[str, str]


class _Drop(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # http.server sends headers and body in two writes; without this every
    # request waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read :attr:`FakeOpenAIServer.requests` instead."""

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        path = parts.path[3:] if parts.path.startswith("/v1/") else parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fault = fake._take_fault(method, path, query)
        if fault is not None and fault.drop == "before":
            self.close_connection = True
            return
        auth = self.headers.get("Authorization", "")
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
            with fake._lock:
                status, body = fake._route(
                    method, path, query, raw, self.headers.get("Content-Type", "")
                )
        except ApiError as exc:
            status, body = exc.status, exc.body()
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.drop == "after":
            self.close_connection = True
            return
        payload = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header(
            "Content-Type",
            "application/octet-stream" if isinstance(body, bytes) else "application/json",
        )
        self.send_header("Content-Length", str(len(payload)))
        if fault is not None and fault.retry_after is not None:
            self.send_header("Retry-After", f"{fault.retry_after:g}")
        if status >= 400:
            # let the tests decide retries by status alone
            self.send_header("x-request-id", "req_fake")
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._dispatch("DELETE")


def _kind(status: int) -> str:
    return {
        401: "invalid_request_error",
        403: "permission_denied",
        404: "invalid_request_error",
        429: "rate_limit_exceeded",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a client opening dozens of
    # connections at once would see resets, not a slow server
    request_queue_size = 256
    fake: FakeOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away (a killed process is a fault we script)."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


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


class FakeOpenAIServer:
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
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.RLock()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeOpenAIServer:
        """Start serving in a background thread; return self."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"FakeOpenAIServer({state}, jobs={len(self.api.jobs)}, files={len(self.api.files)})"

    @property
    def base_url(self) -> str:
        """The URL to give the ``openai`` client."""
        if self._server is None:
            raise RuntimeError(
                "the server is not running; use it as a context manager or call start()"
            )
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    # ------------------------------------------------------------------ scripting
    def add_fault(self, **fields: Any) -> Fault:
        """Add a :class:`Fault` (same keyword arguments) and return it."""
        fault = Fault(**fields)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove all faults."""
        with self._lock:
            self.faults.clear()

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

    def count(self, method: str, path: str) -> int:
        """Count requests with ``method`` whose path fully matches ``path``."""
        with self._lock:
            return sum(
                1 for r in self.requests if r.method == method and re.fullmatch(path, r.path)
            )

    # ------------------------------------------------------------------ internals
    def _take_fault(self, method: str, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query))
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

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
