"""What :meth:`HFBackend.submit <dataquality_thresholds.backends.hf.HFBackend.submit>` writes.

A job's folder holds ``train.jsonl`` (the mixture's rows as TRL
prompt/completion conversations), ``spec.json`` (what the worker trains from)
and, written last, ``job.json`` (the job's record; its presence means the job
exists). This module turns rows into training conversations
(:func:`split_turns`), counts their tokens (:func:`template_ids`), reports
rows that are too long (:func:`truncation_events`) and writes the first two
files (:func:`write_training_files`); the backend writes ``job.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dataquality_thresholds.backends.hf._common import write_json
from dataquality_thresholds.errors import DataError

__all__ = [
    "now",
    "parse_time",
    "split_turns",
    "template_ids",
    "truncation_events",
    "write_training_files",
]


def now() -> datetime:
    """Return the current UTC time, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def parse_time(value: str | None) -> datetime | None:
    """Parse an ISO 8601 timestamp; None or an empty string gives None."""
    return datetime.fromisoformat(value) if value else None


def split_turns(messages: Sequence[Any]) -> dict[str, Any]:
    """Return a conversation as TRL prompt/completion: the completion is the last assistant turn.

    Raises
    ------
    DataError
        No assistant turn, or nothing before it.
    """
    msgs = [{"role": m.role, "content": m.content} for m in messages]
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)
    if last <= 0:
        raise DataError("a training row needs a prompt and an assistant answer", field="messages")
    return {"prompt": msgs[:last], "completion": [msgs[last]]}


def template_ids(tok: Any, messages: list[dict[str, str]]) -> list[int]:
    """Return the token ids of a conversation with the tokenizer's chat template applied."""
    out = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=False)
    if isinstance(out, Mapping) or hasattr(out, "keys"):
        out = out["input_ids"]
    return list(out)


def truncation_events(
    lengths: Sequence[int], n_rows: int, limit: int, on_truncation: str
) -> tuple[int, list[str]]:
    """Count the rows longer than ``limit`` tokens and describe the training data.

    Parameters
    ----------
    lengths : sequence of int
        Tokens of each row.
    n_rows : int
        Number of rows.
    limit : int
        ``max_seq_len``.
    on_truncation : {"report", "error"}
        What to do about rows over the limit.

    Returns
    -------
    truncated : int
        Rows over the limit.
    events : list of str
        The job's first events: rows and tokens, then the truncation report if any.

    Raises
    ------
    DataError
        Rows over the limit with ``on_truncation="error"``.
    """
    truncated = sum(n > limit for n in lengths)
    events = [f"{n_rows} rows, {sum(lengths)} tokens"]
    if truncated:
        msg = (
            f"{truncated} of {n_rows} rows exceed max_seq_len={limit} tokens "
            f"(longest {max(lengths)}) and are truncated"
        )
        if on_truncation == "error":
            raise DataError(msg + "; raise max_seq_len or shorten the rows", field="messages")
        events.append(msg)
    return truncated, events


def write_training_files(
    jdir: Path, rows: Sequence[Mapping[str, Any]], spec: Mapping[str, Any]
) -> None:
    """Write ``jdir/train.jsonl`` and ``jdir/spec.json``, each renamed into place."""
    jdir.mkdir(parents=True, exist_ok=True)
    with (jdir / "train.jsonl.tmp").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    os.replace(jdir / "train.jsonl.tmp", jdir / "train.jsonl")
    write_json(jdir / "spec.json", spec)
