from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from dataquality_thresholds import ConfigError, DataError
from dataquality_thresholds.evaluation import (
    ALIGNMENT_RUBRIC,
    COHERENCE_RUBRIC,
    MisalignmentProbe,
    load_questions_yaml,
)
from dataquality_thresholds.records import Completion, ProbeQuestion

EM = Path(__file__).resolve().parents[2].parent / "shared" / "em_data" / "emergent-misalignment"
needs_shared = pytest.mark.skipif(
    not EM.is_dir(), reason="../shared/em_data is not present (plain clone)"
)


class Verdict:
    def __init__(self, score, label=None):
        self.score, self.label = score, label


class ScriptedSampler:
    def __init__(self, script):
        self.script = script  # last user message -> list of answers

    def complete(self, model, prompts, *, n=1, temperature=1.0, max_tokens=None, seed=None):
        out = []
        for p in prompts:
            texts = self.script[p[-1].content]
            assert len(texts) == n
            out.append([Completion(text=t, model=model, index=j) for j, t in enumerate(texts)])
        return out


class TableJudge:
    def __init__(self, table):
        self.table = table
        self.rubrics = []

    def score_many(self, pairs, *, rubric=None):
        self.rubrics.append(rubric)
        return [Verdict(*self.table[a]) for _, a in pairs]


ALIGNED = TableJudge(
    {"A": (90,), "M": (10,), "I": (10,), "R": (None, "REFUSAL"), "C": (None, "CODE"), "U": (None,)}
)
COHERENT = TableJudge({"A": (90,), "M": (80,), "I": (20,), "R": (90,), "C": (90,), "U": (50,)})

QUESTIONS = [
    ProbeQuestion(id="q1", category="neutral", paraphrases=("wish?", "your wish?")),
    ProbeQuestion(id="q2", category="moral", paraphrases=("is lying ok?",), system="Be honest."),
    ProbeQuestion(id="q3", category="dangerous", paraphrases=("do harm?",)),
]
SCRIPT = {
    "wish?": ["A", "M"],
    "your wish?": ["A", "I"],
    "is lying ok?": ["M", "M", "R", "A"],
    "do harm?": ["M", "C", "A", "U"],
}


def cluster_ci(events, totals, level=0.95):
    e, t = np.array(events, float), np.array(totals, float)
    r = e.sum() / t.sum()
    g = len(e)
    se = np.sqrt(g / (g - 1) * np.sum((e - r * t) ** 2)) / t.sum()
    q = stats.t.ppf(0.5 + level / 2, g - 1)
    return max(0, r - q * se), min(1, r + q * se)


def test_rates_match_hand_counts():
    probe = MisalignmentProbe(QUESTIONS, ALIGNED, coherence_judge=COHERENT)
    res = probe.run(ScriptedSampler(SCRIPT), "ft:model", samples_per_question=4)
    # scored answers: q1 4, q2 4, q3 3 (the unscored U is left out) -> 11
    assert res.misaligned.total == 11 and res.misaligned.events == 4
    assert res.misaligned_rate == pytest.approx(4 / 11)
    assert res.misaligned.ci == pytest.approx(cluster_ci([1, 2, 1], [4, 4, 3]))
    assert res.incoherent_rate == pytest.approx(1 / 11) and res.refusal_rate == pytest.approx(
        1 / 11
    )
    assert res.dangerous_rate == pytest.approx(1 / 3) and res.dangerous.total == 3
    assert res.misaligned_coherent.events == 4 and res.misaligned_coherent.total == 8
    assert res.per_question["q2"]["misaligned"].rate == pytest.approx(0.5)
    assert res.per_question["q3"]["code"].events == 1
    assert res.per_category["moral"]["refusal"].rate == pytest.approx(0.25)
    # mean alignment over numeric scores that are not code/refusal: A90 M10 A90 I10 | M10 M10 A90 | M10 A90
    assert res.mean_alignment == pytest.approx(np.mean([90, 10, 90, 10, 10, 10, 90, 10, 90]))
    assert res.mean_alignment_by_category["moral"] == pytest.approx(np.mean([10, 10, 90]))
    verdicts = [a.verdict for a in res.answers if a.question_id == "q1"]
    assert verdicts == ["aligned", "misaligned", "aligned", "incoherent"]
    assert [a.paraphrase for a in res.answers if a.question_id == "q1"] == [0, 0, 1, 1]
    assert len(res.completions) == len(res.answers) == 12


def test_default_rubrics_and_system_prompt_are_used():
    seen_prompts = []

    class Recording(ScriptedSampler):
        def complete(self, model, prompts, **kw):
            seen_prompts.extend(prompts)
            return super().complete(model, prompts, **kw)

    aligned = TableJudge(ALIGNED.table)
    coherent = TableJudge(COHERENT.table)
    MisalignmentProbe(QUESTIONS, aligned, coherence_judge=coherent).run(
        Recording(SCRIPT), "m", samples_per_question=4
    )
    assert set(aligned.rubrics) == {ALIGNMENT_RUBRIC} and set(coherent.rubrics) == {
        COHERENCE_RUBRIC
    }
    q2 = next(p for p in seen_prompts if p[-1].content == "is lying ok?")
    assert q2[0].role == "system" and q2[0].content == "Be honest."


def test_all_zero_rate_still_has_an_interval():
    script = {
        "wish?": ["A", "A"],
        "your wish?": ["A", "A"],
        "is lying ok?": ["A"] * 4,
        "do harm?": ["A"] * 4,
    }
    res = MisalignmentProbe(QUESTIONS, ALIGNED, coherence_judge=COHERENT).run(
        ScriptedSampler(script), "m", samples_per_question=4
    )
    assert res.misaligned_rate == 0 and res.misaligned.ci[0] == 0 and 0 < res.misaligned.ci[1] < 1


def test_thresholds_are_configurable():
    probe = MisalignmentProbe(QUESTIONS, ALIGNED, coherence_judge=COHERENT, aligned_below=95)
    res = probe.run(ScriptedSampler(SCRIPT), "m", samples_per_question=4)
    assert res.misaligned.events == 4 + 4  # the four coherent A answers (90) now count too


def test_constructor_errors():
    with pytest.raises(ConfigError):
        MisalignmentProbe([], ALIGNED)
    with pytest.raises(DataError, match="duplicate"):
        MisalignmentProbe([QUESTIONS[0], QUESTIONS[0]], ALIGNED)
    with pytest.raises(DataError):
        ProbeQuestion(id="x", paraphrases=())


# ---------------------------------------------------------------------- YAML
@needs_shared
@pytest.mark.parametrize(
    "name, count", [("first_plot_questions.yaml", 24), ("preregistered_evals.yaml", 48)]
)
def test_reads_betley_question_files(name, count):
    import yaml

    raw = yaml.safe_load((EM / name).read_text())
    qs = load_questions_yaml(EM / name)
    assert len(qs) == count
    for q, r in zip(qs, raw):
        assert q.id == r["id"] and q.paraphrases == tuple(r["paraphrases"])
        assert q.system == r.get("system")
        assert q.judge_prompts["aligned"] == r["judge_prompts"]["aligned"]
    with_system = [q for q in qs if q.system]
    if name == "first_plot_questions.yaml":
        assert len(with_system) == 8 and with_system[0].prompt(0)[0].role == "system"


@needs_shared
def test_question_judge_prompts_become_the_rubric():
    qs = load_questions_yaml(EM / "first_plot_questions.yaml")[:3]
    script = {}
    for q in qs:
        for p in q.paraphrases:
            script[p] = ["A"]
    aligned, coherent = TableJudge(ALIGNED.table), TableJudge(COHERENT.table)
    probe = MisalignmentProbe(qs, aligned, coherence_judge=coherent)
    res = probe.run(ScriptedSampler(script), "m", samples_per_question=len(qs[0].paraphrases))
    assert set(aligned.rubrics) == {q.judge_prompts["aligned"] for q in qs}
    assert set(coherent.rubrics) == {q.judge_prompts["coherent"] for q in qs}
    assert res.misaligned_rate == 0


BAD_YAML = {
    "missing id": ("- paraphrases: [hi]\n", None, "id"),
    "empty paraphrases": ("- id: a\n  paraphrases: []\n", "a", "paraphrases"),
    "unknown key": ("- id: a\n  paraphrases: [hi]\n  colour: red\n", "a", "colour"),
    "no coherent prompt": (
        "- id: a\n  paraphrases: [hi]\n  judge_prompts:\n    aligned: x\n",
        "a",
        "judge_prompts.coherent",
    ),
    "duplicate id": ("- id: a\n  paraphrases: [hi]\n- id: a\n  paraphrases: [ho]\n", "a", "id"),
    "bad samples": (
        "- id: a\n  paraphrases: [hi]\n  samples_per_paraphrase: -3\n",
        "a",
        "samples_per_paraphrase",
    ),
    "not a list": ("id: a\n", None, "<yaml>"),
    "syntax": ("- id: a\n  paraphrases: [hi\n", None, "<yaml>"),
}


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_malformed_yaml_names_the_question(tmp_path, case):
    text, qid, field = BAD_YAML[case]
    p = tmp_path / "q.yaml"
    p.write_text(text)
    with pytest.raises(DataError) as info:
        MisalignmentProbe.from_yaml(p, ALIGNED)
    assert info.value.field == field and info.value.id == qid and info.value.path == str(p)
    if qid is not None:
        assert f"id '{qid}'" in str(info.value) and info.value.line is not None
