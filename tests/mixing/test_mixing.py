import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from dataquality_thresholds import (
    ConfigError,
    CorruptionMixer,
    DataError,
    ExamplePool,
    PairedExample,
    load_sample_pool,
)


def make_examples(n, *, lacking_subtle=()):
    out = []
    for i in range(n):
        inc = {"obvious": f"wrong-{i}"}
        if i not in lacking_subtle:
            inc["subtle"] = f"near-{i}"
        out.append(
            PairedExample(
                id=f"id{i:04d}",
                domain="d",
                prompt=f"question {i}?",
                correct=f"right-{i}",
                incorrect=inc,
            )
        )
    return out


POOL = ExamplePool(make_examples(60))


def labels_by_id(mixture):
    return {ex.id: ex.label for ex in mixture.iter_examples()}


fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
sizes = st.integers(min_value=1, max_value=60)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
shares = st.sampled_from(
    ["obvious", "subtle", {"obvious": 0.5, "subtle": 0.5}, {"obvious": 0.3, "subtle": 0.7}]
)


@settings(max_examples=60, deadline=None)
@given(size=sizes, f=fractions, seed=seeds, corruption=shares, nested=st.booleans())
def test_exact_counts(size, f, seed, corruption, nested):
    m = CorruptionMixer(POOL, size, seed=seed, nested=nested).mix(f, corruption)
    counts = m.counts
    assert len(m) == size
    assert counts["correct"] == round(size * f)
    n_inc = size - round(size * f)
    assert counts["obvious"] + counts["subtle"] == n_inc
    if isinstance(corruption, dict):
        assert counts["obvious"] == math.floor(n_inc * corruption["obvious"] + 0.5)
    else:
        assert counts[corruption] == n_inc


@settings(max_examples=40, deadline=None)
@given(size=sizes, fs=st.lists(fractions, min_size=2, max_size=5), seed=seeds, corruption=shares)
def test_same_prompts_same_order_and_nested(size, fs, seed, corruption):
    mixer = CorruptionMixer(POOL, size, seed=seed)
    mixes = sorted(mixer.sweep(fs, corruption), key=lambda m: m.spec.fraction_correct)
    orders = [[ex.id for ex in m.iter_examples()] for m in mixes]
    assert all(o == orders[0] for o in orders), "same prompts in the same order at every fraction"
    labs = [labels_by_id(m) for m in mixes]
    for low, high in zip(labs, labs[1:]):  # increasing share of correct rows
        bad_high = {i for i, lab in high.items() if lab != "correct"}
        bad_low = {i for i, lab in low.items() if lab != "correct"}
        assert bad_high <= bad_low
        assert all(high[i] == low[i] for i in bad_high), "a corrupted prompt keeps its kind"


@settings(max_examples=30, deadline=None)
@given(size=sizes, f=fractions, seed=seeds, perm_seed=seeds)
def test_deterministic_and_row_order_invariant(size, f, seed, perm_seed):
    a = CorruptionMixer(POOL, size, seed=seed).mix(f, "subtle")
    b = CorruptionMixer(POOL, size, seed=seed).mix(f, "subtle")
    shuffled = list(POOL)
    np.random.default_rng(perm_seed).shuffle(shuffled)
    c = CorruptionMixer(ExamplePool(shuffled), size, seed=seed).mix(f, "subtle")
    assert a.fingerprint == b.fingerprint == c.fingerprint
    assert b"".join(a.iter_jsonl()) == b"".join(c.iter_jsonl())


def test_rounding_rule_is_pythons_round():
    # 10 x 0.25 = 2.5 -> 2 (half to even); 10 x 0.35 = 3.5 -> 4
    mixer = CorruptionMixer(POOL, 10, seed=0)
    assert mixer.mix(0.25).counts["correct"] == 2
    assert mixer.mix(0.35).counts["correct"] == 4


def test_byte_identical_file_and_fingerprint(tmp_path):
    m = CorruptionMixer(POOL, 40, seed=3).mix(0.5, {"obvious": 0.5, "subtle": 0.5})
    p1, p2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    d1 = m.to_jsonl(p1)
    d2 = CorruptionMixer(POOL, 40, seed=3).mix(0.5, {"obvious": 0.5, "subtle": 0.5}).to_jsonl(p2)
    assert p1.read_bytes() == p2.read_bytes() and d1 == d2 == m.fingerprint
    import hashlib

    assert hashlib.sha256(p1.read_bytes()).hexdigest() == m.fingerprint
    rows = [json.loads(line) for line in p1.read_text().splitlines()]
    assert all(set(r) == {"messages"} and r["messages"][-1]["role"] == "assistant" for r in rows)


def test_manifest_contents():
    m = CorruptionMixer(POOL, 20, seed=1).mix(0.75, "obvious")
    man = m.manifest
    assert man["schema"] == "mixture_manifest" and man["schema_version"] == 1
    assert man["spec"] == {
        "fraction_correct": 0.75,
        "corruption": {"obvious": 1.0},
        "size": 20,
        "seed": 1,
        "nested": True,
    }
    assert man["pool_fingerprint"] == POOL.fingerprint and man["fingerprint"] == m.fingerprint
    wrong = sorted(i for i, lab in labels_by_id(m).items() if lab == "obvious")
    assert man["incorrect_ids"] == {"obvious": wrong} and len(wrong) == 5
    json.dumps(man, allow_nan=False)


def test_different_seeds_differ_and_rows_are_shuffled():
    a = CorruptionMixer(POOL, 60, seed=0).mix(0.5)
    b = CorruptionMixer(POOL, 60, seed=1).mix(0.5)
    assert a.fingerprint != b.fingerprint
    # incorrect rows are spread through the file, not clustered at one end
    pos = np.nonzero(a.labels != 0)[0]
    assert 10 < pos.mean() < 50 and len(pos) == 30
    # and the file is not in id order
    ids = [ex.id for ex in a.iter_examples()]
    assert ids != sorted(ids)


def test_non_nested_draws_differ_but_counts_hold():
    mixer = CorruptionMixer(POOL, 60, seed=0, nested=False)
    lo, hi = mixer.mix(0.25), mixer.mix(0.75)
    bad_lo = {i for i, lab in labels_by_id(lo).items() if lab != "correct"}
    bad_hi = {i for i, lab in labels_by_id(hi).items() if lab != "correct"}
    assert len(bad_lo) == 45 and len(bad_hi) == 15 and not bad_hi <= bad_lo


def test_errors():
    with pytest.raises(ConfigError, match="larger than the pool"):
        CorruptionMixer(POOL, 61)
    with pytest.raises(ConfigError):
        CorruptionMixer(POOL, 10).mix(1.5)
    with pytest.raises(ConfigError):
        CorruptionMixer(POOL, 10).mix(-0.01)
    with pytest.raises(ConfigError):
        CorruptionMixer(POOL, 10).mix(0.5, "catastrophic")
    with pytest.raises(ConfigError):
        CorruptionMixer(POOL, 10, seed=-1)
    with pytest.raises(DataError, match="duplicate id"):
        ExamplePool(make_examples(3) + make_examples(1))
    lacking = ExamplePool(make_examples(20, lacking_subtle=set(range(0, 20, 2))))
    with pytest.raises(DataError) as info:
        CorruptionMixer(lacking, 20, seed=0).mix(0.0, "subtle")
    assert info.value.field == "incorrect.subtle" and info.value.id is not None
    assert int(info.value.id[2:]) % 2 == 0  # names a prompt that really lacks it
    CorruptionMixer(lacking, 20, seed=0).mix(0.0, "obvious")  # the other kind is fine


def test_sample_pools_mix():
    pool = load_sample_pool()
    assert len(pool) == 128 and pool.kinds == ("obvious", "subtle")
    m = CorruptionMixer(pool, 100, seed=0).mix(0.5, {"obvious": 0.5, "subtle": 0.5})
    assert m.counts == {"correct": 50, "obvious": 25, "subtle": 25}
    assert {ex.domain for ex in m.iter_examples()} == {"coding", "finance", "health", "legal"}


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(
        st.text(min_size=1, max_size=40).filter(lambda t: t.strip()), min_size=6, max_size=6
    ),
    system=st.booleans(),
)
def test_fast_jsonl_path_equals_canonical_encoder(texts, system):
    from dataquality_thresholds.io import chat_row_bytes

    # an incorrect response equal to the correct one is refused (PairedExample)
    assume(texts[2].strip() not in {texts[3].strip(), texts[4].strip()})
    prompt = [{"role": "system", "content": texts[0]}] if system else []
    exs = [
        PairedExample(
            id=f"k{i}",
            domain="d",
            prompt=[*prompt, {"role": "user", "content": texts[1] + str(i)}],
            correct=texts[2],
            incorrect={"obvious": texts[3], "subtle": texts[4]},
        )
        for i in range(4)
    ]
    m = CorruptionMixer(ExamplePool(exs), 4, seed=0).mix(0.5, {"obvious": 0.5, "subtle": 0.5})
    expected = b"".join(chat_row_bytes(ex.messages) for ex in m.iter_examples())
    assert b"".join(m.iter_jsonl()) == expected
    for line in expected.split(b"\n")[
        :-1
    ]:  # not splitlines(): U+0085 and U+2028 are not row breaks
        json.loads(line)
