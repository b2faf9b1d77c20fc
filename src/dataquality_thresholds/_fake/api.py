"""The state and endpoint logic of the fake OpenAI API (no HTTP here).

Each endpoint takes parsed request parts and returns ``(status, body)`` where
``body`` is JSON-able or ``bytes``. Everything runs under one lock held by the
caller, so scripted sequences are deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["ApiError", "FakeApi", "JobScript", "Responder", "default_responder"]

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


def _str_tuple(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


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

    statuses: tuple[str, ...] = attrs.field(default=_DEFAULT_STATUSES, converter=_str_tuple)
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


class FakeApi:
    """In-memory state of files, fine-tuning jobs and batches."""

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

    # ------------------------------------------------------------------ helpers
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

    # ------------------------------------------------------------------ files
    def create_file(self, filename: str, content: bytes, purpose: str) -> dict[str, Any]:
        """POST /files."""
        if purpose not in ("fine-tune", "batch", "assistants", "vision", "user_data", "evals"):
            raise ApiError(400, f"invalid purpose {purpose!r}", code="invalid_purpose")
        file_id = self._new_id("file")
        obj = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": self._tick(),
            "filename": filename,
            "purpose": purpose,
            "status": "uploaded" if self.file_processing_polls > 0 else "processed",
            "status_details": None,
        }
        self.files[file_id] = obj
        self.file_content[file_id] = content
        self._file_polls[file_id] = 0
        if self.file_processing_polls <= 0:
            self._finish_file(obj)
        return dict(obj)

    def _finish_file(self, obj: dict[str, Any]) -> None:
        text = self.file_content[obj["id"]].decode("utf-8", "replace").lower()
        blocked = [w for w in self.blocked_file_words if w.lower() in text]
        if blocked and obj["purpose"] == "fine-tune":
            obj["status"] = "error"
            obj["status_details"] = (
                "Training file was blocked by the moderation system: it contains content "
                "that violates the usage policies."
            )
        else:
            obj["status"] = "processed"

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        """GET /files/{id}: each call moves processing one step."""
        obj = self._file(file_id)
        if obj["status"] == "uploaded":
            self._file_polls[file_id] += 1
            if self._file_polls[file_id] >= self.file_processing_polls:
                self._finish_file(obj)
        return dict(obj)

    def list_files(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /files."""
        items = [
            dict(f) for f in self.files.values() if query.get("purpose") in (None, f["purpose"])
        ]
        items.sort(key=lambda f: f["created_at"], reverse=query.get("order", "desc") == "desc")
        return _page(items, query, default_limit=10_000)

    def delete_file(self, file_id: str) -> dict[str, Any]:
        """DELETE /files/{id}."""
        self._file(file_id)
        del self.files[file_id]
        del self.file_content[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def file_bytes(self, file_id: str) -> bytes:
        """GET /files/{id}/content."""
        self._file(file_id)
        return self.file_content[file_id]

    # ------------------------------------------------------------------ jobs
    def create_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /fine_tuning/jobs."""
        model = body.get("model")
        training_file = body.get("training_file")
        if not model or not training_file:
            raise ApiError(
                400, "model and training_file are required", code="missing_required_parameter"
            )
        f = self._file(str(training_file))
        if f["purpose"] != "fine-tune":
            raise ApiError(
                400,
                f"File {training_file} has purpose {f['purpose']!r}",
                code="invalid_file_purpose",
            )
        if f["status"] != "processed":
            raise ApiError(
                400,
                f"File {training_file} is not ready (status {f['status']})",
                code="file_not_ready",
            )
        metadata = body.get("metadata") or {}
        if len(metadata) > 16 or any(len(k) > 64 or len(str(v)) > 512 for k, v in metadata.items()):
            raise ApiError(
                400,
                "metadata: at most 16 keys of <= 64 chars, values <= 512 chars",
                code="invalid_metadata",
            )
        method = body.get("method") or {
            "type": "supervised",
            "supervised": {"hyperparameters": body.get("hyperparameters") or {}},
        }
        hp = dict((method.get("supervised") or {}).get("hyperparameters") or {})
        for name in ("n_epochs", "batch_size", "learning_rate_multiplier"):
            hp.setdefault(name, "auto")
        script = self.scripts.pop(0) if self.scripts else self.default_script
        job_id = self._new_id("ftjob")
        job = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": self._tick(),
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": hp,
            "model": model,
            "organization_id": "org-fake",
            "result_files": [],
            "seed": int(body.get("seed") or 42),
            "status": script.statuses[0],
            "trained_tokens": None,
            "training_file": training_file,
            "validation_file": body.get("validation_file"),
            "estimated_finish": None,
            "integrations": [],
            "metadata": dict(metadata) or None,
            "method": {"type": "supervised", "supervised": {"hyperparameters": hp}},
            "user_provided_suffix": body.get("suffix"),
        }
        self.jobs[job_id] = job
        self.events[job_id] = []
        self.checkpoints[job_id] = []
        self._job_state[job_id] = {"step": 0, "script": script}
        self._event(job_id, f"Created fine-tuning job: {job_id}")
        return dict(job)

    def _advance(self, job: dict[str, Any]) -> None:
        state = self._job_state[job["id"]]
        script: JobScript = state["script"]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        state["step"] = min(state["step"] + 1, len(script.statuses) - 1)
        new = script.statuses[state["step"]]
        if new == job["status"]:
            return
        job["status"] = new
        jid = job["id"]
        if new == "running":
            self._event(jid, "Fine-tuning job started")
            self._event(
                jid,
                "Step 1/10: training loss=1.23",
                data={"step": 1, "train_loss": 1.23},
                kind="metrics",
            )
        elif new == "succeeded":
            job["finished_at"] = self._tick()
            suffix = job.get("user_provided_suffix") or ""
            job["fine_tuned_model"] = f"ft:{job['model']}:fake-org:{suffix}:{jid.split('-')[-1]}"
            job["trained_tokens"] = (
                script.trained_tokens
                if script.trained_tokens is not None
                else self._trained_tokens(job)
            )
            self.checkpoints[jid].append(
                {
                    "id": self._new_id("ftckpt"),
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": self._tick(),
                    "fine_tuned_model_checkpoint": job["fine_tuned_model"] + ":ckpt-step-10",
                    "fine_tuning_job_id": jid,
                    "metrics": {"step": 10.0, "train_loss": 0.42, "train_mean_token_accuracy": 0.9},
                    "step_number": 10,
                }
            )
            self._event(jid, "The job has successfully completed")
        elif new == "failed":
            job["finished_at"] = self._tick()
            job["error"] = {
                "code": script.error_code or "server_error",
                "message": script.error_message or "The job failed.",
                "param": None,
            }
            self._event(jid, f"Fine-tuning job failed: {job['error']['message']}", level="error")
        else:
            self._event(jid, f"Job status: {new}")

    def _trained_tokens(self, job: dict[str, Any]) -> int:
        from ..backends.pricing import default_epochs

        content = self.file_content.get(job["training_file"], b"")
        words = len(content.split())
        rows = max(1, content.count(b"\n"))
        epochs = job["hyperparameters"].get("n_epochs")
        epochs = default_epochs(rows) if epochs in (None, "auto") else int(epochs)
        return words * epochs

    def retrieve_job(self, job_id: str) -> dict[str, Any]:
        """GET /fine_tuning/jobs/{id}: each call moves the job one scripted step."""
        job = self._job(job_id)
        self._advance(job)
        return dict(job)

    def list_jobs(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /fine_tuning/jobs, newest first, with ``metadata[k]=v`` filters."""
        filters = {
            m.group(1): v for k, v in query.items() if (m := re.fullmatch(r"metadata\[(.+)\]", k))
        }
        items = [
            dict(j)
            for j in sorted(self.jobs.values(), key=lambda j: j["created_at"], reverse=True)
            if all((j.get("metadata") or {}).get(k) == v for k, v in filters.items())
        ]
        return _page(items, query)

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """POST /fine_tuning/jobs/{id}/cancel."""
        job = self._job(job_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            raise ApiError(
                400,
                f"Job {job_id} has already completed (status {job['status']})",
                code="invalid_job_status",
            )
        job["status"] = "cancelled"
        job["finished_at"] = self._tick()
        self._event(job_id, "Fine-tuning job cancelled")
        return dict(job)

    def list_events(self, job_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /fine_tuning/jobs/{id}/events, newest first."""
        self._job(job_id)
        return _page(list(reversed(self.events[job_id])), query)

    def list_checkpoints(self, job_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /fine_tuning/jobs/{id}/checkpoints, newest first."""
        self._job(job_id)
        return _page(list(reversed(self.checkpoints[job_id])), query, default_limit=10)

    # ------------------------------------------------------------------ chat, moderation, batches
    def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /chat/completions."""
        model = body.get("model")
        messages = body.get("messages")
        if not model or not isinstance(messages, list) or not messages:
            raise ApiError(
                400, "model and messages are required", code="missing_required_parameter"
            )
        if model.startswith("ft:") and not any(
            j.get("fine_tuned_model") == model for j in self.jobs.values()
        ):
            # a stub model name works too: the responder decides what it knows
            pass
        n = int(body.get("n") or 1)
        texts: list[Any] = list(
            self.responder(
                model,
                messages,
                n=n,
                temperature=float(body.get("temperature", 1.0)),
                seed=body.get("seed"),
                max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"),
            )
        )
        want_logprobs = bool(body.get("logprobs"))
        top = int(body.get("top_logprobs") or 0)
        choices = []
        scripted: list[Any] = [None] * len(texts)
        for i, item in enumerate(texts):
            # a scripted item: {"text": ..., "top_logprobs": [[(tok, lp), ...], ...]}
            if isinstance(item, Mapping):
                scripted[i] = item.get("top_logprobs")
                texts[i] = str(item.get("text", ""))
        for i, text in enumerate(texts):
            logprobs = None
            if want_logprobs and scripted[i] is not None:
                logprobs = {
                    "content": [
                        {
                            "token": str(pos[0][0]) if pos else "",
                            "logprob": float(pos[0][1]) if pos else 0.0,
                            "bytes": None,
                            "top_logprobs": [
                                {"token": str(t), "logprob": float(lp), "bytes": None}
                                for t, lp in pos
                            ][:top],
                        }
                        for pos in scripted[i]
                    ],
                    "refusal": None,
                }
            elif want_logprobs:
                toks = text.split(" ") if text else []
                logprobs = {
                    "content": [
                        {
                            "token": t,
                            "logprob": 0.0,
                            "bytes": list(t.encode("utf-8")),
                            "top_logprobs": [
                                {"token": t, "logprob": 0.0, "bytes": list(t.encode("utf-8"))}
                            ][:top],
                        }
                        for t in toks
                    ],
                    "refusal": None,
                }
            choices.append(
                {
                    "index": i,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": logprobs,
                }
            )
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_tokens = sum(len(t.split()) for t in texts)
        return {
            "id": self._new_id("chatcmpl"),
            "object": "chat.completion",
            "created": self._tick(),
            "model": model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_fake",
        }

    def moderate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /moderations: flags inputs containing a configured word."""
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        results = []
        for t in texts:
            hit = any(w.lower() in str(t).lower() for w in self.flagged_words)
            results.append(
                {
                    "flagged": hit,
                    "categories": {"violence": hit},
                    "category_scores": {"violence": 0.99 if hit else 0.0},
                }
            )
        return {
            "id": self._new_id("modr"),
            "model": body.get("model") or "omni-moderation-latest",
            "results": results,
        }

    def create_batch(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /batches."""
        f = self._file(str(body.get("input_file_id")))
        if f["purpose"] != "batch":
            raise ApiError(400, "input file must have purpose 'batch'", code="invalid_file_purpose")
        batch_id = self._new_id("batch")
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body.get("endpoint"),
            "input_file_id": f["id"],
            "completion_window": body.get("completion_window", "24h"),
            "status": "validating",
            "created_at": self._tick(),
            "output_file_id": None,
            "error_file_id": None,
            "metadata": body.get("metadata"),
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }
        self.batches[batch_id] = batch
        return dict(batch)

    def retrieve_batch(self, batch_id: str) -> dict[str, Any]:
        """GET /batches/{id}: validating -> in_progress -> completed, one step per call."""
        if batch_id not in self.batches:
            raise ApiError(404, f"No batch {batch_id}", code="batch_not_found")
        batch = self.batches[batch_id]
        if batch["status"] == "validating":
            batch["status"] = "in_progress"
        elif batch["status"] == "in_progress":
            self._run_batch(batch)
        return dict(batch)

    def _run_batch(self, batch: dict[str, Any]) -> None:
        lines = self.file_content[batch["input_file_id"]].decode("utf-8").splitlines()
        out = []
        for line in lines:
            if not line.strip():
                continue
            req = json.loads(line)
            try:
                body = self.chat(req["body"])
                out.append(
                    {
                        "id": self._new_id("batch_req"),
                        "custom_id": req.get("custom_id"),
                        "response": {
                            "status_code": 200,
                            "request_id": self._new_id("req"),
                            "body": body,
                        },
                        "error": None,
                    }
                )
            except ApiError as exc:
                out.append(
                    {
                        "id": self._new_id("batch_req"),
                        "custom_id": req.get("custom_id"),
                        "response": {
                            "status_code": exc.status,
                            "request_id": self._new_id("req"),
                            "body": exc.body(),
                        },
                        "error": None,
                    }
                )
        # as the real API does: successes in the output file, failures in the error file
        for name, rows in (
            ("output", [o for o in out if o["response"]["status_code"] == 200]),
            ("error", [o for o in out if o["response"]["status_code"] != 200]),
        ):
            if not rows:
                continue
            content = "".join(json.dumps(o, sort_keys=True) + "\n" for o in rows).encode("utf-8")
            f = self.create_file(f"{batch['id']}_{name}.jsonl", content, "batch")
            self.files[f["id"]]["purpose"] = "batch_output"
            self.files[f["id"]]["status"] = "processed"
            batch[f"{name}_file_id"] = f["id"]
        batch["status"] = "completed"
        batch["completed_at"] = self._tick()
        batch["request_counts"] = {
            "total": len(out),
            "completed": sum(o["response"]["status_code"] == 200 for o in out),
            "failed": sum(o["response"]["status_code"] != 200 for o in out),
        }

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        """POST /batches/{id}/cancel."""
        if batch_id not in self.batches:
            raise ApiError(404, f"No batch {batch_id}", code="batch_not_found")
        batch = self.batches[batch_id]
        if batch["status"] in ("validating", "in_progress"):
            batch["status"] = "cancelled"
        return dict(batch)

    def list_batches(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /batches, newest first."""
        items = [
            dict(b)
            for b in sorted(self.batches.values(), key=lambda b: b["created_at"], reverse=True)
        ]
        return _page(items, query)
