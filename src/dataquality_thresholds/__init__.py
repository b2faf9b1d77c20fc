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
    "run_python": ".sandbox",
    "InspectSampler": ".integrations.inspect",
}

__all__ = ["__version__", *_EXPORTS]

__getattr__, __dir__ = lazy(__name__, _EXPORTS, globals())

if (
    TYPE_CHECKING
):  # the same table, spelled out for type checkers (tests/test_package.py compares them)
    from dataquality_thresholds.backends import (
        JOB_STATUSES as JOB_STATUSES,
    )
    from dataquality_thresholds.backends import (
        AnswerBook as AnswerBook,
    )
    from dataquality_thresholds.backends import (
        CompletionCache as CompletionCache,
    )
    from dataquality_thresholds.backends import (
        CostEstimate as CostEstimate,
    )
    from dataquality_thresholds.backends import (
        FineTuneBackend as FineTuneBackend,
    )
    from dataquality_thresholds.backends import (
        FineTuneJob as FineTuneJob,
    )
    from dataquality_thresholds.backends import (
        LocalStubBackend as LocalStubBackend,
    )
    from dataquality_thresholds.backends import (
        MisalignmentCurve as MisalignmentCurve,
    )
    from dataquality_thresholds.backends import (
        Sampler as Sampler,
    )
    from dataquality_thresholds.backends.hf import (
        HFBackend as HFBackend,
    )
    from dataquality_thresholds.backends.hf import (
        LoRASpec as LoRASpec,
    )
    from dataquality_thresholds.backends.openai import (
        OpenAIBackend as OpenAIBackend,
    )
    from dataquality_thresholds.backends.openai import (
        OpenAISampler as OpenAISampler,
    )
    from dataquality_thresholds.corruption import (
        CorruptionGenerator as CorruptionGenerator,
    )
    from dataquality_thresholds.corruption import (
        CorruptionResult as CorruptionResult,
    )
    from dataquality_thresholds.corruption import (
        CorruptionTemplates as CorruptionTemplates,
    )
    from dataquality_thresholds.corruption import (
        Mutant as Mutant,
    )
    from dataquality_thresholds.corruption import (
        mutate_code as mutate_code,
    )
    from dataquality_thresholds.domains import (
        DOMAINS as DOMAINS,
    )
    from dataquality_thresholds.domains import (
        SAMPLE_DOMAINS as SAMPLE_DOMAINS,
    )
    from dataquality_thresholds.domains import (
        DomainData as DomainData,
    )
    from dataquality_thresholds.domains import (
        load_domain as load_domain,
    )
    from dataquality_thresholds.domains import (
        load_judge_check as load_judge_check,
    )
    from dataquality_thresholds.domains import (
        load_probe_questions as load_probe_questions,
    )
    from dataquality_thresholds.domains import (
        load_sample_examples as load_sample_examples,
    )
    from dataquality_thresholds.domains import (
        load_sample_pool as load_sample_pool,
    )
    from dataquality_thresholds.errors import (
        BackendError as BackendError,
    )
    from dataquality_thresholds.errors import (
        BackendUnavailableError as BackendUnavailableError,
    )
    from dataquality_thresholds.errors import (
        BudgetExceededError as BudgetExceededError,
    )
    from dataquality_thresholds.errors import (
        ConfigError as ConfigError,
    )
    from dataquality_thresholds.errors import (
        ConvergenceWarning as ConvergenceWarning,
    )
    from dataquality_thresholds.errors import (
        DataError as DataError,
    )
    from dataquality_thresholds.errors import (
        DataQualityThresholdsError as DataQualityThresholdsError,
    )
    from dataquality_thresholds.errors import (
        FineTuneJobError as FineTuneJobError,
    )
    from dataquality_thresholds.errors import (
        FitError as FitError,
    )
    from dataquality_thresholds.errors import (
        InsufficientDataError as InsufficientDataError,
    )
    from dataquality_thresholds.errors import (
        JobTimeoutError as JobTimeoutError,
    )
    from dataquality_thresholds.errors import (
        SchemaVersionError as SchemaVersionError,
    )
    from dataquality_thresholds.errors import (
        SeparationWarning as SeparationWarning,
    )
    from dataquality_thresholds.errors import (
        ThresholdWarning as ThresholdWarning,
    )
    from dataquality_thresholds.errors import (
        TokenizerUnavailableError as TokenizerUnavailableError,
    )
    from dataquality_thresholds.evaluation import (
        ALIGNMENT_TEMPLATE as ALIGNMENT_TEMPLATE,
    )
    from dataquality_thresholds.evaluation import (
        COHERENCE_TEMPLATE as COHERENCE_TEMPLATE,
    )
    from dataquality_thresholds.evaluation import (
        CORRECTNESS_TEMPLATE as CORRECTNESS_TEMPLATE,
    )
    from dataquality_thresholds.evaluation import (
        CodeTestJudge as CodeTestJudge,
    )
    from dataquality_thresholds.evaluation import (
        DomainScore as DomainScore,
    )
    from dataquality_thresholds.evaluation import (
        DomainScorer as DomainScorer,
    )
    from dataquality_thresholds.evaluation import (
        Judge as Judge,
    )
    from dataquality_thresholds.evaluation import (
        JudgeAgreement as JudgeAgreement,
    )
    from dataquality_thresholds.evaluation import (
        JudgeTemplate as JudgeTemplate,
    )
    from dataquality_thresholds.evaluation import (
        Judgment as Judgment,
    )
    from dataquality_thresholds.evaluation import (
        KnownAnswerJudge as KnownAnswerJudge,
    )
    from dataquality_thresholds.evaluation import (
        MisalignmentProbe as MisalignmentProbe,
    )
    from dataquality_thresholds.evaluation import (
        OpenAIJudge as OpenAIJudge,
    )
    from dataquality_thresholds.evaluation import (
        ProbeResult as ProbeResult,
    )
    from dataquality_thresholds.evaluation import (
        ReferenceJudge as ReferenceJudge,
    )
    from dataquality_thresholds.evaluation import (
        judge_agreement as judge_agreement,
    )
    from dataquality_thresholds.evaluation import (
        score_top_logprobs as score_top_logprobs,
    )
    from dataquality_thresholds.fitting import (
        ThresholdFit as ThresholdFit,
    )
    from dataquality_thresholds.fitting import (
        ThresholdFitter as ThresholdFitter,
    )
    from dataquality_thresholds.integrations.inspect import (
        InspectSampler as InspectSampler,
    )
    from dataquality_thresholds.io import (
        ChatFileReport as ChatFileReport,
    )
    from dataquality_thresholds.io import (
        read_chat_jsonl as read_chat_jsonl,
    )
    from dataquality_thresholds.io import (
        read_manifest as read_manifest,
    )
    from dataquality_thresholds.io import (
        read_paired_jsonl as read_paired_jsonl,
    )
    from dataquality_thresholds.io import (
        validate_chat_jsonl as validate_chat_jsonl,
    )
    from dataquality_thresholds.io import (
        write_chat_jsonl as write_chat_jsonl,
    )
    from dataquality_thresholds.io import (
        write_manifest as write_manifest,
    )
    from dataquality_thresholds.io import (
        write_paired_jsonl as write_paired_jsonl,
    )
    from dataquality_thresholds.mixing import (
        CorruptionMixer as CorruptionMixer,
    )
    from dataquality_thresholds.mixing import (
        ExamplePool as ExamplePool,
    )
    from dataquality_thresholds.mixing import (
        Mixture as Mixture,
    )
    from dataquality_thresholds.mixing import (
        MixtureSpec as MixtureSpec,
    )
    from dataquality_thresholds.mixing import (
        write_mixtures as write_mixtures,
    )
    from dataquality_thresholds.records import (
        INCORRECT_KINDS as INCORRECT_KINDS,
    )
    from dataquality_thresholds.records import (
        LABELS as LABELS,
    )
    from dataquality_thresholds.records import (
        Completion as Completion,
    )
    from dataquality_thresholds.records import (
        EvalItem as EvalItem,
    )
    from dataquality_thresholds.records import (
        Example as Example,
    )
    from dataquality_thresholds.records import (
        JudgeCheckItem as JudgeCheckItem,
    )
    from dataquality_thresholds.records import (
        Message as Message,
    )
    from dataquality_thresholds.records import (
        PairedExample as PairedExample,
    )
    from dataquality_thresholds.records import (
        ProbeQuestion as ProbeQuestion,
    )
    from dataquality_thresholds.sandbox import (
        SandboxLimits as SandboxLimits,
    )
    from dataquality_thresholds.sandbox import (
        run_python as run_python,
    )
    from dataquality_thresholds.study import (
        DomainSpec as DomainSpec,
    )
    from dataquality_thresholds.study import (
        Study as Study,
    )
    from dataquality_thresholds.study import (
        StudyPlan as StudyPlan,
    )
    from dataquality_thresholds.study import (
        StudyResults as StudyResults,
        StudySpec as StudySpec,
    )
    from dataquality_thresholds.study import (
        ThresholdTable as ThresholdTable,
    )
    from dataquality_thresholds.tokens import (
        count_chat_tokens as count_chat_tokens,
    )
    from dataquality_thresholds.tokens import (
        get_tokenizer as get_tokenizer,
    )
