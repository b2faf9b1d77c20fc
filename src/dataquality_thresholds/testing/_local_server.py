"""LocalAPIServer: what every fake server of :mod:`dataquality_thresholds.testing` shares.

A fake is an HTTP server on ``127.0.0.1`` in a background thread: it starts and stops
(also as a context manager), tells its ``base_url``, logs every request as a
:class:`RecordedRequest` and answers matching requests with a scripted :class:`Fault`
(an error status with ``Retry-After``, added latency, or a connection dropped *before*
or *after* the server acted). A subclass says what a request means: how it checks the
caller's key and what it answers (:meth:`LocalAPIServer._answer`), plus a few class
attributes (the path prefix, the content type of binary answers) and extra headers.
"""

from __future__ import annotations

import email.message
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, urlsplit

import attrs

__all__ = ["Fault", "LocalAPIServer", "RecordedRequest"]

_S = TypeVar("_S", bound="LocalAPIServer")


@attrs.define(kw_only=True)
class Fault:
    """A scripted misbehaviour for requests that match ``method`` and ``path``.

    Parameters
    ----------
    method : str
        HTTP method (``"POST"``) or ``"*"``.
    path : str
        Regular expression matched against the path as the server logs it, without
        its ``api_prefix`` (``/v1`` for the OpenAI-compatible fakes, so e.g.
        ``r"/fine_tuning/jobs"``); it must match the whole path.
    status : int, optional
        Answer with this HTTP status and the service's error body.
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
    """A request the server received (method, path without ``api_prefix``, query)."""

    method: str
    path: str
    query: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # http.server sends headers and body in two writes; without this every
    # request waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read the fake's ``requests`` instead."""

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        path = parts.path
        prefix = fake.api_prefix
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fault = fake._take_fault(method, path, query)
        if fault is not None and fault.drop == "before":
            self.close_connection = True
            return
        status, body = fake._answer(method, path, query, raw, self.headers, fault)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.drop == "after":
            self.close_connection = True
            return
        binary = isinstance(body, bytes)
        payload = body if binary else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", fake.binary_type if binary else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if fault is not None and fault.retry_after is not None:
            self.send_header("Retry-After", f"{fault.retry_after:g}")
        for name, value in fake._extra_headers(path, status):
            self.send_header(name, value)  # "Connection: close" also closes it
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


class _PutHandler(_Handler):
    def do_PUT(self) -> None:
        """Handle PUT."""
        self._dispatch("PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a client opening dozens of
    # connections at once would see resets, not a slow server
    request_queue_size = 256
    fake: LocalAPIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away (a killed process is a fault we script)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


class LocalAPIServer:
    """A fake service on ``127.0.0.1``: lifecycle, request log and faults; a base class.

    Subclasses implement :meth:`_answer` and may set :attr:`api_prefix`,
    :attr:`binary_type` and :attr:`accepts_put`, and override :meth:`_extra_headers`.

    Parameters
    ----------
    port : int
        0 picks a free port.

    Attributes
    ----------
    requests : list of RecordedRequest
        Every request received, in order.
    faults : list of Fault
        The scripted faults (see :meth:`add_fault`).
    """

    #: Stripped from request paths before routing and fault matching, and ends ``base_url``.
    api_prefix: ClassVar[str] = ""
    #: The ``Content-Type`` of an answer whose body is ``bytes``.
    binary_type: ClassVar[str] = "application/octet-stream"
    #: Whether PUT requests are handled (else http.server answers 501).
    accepts_put: ClassVar[bool] = False

    def __init__(self, *, port: int = 0) -> None:
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.RLock()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self: _S) -> _S:
        """Start serving in a background thread; return self."""
        if self._server is not None:
            return self
        handler = _PutHandler if self.accepts_put else _Handler
        server = _Server(("127.0.0.1", self._port), handler)
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

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The URL to give the client (``http://127.0.0.1:<port>`` and :attr:`api_prefix`)."""
        if self._server is None:
            raise RuntimeError(
                "the server is not running; use it as a context manager or call start()"
            )
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.api_prefix}"

    # ------------------------------------------------------------------ faults
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

    # ------------------------------------------------------------------ inspection
    def count(self, method: str, path: str) -> int:
        """Count requests with ``method`` whose path fully matches ``path``."""
        with self._lock:
            return sum(
                1 for r in self.requests if r.method == method and re.fullmatch(path, r.path)
            )

    # ------------------------------------------------------------------ for subclasses
    def _take_fault(self, method: str, path: str, query: dict[str, str]) -> Fault | None:
        """Log the request; return the first fault that matches it (counting the hit)."""
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query))
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        headers: email.message.Message,
        fault: Fault | None,
    ) -> tuple[int, Any]:
        """Return ``(status, body)`` for a request (``body``: JSON-able, or ``bytes``).

        It checks the caller's key, answers ``fault.status`` when the fault has one,
        and otherwise routes the request under the lock.
        """
        raise NotImplementedError

    def _extra_headers(self, path: str, status: int) -> list[tuple[str, str]]:
        """Headers sent after ``Retry-After`` (none by default)."""
        return []
