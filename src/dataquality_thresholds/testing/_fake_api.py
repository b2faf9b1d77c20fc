"""The state and endpoint logic of the fake OpenAI API (no HTTP here).

Each endpoint takes parsed request parts and returns ``(status, body)`` where
``body`` is JSON-able or ``bytes``. Everything runs under one lock held by the
caller, so scripted sequences are deterministic.
"""

from __future__ import annotations

from dataquality_thresholds.testing._fake_chat import ChatRoutes
from dataquality_thresholds.testing._fake_jobs import JobRoutes

__all__ = ["FakeApi"]


class FakeApi(JobRoutes, ChatRoutes):
    """In-memory state of files, fine-tuning jobs and batches.

    The ``/files`` routes come through :class:`~._fake_chat.ChatRoutes`, which builds on
    :class:`~._fake_files.FileRoutes` because batches write their results as files.
    """
