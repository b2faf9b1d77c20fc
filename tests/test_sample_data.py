import importlib.util
from pathlib import Path

import pytest

from dataquality_thresholds import SAMPLE_DOMAINS, ConfigError, load_sample_examples

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_sample_data.py"


def load_script():
    spec = importlib.util.spec_from_file_location("make_sample_data", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bundled_data_is_what_the_generator_makes(tmp_path):
    mod = load_script()
    mod.build(tmp_path)
    for domain in SAMPLE_DOMAINS:
        shipped = load_sample_examples(domain)
        assert (tmp_path / f"{domain}.jsonl").read_text(encoding="utf-8").count("\n") == len(
            shipped
        )
    assert mod.main(["--check"]) == 0


def test_every_domain_has_a_few_dozen_checked_examples():
    for domain in SAMPLE_DOMAINS:
        rows = load_sample_examples(domain)
        assert len(rows) >= 24
        assert all(r.domain == domain and r.skill for r in rows)
        assert all(set(r.incorrect) == {"obvious", "subtle"} for r in rows)
        assert all(r.correct != r.incorrect["subtle"] != r.incorrect["obvious"] for r in rows)


def test_coding_answers_pass_and_fail_their_tests():
    mod = load_script()
    for name, _q, good, subtle, obvious, tests in mod.CODING_TASKS:
        assert mod.passes(good, tests), name
        assert not mod.passes(subtle, tests), name
        assert not mod.passes(obvious, tests), name


def test_finance_correct_answers_are_computed():
    # the first finance row is compound interest: recompute it from the prompt
    import re

    row = next(r for r in load_sample_examples("finance") if r.skill == "compound_interest")
    p, r, n = re.search(
        r"\$([\d,]+\.\d\d) at ([\d.]+)% .* after (\d+) years", row.prompt[0].content
    ).groups()
    expected = float(p.replace(",", "")) * (1 + float(r) / 100) ** int(n)
    assert f"${expected:,.2f}" in row.correct
    assert f"${expected:,.2f}" not in row.incorrect["subtle"]


def test_unknown_domain():
    with pytest.raises(ConfigError, match="no sample data"):
        load_sample_examples("astrology")
