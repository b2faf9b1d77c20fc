import json

import pytest

from dataquality_thresholds import (
    DataError,
    Example,
    ExamplePool,
    Message,
    PairedExample,
    SchemaVersionError,
    read_chat_jsonl,
    read_manifest,
    read_paired_jsonl,
    validate_chat_jsonl,
    write_chat_jsonl,
    write_manifest,
    write_paired_jsonl,
)
from dataquality_thresholds.cli import main as dqt_main

GOOD = {
    "id": "p1",
    "domain": "finance",
    "skill": "simple_interest",
    "messages": [{"role": "user", "content": "Interest on $100 at 5% for 2 years?"}],
    "correct": "$10.00",
    "incorrect": {"obvious": "$1,000,000", "subtle": "$5.00"},
}


def good(i):
    return {**GOOD, "id": f"p{i}"}


def drop(key):
    row = dict(GOOD, id="bad")
    del row[key]
    return row


def with_(**kw):
    return {**GOOD, "id": "bad", **kw}


def msg(**kw):
    return with_(messages=[{"role": "user", "content": "q", **kw}])


# (raw second line, field named in the error). Every case is on line 2.
PAIRED_CASES = {
    "bad json": ('{"id": "x", "domain":', "<line>"),
    "not an object": ("[1, 2]", "<line>"),
    "missing id": (drop("id"), "id"),
    "empty id": (with_(id=""), "id"),
    "id not a string": (with_(id=123), "id"),
    "missing domain": (drop("domain"), "domain"),
    "missing messages": (drop("messages"), "messages"),
    "messages not a list": (with_(messages="hello"), "messages"),
    "messages empty": (with_(messages=[]), "messages"),
    "message not an object": (with_(messages=["hello"]), "messages[0]"),
    "wrong role": (msg(role="robot"), "messages[0].role"),
    "missing role": (with_(messages=[{"content": "q"}]), "messages[0].role"),
    "missing content": (with_(messages=[{"role": "user"}]), "messages[0].content"),
    "empty content": (msg(content="  "), "messages[0].content"),
    "content not a string": (msg(content=["q"]), "messages[0].content"),
    "unknown message key": (msg(colour="red"), "messages[0].colour"),
    "weight in a prompt": (msg(weight=1), "messages[0].weight"),
    "prompt ends with assistant": (
        with_(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]),
        "messages[1].role",
    ),
    "missing correct": (drop("correct"), "correct"),
    "empty correct": (with_(correct=""), "correct"),
    "missing incorrect": (drop("incorrect"), "incorrect"),
    "incorrect not an object": (with_(incorrect="wrong"), "incorrect"),
    "incorrect empty": (with_(incorrect={}), "incorrect"),
    "unknown incorrect kind": (with_(incorrect={"terrible": "x"}), "incorrect.terrible"),
    "empty incorrect response": (with_(incorrect={"subtle": ""}), "incorrect.subtle"),
    "unknown top-level key": (with_(colour="red"), "colour"),
    "skill not a string": (with_(skill=7), "skill"),
    "duplicate id": (good(1), "id"),
}


def write_lines(path, rows):
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )


@pytest.mark.parametrize("case", sorted(PAIRED_CASES))
def test_malformed_paired_rows_name_line_and_field_and_write_nothing(tmp_path, case, capsys):
    raw, field = PAIRED_CASES[case]
    src = tmp_path / "pool.jsonl"
    write_lines(src, [good(1), raw, good(3)])
    with pytest.raises(DataError) as info:
        read_paired_jsonl(src)
    err = info.value
    assert err.line == 2 and err.field == field and err.path == str(src)
    assert "pool.jsonl:2" in str(err) and f"'{field}'" in str(err)
    out = tmp_path / "out"
    assert dqt_main(["mix", str(src), "--out", str(out), "--size", "2", "--fractions", "0.5"]) == 2
    assert "pool.jsonl:2" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_newer_schema_version_is_refused(tmp_path):
    src = tmp_path / "pool.jsonl"
    write_lines(src, [good(1), {**good(2), "schema_version": 99}])
    with pytest.raises(SchemaVersionError) as info:
        read_paired_jsonl(src)
    assert info.value.found == 99 and info.value.line == 2


def test_empty_file_is_an_error(tmp_path):
    src = tmp_path / "pool.jsonl"
    src.write_text("\n\n")
    with pytest.raises(DataError, match="no examples"):
        read_paired_jsonl(src)


def test_paired_round_trip(tmp_path):
    rows = [good(i) for i in range(5)]
    src = tmp_path / "in.jsonl"
    write_lines(src, rows)
    examples = read_paired_jsonl(src)
    assert [e.id for e in examples] == [f"p{i}" for i in range(5)]
    out = tmp_path / "out.jsonl"
    write_paired_jsonl(examples, out)
    assert read_paired_jsonl(out) == examples
    # canonical: writing again gives identical bytes
    out2 = tmp_path / "out2.jsonl"
    write_paired_jsonl(read_paired_jsonl(out), out2)
    assert out.read_bytes() == out2.read_bytes()


def test_pool_hf_round_trip():
    pytest.importorskip("datasets")
    examples = [
        PairedExample(
            id=f"e{i}",
            domain="d",
            prompt=f"q{i}?",
            correct="yes",
            incorrect={"obvious": "no"} if i % 2 else {"subtle": "maybe", "obvious": "no"},
            skill=None if i % 3 else "s",
        )
        for i in range(7)
    ]
    pool = ExamplePool(examples)
    ds = pool.to_hf()
    assert set(ds.column_names) >= {
        "id",
        "domain",
        "messages",
        "correct",
        "obvious",
        "subtle",
        "skill",
    }
    back = ExamplePool.from_hf(ds)
    assert list(back) == list(pool) == examples
    assert back.fingerprint == pool.fingerprint


# --------------------------------------------------------------------------- chat files
def conv(i, answer="4"):
    return {
        "messages": [
            {"role": "user", "content": f"what is {i}+2?"},
            {"role": "assistant", "content": answer},
        ]
    }


CHAT_CASES = {
    "unknown top-level key": ({**conv(0), "extra": 1}, "extra"),
    "missing messages": ({"msgs": []}, "msgs"),
    "messages missing": ({}, "messages"),
    "unknown message key": (
        {
            "messages": [
                {"role": "user", "content": "q", "tool": 1},
                {"role": "assistant", "content": "a"},
            ]
        },
        "messages[0].tool",
    ),
    "unknown role": (
        {"messages": [{"role": "tool", "content": "q"}, {"role": "assistant", "content": "a"}]},
        "messages[0].role",
    ),
    "weight not 0 or 1": (
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "weight": 2},
            ]
        },
        "messages[1].weight",
    ),
    "weight on a user message": (
        {
            "messages": [
                {"role": "user", "content": "q", "weight": 1},
                {"role": "assistant", "content": "a"},
            ]
        },
        "messages[0].weight",
    ),
    "no assistant message": ({"messages": [{"role": "user", "content": "q"}]}, "messages"),
    "all assistant weights 0": (
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "weight": 0},
            ]
        },
        "messages",
    ),
    "empty content": (
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]},
        "messages[0].content",
    ),
    "content parts list": (
        {
            "messages": [
                {"role": "user", "content": [{"type": "text"}]},
                {"role": "assistant", "content": "a"},
            ]
        },
        "messages[0].content",
    ),
}


@pytest.mark.parametrize("case", sorted(CHAT_CASES))
def test_malformed_chat_rows(tmp_path, case):
    bad, field = CHAT_CASES[case]
    rows = [conv(i) for i in range(12)]
    rows.insert(4, bad)  # line/row 5
    out = tmp_path / "train.jsonl"
    with pytest.raises(DataError) as info:
        write_chat_jsonl(rows, out, count_tokens=False)
    assert info.value.line == 5 and info.value.field == field
    assert not out.exists() and list(tmp_path.iterdir()) == []
    src = tmp_path / "given.jsonl"
    write_lines(src, rows)
    with pytest.raises(DataError) as info:
        validate_chat_jsonl(src, count_tokens=False)
    assert info.value.line == 5 and info.value.field == field and "given.jsonl:5" in str(info.value)


def test_chat_file_needs_ten_examples(tmp_path):
    out = tmp_path / "train.jsonl"
    with pytest.raises(DataError, match="at least 10"):
        write_chat_jsonl([conv(i) for i in range(9)], out, count_tokens=False)
    assert not out.exists()


def test_chat_bad_json_line(tmp_path):
    src = tmp_path / "given.jsonl"
    write_lines(src, [conv(0), "{not json", conv(1)])
    with pytest.raises(DataError) as info:
        read_chat_jsonl(src, count_tokens=False)
    assert info.value.line == 2 and info.value.field == "<line>"


class CharTokenizer:
    """One token per character: makes token arithmetic checkable by hand."""

    def encode(self, text):
        return list(range(len(text)))


def test_token_counts_and_limit(tmp_path):
    rows = [conv(i, answer="x" * (i + 1)) for i in range(10)]
    out = tmp_path / "train.jsonl"
    report = write_chat_jsonl(rows, out, tokenizer=CharTokenizer())
    # per row: priming 3 + 2 messages x 3 + len("user") + len("assistant") + contents
    expected = [3 + 6 + 4 + 9 + len(f"what is {i}+2?") + (i + 1) for i in range(10)]
    assert report.total_tokens == sum(expected) and report.max_example_tokens == max(expected)
    assert report.n_examples == 10
    with pytest.raises(DataError, match="over the limit") as info:
        validate_chat_jsonl(out, tokenizer=CharTokenizer(), max_tokens_per_example=expected[5] - 1)
    assert info.value.line == 6
    convs, rep2 = read_chat_jsonl(out, tokenizer=CharTokenizer())
    assert rep2.sha256 == report.sha256 and convs[0][1] == Message("assistant", "x")


def test_write_chat_accepts_examples_and_message_lists(tmp_path):
    exs = [
        Example(
            f"e{i}", "d", [Message("user", "q"), Message("assistant", "a", weight=1)], "correct"
        )
        for i in range(10)
    ]
    rep = write_chat_jsonl(exs, tmp_path / "a.jsonl", count_tokens=False)
    rep2 = write_chat_jsonl([e.messages for e in exs], tmp_path / "b.jsonl", count_tokens=False)
    assert rep.sha256 == rep2.sha256
    assert '"weight":1' in (tmp_path / "a.jsonl").read_text()


def test_manifest_round_trip_and_version(tmp_path):
    p = tmp_path / "m.json"
    write_manifest({"schema": "mixture_manifest", "schema_version": 1, "x": [1, 2]}, p)
    assert read_manifest(p)["x"] == [1, 2]
    write_manifest({"schema": "mixture_manifest", "schema_version": 2}, p)
    with pytest.raises(SchemaVersionError):
        read_manifest(p)
    with pytest.raises(DataError):
        write_manifest({"x": 1}, tmp_path / "n.json")
    assert not (tmp_path / "n.json").exists()
