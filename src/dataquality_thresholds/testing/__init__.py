"""Test doubles for users' tests: a local server that speaks the OpenAI API, faults included.

:class:`FakeOpenAIServer` answers the endpoints the library uses (files, fine-tuning jobs
and events, chat completions, batches) on ``127.0.0.1`` and can be told to fail. See
``docs/backends.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.testing._fake_state import JobScript, default_responder
from dataquality_thresholds.testing._server import FakeOpenAIServer, Fault, RecordedRequest

__all__ = [
    "FakeOpenAIServer",
    "Fault",
    "JobScript",
    "RecordedRequest",
    "default_responder",
]

publish(__name__, globals(), __all__)
