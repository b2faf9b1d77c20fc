"""dataquality_thresholds: how much of my fine-tuning data can be wrong, and still be fine.

Build training sets that mix correct and incorrect examples at chosen shares,
fine-tune on each, measure domain performance and emergent misalignment, and
fit the share of correct data at which the model recovers.

Importing the package is cheap and has no side effects: no network, no API-key
lookup, no cache directories, no logging setup.
"""

from ._version import __version__
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
    LABELS,
    EvalItem,
    Example,
    Message,
    Mixture,
    MixtureSpec,
    PairedExample,
)
from .samples import SAMPLE_DOMAINS, load_sample_examples, load_sample_pool
from .tokens import count_chat_tokens, get_tokenizer

__all__ = [
    "INCORRECT_KINDS",
    "LABELS",
    "SAMPLE_DOMAINS",
    "BackendError",
    "BackendUnavailableError",
    "ChatFileReport",
    "ConfigError",
    "ConvergenceWarning",
    "CorruptionMixer",
    "DataError",
    "DataQualityThresholdsError",
    "EvalItem",
    "Example",
    "ExamplePool",
    "FineTuneJobError",
    "FitError",
    "InsufficientDataError",
    "Message",
    "Mixture",
    "MixtureSpec",
    "PairedExample",
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
