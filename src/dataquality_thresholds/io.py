"""Files in and out: paired-example JSONL, OpenAI chat fine-tuning JSONL, manifests.

Every reader validates as it goes and raises :class:`~dataquality_thresholds.errors.DataError`
naming the file, the 1-based line and the field (``messages[2].role``). Every
writer checks all rows before it writes and writes through a temporary file
renamed into place, so a failure never leaves a partial file behind.

Formats
-------
Paired examples, one JSON object per line::

    {"id": "fin-001", "domain": "finance", "skill": "compound_interest",
     "messages": [{"role": "user", "content": "..."}],
     "correct": "...", "incorrect": {"obvious": "...", "subtle": "..."}}

OpenAI chat fine-tuning rows: ``{"messages": [{"role": ..., "content": ...}, ...]}``.
"""

from __future__ import annotations

# The code lives in private modules, one format each: ._io_jsonl (shared JSONL
# reading, writing and field checks), ._io_paired, ._io_chat (OpenAI's rules) and
# ._io_manifest (manifests and mixture sets). Every name defined here before the
# split, private helpers included, and every library name it imported stays
# importable from here.
from ._io_chat import _CHAT_MESSAGE_KEYS as _CHAT_MESSAGE_KEYS
from ._io_chat import _CHAT_ROW_KEYS as _CHAT_ROW_KEYS
from ._io_chat import OPENAI_MAX_TOKENS_PER_EXAMPLE as OPENAI_MAX_TOKENS_PER_EXAMPLE
from ._io_chat import OPENAI_MIN_EXAMPLES as OPENAI_MIN_EXAMPLES
from ._io_chat import ChatFileReport as ChatFileReport
from ._io_chat import _message_obj as _message_obj
from ._io_chat import _resolve_tokenizer as _resolve_tokenizer
from ._io_chat import _validate_chat_obj as _validate_chat_obj
from ._io_chat import chat_row_bytes as chat_row_bytes
from ._io_chat import read_chat_jsonl as read_chat_jsonl
from ._io_chat import validate_chat_jsonl as validate_chat_jsonl
from ._io_chat import write_chat_jsonl as write_chat_jsonl
from ._io_jsonl import _check_version as _check_version
from ._io_jsonl import _dumps as _dumps
from ._io_jsonl import _iter_json_lines as _iter_json_lines
from ._io_jsonl import _parse_messages as _parse_messages
from ._io_jsonl import _read_id_rows as _read_id_rows
from ._io_jsonl import _relocate as _relocate
from ._io_jsonl import _required as _required
from ._io_jsonl import _string as _string
from ._io_jsonl import write_jsonl_chunks as write_jsonl_chunks
from ._io_manifest import MANIFEST_SCHEMA_VERSION as MANIFEST_SCHEMA_VERSION
from ._io_manifest import mixture_basename as mixture_basename
from ._io_manifest import read_manifest as read_manifest
from ._io_manifest import write_manifest as write_manifest
from ._io_manifest import write_mixtures as write_mixtures
from ._io_paired import _PAIRED_KEYS as _PAIRED_KEYS
from ._io_paired import _PROMPT_MESSAGE_KEYS as _PROMPT_MESSAGE_KEYS
from ._io_paired import PAIRED_SCHEMA_VERSION as PAIRED_SCHEMA_VERSION
from ._io_paired import paired_to_obj as paired_to_obj
from ._io_paired import parse_paired_row as parse_paired_row
from ._io_paired import read_paired_jsonl as read_paired_jsonl
from ._io_paired import write_paired_jsonl as write_paired_jsonl
from ._util.atomic import atomic_write as atomic_write
from .errors import DataError as DataError
from .errors import SchemaVersionError as SchemaVersionError
from .records import INCORRECT_KINDS as INCORRECT_KINDS
from .records import ROLES as ROLES
from .records import Example as Example
from .records import Message as Message
from .records import Mixture as Mixture
from .records import PairedExample as PairedExample
from .tokens import Tokenizer as Tokenizer
from .tokens import count_chat_tokens as count_chat_tokens
from .tokens import get_tokenizer as get_tokenizer

__all__ = [
    "OPENAI_MAX_TOKENS_PER_EXAMPLE",
    "OPENAI_MIN_EXAMPLES",
    "PAIRED_SCHEMA_VERSION",
    "ChatFileReport",
    "chat_row_bytes",
    "read_chat_jsonl",
    "read_manifest",
    "read_paired_jsonl",
    "validate_chat_jsonl",
    "write_chat_jsonl",
    "write_jsonl_chunks",
    "write_manifest",
    "write_mixtures",
    "write_paired_jsonl",
]

ChatFileReport.__module__ = __name__  # documented and pickled under its public path
