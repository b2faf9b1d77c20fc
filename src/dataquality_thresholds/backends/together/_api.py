"""The calls the Together backend makes, over an ``openai.OpenAI`` client pointed at Together.

Together's REST API is OpenAI-shaped (bearer key, JSON bodies, ``{"error": {...}}``
answers), so the library's existing ``openai`` dependency speaks it through the
client's generic ``get``/``post``: same authentication, timeouts, connection pool
and exception classes as everywhere else, and no second SDK. Bodies come back as
plain decoded JSON.

The two calls that cost money or leave something behind, the upload and the job
creation, go through :attr:`TogetherApi.once` (the client with its retries off):
the ``openai`` client, like the ``together`` SDK, sends no idempotency key, so its
automatic retry of a POST that timed out could create a second file or a second
paid job. The backend looks before it tries again instead.

:func:`translate` maps ``openai`` exceptions to the library's errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import openai

from dataquality_thresholds.errors import BackendError, BackendUnavailableError

__all__ = ["TogetherApi", "is_unknown_outcome", "retry_after", "translate"]


def _decode(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise BackendError(f"{what}: Together answered with something that is not JSON") from exc


def _rows(data: Any) -> list[dict[str, Any]]:
    """Return the rows of a listing: ``{"data": [...]}`` or a bare list."""
    if isinstance(data, Mapping):
        data = data.get("data")
    return [dict(r) for r in data or () if isinstance(r, Mapping)]


def is_unknown_outcome(exc: Exception) -> bool:
    """Whether a failed call may have acted anyway: no answer, a timeout, or a 5xx."""
    return isinstance(exc, openai.APIConnectionError | openai.InternalServerError)


def retry_after(exc: Exception) -> float | None:
    """Return the ``Retry-After`` header of an error answer, in seconds (None when absent)."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    raw = exc.response.headers.get("retry-after")
    try:
        return None if raw is None else max(0.0, float(raw))
    except ValueError:
        return None


def translate(exc: Exception, what: str) -> BackendError:
    """Map an ``openai`` exception raised while talking to Together to one of ours.

    401, 403, no connection, 429 and 5xx are :class:`BackendUnavailableError`
    (Together cannot be used now); 402 (no credit) and anything else a
    :class:`BackendError`.
    """
    if isinstance(exc, openai.AuthenticationError):
        return BackendUnavailableError(
            f"{what}: Together rejected the API key (401). Check TOGETHER_API_KEY."
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return BackendUnavailableError(f"{what}: permission denied (403): {exc.message}")
    if isinstance(exc, openai.APIConnectionError):
        return BackendUnavailableError(f"{what}: cannot reach Together ({type(exc).__name__})")
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
        return BackendUnavailableError(f"{what}: HTTP {exc.status_code}: {exc.message}")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 402:
            return BackendError(
                f"{what}: Together says the account has no credit left (402): {exc.message}. "
                "Add credit, then submit again with the same key."
            )
        return BackendError(f"{what}: HTTP {exc.status_code} ({exc.code}): {exc.message}")
    return BackendError(f"{what}: {type(exc).__name__}: {exc}")


class TogetherApi:
    """The REST calls of the backend; each returns decoded JSON and raises ``openai`` errors.

    Parameters
    ----------
    client : openai.OpenAI
        A client whose ``base_url`` is Together's (``https://api.together.xyz/v1``).
    """

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client

    @property
    def once(self) -> openai.OpenAI:
        """The client with its automatic retries off, for calls that must not repeat blindly."""
        return self.client.with_options(max_retries=0)

    def _get(self, path: str, *, query: Mapping[str, Any] | None = None) -> Any:
        options: Any = {"params": dict(query)} if query else {}
        return _decode(self.client.get(path, cast_to=bytes, options=options), f"GET {path}")

    # ------------------------------------------------------------------ files
    def list_files(self) -> list[dict[str, Any]]:
        """``GET /files``: every file of the account."""
        return _rows(self._get("/files"))

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        """``GET /files/{id}``."""
        return dict(self._get(f"/files/{file_id}"))

    def upload_file(self, filename: str, content: bytes) -> dict[str, Any]:
        """``POST /files/upload`` (multipart: purpose, file_name, file_type, file), once.

        The single-request upload of Together's API reference; the ``together``
        SDK uploads the same file through a presigned URL instead.
        """
        raw = self.once.post(
            "/files/upload",
            cast_to=bytes,
            body={"purpose": "fine-tune", "file_name": filename, "file_type": "jsonl"},
            files=[("file", (filename, content, "application/jsonl"))],
            options={"headers": {"Content-Type": "multipart/form-data"}},
        )
        return dict(_decode(raw, "POST /files/upload"))

    # ------------------------------------------------------------------ fine-tunes
    def list_jobs(self) -> list[dict[str, Any]]:
        """``GET /fine-tunes``: every job of the account (the API does not page it)."""
        return _rows(self._get("/fine-tunes"))

    def retrieve_job(self, job_id: str) -> dict[str, Any]:
        """``GET /fine-tunes/{id}``."""
        return dict(self._get(f"/fine-tunes/{job_id}"))

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        """``GET /fine-tunes/{id}/events``."""
        return _rows(self._get(f"/fine-tunes/{job_id}/events"))

    def create_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /fine-tunes``, once (retries off)."""
        raw = self.once.post("/fine-tunes", cast_to=bytes, body=dict(body))
        return dict(_decode(raw, "POST /fine-tunes"))

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """``POST /fine-tunes/{id}/cancel``."""
        raw = self.client.post(f"/fine-tunes/{job_id}/cancel", cast_to=bytes)
        return dict(_decode(raw, "POST /fine-tunes/{id}/cancel"))

    def estimate_price(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /fine-tunes/estimate-price`` (creates nothing; safe to repeat)."""
        raw = self.client.post("/fine-tunes/estimate-price", cast_to=bytes, body=dict(body))
        return dict(_decode(raw, "POST /fine-tunes/estimate-price"))
