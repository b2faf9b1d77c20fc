"""dataquality_thresholds: how much of my fine-tuning data can be wrong, and still be fine.

Build training sets that mix correct and incorrect examples at chosen shares,
fine-tune on each, measure domain performance and emergent misalignment, and
fit the share of correct data at which the model recovers.

Importing the package is cheap and has no side effects: no network, no API-key
lookup, no cache directories, no logging setup. Every public name is loaded from
its wing on first use, through the one table :data:`_EXPORTS` (name -> module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataquality_thresholds._util.faces import lazy
from dataquality_thresholds._version import __version__

#: Every public name of the package and the module it lives in (relative to the package).
_EXPORTS: dict[str, str] = {
    "BackendError": ".errors",
    "BackendUnavailableError": ".errors",
    "BudgetExceededError": ".errors",
    "ConfigError": ".errors",
    "ConvergenceWarning": ".errors",
    "DataError": ".errors",
    "DataQualityThresholdsError": ".errors",
    "FineTuneJobError": ".errors",
    "FitError": ".errors",
    "InsufficientDataError": ".errors",
    "JobTimeoutError": ".errors",
    "SandboxUnavailableError": ".errors",
    "SchemaVersionError": ".errors",
    "SeparationWarning": ".errors",
    "ThresholdWarning": ".errors",
    "TokenizerUnavailableError": ".errors",
    "INCORRECT_KINDS": ".records",
    "LABELS": ".records",
    "Completion": ".records",
    "EvalItem": ".records",
    "Example": ".records",
    "JudgeCheckItem": ".records",
    "Message": ".records",
    "PairedExample": ".records",
    "ProbeQuestion": ".records",
    "count_chat_tokens": ".tokens",
    "get_tokenizer": ".tokens",
    "ChatFileReport": ".io",
    "read_chat_jsonl": ".io",
    "read_manifest": ".io",
    "read_paired_jsonl": ".io",
    "validate_chat_jsonl": ".io",
    "write_chat_jsonl": ".io",
    "write_manifest": ".io",
    "write_paired_jsonl": ".io",
    "CorruptionMixer": ".mixing",
    "ExamplePool": ".mixing",
    "Mixture": ".mixing",
    "MixtureSpec": ".mixing",
    "write_mixtures": ".mixing",
    "CorruptionGenerator": ".corruption",
    "CorruptionResult": ".corruption",
    "CorruptionTemplates": ".corruption",
    "Mutant": ".corruption",
    "mutate_code": ".corruption",
    "JOB_STATUSES": ".backends",
    "AnswerBook": ".backends",
    "CompletionCache": ".backends",
    "CostEstimate": ".backends",
    "FineTuneBackend": ".backends",
    "FineTuneJob": ".backends",
    "LocalStubBackend": ".backends",
    "MisalignmentCurve": ".backends",
    "Sampler": ".backends",
    "OpenAIBackend": ".backends.openai",
    "OpenAISampler": ".backends.openai",
    "HFBackend": ".backends.hf",
    "LoRASpec": ".backends.hf",
    "ALIGNMENT_TEMPLATE": ".evaluation",
    "COHERENCE_TEMPLATE": ".evaluation",
    "CORRECTNESS_TEMPLATE": ".evaluation",
    "CodeTestJudge": ".evaluation",
    "DomainScore": ".evaluation",
    "DomainScorer": ".evaluation",
    "Judge": ".evaluation",
    "JudgeAgreement": ".evaluation",
    "JudgeTemplate": ".evaluation",
    "Judgment": ".evaluation",
    "KnownAnswerJudge": ".evaluation",
    "MisalignmentProbe": ".evaluation",
    "OpenAIJudge": ".evaluation",
    "ProbeResult": ".evaluation",
    "ReferenceJudge": ".evaluation",
    "judge_agreement": ".evaluation",
    "score_top_logprobs": ".evaluation",
    "ThresholdFit": ".fitting",
    "ThresholdFitter": ".fitting",
    "DomainSpec": ".study",
    "Study": ".study",
    "StudyPlan": ".study",
    "StudyResults": ".study",
    "StudySpec": ".study",
    "ThresholdTable": ".study",
    "DOMAINS": ".domains",
    "SAMPLE_DOMAINS": ".domains",
    "DomainData": ".domains",
    "load_domain": ".domains",
    "load_judge_check": ".domains",
    "load_probe_questions": ".domains",
    "load_sample_examples": ".domains",
    "load_sample_pool": ".domains",
    "SandboxLimits": ".sandbox",
    "SandboxResult": ".sandbox",
    "run_python": ".sandbox",
    "InspectSampler": ".integrations.inspect",
}

#: Names of :data:`_EXPORTS` whose module needs an optional extra (name -> extra). They
#: load on first use (``dataquality_thresholds.InspectSampler`` raises
#: ``BackendUnavailableError`` naming the extra when it is missing) but stay out of
#: ``__all__``, so ``from dataquality_thresholds import *`` works without the extra.
_NEEDS_EXTRA: dict[str, str] = {"InspectSampler": "inspect"}

__all__ = ["__version__", *(name for name in _EXPORTS if name not in _NEEDS_EXTRA)]

__getattr__, __dir__ = lazy(__name__, _EXPORTS, globals())

# The same table, spelled out for type checkers (tests/test_package.py compares them).
if TYPE_CHECKING:
    from dataquality_thresholds.backends import (
        JOB_STATUSES as JOB_STATUSES,
        AnswerBook as AnswerBook,
        CompletionCache as CompletionCache,
        CostEstimate as CostEstimate,
        FineTuneBackend as FineTuneBackend,
        FineTuneJob as FineTuneJob,
        LocalStubBackend as LocalStubBackend,
        MisalignmentCurve as MisalignmentCurve,
        Sampler as Sampler,
    )
    from dataquality_thresholds.backends.hf import (
        HFBackend as HFBackend,
        LoRASpec as LoRASpec,
    )
    from dataquality_thresholds.backends.openai import (
        OpenAIBackend as OpenAIBackend,
        OpenAISampler as OpenAISampler,
    )
    from dataquality_thresholds.corruption import (
        CorruptionGenerator as CorruptionGenerator,
        CorruptionResult as CorruptionResult,
        CorruptionTemplates as CorruptionTemplates,
        Mutant as Mutant,
        mutate_code as mutate_code,
    )
    from dataquality_thresholds.domains import (
        DOMAINS as DOMAINS,
        SAMPLE_DOMAINS as SAMPLE_DOMAINS,
        DomainData as DomainData,
        load_domain as load_domain,
        load_judge_check as load_judge_check,
        load_probe_questions as load_probe_questions,
        load_sample_examples as load_sample_examples,
        load_sample_pool as load_sample_pool,
    )
    from dataquality_thresholds.errors import (
        BackendError as BackendError,
        BackendUnavailableError as BackendUnavailableError,
        BudgetExceededError as BudgetExceededError,
        ConfigError as ConfigError,
        ConvergenceWarning as ConvergenceWarning,
        DataError as DataError,
        DataQualityThresholdsError as DataQualityThresholdsError,
        FineTuneJobError as FineTuneJobError,
        FitError as FitError,
        InsufficientDataError as InsufficientDataError,
        JobTimeoutError as JobTimeoutError,
        SandboxUnavailableError as SandboxUnavailableError,
        SchemaVersionError as SchemaVersionError,
        SeparationWarning as SeparationWarning,
        ThresholdWarning as ThresholdWarning,
        TokenizerUnavailableError as TokenizerUnavailableError,
    )
    from dataquality_thresholds.evaluation import (
        ALIGNMENT_TEMPLATE as ALIGNMENT_TEMPLATE,
        COHERENCE_TEMPLATE as COHERENCE_TEMPLATE,
        CORRECTNESS_TEMPLATE as CORRECTNESS_TEMPLATE,
        CodeTestJudge as CodeTestJudge,
        DomainScore as DomainScore,
        DomainScorer as DomainScorer,
        Judge as Judge,
        JudgeAgreement as JudgeAgreement,
        JudgeTemplate as JudgeTemplate,
        Judgment as Judgment,
        KnownAnswerJudge as KnownAnswerJudge,
        MisalignmentProbe as MisalignmentProbe,
        OpenAIJudge as OpenAIJudge,
        ProbeResult as ProbeResult,
        ReferenceJudge as ReferenceJudge,
        judge_agreement as judge_agreement,
        score_top_logprobs as score_top_logprobs,
    )
    from dataquality_thresholds.fitting import (
        ThresholdFit as ThresholdFit,
        ThresholdFitter as ThresholdFitter,
    )
    from dataquality_thresholds.integrations.inspect import (
        InspectSampler as InspectSampler,
    )
    from dataquality_thresholds.io import (
        ChatFileReport as ChatFileReport,
        read_chat_jsonl as read_chat_jsonl,
        read_manifest as read_manifest,
        read_paired_jsonl as read_paired_jsonl,
        validate_chat_jsonl as validate_chat_jsonl,
        write_chat_jsonl as write_chat_jsonl,
        write_manifest as write_manifest,
        write_paired_jsonl as write_paired_jsonl,
    )
    from dataquality_thresholds.mixing import (
        CorruptionMixer as CorruptionMixer,
        ExamplePool as ExamplePool,
        Mixture as Mixture,
        MixtureSpec as MixtureSpec,
        write_mixtures as write_mixtures,
    )
    from dataquality_thresholds.records import (
        INCORRECT_KINDS as INCORRECT_KINDS,
        LABELS as LABELS,
        Completion as Completion,
        EvalItem as EvalItem,
        Example as Example,
        JudgeCheckItem as JudgeCheckItem,
        Message as Message,
        PairedExample as PairedExample,
        ProbeQuestion as ProbeQuestion,
    )
    from dataquality_thresholds.sandbox import (
        SandboxLimits as SandboxLimits,
        SandboxResult as SandboxResult,
        run_python as run_python,
    )
    from dataquality_thresholds.study import (
        DomainSpec as DomainSpec,
        Study as Study,
        StudyPlan as StudyPlan,
        StudyResults as StudyResults,
        StudySpec as StudySpec,
        ThresholdTable as ThresholdTable,
    )
    from dataquality_thresholds.tokens import (
        count_chat_tokens as count_chat_tokens,
        get_tokenizer as get_tokenizer,
    )
