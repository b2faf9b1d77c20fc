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
    from .backends.openai import OpenAIBackend, OpenAISampler

__all__ = [
    "INCORRECT_KINDS",
    "JOB_STATUSES",
    "LABELS",
    "SAMPLE_DOMAINS",
    "AnswerBook",
    "BackendError",
    "BackendUnavailableError",
    "ChatFileReport",
    "Completion",
    "ConfigError",
    "ConvergenceWarning",
    "CorruptionMixer",
    "CostEstimate",
    "DataError",
    "DataQualityThresholdsError",
    "EvalItem",
    "Example",
    "ExamplePool",
    "FineTuneBackend",
    "FineTuneJob",
    "FineTuneJobError",
    "FitError",
    "InsufficientDataError",
    "JobTimeoutError",
    "LocalStubBackend",
    "Message",
    "MisalignmentCurve",
    "Mixture",
    "MixtureSpec",
    "OpenAIBackend",
    "OpenAISampler",
    "PairedExample",
    "Sampler",
    "SchemaVersionError",
    "SeparationWarning",
    "ThresholdWarning",
    "TokenizerUnavailableError",
    "__version__",
    "count_chat_tokens",
    "get_tokenizer",
    "load_sample_examples",
    "load_sample_pool",
    "read_chat_jsonl",
    "read_manifest",
    "read_paired_jsonl",
    "validate_chat_jsonl",
    "write_chat_jsonl",
    "write_manifest",
    "write_mixtures",
    "write_paired_jsonl",
]


def __getattr__(name: str) -> typing.Any:
    # The OpenAI classes live in the one module that imports ``openai``; load it
    # on first use so ``import dataquality_thresholds`` stays cheap.
    if name in ("OpenAIBackend", "OpenAISampler"):
        from .backends import openai as _openai

        return getattr(_openai, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
