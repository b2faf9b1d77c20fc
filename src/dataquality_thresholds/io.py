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

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from ._util.atomic import atomic_write
from .errors import DataError, SchemaVersionError
from .records import INCORRECT_KINDS, ROLES, Example, Message, Mixture, PairedExample
from .tokens import Tokenizer, count_chat_tokens, get_tokenizer

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

#: OpenAI refuses fine-tuning files with fewer examples than this.
OPENAI_MIN_EXAMPLES = 10
#: Per-example token limit for gpt-4o-2024-08-06 and gpt-4o-mini fine-tuning.
OPENAI_MAX_TOKENS_PER_EXAMPLE = 65_536
#: Newest schema version of paired-example rows this library reads and writes.
PAIRED_SCHEMA_VERSION = 1
#: Newest schema version of mixture manifests.
MANIFEST_SCHEMA_VERSION = 1

_PAIRED_KEYS = frozenset(
    {"id", "domain", "messages", "correct", "incorrect", "skill", "schema_version"}
)
_PROMPT_MESSAGE_KEYS = frozenset({"role", "content", "name"})
_CHAT_ROW_KEYS = frozenset({"messages"})
_CHAT_MESSAGE_KEYS = frozenset({"role", "content", "name", "weight"})


# --------------------------------------------------------------------------- low level
def _dumps(obj: Any) -> str:
    return json.dumps(
        obj, ensure_ascii=False, sort_keys=True, allow_nan=False, separators=(",", ":")
    )


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


def write_jsonl_chunks(chunks: Iterable[bytes], path: str | Path) -> str:
    """Write byte chunks to ``path`` atomically and return their sha256."""
    h = hashlib.sha256()
    with atomic_write(path) as fh:
        for chunk in chunks:
            h.update(chunk)
            fh.write(chunk)
    return h.hexdigest()


def _iter_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for each non-blank line of ``path``."""
    try:
        fh = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    with fh:
        lineno = 0
        while True:
            try:
                raw = fh.readline()
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"not valid UTF-8 ({exc.reason})", path=path, line=lineno + 1, field="<line>"
                ) from exc
            if not raw:
                return
            lineno += 1
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"not valid JSON ({exc.msg} at column {exc.colno})",
                    path=path,
                    line=lineno,
                    field="<line>",
                ) from exc
            if not isinstance(obj, dict):
                raise DataError(
                    f"expected a JSON object, got {type(obj).__name__}",
                    path=path,
                    line=lineno,
                    field="<line>",
                )
            yield lineno, obj


def _relocate(
    exc: DataError, *, path: Path | None, line: int, prefix: str = "", id: str | None = None
) -> DataError:
    field = exc.field
    if prefix and field:
        field = f"{prefix}.{field}" if not field.startswith("[") else f"{prefix}{field}"
    elif prefix:
        field = prefix
    return DataError(exc.reason, path=path, line=line, field=field, id=id or exc.id)


def _string(
    obj: Mapping[str, Any], key: str, *, where: dict[str, Any], required: bool = True
) -> str | None:
    if key not in obj:
        if required:
            raise DataError("missing required key", field=key, **where)
        return None
    value = obj[key]
    if not isinstance(value, str):
        raise DataError(f"expected a string, got {type(value).__name__}", field=key, **where)
    if not value.strip():
        raise DataError("must not be empty", field=key, **where)
    return value


def _required(obj: Mapping[str, Any], key: str, *, where: dict[str, Any]) -> str:
    value = _string(obj, key, where=where)
    assert value is not None  # _string raises for a missing required key
    return value


def _check_version(obj: Mapping[str, Any], supported: int, *, where: dict[str, Any]) -> None:
    version = obj.get("schema_version", supported)
    if isinstance(version, bool) or not isinstance(version, int):
        raise DataError(f"expected an int, got {version!r}", field="schema_version", **where)
    if version > supported:
        raise SchemaVersionError(
            f"written by a newer version of dataquality_thresholds (schema_version "
            f"{version}, this version reads up to {supported}); upgrade the library",
            found=version,
            supported=supported,
            field="schema_version",
            **where,
        )


def _parse_messages(
    value: Any, *, allowed: frozenset[str], where: dict[str, Any]
) -> tuple[Message, ...]:
    if not isinstance(value, list):
        raise DataError(
            f"expected a list of messages, got {type(value).__name__}", field="messages", **where
        )
    if not value:
        raise DataError("must contain at least one message", field="messages", **where)
    out = []
    for i, m in enumerate(value):
        f = f"messages[{i}]"
        if not isinstance(m, dict):
            raise DataError(f"expected an object, got {type(m).__name__}", field=f, **where)
        extra = sorted(set(m) - allowed)
        if extra:
            raise DataError(
                f"unknown key {extra[0]!r}; allowed: {', '.join(sorted(allowed))}",
                field=f"{f}.{extra[0]}",
                **where,
            )
        if "role" not in m:
            raise DataError("missing required key", field=f"{f}.role", **where)
        if m["role"] not in ROLES:
            raise DataError(
                f"unknown role {m['role']!r}; expected one of {', '.join(ROLES)}",
                field=f"{f}.role",
                **where,
            )
        if "content" not in m:
            raise DataError("missing required key", field=f"{f}.content", **where)
        content = m["content"]
        if not isinstance(content, str):
            raise DataError(
                f"expected a string, got {type(content).__name__}", field=f"{f}.content", **where
            )
        if not content.strip():
            raise DataError("must not be empty", field=f"{f}.content", **where)
        if "name" in m and (not isinstance(m["name"], str) or not m["name"]):
            raise DataError("expected a non-empty string", field=f"{f}.name", **where)
        weight = m.get("weight")
        if "weight" in m:
            if isinstance(weight, bool) or weight not in (0, 1):
                raise DataError(
                    f"weight must be 0 or 1, got {weight!r}", field=f"{f}.weight", **where
                )
            if m["role"] != "assistant":
                raise DataError(
                    "weight is allowed on assistant messages only", field=f"{f}.weight", **where
                )
        out.append(Message(m["role"], content, weight))
    return tuple(out)


# --------------------------------------------------------------------------- paired examples
def parse_paired_row(
    obj: Mapping[str, Any], *, path: str | Path | None = None, line: int
) -> PairedExample:
    """Validate one raw paired-example object and build the record.

    Parameters
    ----------
    obj : mapping
        The parsed JSON object.
    path : str or Path, optional
        Where it came from (for error messages).
    line : int
        1-based line (or row) number.

    Raises
    ------
    DataError
        Naming ``path``, ``line`` and the field at fault.
    """
    where: dict[str, Any] = {"path": path, "line": line}
    _check_version(obj, PAIRED_SCHEMA_VERSION, where=where)
    extra = sorted(set(obj) - _PAIRED_KEYS)
    if extra:
        raise DataError(
            f"unknown key {extra[0]!r}; allowed: {', '.join(sorted(_PAIRED_KEYS))}",
            field=extra[0],
            **where,
        )
    id_ = _required(obj, "id", where=where)
    where["id"] = id_
    domain = _required(obj, "domain", where=where)
    if "messages" not in obj:
        raise DataError(
            "missing required key (the prompt, without the answer)", field="messages", **where
        )
    prompt = _parse_messages(obj["messages"], allowed=_PROMPT_MESSAGE_KEYS, where=where)
    if prompt[-1].role != "user":
        raise DataError(
            f"the prompt must end with a user message, it ends with {prompt[-1].role!r}",
            field=f"messages[{len(prompt) - 1}].role",
            **where,
        )
    correct = _required(obj, "correct", where=where)
    if "incorrect" not in obj:
        raise DataError("missing required key", field="incorrect", **where)
    incorrect = obj["incorrect"]
    if not isinstance(incorrect, dict):
        raise DataError(
            f"expected an object of kind to response, got {type(incorrect).__name__}",
            field="incorrect",
            **where,
        )
    if not incorrect:
        raise DataError(
            f"needs at least one incorrect variant ({', '.join(INCORRECT_KINDS)})",
            field="incorrect",
            **where,
        )
    for kind in incorrect:
        if kind not in INCORRECT_KINDS:
            raise DataError(
                f"unknown incorrect kind {kind!r}; expected one of {', '.join(INCORRECT_KINDS)}",
                field=f"incorrect.{kind}",
                **where,
            )
        value = incorrect[kind]
        if not isinstance(value, str) or not value.strip():
            raise DataError("expected a non-empty string", field=f"incorrect.{kind}", **where)
    skill = (
        _string(obj, "skill", where=where, required=False) if obj.get("skill") is not None else None
    )
    try:
        return PairedExample(
            id=id_, domain=domain, prompt=prompt, correct=correct, incorrect=incorrect, skill=skill
        )
    except DataError as exc:  # pragma: no cover - the checks above come first
        raise _relocate(exc, path=Path(path) if path else None, line=line, id=id_) from exc


def paired_to_obj(example: PairedExample) -> dict[str, Any]:
    """Return the JSON-safe object for one paired example (the JSONL row)."""
    obj: dict[str, Any] = {
        "id": example.id,
        "domain": example.domain,
        "messages": [{"role": m.role, "content": m.content} for m in example.prompt],
        "correct": example.correct,
        "incorrect": dict(example.incorrect),
    }
    if example.skill is not None:
        obj["skill"] = example.skill
    return obj


def _read_id_rows(path: Path, parse: Any, what: str) -> list[Any]:
    """Parse every line of ``path`` with ``parse``; refuse duplicate ids and empty files."""
    seen: dict[str, int] = {}
    out = []
    for lineno, obj in _iter_json_lines(path):
        row = parse(obj, path=path, line=lineno)
        if row.id in seen:
            raise DataError(
                f"duplicate id (first seen on line {seen[row.id]})",
                path=path,
                line=lineno,
                field="id",
                id=row.id,
            )
        seen[row.id] = lineno
        out.append(row)
    if not out:
        raise DataError(f"no {what} in file", path=path)
    return out


def read_paired_jsonl(path: str | Path) -> list[PairedExample]:
    """Read and validate a paired-example JSONL file.

    Raises
    ------
    DataError
        On the first malformed line (naming the line and field), a duplicate
        id, or a file with no examples.
    SchemaVersionError
        When a row was written by a newer version of the library.
    """
    rows: list[PairedExample] = _read_id_rows(Path(path), parse_paired_row, "examples")
    return rows


def write_paired_jsonl(examples: Iterable[PairedExample], path: str | Path) -> str:
    """Write paired examples as JSONL (atomically); return the file's sha256."""
    rows = list(examples)
    ids: set[str] = set()
    for i, ex in enumerate(rows, start=1):
        if not isinstance(ex, PairedExample):
            raise DataError(
                f"expected a PairedExample, got {type(ex).__name__}", line=i, field="<row>"
            )
        if ex.id in ids:
            raise DataError("duplicate id", line=i, field="id", id=ex.id)
        ids.add(ex.id)
    return write_jsonl_chunks(
        ((_dumps(paired_to_obj(ex)) + "\n").encode("utf-8") for ex in rows), path
    )


# --------------------------------------------------------------------------- OpenAI chat files
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
    """
    p = Path(path)
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
        Naming the row (as ``line``) and field of the first bad row.
    """
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


# --------------------------------------------------------------------------- manifests
def write_manifest(manifest: Mapping[str, Any], path: str | Path) -> None:
    """Write a manifest (or any schema-tagged object) as pretty JSON, atomically."""
    if "schema" not in manifest or "schema_version" not in manifest:
        raise DataError("a manifest needs 'schema' and 'schema_version'", path=path, field="schema")
    text = (
        json.dumps(manifest, ensure_ascii=False, sort_keys=True, allow_nan=False, indent=2) + "\n"
    )
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))


def read_manifest(path: str | Path, *, schema: str = "mixture_manifest") -> dict[str, Any]:
    """Read a manifest written by :func:`write_manifest`, checking its schema and version."""
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("file not found", path=p) from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON ({exc.msg})", path=p, line=exc.lineno, field="<file>"
        ) from exc
    if not isinstance(obj, dict) or obj.get("schema") != schema:
        got = obj.get("schema") if isinstance(obj, dict) else type(obj).__name__
        raise DataError(f"expected schema {schema!r}, got {got!r}", path=p, field="schema")
    _check_version(obj, MANIFEST_SCHEMA_VERSION, where={"path": p})
    return obj


# --------------------------------------------------------------------------- mixtures
def mixture_basename(mixture: Mixture) -> str:
    """File stem for a mixture: ``<corruption>-f<fraction>-n<size>-s<seed>``.

    ``<corruption>`` is the kind (``obvious``) or kinds with shares
    (``obvious0.5_subtle0.5``).
    """
    spec = mixture.spec
    kinds = "_".join(
        k if len(spec.corruption) == 1 else f"{k}{v:g}" for k, v in spec.corruption.items()
    )
    return f"{kinds}-f{spec.fraction_correct:.4f}-n{spec.size}-s{spec.seed}"


def write_mixtures(mixtures: Sequence[Mixture], directory: str | Path) -> list[tuple[Path, Path]]:
    """Write each mixture's training file and manifest into ``directory``.

    Files are named by :func:`mixture_basename` (``.jsonl`` and
    ``.manifest.json``). Everything is written into a temporary folder first and
    moved into place only when every file is complete, so an error leaves no
    partial set behind.

    Returns
    -------
    list of (Path, Path)
        The training file and manifest of each mixture, in input order.
    """
    import shutil
    import tempfile

    names = [mixture_basename(m) for m in mixtures]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(
            f"two mixtures would both be written as {dup!r}", path=directory, field="mixtures"
        )
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, Path]] = []
    with tempfile.TemporaryDirectory(dir=target, prefix=".incoming-") as tmp:
        for m, name in zip(mixtures, names, strict=True):
            m.to_jsonl(Path(tmp) / f"{name}.jsonl")
            write_manifest(
                {**m.manifest, "file": f"{name}.jsonl"}, Path(tmp) / f"{name}.manifest.json"
            )
        for name in names:
            for suffix in (".jsonl", ".manifest.json"):
                shutil.move(str(Path(tmp) / f"{name}{suffix}"), str(target / f"{name}{suffix}"))
            out.append((target / f"{name}.jsonl", target / f"{name}.manifest.json"))
    return out
