import numpy as np
import pytest

datasets = pytest.importorskip("datasets")

from dataquality_thresholds import (  # noqa: E402
    ConfigError,
    CorruptionMixer,
    DataError,
    ExamplePool,
    Message,
)
from dataquality_thresholds.mixing import ExamplePool as PoolClass  # noqa: E402


def text_dataset(n, **overrides):
    cols = {
        "uid": [f"r{i:06d}" for i in range(n)],
        "question": [f"What is {i} + 1?" for i in range(n)],
        "answer": [str(i + 1) for i in range(n)],
        "wrong": [str(i + 5) for i in range(n)],
        "near": [str(i) for i in range(n)],
    }
    cols.update(overrides)
    return datasets.Dataset.from_dict(cols)


def test_from_hf_with_string_prompts_and_system():
    ds = text_dataset(12)
    pool = ExamplePool.from_hf(
        ds,
        id="uid",
        prompt="question",
        correct="answer",
        incorrect={"obvious": "wrong", "subtle": "near"},
        default_domain="math",
        system="Be brief.",
    )
    ex = pool[3]
    assert ex.id == "r000003" and ex.domain == "math" and ex.skill is None
    assert ex.prompt == (Message("system", "Be brief."), Message("user", "What is 3 + 1?"))
    assert ex.incorrect == {"obvious": "8", "subtle": "3"}
    m = CorruptionMixer(pool, 10, seed=0).mix(0.5, "subtle")
    rows = list(m.iter_examples())
    assert all(r.messages[0].role == "system" for r in rows)


def test_from_hf_matches_list_pool_bytes():
    ds = text_dataset(30)
    hf_pool = ExamplePool.from_hf(
        ds,
        id="uid",
        prompt="question",
        correct="answer",
        incorrect={"obvious": "wrong", "subtle": "near"},
        default_domain="math",
    )
    list_pool = ExamplePool(list(hf_pool))
    a = CorruptionMixer(hf_pool, 25, seed=4).mix(0.4, {"obvious": 0.5, "subtle": 0.5})
    b = CorruptionMixer(list_pool, 25, seed=4).mix(0.4, {"obvious": 0.5, "subtle": 0.5})
    assert a.fingerprint == b.fingerprint and hf_pool.fingerprint == list_pool.fingerprint


def test_from_hf_honours_select_and_shuffle():
    ds = text_dataset(40).shuffle(seed=1).select(range(20))
    pool = ExamplePool.from_hf(
        ds,
        id="uid",
        prompt="question",
        correct="answer",
        incorrect={"obvious": "wrong"},
        default_domain="math",
    )
    assert len(pool) == 20
    assert pool[0].id == ds[0]["uid"]


@pytest.mark.parametrize(
    "override, line, field",
    [
        ({"answer": ["1", "2", "", "4"]}, 3, "answer"),
        ({"answer": ["1", "2", None, "4"]}, 3, "answer"),
        ({"uid": ["a", "b", "a", "c"]}, 3, "id"),
        ({"question": ["q", "q", "q", "   "]}, 4, "question"),
        ({"wrong": ["x", None, "x", "x"], "near": ["y", None, "y", "y"]}, 2, "incorrect"),
    ],
)
def test_from_hf_rejects_bad_cells(override, line, field):
    base = {
        "uid": ["a", "b", "c", "d"],
        "question": ["q1", "q2", "q3", "q4"],
        "answer": ["1", "2", "3", "4"],
        "wrong": ["x"] * 4,
        "near": ["y"] * 4,
    }
    base.update(override)
    ds = datasets.Dataset.from_dict(base)
    with pytest.raises(DataError) as info:
        ExamplePool.from_hf(
            ds,
            id="uid",
            prompt="question",
            correct="answer",
            incorrect={"obvious": "wrong", "subtle": "near"},
            default_domain="m",
        )
    assert info.value.line == line and info.value.field == field


def test_from_hf_message_prompts_are_checked():
    msgs = [[{"role": "user", "content": "q1"}], [{"role": "wizard", "content": "q2"}]]
    ds = datasets.Dataset.from_dict(
        {
            "id": ["a", "b"],
            "domain": ["d", "d"],
            "messages": msgs,
            "correct": ["1", "2"],
            "obvious": ["x", "y"],
        }
    )
    with pytest.raises(DataError) as info:
        ExamplePool.from_hf(ds)
    assert info.value.line == 2 and info.value.field == "messages[0].role"
    msgs = [
        [{"role": "user", "content": "q1"}],
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    ]
    ds = datasets.Dataset.from_dict(
        {
            "id": ["a", "b"],
            "domain": ["d", "d"],
            "messages": msgs,
            "correct": ["1", "2"],
            "obvious": ["x", "y"],
        }
    )
    with pytest.raises(DataError) as info:
        ExamplePool.from_hf(ds)
    assert info.value.line == 2 and info.value.field == "messages[1].role"


def test_from_hf_config_errors():
    ds = text_dataset(3)
    with pytest.raises(ConfigError, match="no column 'nope'"):
        ExamplePool.from_hf(
            ds,
            id="nope",
            prompt="question",
            correct="answer",
            incorrect={"obvious": "wrong"},
            default_domain="m",
        )
    with pytest.raises(ConfigError, match="no column 'topic' for domain") as info:
        ExamplePool.from_hf(
            ds,
            id="uid",
            domain="topic",
            prompt="question",
            correct="answer",
            incorrect={"obvious": "wrong"},
        )
    assert info.value.field == "domain"
    with pytest.raises(ConfigError, match="unknown incorrect kind"):
        ExamplePool.from_hf(
            ds,
            id="uid",
            prompt="question",
            correct="answer",
            incorrect={"awful": "wrong"},
            default_domain="m",
        )


def test_large_hf_pool_mixes_without_building_rows(monkeypatch):
    n = 200_000
    ds = datasets.Dataset.from_dict(
        {
            "uid": np.char.add("r", np.arange(n).astype(str)).tolist(),
            "question": ["q"] * n,
            "answer": ["a"] * n,
            "wrong": ["w"] * n,
        }
    )
    pool = ExamplePool.from_hf(
        ds,
        id="uid",
        prompt="question",
        correct="answer",
        incorrect={"obvious": "wrong"},
        default_domain="m",
    )

    def forbidden(*a, **k):
        raise AssertionError("mixing built Python rows")

    monkeypatch.setattr(PoolClass, "_iter_paired", forbidden)
    monkeypatch.setattr(PoolClass, "_iter_batches", forbidden)
    mixer = CorruptionMixer(pool, n, seed=0)
    mixes = mixer.sweep([0.1, 0.5, 0.9])
    assert [m.counts["correct"] for m in mixes] == [20_000, 100_000, 180_000]
    monkeypatch.undo()
    first = next(mixes[1].iter_examples())
    assert first.messages[-1].content in {"a", "w"}
