"""Test-wide guards: no network but loopback, a dummy API key, offline HF."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-live", action="store_true", help="run tests marked live (real OpenAI API)"
    )
    parser.addoption(
        "--run-slow", action="store_true", help="also run the slowest tests (real models)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-live"):
        return
    skip = pytest.mark.skip(reason="talks to the real API; pass --run-live to run")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


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
    import sys

    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)


@pytest.fixture
def fake():
    from dataquality_thresholds.testing import FakeOpenAIServer

    with FakeOpenAIServer(file_processing_polls=1) as server:
        yield server
