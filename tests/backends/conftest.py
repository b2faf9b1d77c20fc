"""Fixtures for the backend tests: small pools and mixtures (the fake server is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from dataquality_thresholds.mixing import CorruptionMixer, ExamplePool
from dataquality_thresholds.records import PairedExample


def make_pool(n_per_skill: int = 10) -> ExamplePool:
    rows = []
    for skill, domain in (("add", "math"), ("mul", "math"), ("tax", "finance")):
        for i in range(n_per_skill):
            rows.append(
                PairedExample(
                    id=f"{skill}-{i:03d}",
                    domain=domain,
                    prompt=f"[{skill}] question {i}?",
                    correct=f"{skill} right {i}",
                    incorrect={
                        "obvious": f"{skill} obviously wrong {i}",
                        "subtle": f"{skill} subtly wrong {i}",
                    },
                    skill=skill,
                )
            )
    return ExamplePool(rows)


class WordTokenizer:
    """A tiny tokenizer for fast, hand-checkable token counts: one token per word."""

    def encode(self, text: str) -> list[int]:
        return [0] * len(text.split())


@pytest.fixture(scope="session")
def pool() -> ExamplePool:
    return make_pool()


@pytest.fixture(scope="session")
def mixer(pool: ExamplePool) -> CorruptionMixer:
    return CorruptionMixer(pool, size=30, seed=0)


@pytest.fixture
def word_tokenizer() -> WordTokenizer:
    return WordTokenizer()
