"""FakeTogetherServer: a local HTTP server that speaks the parts of Together's API we use.

It is :class:`~dataquality_thresholds.testing.FakeOpenAIServer` with Together's
routes: the same handler, faults (error statuses with ``Retry-After``, added
latency, a connection dropped *before* or *after* the server acted), request
log and bearer-token check, and the same chat completions and responders (the
chat API is OpenAI-compatible); files, fine-tunes, events, cancel and the
price estimate come from :class:`~._together_state.TogetherState`.

>>> import openai
>>> from dataquality_thresholds.testing import FakeTogetherServer
>>> with FakeTogetherServer() as server:
...     client = openai.OpenAI(base_url=server.base_url, api_key="tg-test")
...     reply = client.chat.completions.create(
...         model="meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
...         messages=[{"role": "user", "content": "hi"}],
...     )
>>> reply.choices[0].message.content
'fake answer 0 from meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dataquality_thresholds.testing._fake_state import ApiError, Responder
from dataquality_thresholds.testing._server import FakeOpenAIServer, _multipart
from dataquality_thresholds.testing._together_state import TogetherJobScript, TogetherState

__all__ = ["FakeTogetherServer", "TogetherJobScript"]


class FakeTogetherServer(FakeOpenAIServer):
    """A stateful fake of Together's API on ``127.0.0.1``; use it as a context manager.

    Parameters
    ----------
    responder : callable, optional
        Answers chat completions, as for :class:`FakeOpenAIServer`.
    file_processing_polls : int
        Retrieves of an uploaded file before Together has validated it (0: at once).
    blocked_file_words : sequence of str
        A file containing one of these fails validation (``FAILED``, a safety refusal).
    credit_usd : float, optional
        The price estimate says ``allowed_to_proceed: false`` above this.
    port : int
        0 picks a free port.

    Attributes
    ----------
    base_url : str
        ``http://127.0.0.1:<port>/v1``, for ``TogetherBackend(base_url=...)``.
    together : TogetherState
        The account's files and jobs.
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        file_processing_polls: int = 1,
        blocked_file_words: Sequence[str] = (),
        credit_usd: float | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(responder=responder, port=port)
        self.together = TogetherState(
            file_processing_polls=file_processing_polls,
            blocked_file_words=blocked_file_words,
            credit_usd=credit_usd,
        )

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return (
            f"FakeTogetherServer({state}, jobs={len(self.together.jobs)}, "
            f"files={len(self.together.files)})"
        )

    # ------------------------------------------------------------------ scripting
    def script_job(
        self,
        statuses: Sequence[str] = ("pending", "queued", "running", "uploading", "completed"),
        **fields: Any,
    ) -> None:
        """Decide how the next created job moves (see :class:`TogetherJobScript`)."""
        with self._lock:
            self.together.scripts.append(TogetherJobScript(statuses=tuple(statuses), **fields))

    def set_default_job_script(self, statuses: Sequence[str], **fields: Any) -> None:
        """Set how jobs without a queued script move."""
        with self._lock:
            self.together.default_script = TogetherJobScript(statuses=tuple(statuses), **fields)

    # ------------------------------------------------------------------ inspection
    @property
    def jobs(self) -> list[dict[str, Any]]:
        """Copies of all fine-tunes, oldest first."""
        with self._lock:
            return [dict(j) for j in self.together.jobs.values()]

    @property
    def files(self) -> list[dict[str, Any]]:
        """Copies of all files, oldest first."""
        with self._lock:
            return [dict(f) for f in self.together.files.values()]

    def file_content(self, file_id: str) -> bytes:
        """Return the bytes of an uploaded file."""
        with self._lock:
            self.together._file(file_id)
            return self.together.file_content[file_id]

    # ------------------------------------------------------------------ internals
    def _route(
        self, method: str, path: str, query: dict[str, str], raw: bytes, content_type: str
    ) -> tuple[int, Any]:
        api = self.together
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
            case "POST", ["files", "upload"]:
                parts = _multipart(raw, content_type)
                if "file" not in parts:
                    raise ApiError(400, "missing file", code="invalid_request")

                def text(name: str) -> str:
                    return parts.get(name, (None, b""))[1].decode()

                filename = text("file_name") or parts["file"][0] or ""
                return 200, api.upload(
                    filename, parts["file"][1], text("purpose"), text("file_type")
                )
            case "GET", ["files"]:
                return 200, api.list_files()
            case "GET", ["files", fid]:
                return 200, api.retrieve_file(fid)
            case "POST", ["fine-tunes"]:
                return 200, api.create_job(body())
            case "GET", ["fine-tunes"]:
                return 200, api.list_jobs()
            case "POST", ["fine-tunes", "estimate-price"]:
                return 200, api.estimate_price(body())
            case "GET", ["fine-tunes", jid]:
                return 200, api.retrieve_job(jid)
            case "GET", ["fine-tunes", jid, "events"]:
                return 200, api.job_events(jid)
            case "POST", ["fine-tunes", jid, "cancel"]:
                return 200, api.cancel_job(jid)
            case "POST", ["chat", "completions"]:
                return super()._route(method, path, query, raw, content_type)
        raise ApiError(404, f"Unknown endpoint {method} /v1{path}", code="not_found")
