"""State and endpoint logic of the fake Together API (no HTTP here).

Each route takes parsed request parts and returns a JSON-able body, or raises
:class:`~._fake_state.ApiError`. The caller holds one lock around every call,
so scripted sequences are deterministic. Shapes follow Together's REST API
(``/files/upload``, ``/files``, ``/fine-tunes`` and its events, cancel and
price estimate): ISO 8601 timestamps, ``{"data": [...]}`` listings without
paging, ``total_price`` in nanodollars, failures reported through the job's
status and an error event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from dataquality_thresholds._util.validators import str_tuple
from dataquality_thresholds.testing._fake_state import ApiError

__all__ = ["TogetherJobScript", "TogetherState"]

_DEFAULT_STATUSES = ("pending", "queued", "running", "uploading", "completed")
_TERMINAL = ("completed", "error", "user_error", "cancelled")
_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


@attrs.frozen(kw_only=True)
class TogetherJobScript:
    """How the next created Together fine-tune moves.

    Each retrieve of the job moves it one step along ``statuses``; the last one
    sticks. A job that reaches ``"error"`` or ``"user_error"`` gets an error
    event with ``error_message``.

    Parameters
    ----------
    statuses : sequence of str
        Together statuses, e.g. ``("pending", "running", "user_error")``.
    error_message : str, optional
        The reason of a failed job.
    token_count : int, optional
        Tokens of one pass over the file, reported from ``running`` on
        (default: the file's words).
    usd_per_million : float
        Price used for ``total_price`` (``token_count x n_epochs x price``).
    report_price : bool
        Whether the job reports ``total_price`` at all.
    """

    statuses: tuple[str, ...] = attrs.field(default=_DEFAULT_STATUSES, converter=str_tuple)
    error_message: str | None = None
    token_count: int | None = None
    usd_per_million: float = 0.48
    report_price: bool = True


class TogetherState:
    """In-memory files and fine-tunes of a fake Together account."""

    def __init__(
        self,
        *,
        file_processing_polls: int = 1,
        blocked_file_words: Sequence[str] = (),
        credit_usd: float | None = None,
        account: str = "fake-account",
    ) -> None:
        self.file_processing_polls = file_processing_polls
        self.blocked_file_words = tuple(blocked_file_words)
        self.credit_usd = credit_usd
        self.account = account
        self.files: dict[str, dict[str, Any]] = {}
        self.file_content: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.scripts: list[TogetherJobScript] = []
        self.default_script = TogetherJobScript()
        self._steps: dict[str, tuple[int, TogetherJobScript]] = {}
        self._file_polls: dict[str, int] = {}
        self._seconds = 0
        self._counter = 0

    # ------------------------------------------------------------------ helpers
    def _now(self) -> str:
        self._seconds += 1
        return (_EPOCH + timedelta(seconds=self._seconds)).isoformat().replace("+00:00", "Z")

    def _id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter:08x}-fake"

    def _file(self, file_id: str) -> dict[str, Any]:
        if file_id not in self.files:
            raise ApiError(404, f"File {file_id} not found", code="file_not_found")
        return self.files[file_id]

    def _job(self, job_id: str) -> dict[str, Any]:
        if job_id not in self.jobs:
            raise ApiError(404, f"Fine-tune job {job_id} not found", code="not_found")
        return self.jobs[job_id]

    def _event(
        self, job_id: str, kind: str, message: str, level: str = "info", **extra: Any
    ) -> None:
        self.events[job_id].append(
            {
                "object": "fine-tune-event",
                "created_at": self._now(),
                "type": kind,
                "level": level,
                "message": message,
                **extra,
            }
        )

    def _words(self, file_id: str) -> int:
        return len(self.file_content.get(file_id, b"").split())

    # ------------------------------------------------------------------ files
    def upload(self, filename: str, content: bytes, purpose: str, file_type: str) -> dict[str, Any]:
        """POST /files/upload."""
        if purpose != "fine-tune" or not filename:
            raise ApiError(400, f"invalid purpose {purpose!r} or file name", code="invalid_request")
        file_id = self._id("file")
        obj = {
            "id": file_id,
            "object": "file",
            "created_at": self._seconds + 1_767_225_600,
            "filename": filename,
            "bytes": len(content),
            "purpose": purpose,
            "FileType": file_type or "jsonl",
            "LineCount": content.count(b"\n"),
            "processing_status": "PENDING",
            "Processed": False,
        }
        self._now()
        self.files[file_id] = obj
        self.file_content[file_id] = content
        self._file_polls[file_id] = 0
        if self.file_processing_polls <= 0:
            self._validate(obj)
        return dict(obj)

    def _validate(self, obj: dict[str, Any]) -> None:
        text = self.file_content[obj["id"]].decode("utf-8", "replace").lower()
        if any(w.lower() in text for w in self.blocked_file_words):
            obj["processing_status"] = "FAILED"
            obj["validation_report"] = {
                "valid": False,
                "error": "Training data rejected by the safety filter: it violates the "
                "acceptable use policy.",
            }
        else:
            obj["processing_status"] = "COMPLETED"
            obj["Processed"] = True
            obj["validation_report"] = {"valid": True, "nlines": obj["LineCount"]}

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        """GET /files/{id}: each call moves validation one step."""
        obj = self._file(file_id)
        if obj["processing_status"] == "PENDING":
            self._file_polls[file_id] += 1
            if self._file_polls[file_id] >= self.file_processing_polls:
                self._validate(obj)
        return dict(obj)

    def list_files(self) -> dict[str, Any]:
        """GET /files."""
        return {"object": "list", "data": [dict(f) for f in self.files.values()]}

    # ------------------------------------------------------------------ fine-tunes
    def create_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /fine-tunes."""
        model, file_id = body.get("model"), body.get("training_file")
        if not model or not file_id:
            raise ApiError(400, "model and training_file are required", code="invalid_request")
        f = self._file(str(file_id))
        if f["processing_status"] != "COMPLETED":
            raise ApiError(400, f"file {file_id} is not validated", code="invalid_request")
        suffix = body.get("suffix")
        if suffix is not None and len(str(suffix)) > 40:
            raise ApiError(400, "suffix must be at most 40 characters", code="invalid_request")
        script = self.scripts.pop(0) if self.scripts else self.default_script
        job_id = self._id("ft")
        now = self._now()
        job = {
            "id": job_id,
            "status": script.statuses[0],
            "model": model,
            "training_file": file_id,
            "suffix": suffix,
            "n_epochs": int(body.get("n_epochs", 1)),
            "batch_size": body.get("batch_size", "max"),
            "learning_rate": body.get("learning_rate"),
            "training_type": body.get("training_type") or {"type": "Lora", "lora_r": 8},
            "training_method": body.get("training_method") or {"method": "sft"},
            "random_seed": body.get("random_seed"),
            "created_at": now,
            "updated_at": now,
            "user_id": "user-fake",
            "model_output_name": None,
            "token_count": None,
            "total_price": None,
        }
        self.jobs[job_id] = job
        self.events[job_id] = []
        self._steps[job_id] = (0, script)
        self._event(job_id, "job_pending", f"Fine-tune request created: {job_id}")
        return dict(job)

    def _advance(self, job: dict[str, Any]) -> None:
        step, script = self._steps[job["id"]]
        if job["status"] in _TERMINAL:
            return
        step = min(step + 1, len(script.statuses) - 1)
        self._steps[job["id"]] = (step, script)
        new = script.statuses[step]
        if new == job["status"]:
            return
        job["status"] = new
        job["updated_at"] = self._now()
        jid = job["id"]
        if new == "running" and job["token_count"] is None:
            tokens = script.token_count or self._words(job["training_file"])
            job["token_count"] = tokens
            if script.report_price:
                usd = tokens * job["n_epochs"] * script.usd_per_million / 1e6
                job["total_price"] = round(usd * 1e9)
            self._event(jid, "training_start", "Training started", token_count=tokens)
            self._event(jid, "epoch_complete", "Epoch completed, step 1/1", step=1, total_steps=1)
        elif new == "completed":
            base = str(job["model"]).split("/")[-1]
            job["model_output_name"] = f"{self.account}/{base}:{job['suffix'] or ''}:{jid}"
            self._event(jid, "job_complete", "Fine-tuning job completed")
        elif new in ("error", "user_error"):
            message = script.error_message or "The fine-tuning job failed."
            self._event(jid, "job_error", message, level="error")
        else:
            kind = {"uploading": "model_uploading", "compressing": "model_compressing"}
            self._event(jid, kind.get(new, "job_start"), f"Job status: {new}")

    def retrieve_job(self, job_id: str) -> dict[str, Any]:
        """GET /fine-tunes/{id}: each call moves the job one scripted step."""
        job = self._job(job_id)
        self._advance(job)
        return dict(job)

    def list_jobs(self) -> dict[str, Any]:
        """GET /fine-tunes: every job, unpaged (oldest first, as the API lists them)."""
        return {"data": [dict(j) for j in self.jobs.values()]}

    def job_events(self, job_id: str) -> dict[str, Any]:
        """GET /fine-tunes/{id}/events."""
        self._job(job_id)
        return {"data": [dict(e) for e in self.events[job_id]]}

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """POST /fine-tunes/{id}/cancel: ``cancel_requested`` now, ``cancelled`` next poll."""
        job = self._job(job_id)
        if job["status"] in _TERMINAL:
            raise ApiError(400, f"job {job_id} is already {job['status']}", code="invalid_request")
        job["status"] = "cancel_requested"
        job["updated_at"] = self._now()
        self._steps[job_id] = (0, TogetherJobScript(statuses=("cancel_requested", "cancelled")))
        self._event(job_id, "cancel_requested", "Cancellation requested")
        return dict(job)

    def estimate_price(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /fine-tunes/estimate-price: words of the file x epochs at the next script's rate."""
        f = self._file(str(body.get("training_file")))
        if f["processing_status"] != "COMPLETED":
            return {"estimation_available": False, "unavailable_reason": "train_file_not_validated"}
        script = self.scripts[0] if self.scripts else self.default_script
        trained = self._words(f["id"]) * int(body.get("n_epochs", 1))
        usd = trained * script.usd_per_million / 1e6
        return {
            "estimation_available": True,
            "estimated_total_price": usd,
            "estimated_train_token_count": trained,
            "estimated_eval_token_count": 0,
            "allowed_to_proceed": self.credit_usd is None or usd <= self.credit_usd,
            "user_limit": self.credit_usd,
        }
