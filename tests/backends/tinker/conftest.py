"""Fixtures for the Tinker tests: an offline ChatML tokenizer, the fake service, a backend."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("tinker")

from tinker_helpers import SECRET, stop_workers

from dataquality_thresholds.backends.tinker import TinkerBackend
from dataquality_thresholds.testing._tinker_fake import FakeTinkerServer
from dataquality_thresholds.testing._tinker_tokenizer import write_chatml_tokenizer


@pytest.fixture(scope="session")
def chatml_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_chatml_tokenizer(tmp_path_factory.mktemp("chatml-tokenizer"))


@pytest.fixture(scope="session")
def chatml(chatml_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(chatml_dir))


@pytest.fixture
def server(chatml):
    with FakeTinkerServer(tokenizer=chatml) as fake:
        yield fake


@pytest.fixture
def make_backend(server, chatml_dir, tmp_path):
    made: list[Path] = []

    def make(output_dir: Path | None = None, **kw) -> TinkerBackend:
        out = output_dir or tmp_path / "tinker"
        made.append(out)
        options = dict(
            output_dir=out,
            api_key=SECRET,
            base_url=server.base_url,
            tokenizer=str(chatml_dir),
            batch_size=4,
            epochs=2,
            poll_interval=0.05,
        )
        options.update(kw)
        return TinkerBackend("Qwen/Qwen3-8B", **options)

    yield make
    for out in made:
        stop_workers(out)
    time.sleep(0.05)


@pytest.fixture
def mixture(mixer):
    return mixer.mix(0.5, corruption="obvious")  # 30 rows: 8 steps per epoch at batch 4
