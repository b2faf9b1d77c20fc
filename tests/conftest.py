"""Test options (``--run-live``, ``--run-slow``) and shared fixtures.

The suite-wide guards (no network but loopback, a dummy API key, offline HF) are the
autouse ``_offline`` fixture of the top-level ``conftest.py``, which also guards the
docs' code blocks.
"""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture
def fake():
    from dataquality_thresholds.testing import FakeOpenAIServer

    with FakeOpenAIServer(file_processing_polls=1) as server:
        yield server
