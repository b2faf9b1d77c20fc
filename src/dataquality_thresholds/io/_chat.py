"""OpenAI chat fine-tuning JSONL, read, validated and written by OpenAI's rules.

Each row is ``{"messages": [{"role": ..., "content": ...}, ...]}``; the rules
are listed in :func:`read_chat_jsonl`. Import these from
:mod:`dataquality_thresholds.io`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds._util.validators import (
    check_nonneg_int,
    check_positive_int,
    readable_file,
)
from dataquality_thresholds.errors import DataError
from dataquality_thresholds.io._jsonl import (
    _dumps,
    _iter_json_lines,
    _parse_messages,
    write_jsonl_chunks,
)
from dataquality_thresholds.records import Example, Message
from dataquality_thresholds.tokens import Tokenizer, count_chat_tokens, get_tokenizer

__all__ = [
    "OPENAI_MAX_TOKENS_PER_EXAMPLE",
    "OPENAI_MIN_EXAMPLES",
    "ChatFileReport",
    "chat_row_bytes",
    "read_chat_jsonl",
    "validate_chat_jsonl",
    "write_chat_jsonl",
]

#: OpenAI refuses fine-tuning files with fewer examples than this.
OPENAI_MIN_EXAMPLES = 10
#: Per-example token limit for gpt-4o-2024-08-06 and gpt-4o-mini fine-tuning.
OPENAI_MAX_TOKENS_PER_EXAMPLE = 65_536

_CHAT_ROW_KEYS = frozenset({"messages"})
_CHAT_MESSAGE_KEYS = frozenset({"role", "content", "name", "weight"})


def chat_row_bytes(messages: Iterable[Message | Mapping[str, Any]]) -> bytes:
    """Encode one conversation as an OpenAI chat JSONL line (UTF-8, newline-terminated).

    The encoding is canonical (sorted keys, no spaces), so the same rows always
    give the same bytes and the same :attr:`Mixture.fingerprint`.
    """
    out = []
    for m in messages:
        if isinstance(m, Message):
            d: dict[str, Any] = {"role": m.role, "content": m.content}
            if m.weight is not None:
                d["weight"] = m.weight
        else:
            d = dict(m)
        out.append(d)
    return (_dumps({"messages": out}) + "\n").encode("utf-8")


@attrs.frozen(kw_only=True)
class ChatFileReport:
    """What a validated OpenAI chat fine-tuning file holds.

    Parameters
    ----------
    n_examples : int
        Number of rows.
    total_tokens : int
        Tokens in all rows (what one epoch is billed on).
    max_example_tokens : int
        Tokens in the longest row.
    sha256 : str
        sha256 of the file's bytes (or of the rows as they would be written).
    """

    n_examples: int
    total_tokens: int
    max_example_tokens: int
    sha256: str


def _validate_chat_obj(
    obj: Any,
    *,
    where: dict[str, Any],
    tokenizer: Tokenizer | None,
    max_tokens: int | None,
) -> tuple[tuple[Message, ...], int]:
    if not isinstance(obj, dict):
        raise DataError(
            f"expected a JSON object, got {type(obj).__name__}", field="<line>", **where
        )
    extra = sorted(set(obj) - _CHAT_ROW_KEYS)
    if extra:
        raise DataError(f"unknown key {extra[0]!r}; allowed: messages", field=extra[0], **where)
    if "messages" not in obj:
        raise DataError("missing required key", field="messages", **where)
    msgs = _parse_messages(obj["messages"], allowed=_CHAT_MESSAGE_KEYS, where=where)
    if not any(m.role == "assistant" for m in msgs):
        raise DataError("every example needs an assistant message", field="messages", **where)
    if not any(m.role == "assistant" and m.weight != 0 for m in msgs):
        raise DataError(
            "every assistant message has weight 0: nothing to train on", field="messages", **where
        )
    n_tokens = 0
    if tokenizer is not None:
        n_tokens = count_chat_tokens(msgs, tokenizer)
        if max_tokens is not None and n_tokens > max_tokens:
            raise DataError(
                f"example has {n_tokens} tokens, over the limit of {max_tokens}; "
                "shorten or drop it",
                field="messages",
                **where,
            )
    return msgs, n_tokens


def _check_limits(min_examples: object, max_tokens_per_example: object) -> None:
    check_nonneg_int(min_examples, "min_examples")
    if max_tokens_per_example is not None:
        check_positive_int(max_tokens_per_example, "max_tokens_per_example")


def _resolve_tokenizer(tokenizer: Tokenizer | None, count_tokens: bool) -> Tokenizer | None:
    if not count_tokens:
        return None
    return tokenizer if tokenizer is not None else get_tokenizer()


def read_chat_jsonl(
    path: str | Path,
    *,
    min_examples: int = OPENAI_MIN_EXAMPLES,
    max_tokens_per_example: int | None = OPENAI_MAX_TOKENS_PER_EXAMPLE,
    tokenizer: Tokenizer | None = None,
    count_tokens: bool = True,
) -> tuple[list[tuple[Message, ...]], ChatFileReport]:
    """Read an OpenAI chat fine-tuning file, validating it by OpenAI's rules.

    Rules: each line a JSON object with only ``messages``; messages with only
    ``role``, ``content``, ``name``, ``weight``; roles system/user/assistant;
    non-empty string content; ``weight`` 0 or 1 and only on assistant messages;
    an assistant message in every example; at least ``min_examples`` examples;
    at most ``max_tokens_per_example`` tokens per example (o200k_base).

    Parameters
    ----------
    path : str or Path
        The file.
    min_examples : int
        OpenAI requires 10.
    max_tokens_per_example : int or None
        Per-example token limit; None disables the check.
    tokenizer : Tokenizer, optional
        For token counts; defaults to o200k_base (see :mod:`~dataquality_thresholds.tokens`).
    count_tokens : bool
        Set False to skip token counting (and the limit).

    Returns
    -------
    conversations : list of tuple of Message
    report : ChatFileReport

    Raises
    ------
    DataError
        A missing file or a directory, a line that is not UTF-8 or not strict JSON
        (``NaN``, duplicate keys, nesting too deep), a lone surrogate in any string,
        or a row that breaks a rule above, naming the line and field.
    ConfigError
        ``min_examples`` is not an int >= 0, or ``max_tokens_per_example`` is not
        None or an int >= 1.
    """
    _check_limits(min_examples, max_tokens_per_example)
    p = readable_file(path)
    tok = _resolve_tokenizer(tokenizer, count_tokens)
    convs: list[tuple[Message, ...]] = []
    total = longest = 0
    last_line = 0
    for lineno, obj in _iter_json_lines(p):
        msgs, n = _validate_chat_obj(
            obj, where={"path": p, "line": lineno}, tokenizer=tok, max_tokens=max_tokens_per_example
        )
        convs.append(msgs)
        total += n
        longest = max(longest, n)
        last_line = lineno
    if len(convs) < min_examples:
        raise DataError(
            f"has {len(convs)} examples; OpenAI fine-tuning needs at least {min_examples}",
            path=p,
            line=last_line or None,
            field="<file>",
        )
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    return convs, ChatFileReport(
        n_examples=len(convs), total_tokens=total, max_example_tokens=longest, sha256=digest
    )


def validate_chat_jsonl(path: str | Path, **kwargs: Any) -> ChatFileReport:
    """Validate an OpenAI chat fine-tuning file; return its report.

    Takes the keyword arguments of :func:`read_chat_jsonl`.
    """
    return read_chat_jsonl(path, **kwargs)[1]


def write_chat_jsonl(
    rows: Iterable[Example | Sequence[Message] | Mapping[str, Any]],
    path: str | Path,
    *,
    min_examples: int = OPENAI_MIN_EXAMPLES,
    max_tokens_per_example: int | None = OPENAI_MAX_TOKENS_PER_EXAMPLE,
    tokenizer: Tokenizer | None = None,
    count_tokens: bool = True,
) -> ChatFileReport:
    """Validate rows by OpenAI's rules, then write them as a chat JSONL file.

    All rows are checked before anything is written; the file appears
    atomically or not at all.

    Parameters
    ----------
    rows : iterable
        :class:`Example` records, sequences of :class:`Message`, or raw
        ``{"messages": [...]}`` objects.
    path : str or Path
        Where to write.
    min_examples, max_tokens_per_example, tokenizer, count_tokens
        As for :func:`read_chat_jsonl`.

    Returns
    -------
    ChatFileReport

    Raises
    ------
    DataError
        Naming the row (as ``line``) and field of the first bad row, or a ``path``
        that is a directory; nothing is written then.
    ConfigError
        Bad ``min_examples`` or ``max_tokens_per_example`` (as for :func:`read_chat_jsonl`).
    """
    _check_limits(min_examples, max_tokens_per_example)
    tok = _resolve_tokenizer(tokenizer, count_tokens)
    encoded: list[bytes] = []
    total = longest = 0
    for i, row in enumerate(rows, start=1):
        if isinstance(row, Example):
            obj: Any = {"messages": [_message_obj(m) for m in row.messages]}
        elif isinstance(row, Mapping):
            obj = row
        elif isinstance(row, Sequence) and not isinstance(row, (str, bytes)):
            obj = {"messages": [_message_obj(m) if isinstance(m, Message) else m for m in row]}
        else:
            raise DataError(
                f"expected an Example, messages or an object, got {type(row).__name__}",
                line=i,
                field="<row>",
            )
        msgs, n = _validate_chat_obj(
            obj, where={"line": i}, tokenizer=tok, max_tokens=max_tokens_per_example
        )
        total += n
        longest = max(longest, n)
        encoded.append(chat_row_bytes(msgs))
    if len(encoded) < min_examples:
        raise DataError(
            f"has {len(encoded)} examples; OpenAI fine-tuning needs at least {min_examples}",
            field="<file>",
        )
    digest = write_jsonl_chunks(encoded, path)
    return ChatFileReport(
        n_examples=len(encoded), total_tokens=total, max_example_tokens=longest, sha256=digest
    )


def _message_obj(m: Message) -> dict[str, Any]:
    d: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.weight is not None:
        d["weight"] = m.weight
    return d
