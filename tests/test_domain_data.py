"""The bundled four-domain data: sizes, held-out split, and correctness checked, not asserted.

Every arithmetic answer is recomputed here from the numbers parsed out of the
prompt (with a regex per skill), independently of the generator; the correct
response must contain the value and the incorrect ones must not. Coding
answers are run against their tests (one subprocess for all of them).
"""

from __future__ import annotations

import calendar
import datetime as dt
import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dataquality_thresholds import ConfigError, DataError, EvalItem
from dataquality_thresholds.corruption import run_tests
from dataquality_thresholds.domains import (
    DOMAINS,
    DomainData,
    load_domain,
    load_judge_check,
    load_probe_questions,
)
from dataquality_thresholds.evaluation import ReferenceJudge
from dataquality_thresholds.io import (
    read_eval_jsonl,
    read_judge_check_jsonl,
    read_probe_questions_jsonl,
    write_eval_jsonl,
)
from dataquality_thresholds.records import JUDGE_LABELS

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_domain_data.py"


@pytest.fixture(scope="module")
def data() -> dict[str, DomainData]:
    return {d: load_domain(d) for d in DOMAINS}


def train_rows(dd: DomainData):
    return list(dd.pool)


def text(messages) -> str:
    return "\n".join(m.content for m in messages)


# --------------------------------------------------------------------------- sizes and shape
def test_sizes_and_shape(data):
    for name, dd in data.items():
        rows = train_rows(dd)
        assert len(rows) >= 200, name
        assert len(dd.eval_items) >= 60, name
        assert all(r.domain == name and r.skill for r in rows)
        assert all(set(r.incorrect) == {"obvious", "subtle"} for r in rows)
        assert all(len({r.correct, *r.incorrect.values()}) == 3 for r in rows)
        for it in dd.eval_items:
            assert it.domain == name and it.skill and it.reference
            assert len(it.incorrect) == 2 and it.reference not in it.incorrect
            assert (it.tests is not None) == (name == "coding")
        # every eval skill is trained on, and has several items
        assert {it.skill for it in dd.eval_items} <= {r.skill for r in rows}
        assert min(Counter(it.skill for it in dd.eval_items).values()) >= 2


def _skeleton(s: str) -> str:
    s = re.sub(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b", "D", s)
    s = re.sub(r"\b(" + "|".join(calendar.month_name[1:]) + r")\b", "M", s)
    s = re.sub(r"[-$]?\d[\d,]*(\.\d+)?", "#", s)
    s = re.sub(r"'[a-z]'", "'c'", s)
    return re.sub(r"`[^`]*`", "`f`", s)


def test_eval_is_held_out(data):
    for name, dd in data.items():
        train = [text(r.prompt) for r in train_rows(dd)]
        evals = [text(it.prompt) for it in dd.eval_items]
        assert not set(train) & set(evals), name
        # eval prompts are worded differently: no eval prompt has a training prompt's
        # shape once numbers, dates and names are blanked out
        shapes = {_skeleton(t) for t in train}
        clash = [e for e in evals if _skeleton(e) in shapes]
        assert not clash, clash[:3]


def test_coding_eval_tasks_are_new(data):
    # the task description (function and its parameters) differs from every training one
    def task(prompt: str) -> str:
        m = re.search(r"`([^`]+)`.*?\b(?:that|which|[Ii]t) (.*?)(?:\. |\.$)", prompt)
        assert m, prompt
        return f"{m.group(1)}|{m.group(2)}"

    dd = data["coding"]
    train = {task(text(r.prompt)) for r in train_rows(dd)}
    assert len(train) == len(train_rows(dd))
    for it in dd.eval_items:
        assert task(text(it.prompt)) not in train, it.id


# --------------------------------------------------------------------------- recomputation
MONEY = r"\$([\d,]+(?:\.\d+)?)"


def _f(s: str) -> float:
    return float(s.replace(",", ""))


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _has(text_: str, token: str) -> bool:
    return re.search(r"(?<![\d.,$])" + re.escape(token) + r"(?![\d])", text_) is not None


def _finance_value(skill: str, q: str) -> tuple[str, tuple]:
    P = _f(re.search(MONEY, q).group(1))
    if skill == "tax_brackets":
        m = re.search(
            r"(\d+)% on income up to \$([\d,]+), (\d+)% on income between \$([\d,]+) and "
            r"\$([\d,]+), and (\d+)% on income over \$([\d,]+)",
            q,
        )
        r1, a, r2, a2, b, r3, b2 = (_f(g) for g in m.groups())
        assert a == a2 and b == b2
        x = _f(re.search(r"taxable income of \$([\d,]+)", q).group(1))
        bands = [(0, a, r1), (a, b, r2), (b, float("inf"), r3)]
        tax = sum(max(0.0, min(x, hi) - lo) * r / 100 for lo, hi, r in bands)
        return _money(tax), (r1, r2, r3, a, b, x)
    r = float(re.search(r"([\d.]+)%", q).group(1))
    n = int(re.search(r"(\d+) years", q).group(1))
    if skill == "simple_interest":
        return _money(P * r / 100 * n), (P, r, n)
    if skill == "compound_interest":
        m = {"annually": 1, "quarterly": 4, "monthly": 12}[
            re.search(r"compounded (annually|quarterly|monthly)", q).group(1)
        ]
        return _money(P * (1 + r / 100 / m) ** (m * n)), (P, r, n, m)
    assert skill == "loan_payment"
    i, k = r / 1200, 12 * n
    # closed form checked against the balance recursion: the balance after k payments is 0
    pay = P * i * (1 + i) ** k / ((1 + i) ** k - 1)
    bal = P
    for _ in range(k):
        bal = bal * (1 + i) - pay
    assert abs(bal) < 1e-6 * P
    return _money(pay), (P, r, n)


def _health_value(skill: str, q: str) -> tuple[str, tuple] | None:
    if skill == "weight_dosage":
        w = int(re.search(r"(\d+) kg\b", q).group(1))
        mgkg = int(re.search(r"(\d+) mg/kg/day", q).group(1))
        d = int(re.search(r"(\d+) equal doses", q).group(1))
        return f"{w * mgkg / d:g} mg", (w, mgkg, d)
    if skill == "lb_dosage":
        lb = int(re.search(r"(\d+) lb\b", q).group(1))
        mgkg = int(re.search(r"(\d+) mg/kg", q).group(1))
        return f"{round(lb / 2.2 * mgkg, 6):g} mg", (lb, mgkg)
    if skill == "liquid_volume":
        c = int(re.search(r"(\d+) mg per 5 mL", q).group(1))
        dose = float(re.search(r"(\d+(?:\.\d+)?) mg(?! per 5 mL)", q).group(1))
        return f"{dose * 5 / c:g} mL", (c, dose)
    if skill == "infusion_rate":
        v = int(re.search(r"(\d+) mL", q).group(1))
        h = int(re.search(r"(\d+) hours", q).group(1))
        return f"{v / h:g} mL/h", (v, h)
    return None


DATE = re.compile(r"(\d{1,2}) (" + "|".join(calendar.month_name[1:]) + r") (\d{4})")


def _fmt_date(d: dt.date) -> str:
    return f"{calendar.day_name[d.weekday()]}, {d.day} {calendar.month_name[d.month]} {d.year}"


def _legal_value(skill: str, q: str) -> tuple[str, tuple] | None:
    m = DATE.search(q)
    if m is None:
        return None
    start = dt.date(int(m.group(3)), list(calendar.month_name).index(m.group(2)), int(m.group(1)))
    assert f"{calendar.day_name[start.weekday()]}, {m.group(0)}" in q  # weekday consistent
    if skill == "calendar_deadline":
        n = int(re.search(r"(\d+)(?: calendar days|-day calendar)", q).group(1))
        return _fmt_date(start + dt.timedelta(days=n)), (start, n)
    if skill == "business_days":
        n = int(re.search(r"(\d+)(?:st|nd|rd|th)? (?:business|working|weekday)", q).group(1))
        end = np.busday_offset(np.datetime64(start), n, roll="forward")
        if np.is_busday(np.datetime64(start)):
            pass
        else:  # from a weekend day, the first business day after it is day 1
            end = np.busday_offset(np.datetime64(start), n - 1, roll="forward")
        return _fmt_date(end.astype(object)), (start, n)
    if skill == "month_deadline":
        k = int(re.search(r"(\d+)[- ](?:calendar )?months?\b", q).group(1))
        y, mo = divmod(start.month - 1 + k, 12)
        y += start.year
        last = calendar.monthrange(y, mo + 1)[1]
        return _fmt_date(dt.date(y, mo + 1, min(start.day, last))), (start, k)
    if skill == "weekend_rollover":
        m = re.search(r"Day (\d+) after|(\d+)(?:-day| days| calendar days)", q)
        n = int(m.group(1) or m.group(2))
        end = start + dt.timedelta(days=n)
        while end.weekday() >= 5:
            end += dt.timedelta(days=1)
        return _fmt_date(end), (start, n)
    return None


VALUE = {"finance": _finance_value, "health": _health_value, "legal": _legal_value}


@pytest.mark.parametrize("domain", ["finance", "health", "legal"])
def test_answers_are_recomputed_from_the_prompt(data, domain):
    dd = data[domain]
    checked = Counter()
    params: dict[str, dict[str, set]] = {"train": {}, "eval": {}}
    for r in train_rows(dd):
        got = VALUE[domain](r.skill, text(r.prompt))
        if got is None:
            continue
        value, p = got
        assert _has(r.correct, value), (r.id, value, r.correct)
        for kind, wrong in r.incorrect.items():
            assert not _has(wrong, value), (r.id, kind, value, wrong)
        params["train"].setdefault(r.skill, set()).add(p)
        checked["train"] += 1
    for it in dd.eval_items:
        got = VALUE[domain](it.skill, text(it.prompt))
        if got is None:
            continue
        value, p = got
        assert it.reference == value, (it.id, value, it.reference)
        assert value not in it.incorrect
        params["eval"].setdefault(it.skill, set()).add(p)
        checked["eval"] += 1
    # the computable skills make up nearly all of each domain
    assert checked["train"] >= 200 and checked["eval"] >= 56
    # held out: no eval item reuses a training item's parameters
    for skill, ps in params["eval"].items():
        assert not ps & params["train"].get(skill, set()), skill


@pytest.mark.parametrize("domain", ["finance", "health", "legal"])
def test_reference_judge_tells_reference_from_incorrect(data, domain):
    judge = ReferenceJudge()
    for it in data[domain].eval_items:
        assert judge.score(it, it.reference).label == "correct", it.id
        for wrong in it.incorrect:
            assert judge.score(it, wrong).label == "incorrect", (it.id, wrong)
        if any(ch.isdigit() for ch in it.reference):
            sentence = f"After working it through, the answer is {it.reference}."
            assert judge.score(it, sentence).label == "correct", it.id


# Answer keys written for the test, independently of the generator: a phrase the
# correct answer to a question (found by a word in it) must contain, and no
# incorrect answer may.
KEYS = {
    "health": {
        "bleach": "chloramine",
        "aspirin": "Reye",
        "generator": "only outdoors",
        "sleep": "On their back",
        "antibiotics": "do not work against viruses",
        "burn": "cool running water",
        "vomit": "poison control",
        "parked car": "never leave them",
        "in the car": "never leave them",
        "carbon monoxide": "no colour, smell",
        "expir": "pharmacist",
        "past its date": "pharmacist",
    },
    "legal": {
        "orally": "need no particular form",
        "written down": "need no particular form",
        "silen": "silence alone is not acceptance",
        "ignore it": "silence alone is not acceptance",
        "withdraw": "revoke",
        "offeror": "revoke",
        "minor": "voidable",
        "16-year-old": "voidable",
        "criminal": "beyond a reasonable doubt",
        "illegal": "not an excuse",
        "know the law": "not an excuse",
        "crime": "refuse to enforce",
        "illegal act": "refuse to enforce",
        "gift": "without consideration",
        "for free": "without consideration",
    },
}


def test_safety_facts_and_rules_have_their_known_answers(data):
    for domain, skill in (("health", "safety_fact"), ("legal", "general_rule")):
        rows = [r for r in train_rows(data[domain]) if r.skill == skill]
        assert len(rows) >= 16
        for r in rows:
            q = text(r.prompt)
            keys = [(k, v) for k, v in KEYS[domain].items() if k in q]
            assert keys, r.id
            # the most specific key word wins (e.g. "illegal act" over "illegal")
            key = max(keys, key=lambda kv: len(kv[0]))[1]
            assert key in r.correct, (r.id, key)
            assert not any(key in w for w in r.incorrect.values()), r.id
    facts = {it.reference for it in data["health"].eval_items if it.skill == "safety_fact"}
    assert {"12 months", "20 seconds", "165 °F", "2 hours", "20 minutes"} <= facts


def _fenced(answer: str) -> str:
    m = re.fullmatch(r"```python\n(.*)```", answer, re.DOTALL)
    assert m, answer
    return m.group(1)


def test_coding_answers_pass_or_fail_their_tests(data):
    dd = data["coding"]
    # training rows carry no tests; their eval twins' tests are regenerated from
    # the generator's family table, so run the generator's own test cases
    spec = importlib.util.spec_from_file_location(
        "_coding_tasks", SCRIPT.parent / "_coding_tasks.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    families = {f["fn"]: f for f in mod.FAMILIES}
    programs, expect, where = [], [], []
    for r in train_rows(dd):
        fam = families[r.skill]
        params = [p for p in fam["params"]() if fam["desc"](*p) in text(r.prompt)]
        assert len(params) >= 1, r.id
        p = max(params, key=lambda p: len(fam["desc"](*p)))
        tests = "".join(
            f"assert {fam['fn']}({', '.join(map(repr, a))}) == {e!r}\n" for a, e in fam["cases"](*p)
        )
        for label, answer, ok in (
            ("correct", r.correct, True),
            ("subtle", r.incorrect["subtle"], False),
            ("obvious", r.incorrect["obvious"], False),
        ):
            programs.append(f"{_fenced(answer)}\n\n{tests}")
            expect.append(ok)
            where.append((r.id, label))
    for it in dd.eval_items:
        programs.append(f"{_fenced(it.reference)}\n\n{it.tests}")
        expect.append(True)
        where.append((it.id, "reference"))
        for k, wrong in enumerate(it.incorrect):
            programs.append(f"{_fenced(wrong)}\n\n{it.tests}")
            expect.append(False)
            where.append((it.id, f"incorrect[{k}]"))
    statuses = run_tests(programs, timeout=1.0)
    wrong = [(w, s) for w, s, ok in zip(where, statuses, expect) if (s == "pass") != ok]
    assert not wrong, wrong[:5]


def test_coding_tests_have_several_asserts(data):
    for it in data["coding"].eval_items:
        assert it.tests.count("assert ") >= 3, it.id


# --------------------------------------------------------------------------- generator
def _load_script():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("make_domain_data", SCRIPT)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return mod


def test_generator_reproduces_the_bundled_files():
    mod = _load_script()
    assert mod.check(skip_coding=False) == []


def test_sample_data_generator_is_untouched():
    spec = importlib.util.spec_from_file_location(
        "make_sample_data", SCRIPT.parent / "make_sample_data.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0


# --------------------------------------------------------------------------- loaders
def test_load_domain_unknown():
    with pytest.raises(ConfigError, match="no bundled data"):
        load_domain("astrology")


def test_eval_round_trip(tmp_path, data):
    items = list(data["coding"].eval_items[:3]) + list(data["finance"].eval_items[:3])
    path = tmp_path / "eval.jsonl"
    write_eval_jsonl(items, path)
    assert read_eval_jsonl(path) == items
    with pytest.raises(DataError, match="duplicate id"):
        write_eval_jsonl([items[0], items[0]], tmp_path / "dup.jsonl")


GOOD_EVAL = {
    "id": "x-1",
    "domain": "finance",
    "messages": [{"role": "user", "content": "What is 2+2?"}],
    "reference": "4",
    "incorrect": ["5"],
}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"extra": 1}, "extra"),
        ({"id": ""}, "id"),
        ({"domain": 3}, "domain"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages[0].content"),
        ({"incorrect": "5"}, "incorrect"),
        ({"incorrect": ["5", ""]}, "incorrect[1]"),
        ({"reference": ""}, "reference"),
        ({"tests": 7}, "tests"),
        ({"schema_version": 99}, "schema_version"),
    ],
)
def test_malformed_eval_rows_name_path_line_and_field(tmp_path, patch, field):
    path = tmp_path / "eval.jsonl"
    rows = [GOOD_EVAL, {**GOOD_EVAL, "id": "x-2", **patch}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_eval_jsonl(path)
    assert info.value.path == str(path)
    assert info.value.line == 2
    assert info.value.field == field


def test_malformed_eval_missing_and_empty(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text("{not json}\n", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        read_eval_jsonl(path)
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no eval items"):
        read_eval_jsonl(path)
    with pytest.raises(DataError, match="file not found"):
        read_eval_jsonl(tmp_path / "missing.jsonl")
    bad = {k: v for k, v in GOOD_EVAL.items() if k != "messages"}
    path.write_text(json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_eval_jsonl(path)
    assert info.value.field == "messages" and info.value.line == 1


# --------------------------------------------------------------------------- probe sets
def test_probe_questions():
    qs = load_probe_questions()
    by_cat = Counter(q.category for q in qs)
    assert by_cat["neutral"] >= 8 and by_cat["moral"] >= 8 and by_cat["dangerous"] >= 8
    assert len({q.id for q in qs}) == len(qs)
    for q in qs:
        assert len(q.paraphrases) >= 1
        assert len(q.aligned_examples) >= 2 and len(q.misaligned_examples) >= 2
        assert not set(q.aligned_examples) & set(q.misaligned_examples)
    assert any(q.system for q in qs)
    # misaligned answers to dangerous requests describe compliance abstractly
    for q in qs:
        if q.category == "dangerous":
            assert all("[" in a and "]" in a for a in q.misaligned_examples), q.id
    assert load_probe_questions("moral") == tuple(q for q in qs if q.category == "moral")
    with pytest.raises(ConfigError):
        load_probe_questions("spicy")


def test_judge_check_set():
    items = load_judge_check()
    ids = {q.id for q in load_probe_questions()}
    assert len(items) >= 40
    labels = Counter(i.label for i in items)
    assert set(labels) == set(JUDGE_LABELS)
    assert min(labels.values()) >= 8
    assert all(i.question_id in ids for i in items)
    assert len({i.id for i in items}) == len(items)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"id": "q", "category": "spicy", "paraphrases": ["hi"]}, "category"),
        ({"id": "q", "category": "moral", "paraphrases": []}, "paraphrases"),
        ({"id": "q", "category": "moral"}, "paraphrases"),
        ({"id": "q", "category": "moral", "paraphrases": ["hi", 3]}, "paraphrases[1]"),
        ({"id": "q", "category": "moral", "paraphrases": ["hi"], "system": ""}, "system"),
        ({"id": "q", "category": "moral", "paraphrases": ["hi"], "judge": "x"}, "judge"),
        (
            {"id": "q", "category": "moral", "paraphrases": ["hi"], "aligned_examples": "a"},
            "aligned_examples",
        ),
    ],
)
def test_malformed_questions(tmp_path, row, field):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_probe_questions_jsonl(path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 1, field)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"id": "c", "question_id": "q", "answer": "a", "label": "good"}, "label"),
        ({"id": "c", "question_id": "q", "answer": "", "label": "aligned"}, "answer"),
        ({"id": "c", "answer": "a", "label": "aligned"}, "question_id"),
        ({"id": "c", "question_id": "q", "answer": "a", "label": "aligned", "x": 1}, "x"),
    ],
)
def test_malformed_judge_check(tmp_path, row, field):
    path = tmp_path / "c.jsonl"
    good = {"id": "c0", "question_id": "q", "answer": "fine", "label": "refusal"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_judge_check_jsonl(path)
    assert (info.value.line, info.value.field) == (2, field)


def test_eval_item_is_the_records_type(data):
    assert all(isinstance(it, EvalItem) for it in data["legal"].eval_items)
