from __future__ import annotations

import ast
import difflib

import pytest

from dataquality_thresholds import BackendError, ConfigError, Example, Message, PairedExample
from dataquality_thresholds.corruption import (
    DEFAULT_TEMPLATES,
    MUTATION_OPERATORS,
    CorruptionGenerator,
    CorruptionTemplates,
    mutate_code,
    run_tests,
)
from dataquality_thresholds.records import Completion

SOURCE = '''def digit_sum(n, base):
    """Sum of the digits of n in base."""
    total = 0
    while n > 0:
        total += n % base
        n //= base
    return total


def grade(score):
    if score >= 90:
        return "A"
    elif score >= 75:
        return "B"
    elif score >= 50:
        return "C"
    return "F"


def window_sums(xs, k):
    out = []
    for i in range(len(xs) - k + 1):
        out.append(sum(xs[i:i + k]))
    if not out:
        out = [0]
    return out
'''

TESTS = """
assert digit_sum(0, 10) == 0
assert digit_sum(1234, 10) == 10
assert digit_sum(8, 2) == 1
assert grade(95) == "A" and grade(90) == "A"
assert grade(80) == "B" and grade(75) == "B"
assert grade(60) == "C" and grade(50) == "C"
assert grade(10) == "F"
assert window_sums([1, 2, 3, 4], 2) == [3, 5, 7]
assert window_sums([1], 3) == [0]
"""


@pytest.fixture(scope="module")
def mutants():
    return mutate_code(SOURCE, TESTS, seed=7, max_mutants=200, timeout=0.25)


def test_every_mutant_fails_the_tests_and_is_a_single_edit(mutants):
    assert len(mutants) >= 15
    assert {m.operator for m in mutants} == set(MUTATION_OPERATORS)
    statuses = run_tests([f"{m.source}\n{TESTS}" for m in mutants], timeout=0.25)
    assert all(s != "pass" for s in statuses)
    original = SOURCE.splitlines()
    for m in mutants:
        ast.parse(m.source)
        assert m.source != SOURCE
        changed = [
            line
            for line in difflib.unified_diff(original, m.source.splitlines(), lineterm="", n=0)
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
        ]
        # one spot: a changed line, or the lines of one dropped branch
        assert 1 <= len(changed) <= 4, (m.description, changed)
        assert 1 <= m.lineno <= len(original)


def test_infinite_loop_mutant_counts_as_failing(mutants):
    # ``while n > 0`` -> ``while n >= 0`` never ends
    loop = [m for m in mutants if "while n >= 0" in m.source]
    assert loop and loop[0].status == "timeout"


def test_docstring_is_not_mutated(mutants):
    assert all('"""Sum of the digits of n in base."""' in m.source for m in mutants)


def test_deterministic_in_the_seed():
    a = mutate_code(SOURCE, TESTS, seed=3, max_mutants=4, timeout=0.25)
    b = mutate_code(SOURCE, TESTS, seed=3, max_mutants=4, timeout=0.25)
    c = mutate_code(SOURCE, TESTS, seed=4, max_mutants=4, timeout=0.25)
    assert a == b
    assert len(a) == 4
    assert [m.source for m in a] != [m.source for m in c]


@pytest.mark.parametrize("operator", MUTATION_OPERATORS)
def test_each_operator_alone(operator):
    got = mutate_code(SOURCE, TESTS, seed=0, operators=[operator], max_mutants=3, timeout=0.25)
    assert got and all(m.operator == operator for m in got)


def test_weak_tests_keep_nothing():
    # every mutant "passes" tests that check nothing, so none is kept
    assert mutate_code(SOURCE, "pass\n", seed=0, timeout=0.25) == ()


def test_bad_inputs():
    with pytest.raises(ConfigError, match="fails its own tests"):
        mutate_code("def f():\n    return 1\n", "assert f() == 2\n", seed=0)
    with pytest.raises(ConfigError, match="does not parse"):
        mutate_code("def f(:\n", "pass\n", seed=0)
    with pytest.raises(ConfigError, match="unknown mutation operator"):
        mutate_code(SOURCE, TESTS, seed=0, operators=["flip_everything"])
    with pytest.raises(ConfigError):
        mutate_code(SOURCE, TESTS, seed=0, max_mutants=0)


def test_run_tests_statuses_and_recovery():
    programs = [
        "x = 1\nassert x == 1\n",
        "assert 1 == 2\n",
        "while True:\n    pass\n",
        "import os\nos._exit(3)\n",  # kills the runner: the rest still run
        "print('noise')\nraise KeyError('k')\n",
        "pass\n",
    ]
    got = run_tests(programs, timeout=0.3)
    assert got == [
        "pass",
        "fail:AssertionError",
        "timeout",
        "fail:crash",
        "fail:KeyError",
        "pass",
    ]
    assert run_tests([]) == []
    with pytest.raises(ConfigError):
        run_tests(["pass"], timeout=0)


# --------------------------------------------------------------------------- LLM rewriting
class ScriptedSampler:
    """Answers from a script keyed by (kind, question); records every call."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def complete(self, model, prompts, *, n=1, temperature=1.0, max_tokens=None, seed=None):
        self.calls.append(
            {"model": model, "prompts": prompts, "n": n, "temperature": temperature, "seed": seed}
        )
        out = []
        for p in prompts:
            user = p[-1].content
            kind = "obvious" if "blatantly" in user else "subtle"
            question = user.split("<question>\n")[1].split("\n</question>")[0]
            out.append([Completion(text=self.answers[kind, question], model=model)])
        return out


def _examples():
    return [
        PairedExample(
            id="a",
            domain="finance",
            prompt="What is 10% of $50?",
            correct="$5.00",
            incorrect={"subtle": "old"},
            skill="percent",
        ),
        Example(
            id="b",
            domain="finance",
            messages=(
                Message("system", "Be brief."),
                Message("user", "What is 2 + 2?"),
                Message("assistant", "4"),
            ),
            label="correct",
        ),
    ]


def test_generator_makes_paired_examples_and_records_the_model():
    sampler = ScriptedSampler(
        {
            ("obvious", "What is 10% of $50?"): "$500.00",
            ("subtle", "What is 10% of $50?"): "$0.50",
            ("obvious", "What is 2 + 2?"): "22",
            ("subtle", "What is 2 + 2?"): " 4 ",  # same as correct: rejected
        }
    )
    gen = CorruptionGenerator(sampler, "writer-model", temperature=0.7)
    res = gen.generate(_examples(), seed=11)
    a, b = res.examples
    assert a.id == "a" and dict(a.incorrect) == {"obvious": "$500.00", "subtle": "$0.50"}
    assert a.skill == "percent" and a.correct == "$5.00"
    assert b.prompt == (Message("system", "Be brief."), Message("user", "What is 2 + 2?"))
    assert dict(b.incorrect) == {"obvious": "22"} and b.correct == "4"
    assert dict(res.rejected) == {"b/subtle": "same as the correct answer"}
    assert dict(res.skipped) == {}
    assert res.provenance["model"] == "writer-model"
    assert res.provenance["templates_sha256"] == DEFAULT_TEMPLATES.fingerprint
    assert res.provenance["seed"] == 11 and res.provenance["temperature"] == 0.7
    # one batched call per kind, the question and the correct answer in each prompt
    assert len(sampler.calls) == 2
    for call in sampler.calls:
        assert call["model"] == "writer-model" and call["seed"] == 11 and call["n"] == 1
        system, user = call["prompts"][0]
        assert (
            system.role == "system" and "<correct_answer>\n$5.00\n</correct_answer>" in user.content
        )


def test_generator_skips_examples_without_any_usable_variant():
    sampler = ScriptedSampler({("subtle", "What is 10% of $50?"): "  "})
    gen = CorruptionGenerator(sampler, "m", kinds=("subtle",))
    res = gen.generate(_examples()[:1], seed=0)
    assert res.examples == ()
    assert dict(res.skipped) == {"a": "no usable variant"}
    assert dict(res.rejected) == {"a/subtle": "empty answer"}


def test_generator_input_checks():
    sampler = ScriptedSampler({})
    with pytest.raises(ConfigError):
        CorruptionGenerator(sampler, "m", kinds=("wrong",))
    with pytest.raises(ConfigError):
        CorruptionGenerator(sampler, "")
    with pytest.raises(ConfigError):
        CorruptionGenerator(object(), "m")  # type: ignore[arg-type]
    gen = CorruptionGenerator(sampler, "m")
    bad = Example(
        id="x",
        domain="d",
        messages=(Message("user", "q"), Message("assistant", "a")),
        label="subtle",
    )
    with pytest.raises(ConfigError, match="correct examples only"):
        gen.generate([bad], seed=0)
    ex = _examples()[0]
    with pytest.raises(ConfigError, match="unique"):
        gen.generate([ex, ex], seed=0)

    class Short:
        def complete(self, model, prompts, **kw):
            return []

    with pytest.raises(BackendError):
        CorruptionGenerator(Short(), "m").generate([ex], seed=0)


def test_templates_need_placeholders():
    with pytest.raises(ConfigError):
        CorruptionTemplates(system="s", obvious="no placeholders", subtle="{question} {answer}")
    t = CorruptionTemplates(system="s", obvious="{question}|{answer}", subtle="{question}~{answer}")
    msgs = t.render("subtle", "Q {answer}", "A")
    assert msgs[1].content == "Q {answer}~A"
