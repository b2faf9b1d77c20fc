"""Fake ``/files`` routes: upload, processing, listing, download and delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dataquality_thresholds.testing._fake_state import ApiError, ApiState, _page

__all__ = ["FileRoutes"]


class FileRoutes(ApiState):
    """``/files``: uploads pass from ``uploaded`` to ``processed`` (or ``error``) as polled."""

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
