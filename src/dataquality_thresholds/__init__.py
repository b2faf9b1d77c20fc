"""dataquality_thresholds: how much of my fine-tuning data can be wrong, and still be fine.

Build training sets that mix correct and incorrect examples at chosen shares,
fine-tune on each, measure domain performance and emergent misalignment, and
fit the share of correct data at which the model recovers.

Importing the package is cheap and has no side effects: no network, no API-key
lookup, no cache directories, no logging setup.
"""

import typing

from ._version import __version__
from .backends import AnswerBook, FineTuneBackend, LocalStubBackend, MisalignmentCurve, Sampler
from .errors import (
    BackendError,
    BackendUnavailableError,
    BudgetExceededError,
    ConfigError,
    ConvergenceWarning,
    DataError,
    DataQualityThresholdsError,
    FineTuneJobError,
    FitError,
    InsufficientDataError,
    JobTimeoutError,
    SchemaVersionError,
    SeparationWarning,
    ThresholdWarning,
    TokenizerUnavailableError,
)
from .io import (
    ChatFileReport,
    read_chat_jsonl,
    read_manifest,
    read_paired_jsonl,
    validate_chat_jsonl,
    write_chat_jsonl,
    write_manifest,
    write_mixtures,
    write_paired_jsonl,
)
from .mixing import CorruptionMixer
from .pool import ExamplePool
from .records import (
    INCORRECT_KINDS,
    JOB_STATUSES,
    LABELS,
    Completion,
    CostEstimate,
    EvalItem,
    Example,
    FineTuneJob,
    Message,
    Mixture,
    MixtureSpec,
    PairedExample,
)
from .samples import SAMPLE_DOMAINS, load_sample_examples, load_sample_pool
from .tokens import count_chat_tokens, get_tokenizer

if typing.TYPE_CHECKING:
    from .backends.hf import HFBackend, LoRASpec
    from .backends.openai import OpenAIBackend, OpenAISampler
    from .cache import CompletionCache
    from .corruption import (
        CorruptionGenerator,
        CorruptionResult,
        CorruptionTemplates,
        Mutant,
        mutate_code,
    )
    from .domains import (
        DOMAINS,
        DomainData,
        JudgeCheckItem,
        load_domain,
        load_judge_check,
        load_probe_questions,
    )
    from .fitting import ThresholdFit, ThresholdFitter
    from .integrations.inspect import InspectSampler
    from .judging import (
        ALIGNMENT_TEMPLATE,
        COHERENCE_TEMPLATE,
        CORRECTNESS_TEMPLATE,
        CodeTestJudge,
        Judge,
        JudgeAgreement,
        JudgeTemplate,
        Judgment,
        OpenAIJudge,
        ReferenceJudge,
        judge_agreement,
        score_top_logprobs,
    )
    from .probes import KnownAnswerJudge, MisalignmentProbe, ProbeQuestion, ProbeResult
    from .results import StudyResults, ThresholdTable
    from .sandbox import SandboxLimits, run_python
    from .scoring import DomainScore, DomainScorer
    from .study import DomainSpec, Study, StudyPlan

__all__ = [
    "ALIGNMENT_TEMPLATE",
    "COHERENCE_TEMPLATE",
    "CORRECTNESS_TEMPLATE",
    "DOMAINS",
    "INCORRECT_KINDS",
    "JOB_STATUSES",
    "LABELS",
    "SAMPLE_DOMAINS",
    "AnswerBook",
    "BackendError",
    "BackendUnavailableError",
    "BudgetExceededError",
    "ChatFileReport",
    "CodeTestJudge",
    "Completion",
    "CompletionCache",
    "ConfigError",
    "ConvergenceWarning",
    "CorruptionGenerator",
    "CorruptionMixer",
    "CorruptionResult",
    "CorruptionTemplates",
    "CostEstimate",
    "DataError",
    "DataQualityThresholdsError",
    "DomainData",
    "DomainScore",
    "DomainScorer",
    "DomainSpec",
    "EvalItem",
    "Example",
    "ExamplePool",
    "FineTuneBackend",
    "FineTuneJob",
    "FineTuneJobError",
    "FitError",
    "HFBackend",
    "InspectSampler",
    "InsufficientDataError",
    "JobTimeoutError",
    "Judge",
    "JudgeAgreement",
    "JudgeCheckItem",
    "JudgeTemplate",
    "Judgment",
    "KnownAnswerJudge",
    "LoRASpec",
    "LocalStubBackend",
    "Message",
    "MisalignmentCurve",
    "MisalignmentProbe",
    "Mixture",
    "MixtureSpec",
    "Mutant",
    "OpenAIBackend",
    "OpenAIJudge",
    "OpenAISampler",
    "PairedExample",
    "ProbeQuestion",
    "ProbeResult",
    "ReferenceJudge",
    "Sampler",
    "SandboxLimits",
    "SchemaVersionError",
    "SeparationWarning",
    "Study",
    "StudyPlan",
    "StudyResults",
    "ThresholdFit",
    "ThresholdFitter",
    "ThresholdTable",
    "ThresholdWarning",
    "TokenizerUnavailableError",
    "__version__",
    "count_chat_tokens",
    "get_tokenizer",
    "judge_agreement",
    "load_domain",
    "load_judge_check",
    "load_probe_questions",
    "load_sample_examples",
    "load_sample_pool",
    "mutate_code",
    "read_chat_jsonl",
    "read_manifest",
    "read_paired_jsonl",
    "run_python",
    "score_top_logprobs",
    "validate_chat_jsonl",
    "write_chat_jsonl",
    "write_manifest",
    "write_mixtures",
    "write_paired_jsonl",
]


#: Names loaded on first use: their modules import ``openai``, scipy or statsmodels,
#: and ``import dataquality_thresholds`` stays cheap.
_LAZY = {
    "OpenAIBackend": "backends.openai",
    "OpenAISampler": "backends.openai",
    "ThresholdFitter": "fitting",
    "ThresholdFit": "fitting",
    "DomainScorer": "scoring",
    "DomainScore": "scoring",
    "MisalignmentProbe": "probes",
    "ProbeQuestion": "probes",
    "ProbeResult": "probes",
    "KnownAnswerJudge": "probes",
    "Study": "study",
    "DomainSpec": "study",
    "StudyPlan": "study",
    "StudyResults": "results",
    "ThresholdTable": "results",
    "DOMAINS": "domains",
    "DomainData": "domains",
    "JudgeCheckItem": "domains",
    "load_domain": "domains",
    "load_probe_questions": "domains",
    "load_judge_check": "domains",
    "CorruptionGenerator": "corruption",
    "CorruptionResult": "corruption",
    "CorruptionTemplates": "corruption",
    "Mutant": "corruption",
    "mutate_code": "corruption",
    "Judge": "judging",
    "Judgment": "judging",
    "OpenAIJudge": "judging",
    "ReferenceJudge": "judging",
    "CodeTestJudge": "judging",
    "JudgeAgreement": "judging",
    "JudgeTemplate": "judging",
    "judge_agreement": "judging",
    "score_top_logprobs": "judging",
    "ALIGNMENT_TEMPLATE": "judging",
    "COHERENCE_TEMPLATE": "judging",
    "CORRECTNESS_TEMPLATE": "judging",
    "CompletionCache": "cache",
    "run_python": "sandbox",
    "SandboxLimits": "sandbox",
    "InspectSampler": "integrations.inspect",
    "HFBackend": "backends.hf",
    "LoRASpec": "backends.hf",
}


def __getattr__(name: str) -> typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
