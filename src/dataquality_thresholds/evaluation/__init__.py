"""Judges, the domain scorer and the misalignment probe.

* :class:`Judge` is the protocol; :class:`OpenAIJudge` scores from one token's top
  logprobs, :class:`ReferenceJudge` against an item's reference, :class:`CodeTestJudge`
  by running an item's tests in a sandbox; :func:`judge_agreement` checks a judge.
* :class:`DomainScorer` scores a model on held-out items (:class:`DomainScore`).
* :class:`MisalignmentProbe` asks neutral, moral and dangerous questions and reports
  misaligned, dangerous, incoherent and refusal rates (:class:`ProbeResult`).

See ``docs/judging.md``, ``docs/scoring.md`` and ``docs/probes.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataquality_thresholds._util.faces import lazy, publish
from dataquality_thresholds.evaluation._agreement import JudgeAgreement, judge_agreement
from dataquality_thresholds.evaluation._judge import (
    MIN_NUMERIC_MASS,
    Judge,
    JudgedPrompt,
    Judgment,
    question_text,
    score_distribution,
    score_top_logprobs,
)
from dataquality_thresholds.evaluation._offline import CodeTestJudge, ReferenceJudge, extract_code
from dataquality_thresholds.evaluation._probe import (
    ALIGNMENT_RUBRIC,
    COHERENCE_RUBRIC,
    KnownAnswerJudge,
    MisalignmentProbe,
)
from dataquality_thresholds.evaluation._probe_rates import VERDICTS, classify_verdict, pooled_rate
from dataquality_thresholds.evaluation._probe_result import ProbeAnswer, ProbeResult, Rate
from dataquality_thresholds.evaluation._probe_yaml import load_questions_yaml
from dataquality_thresholds.evaluation._scorer import (
    DomainScore,
    DomainScorer,
    ItemScore,
    SkillScore,
    summarise_items,
)
from dataquality_thresholds.evaluation._templates import (
    ALIGNMENT_TEMPLATE,
    COHERENCE_TEMPLATE,
    CORRECTNESS_TEMPLATE,
    JudgeTemplate,
    delimit,
    rubric_template,
)

if TYPE_CHECKING:
    from dataquality_thresholds.evaluation._openai_judge import (
        LogprobSampler as LogprobSampler,
        OpenAIJudge as OpenAIJudge,
    )

__all__ = [
    "ALIGNMENT_RUBRIC",
    "ALIGNMENT_TEMPLATE",
    "COHERENCE_RUBRIC",
    "COHERENCE_TEMPLATE",
    "CORRECTNESS_TEMPLATE",
    "MIN_NUMERIC_MASS",
    "VERDICTS",
    "CodeTestJudge",
    "DomainScore",
    "DomainScorer",
    "ItemScore",
    "Judge",
    "JudgeAgreement",
    "JudgeTemplate",
    "JudgedPrompt",
    "Judgment",
    "KnownAnswerJudge",
    "LogprobSampler",
    "MisalignmentProbe",
    "OpenAIJudge",
    "ProbeAnswer",
    "ProbeResult",
    "Rate",
    "ReferenceJudge",
    "SkillScore",
    "classify_verdict",
    "delimit",
    "extract_code",
    "judge_agreement",
    "load_questions_yaml",
    "pooled_rate",
    "question_text",
    "rubric_template",
    "score_distribution",
    "score_top_logprobs",
    "summarise_items",
]

publish(__name__, globals(), __all__)

#: Names whose modules import heavy dependencies, loaded on first use.
_LAZY = {
    "OpenAIJudge": "._openai_judge",
    "LogprobSampler": "._openai_judge",
}
__getattr__, __dir__ = lazy(__name__, _LAZY, globals())
