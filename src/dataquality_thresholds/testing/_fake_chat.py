"""Fake ``/chat/completions``, ``/moderations`` and ``/batches`` routes.

Batches run their requests through :meth:`ChatRoutes.chat` and write the results
as files, so these routes build on :class:`~.files.FileRoutes`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dataquality_thresholds.testing._fake_files import FileRoutes
from dataquality_thresholds.testing._fake_state import ApiError, _page

__all__ = ["ChatRoutes"]


class ChatRoutes(FileRoutes):
    """Chat completions from the responder, word-list moderation, and chat batches."""

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
