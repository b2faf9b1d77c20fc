import math

import pytest
from statsmodels.stats.proportion import proportion_confint

from dataquality_thresholds import ConfigError, DataError, EvalItem
from dataquality_thresholds.evaluation import DomainScorer
from dataquality_thresholds.records import Completion


class Verdict:
    def __init__(self, score, label=None):
        self.score, self.label = score, label


class ScriptedSampler:
    """Answers each item with a fixed list of texts (one per sample)."""

    def __init__(self, script):
        self.script = script
        self.calls = []

    def complete(self, model, prompts, *, n=1, temperature=1.0, max_tokens=None, seed=None):
        self.calls.append((model, len(prompts), n, temperature))
        return [
            [Completion(text=self.script[p.id][j], model=model, index=j) for j in range(n)]
            for p in prompts
        ]


class ScriptedJudge:
    def __init__(self, table):
        self.table = table
        self.seen = []

    def score_many(self, pairs, *, rubric=None):
        out = []
        for item, answer in pairs:
            self.seen.append((item.id, answer))
            out.append(
                Verdict(*self.table[answer])
                if isinstance(self.table[answer], tuple)
                else Verdict(self.table[answer])
            )
        return out


ITEMS = [
    EvalItem(
        id=f"i{k}", domain="finance", prompt=f"q{k}?", reference="x", skill="a" if k < 3 else "b"
    )
    for k in range(5)
]


def test_binary_scores_get_a_wilson_interval():
    sampler = ScriptedSampler(
        {"i0": ["ok"], "i1": ["ok"], "i2": ["bad"], "i3": ["ok"], "i4": ["bad"]}
    )
    judge = ScriptedJudge({"ok": 100, "bad": 0})
    res = DomainScorer(ITEMS, judge, level=0.9).score(sampler, "m1")
    assert res.binary and res.interval == "wilson" and res.mean == pytest.approx(3 / 5)
    lo, hi = proportion_confint(3, 5, alpha=0.1, method="wilson")
    assert res.ci == pytest.approx((lo, hi))
    assert res.per_skill["a"].mean == pytest.approx(2 / 3) and res.per_skill[
        "b"
    ].mean == pytest.approx(1 / 2)
    assert res.per_skill["a"].ci == pytest.approx(
        proportion_confint(2, 3, alpha=0.1, method="wilson")
    )
    assert sampler.calls == [("m1", 5, 1, 0.0)]  # greedy by default, one call
    assert [r["text"] for r in res.to_rows()] == ["ok", "ok", "bad", "ok", "bad"]
    assert res.completions[2][0].text == "bad" and res.judgments[2][0].score == 0


def test_graded_scores_and_several_samples_use_the_item_bootstrap():
    script = {f"i{k}": ["hi", "lo"] for k in range(5)}
    script["i4"] = ["none", "hi"]
    judge = ScriptedJudge({"hi": 80, "lo": 20, "none": (None, "REFUSAL")})
    res = DomainScorer(ITEMS, judge, seed=3).score(ScriptedSampler(script), "m", samples=2)
    # items 0-3: mean 0.5 each; item 4: only the scored "hi" counts -> 0.8
    assert res.mean == pytest.approx((4 * 0.5 + 0.8) / 5)
    assert res.interval == "bootstrap" and not res.binary and res.n_unscored == 1
    assert res.ci[0] <= res.mean <= res.ci[1] and res.ci[0] >= 0.5 and res.ci[1] <= 0.8
    again = DomainScorer(ITEMS, judge, seed=3).score(ScriptedSampler(script), "m", samples=2)
    assert again.ci == res.ci
    assert res.per_item[4].labels == ("REFUSAL", None)


def test_unscored_items_are_left_out():
    judge = ScriptedJudge({"x": None, "ok": 100})
    script = {"i0": ["x"], "i1": ["ok"], "i2": ["x"], "i3": ["ok"], "i4": ["ok"]}
    res = DomainScorer(ITEMS, judge).score(ScriptedSampler(script), "m")
    assert res.n_items == 3 and res.n_unscored == 2 and res.mean == 1.0


def test_errors():
    with pytest.raises(ConfigError):
        DomainScorer([], ScriptedJudge({}))
    with pytest.raises(DataError, match="duplicate"):
        DomainScorer([ITEMS[0], ITEMS[0]], ScriptedJudge({}))
    with pytest.raises(ConfigError):
        DomainScorer(ITEMS, ScriptedJudge({})).score(ScriptedSampler({}), "m", samples=0)

    class Short(ScriptedSampler):
        def complete(self, model, prompts, **kw):
            return super().complete(model, prompts, **kw)[:-1]

    with pytest.raises(DataError, match="sampler returned"):
        DomainScorer(ITEMS, ScriptedJudge({"ok": 100})).score(
            Short({f"i{k}": ["ok"] for k in range(5)}), "m"
        )
    assert math.isnan(float("nan"))
