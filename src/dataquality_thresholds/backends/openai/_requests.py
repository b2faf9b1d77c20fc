"""One chat request of :class:`~dataquality_thresholds.backends.openai.ChatSampler`.

:class:`SampleRequest` is the unit of work (a conversation, its sampling
parameters, the cache key of every sample and which of them are still
missing); :func:`request_body` turns it into a chat-completions body,
:func:`estimate_tokens` guesses its size for the rate limiter before it is
sent, and :func:`parse_completions` turns the reply into
:class:`~dataquality_thresholds.records.Completion` records. The online and
the batch path share all four.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from dataquality_thresholds.errors import BackendError
from dataquality_thresholds.records import Completion, Message

__all__ = ["SampleRequest", "estimate_tokens", "parse_completions", "request_body"]


@attrs.frozen
class SampleRequest:
    """One HTTP request's worth of work: a prompt, the samples it still lacks."""

    messages: tuple[Message, ...]
    params: Mapping[str, Any]
    keys: tuple[str, ...]  # cache key of each sample index 0..n-1
    missing: tuple[int, ...]  # which indices to fetch


def estimate_tokens(messages: Sequence[Message], max_tokens: int | None, n: int) -> int:
    """Return a rough token count of a request (prompt and answers) before it is sent.

    Parameters
    ----------
    messages : sequence of Message
        The conversation.
    max_tokens : int, optional
        Cap on each answer (256 is assumed without one).
    n : int
        Answers asked for.

    Returns
    -------
    int
        About four characters a token, a few tokens per message, ``max_tokens``
        per answer.
    """
    chars = sum(len(m.content) for m in messages)
    return chars // 4 + 4 * len(messages) + 3 + (max_tokens or 256) * n


def request_body(model: str, r: SampleRequest) -> dict[str, Any]:
    """Return the chat-completions body asking for the samples ``r`` lacks.

    Parameters
    ----------
    model : str
        The model to sample.
    r : SampleRequest
        The request; ``n`` is sent only when it asks for more or fewer than one.

    Returns
    -------
    dict
        The JSON body (``max_completion_tokens``, ``seed`` and ``logprobs`` only
        when set).
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in r.messages],
        "temperature": r.params["temperature"],
    }
    if len(r.missing) != 1:
        body["n"] = len(r.missing)
    if r.params.get("max_tokens") is not None:
        body["max_completion_tokens"] = r.params["max_tokens"]
    if r.params.get("seed") is not None:
        body["seed"] = r.params["seed"]
    if r.params.get("top_logprobs") is not None:
        body["logprobs"] = True
        body["top_logprobs"] = r.params["top_logprobs"]
    return body


def parse_completions(
    resp: Mapping[str, Any], model: str, indices: Sequence[int]
) -> list[tuple[int, Completion]]:
    """Turn a chat.completion body into (sample index, Completion) pairs.

    Parameters
    ----------
    resp : mapping
        The ``chat.completion`` object.
    model : str
        The model asked for (used when the reply names none).
    indices : sequence of int
        The sample index of each choice, in choice order.

    Returns
    -------
    list of (int, Completion)
        One pair per index; with several choices, the completion tokens are
        shared evenly and ``info["usage_shared_by"]`` says by how many.

    Raises
    ------
    BackendError
        The reply has fewer choices than ``indices``.
    """
    choices = sorted(resp.get("choices") or [], key=lambda c: c.get("index", 0))
    if len(choices) < len(indices):
        raise BackendError(f"asked for {len(indices)} choices, the server returned {len(choices)}")
    usage = resp.get("usage") or {}
    shared = len(choices)
    pt = usage.get("prompt_tokens")
    ct = usage.get("completion_tokens")
    info = {"request_id": str(resp.get("id", ""))}
    if shared > 1:
        info["usage_shared_by"] = str(shared)
    out = []
    for idx, ch in zip(indices, choices, strict=False):
        msg = ch.get("message") or {}
        lp = ch.get("logprobs") or {}
        content = lp.get("content")
        top = None
        if content:
            top = [
                [(t["token"], t["logprob"]) for t in pos.get("top_logprobs") or []]
                for pos in content
            ]
        per_choice_ct = ct if shared == 1 or ct is None else round(ct / shared)
        out.append(
            (
                idx,
                Completion(
                    text=msg.get("content") or "",
                    model=resp.get("model") or model,
                    index=idx,
                    finish_reason=ch.get("finish_reason"),
                    prompt_tokens=pt,
                    completion_tokens=per_choice_ct,
                    info=info,
                    top_logprobs=top,
                ),
            )
        )
    return out
