"""Files in and out: paired examples, OpenAI chat files, eval items, questions, manifests.

Every reader validates as it goes and raises :class:`~dataquality_thresholds.errors.DataError`
naming the file, the 1-based line and the field (``messages[2].role``). Every writer checks
all rows before it writes and writes through a temporary file renamed into place, so a
failure never leaves a partial file behind. See ``docs/io.md`` for the formats.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.io._chat import (
    OPENAI_MAX_TOKENS_PER_EXAMPLE,
    OPENAI_MIN_EXAMPLES,
    ChatFileReport,
    chat_row_bytes,
    read_chat_jsonl,
    validate_chat_jsonl,
    write_chat_jsonl,
)
from dataquality_thresholds.io._items import (
    EVAL_SCHEMA_VERSION,
    eval_to_obj,
    judge_check_to_obj,
    parse_eval_row,
    parse_judge_check_row,
    parse_question_row,
    question_to_obj,
    read_eval_jsonl,
    read_judge_check_jsonl,
    read_probe_questions_jsonl,
    write_eval_jsonl,
    write_judge_check_jsonl,
    write_probe_questions_jsonl,
)
from dataquality_thresholds.io._jsonl import write_jsonl_chunks
from dataquality_thresholds.io._manifest import (
    MANIFEST_SCHEMA_VERSION,
    read_manifest,
    write_manifest,
)
from dataquality_thresholds.io._paired import (
    PAIRED_SCHEMA_VERSION,
    paired_to_obj,
    parse_paired_row,
    read_paired_jsonl,
    write_paired_jsonl,
)

__all__ = [
    "EVAL_SCHEMA_VERSION",
    "MANIFEST_SCHEMA_VERSION",
    "OPENAI_MAX_TOKENS_PER_EXAMPLE",
    "OPENAI_MIN_EXAMPLES",
    "PAIRED_SCHEMA_VERSION",
    "ChatFileReport",
    "chat_row_bytes",
    "eval_to_obj",
    "judge_check_to_obj",
    "paired_to_obj",
    "parse_eval_row",
    "parse_judge_check_row",
    "parse_paired_row",
    "parse_question_row",
    "question_to_obj",
    "read_chat_jsonl",
    "read_eval_jsonl",
    "read_judge_check_jsonl",
    "read_manifest",
    "read_paired_jsonl",
    "read_probe_questions_jsonl",
    "validate_chat_jsonl",
    "write_chat_jsonl",
    "write_eval_jsonl",
    "write_jsonl_chunks",
    "write_judge_check_jsonl",
    "write_manifest",
    "write_paired_jsonl",
    "write_probe_questions_jsonl",
]

publish(__name__, globals(), __all__)
