"""Test doubles for users' tests: local servers that speak the providers' APIs, faults included.

:class:`FakeOpenAIServer` answers the endpoints the library uses (files, fine-tuning jobs
and events, chat completions, batches) on ``127.0.0.1`` and can be told to fail;
:class:`FakeTogetherServer` adds Together AI's files and fine-tunes; :class:`FakeTinkerServer`
speaks Tinker's training and sampling service to the real ``tinker`` SDK; :class:`FakeVLLMServer`
adds vLLM's LoRA adapter routes (load, unload, models). See ``docs/backends.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.testing._fake_state import JobScript, default_responder
from dataquality_thresholds.testing._server import FakeOpenAIServer, Fault, RecordedRequest
from dataquality_thresholds.testing._tinker_fake import FakeTinkerServer
from dataquality_thresholds.testing._tinker_fake_state import default_tinker_responder
from dataquality_thresholds.testing._tinker_tokenizer import parse_chatml, write_chatml_tokenizer
from dataquality_thresholds.testing._together_fake import FakeTogetherServer
from dataquality_thresholds.testing._together_state import TogetherJobScript
from dataquality_thresholds.testing._vllm_fake import FakeVLLMServer

__all__ = [
    "FakeOpenAIServer",
    "FakeTinkerServer",
    "FakeTogetherServer",
    "FakeVLLMServer",
    "Fault",
    "JobScript",
    "RecordedRequest",
    "TogetherJobScript",
    "default_responder",
    "default_tinker_responder",
    "parse_chatml",
    "write_chatml_tokenizer",
]

publish(__name__, globals(), __all__)
