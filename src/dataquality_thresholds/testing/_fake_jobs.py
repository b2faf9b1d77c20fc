"""Fake ``/fine_tuning/jobs`` routes: create, scripted progress, list, cancel, events."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dataquality_thresholds.testing._fake_state import ApiError, ApiState, JobScript, _page

__all__ = ["JobRoutes"]


class JobRoutes(ApiState):
    """``/fine_tuning/jobs``: each retrieve moves a job one step along its :class:`JobScript`."""

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
        from dataquality_thresholds.backends import default_epochs

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
