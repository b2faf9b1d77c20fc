"""The state and endpoint logic of the fake OpenAI API (no HTTP here).

Each endpoint takes parsed request parts and returns ``(status, body)`` where
``body`` is JSON-able or ``bytes``. Everything runs under one lock held by the
caller, so scripted sequences are deterministic.
"""

from __future__ import annotations

# The routes live in one module per resource (.files, .jobs, .chat) over the shared
# stores of .state; the names that were defined here before the split stay
# importable from here.
from .chat import ChatRoutes
from .jobs import JobRoutes
from .state import _DEFAULT_STATUSES as _DEFAULT_STATUSES
from .state import ApiError as ApiError
from .state import JobScript as JobScript
from .state import Responder as Responder
from .state import _page as _page
from .state import _str_tuple as _str_tuple
from .state import default_responder as default_responder

__all__ = ["ApiError", "FakeApi", "JobScript", "Responder", "default_responder"]


class FakeApi(JobRoutes, ChatRoutes):
    """In-memory state of files, fine-tuning jobs and batches.

    The ``/files`` routes come through :class:`~.chat.ChatRoutes`, which builds on
    :class:`~.files.FileRoutes` because batches write their results as files.
    """
