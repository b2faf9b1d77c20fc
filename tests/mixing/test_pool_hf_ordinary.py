"""ExamplePool.from_hf on ordinary datasets: generated ids, numbers as text, a default domain."""

import hashlib
import json

import pytest
from hypothesis import given, settings, strategies as st

datasets = pytest.importorskip("datasets")

from dataquality_thresholds import (  # noqa: E402
    ConfigError,
    CorruptionMixer,
    DataError,
    ExamplePool,
    Message,
)


def plain(**overrides):
    """A dataset of questions and answers, with no id or domain column."""
    cols = {
        "question": ["What is 2 + 2?", "What is 3 + 3?", "What is 4 + 4?"],
        "answer": ["4", "6", "8"],
        "obvious": ["5", "7", "9"],
    }
    cols.update(overrides)
    return datasets.Dataset.from_dict(cols)


def expected_id(messages):
    text = json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "hf-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def test_an_ordinary_dataset_needs_no_id_or_domain_column():
    pool = ExamplePool.from_hf(plain(), prompt="question", correct="answer")
    assert len(pool) == 3 and pool.kinds == ("obvious",)
    ex = pool[1]
    assert ex.domain == "default"
    assert ex.prompt == (Message("user", "What is 3 + 3?"),)
    assert ex.id == expected_id([{"role": "user", "content": "What is 3 + 3?"}])
    assert len(ex.id) == len("hf-") + 16
    mix = CorruptionMixer(pool, 3, seed=0).mix(1 / 3)
    assert mix.counts["correct"] == 1


def test_id_none_ignores_an_id_column_and_default_domain_still_applies():
    ds = plain(id=["a", "b", "c"])
    pool = ExamplePool.from_hf(
        ds, id=None, prompt="question", correct="answer", default_domain="math"
    )
    assert all(ex.id.startswith("hf-") for ex in pool)
    assert {ex.domain for ex in pool} == {"math"}
    named = ExamplePool.from_hf(ds, prompt="question", correct="answer")
    assert [ex.id for ex in named] == ["a", "b", "c"]


def test_generated_ids_hash_the_prompt_as_stored_with_the_system_message():
    pool = ExamplePool.from_hf(plain(), prompt="question", correct="answer", system="Be brief.")
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    assert pool[0].id == expected_id(msgs)
    no_system = ExamplePool.from_hf(plain(), prompt="question", correct="answer")
    assert pool[0].id != no_system[0].id


def test_generated_ids_of_message_prompts():
    msgs = [
        [{"role": "system", "content": "Be kind."}, {"role": "user", "content": 'héllo "x"'}],
        [{"role": "user", "content": "second"}],
    ]
    ds = datasets.Dataset.from_dict(
        {"messages": msgs, "correct": ["a", "b"], "obvious": ["x", "y"]}
    )
    pool = ExamplePool.from_hf(ds)
    assert [ex.id for ex in pool] == [expected_id(m) for m in msgs]


def test_repeated_prompts_get_suffixes_in_order():
    ds = plain(
        question=["same", "other", "same", "same"],
        answer=["1", "2", "3", "4"],
        obvious=["x", "y", "z", "w"],
    )
    pool = ExamplePool.from_hf(ds, prompt="question", correct="answer")
    base = expected_id([{"role": "user", "content": "same"}])
    ids = [ex.id for ex in pool]
    assert ids[0] == base and ids[2] == base + "-2" and ids[3] == base + "-3"
    assert len(set(ids)) == 4
    # the same data again: the same ids
    assert [ex.id for ex in ExamplePool.from_hf(ds, prompt="question", correct="answer")] == ids


def test_an_explicit_missing_id_column_is_still_refused():
    with pytest.raises(ConfigError, match="no column 'uid'") as info:
        ExamplePool.from_hf(plain(), id="uid", prompt="question", correct="answer")
    assert info.value.field == "id"


def test_numbers_in_text_columns_become_text():
    ds = datasets.Dataset.from_dict(
        {
            "id": [10, 11, 12],
            "question": [1, 2, 3],
            "answer": [0.1, 2.0, 1e20],
            "obvious": [7, 8, 9],
            "subtle": [0.30000000000000004, None, 2.5],
            "skill": [1, 1, 2],
        }
    )
    pool = ExamplePool.from_hf(ds, prompt="question", correct="answer")
    rows = list(pool)
    assert [ex.id for ex in rows] == ["10", "11", "12"]
    assert [ex.prompt[0].content for ex in rows] == ["1", "2", "3"]
    assert [ex.correct for ex in rows] == ["0.1", "2.0", "1e+20"]
    assert [float(ex.correct) for ex in rows] == [0.1, 2.0, 1e20]
    assert rows[0].incorrect == {"obvious": "7", "subtle": "0.30000000000000004"}
    assert rows[1].incorrect == {"obvious": "8"}  # a null cell: the kind is missing
    assert [ex.skill for ex in rows] == ["1", "1", "2"]


def test_float32_cells_use_their_own_shortest_form():
    import pyarrow as pa

    features = datasets.Features(
        {
            "question": datasets.Value("string"),
            "answer": datasets.Value("float32"),
            "obvious": datasets.Value("string"),
        }
    )
    ds = datasets.Dataset.from_dict(
        {"question": ["q"], "answer": [0.1], "obvious": ["x"]}, features=features
    )
    assert ds.data.table.schema.field("answer").type == pa.float32()
    assert ExamplePool.from_hf(ds, prompt="question", correct="answer")[0].correct == "0.1"


def test_integer_message_content_becomes_text():
    msgs = [[{"role": "user", "content": 5}], [{"role": "user", "content": 6}]]
    ds = datasets.Dataset.from_dict(
        {"messages": msgs, "correct": ["a", "b"], "obvious": ["x", "y"]}
    )
    pool = ExamplePool.from_hf(ds)
    assert [ex.prompt[0].content for ex in pool] == ["5", "6"]


@pytest.mark.parametrize(
    "override, line, field",
    [
        ({"answer": [True, False, True]}, 1, "answer"),
        ({"answer": [None, None, False]}, 3, "answer"),
        ({"answer": [1.0, float("nan"), 3.0]}, 2, "answer"),
        ({"obvious": [1.0, 2.0, float("inf")]}, 3, "obvious"),
        ({"question": [1.0, float("-inf"), 3.0]}, 2, "question"),
        ({"id": [1.0, float("nan"), 2.0]}, 2, "id"),
        ({"answer": ["1", None, "3"]}, 2, "answer"),
    ],
)
def test_booleans_nan_inf_and_nulls_are_refused_naming_row_and_field(override, line, field):
    with pytest.raises(DataError) as info:
        ExamplePool.from_hf(plain(**override), prompt="question", correct="answer")
    assert info.value.line == line and info.value.field == field
    assert f"row {line}" in str(info.value)


def test_an_error_names_the_given_id_when_there_is_one():
    ds = plain(id=[10, 11, 12], answer=[1.0, float("nan"), 3.0])
    with pytest.raises(DataError, match="id '11'") as info:
        ExamplePool.from_hf(ds, prompt="question", correct="answer")
    assert info.value.id == "11"


def test_boolean_message_content_is_refused_naming_the_message():
    msgs = [
        [{"role": "user", "content": False}],
        [{"role": "system", "content": True}, {"role": "user", "content": False}],
    ]
    ds = datasets.Dataset.from_dict(
        {"messages": msgs, "correct": ["a", "b"], "obvious": ["x", "y"]}
    )
    with pytest.raises(DataError) as info:
        ExamplePool.from_hf(ds)
    assert info.value.line == 1 and info.value.field == "messages[0].content"
    msgs[0] = [{"role": "user", "content": None}]
    ds = datasets.Dataset.from_dict(
        {"messages": msgs, "correct": ["a", "b"], "obvious": ["x", "y"]}
    )
    with pytest.raises(DataError) as info:
        ExamplePool.from_hf(ds)
    assert info.value.line == 2 and info.value.field == "messages[0].content"


def test_other_types_are_still_refused_as_config_errors():
    ds = plain(answer=[[1], [2], [3]])
    with pytest.raises(ConfigError, match="must hold text") as info:
        ExamplePool.from_hf(ds, prompt="question", correct="answer")
    assert info.value.field == "answer"
    msgs = [[{"role": 1, "content": "q"}]]
    ds = datasets.Dataset.from_dict({"messages": msgs, "correct": ["a"], "obvious": ["x"]})
    with pytest.raises(ConfigError) as info:
        ExamplePool.from_hf(ds)
    assert info.value.field == "messages.role"


def test_duplicate_given_ids_are_still_refused():
    with pytest.raises(DataError, match="duplicate id") as info:
        ExamplePool.from_hf(plain(id=[1, 2, 1]), prompt="question", correct="answer")
    assert info.value.line == 3 and info.value.field == "id"


# --------------------------------------------------------------------------- invariants
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
).filter(str.strip)


@settings(max_examples=40, deadline=None)
@given(
    prompts=st.lists(_text, min_size=1, max_size=8),
    others=st.lists(_text, max_size=5),
    seed=st.randoms(use_true_random=False),
)
def test_ids_depend_on_the_prompt_alone(prompts, others, seed):
    """Ids are stable across calls and do not move with other rows or row order."""

    def ids_of(questions):
        ds = plain(
            question=questions,
            answer=["right"] * len(questions),
            obvious=["wrong"] * len(questions),
        )
        pool = ExamplePool.from_hf(ds, prompt="question", correct="answer")
        return {(ex.prompt[0].content, ex.id) for ex in pool}

    first = [q for i, q in enumerate(prompts) if q not in prompts[:i]]  # unique prompts
    alone = ids_of(first)
    assert alone == ids_of(first)  # stable across calls
    assert {i for _, i in alone} == {expected_id([{"role": "user", "content": q}]) for q in first}
    mixed = [*first, *[o for o in others if o not in first]]
    seed.shuffle(mixed)
    with_others = ids_of(mixed)
    assert alone <= with_others  # other rows and the order change no id
    assert len({i for _, i in with_others}) == len(mixed)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=12))
def test_repeated_prompts_always_give_distinct_ids(questions):
    ds = plain(question=questions, answer=["r"] * len(questions), obvious=["w"] * len(questions))
    ids = [ex.id for ex in ExamplePool.from_hf(ds, prompt="question", correct="answer")]
    assert len(set(ids)) == len(ids)
    for q in set(questions):
        base = expected_id([{"role": "user", "content": q}])
        mine = [i for i, x in zip(ids, questions, strict=True) if x == q]
        assert mine == [base] + [f"{base}-{k}" for k in range(2, len(mine) + 1)]


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
    )
)
def test_numbers_round_trip_through_their_text(value):
    ds = plain(question=["q"], answer=[value], obvious=["x"])
    got = ExamplePool.from_hf(ds, prompt="question", correct="answer")[0].correct
    assert type(value)(got) == value
    if isinstance(value, float):
        assert got == repr(value)
    else:
        assert got == str(value)
