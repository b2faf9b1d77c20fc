"""Shared state of the fake OpenAI API: the stores, ids, clock and error type.

:class:`ApiState` holds what every resource's routes read and write (files, jobs,
batches, the scripted job behaviour), plus the id, clock and lookup helpers; the
routes themselves are mixed in from :mod:`.files`, :mod:`.jobs` and :mod:`.chat`
to make :class:`~dataquality_thresholds.testing._fake_api.FakeApi`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from dataquality_thresholds._util.validators import str_tuple

__all__ = ["ApiError", "ApiState", "JobScript", "Responder", "default_responder"]

#: ``responder(model, messages, *, n, temperature, seed, max_tokens) -> list of n texts``.
#: An item may instead be ``{"text": ..., "top_logprobs": [[(token, logprob), ...], ...]}``
#: (one list per generated token) to script what ``logprobs=True`` returns.
Responder = Callable[..., list[str]]

_DEFAULT_STATUSES = ("validating_files", "queued", "running", "succeeded")


def default_responder(
    model: str,
    messages: list[dict[str, Any]],
    *,
    n: int = 1,
    temperature: float = 1.0,
    seed: int | None = None,
    max_tokens: int | None = None,
) -> list[str]:
    """Answer deterministically: ``"fake answer {i} from {model}"``."""
    return [f"fake answer {i} from {model}" for i in range(n)]


class ApiError(Exception):
    """An error response: HTTP status, OpenAI error code and message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.kind = kind

    def body(self) -> dict[str, Any]:
        """Return the OpenAI-style error body."""
        return {
            "error": {"message": self.message, "type": self.kind, "code": self.code, "param": None}
        }


@attrs.frozen(kw_only=True)
class JobScript:
    """How the next created fine-tuning job behaves.

    Each retrieve of the job moves it one step along ``statuses``; the last one
    sticks. When it reaches ``"failed"`` the job gets ``error``.

    Parameters
    ----------
    statuses : sequence of str
        OpenAI job statuses, e.g. ``("validating_files", "queued", "running", "failed")``.
    error_code, error_message : str, optional
        The error of a failed job.
    trained_tokens : int, optional
        Reported on success (default: words in the file x epochs).
    """

    statuses: tuple[str, ...] = attrs.field(default=_DEFAULT_STATUSES, converter=str_tuple)
    error_code: str | None = None
    error_message: str | None = None
    trained_tokens: int | None = None


def _page(
    items: list[dict[str, Any]], query: Mapping[str, str], default_limit: int = 20
) -> dict[str, Any]:
    after = query.get("after")
    if after is not None:
        ids = [it["id"] for it in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = int(query.get("limit", default_limit))
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "has_more": len(items) > limit,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


class ApiState:
    """In-memory stores shared by the routes, with id, clock and lookup helpers."""

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        file_processing_polls: int = 1,
        blocked_file_words: Sequence[str] = (),
        flagged_words: Sequence[str] = (),
    ) -> None:
        self.responder: Responder = responder or default_responder
        self.file_processing_polls = file_processing_polls
        self.blocked_file_words = tuple(blocked_file_words)
        self.flagged_words = tuple(flagged_words)
        self.files: dict[str, dict[str, Any]] = {}
        self.file_content: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.checkpoints: dict[str, list[dict[str, Any]]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.scripts: list[JobScript] = []
        self.default_script = JobScript()
        self._job_state: dict[str, dict[str, Any]] = {}
        self._file_polls: dict[str, int] = {}
        self._clock = 1_750_000_000
        self._counter = 0

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-fake{self._counter:06d}"

    def _file(self, file_id: str) -> dict[str, Any]:
        if file_id not in self.files:
            raise ApiError(404, f"No such File object: {file_id}", code="file_not_found")
        return self.files[file_id]

    def _job(self, job_id: str) -> dict[str, Any]:
        if job_id not in self.jobs:
            raise ApiError(
                404, f"Could not find fine tune job: {job_id}", code="fine_tune_not_found"
            )
        return self.jobs[job_id]

    def _event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        data: Any = None,
        kind: str = "message",
    ) -> None:
        self.events[job_id].append(
            {
                "id": self._new_id("ftevent"),
                "object": "fine_tuning.job.event",
                "created_at": self._tick(),
                "level": level,
                "message": message,
                "data": data,
                "type": kind,
            }
        )
