"""Conversations to tokens and loss weights, with the base model's own chat template.

Tinker trains on token ids the client sends: ``Datum(model_input=tokens[:-1],
loss_fn_inputs={"target_tokens": tokens[1:], "weights": weights[1:]})``. This
module makes those lists, with no ``tinker`` import, so that cost estimates and
the training worker count the same tokens.

Rendering (:func:`render_example`): the conversation is rendered with the
tokenizer's chat template, and so is everything before the last assistant turn
with the generation prompt added. Tokens the two share get weight 0; the rest
(the answer and its end-of-turn token) weight 1, except tokens after the last
end-of-sequence token (a template's trailing newline). Comparing the two
renderings, rather than assuming one is a prefix of the other, keeps this right
for templates that render the final assistant turn differently from the prompt
(Qwen3 adds an empty ``<think></think>`` block to the generation prompt only).
This is what ``tinker_cookbook.renderers`` computes with per-model rules for
``TrainOnWhat.LAST_ASSISTANT_MESSAGE``.

The tokenizer (:func:`load_tokenizer`) is the Hugging Face tokenizer of the base
model, found the way the SDK's ``TrainingClient.get_tokenizer`` finds it (Llama 3
through Thinking Machines' ungated copy), or one given by path or hub id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dataquality_thresholds.errors import BackendUnavailableError, DataError

__all__ = [
    "batch_schedule",
    "load_tokenizer",
    "render_example",
    "render_prompt",
    "tokenizer_id",
]

#: Where the SDK loads Llama 3 tokenizers from (the originals are gated).
_LLAMA3_TOKENIZER = "thinkingmachineslabinc/meta-llama-3-instruct-tokenizer"


def tokenizer_id(base_model: str, tokenizer: str | None = None) -> str:
    """Return where the tokenizer of ``base_model`` loads from (hub id or path).

    Examples
    --------
    >>> tokenizer_id("Qwen/Qwen3-8B")
    'Qwen/Qwen3-8B'
    >>> tokenizer_id("meta-llama/Llama-3.1-8B-Instruct")
    'thinkingmachineslabinc/meta-llama-3-instruct-tokenizer'
    >>> tokenizer_id("Qwen/Qwen3-8B", "/models/tok")
    '/models/tok'
    """
    if tokenizer:
        return tokenizer
    name = base_model.split(":")[0]
    if name.startswith("meta-llama/Llama-3"):
        return _LLAMA3_TOKENIZER
    if name.count("/") == 2:
        org, model, _ = name.split("/", 2)
        return f"{org}/{model}"
    return name


def load_tokenizer(source: str) -> Any:
    """Load a ``transformers`` tokenizer from a hub id or a local folder.

    Raises
    ------
    BackendUnavailableError
        It cannot be loaded (offline and not cached, or no such tokenizer).
    """
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise BackendUnavailableError(
            f"cannot load the tokenizer {source!r}: {exc}. Pass tokenizer= a local folder, "
            "or allow the Hugging Face hub (HF_HUB_OFFLINE=0)"
        ) from exc


def _ids(tok: Any, messages: Sequence[Mapping[str, str]], **kwargs: Any) -> list[int]:
    out = tok.apply_chat_template(list(messages), tokenize=True, **kwargs)
    if isinstance(out, Mapping) or hasattr(out, "keys"):
        out = out["input_ids"]
    return [int(t) for t in out]


def render_prompt(
    tok: Any,
    messages: Sequence[Mapping[str, str]],
    template_kwargs: Mapping[str, Any] | None = None,
) -> list[int]:
    """Return the token ids of a prompt, with the generation prompt added."""
    return _ids(tok, messages, add_generation_prompt=True, **dict(template_kwargs or {}))


def render_example(
    tok: Any,
    messages: Sequence[Mapping[str, str]],
    template_kwargs: Mapping[str, Any] | None = None,
) -> tuple[list[int], list[float]]:
    """Return one training conversation's tokens and per-token loss weights.

    Parameters
    ----------
    tok : tokenizer
        A ``transformers`` tokenizer with a chat template.
    messages : sequence of {"role", "content"} mappings
        The conversation; the last assistant turn is the answer trained on.
    template_kwargs : mapping, optional
        Extra arguments for the chat template (``{"enable_thinking": False}``).

    Returns
    -------
    tokens : list of int
    weights : list of float
        1.0 on the answer's tokens, 0.0 elsewhere; same length as ``tokens``.

    Raises
    ------
    DataError
        No assistant turn, nothing before it, or an answer that renders to no tokens.
    """
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)
    if last <= 0:
        raise DataError("a training row needs a prompt and an assistant answer", field="messages")
    kwargs = dict(template_kwargs or {})
    full = _ids(tok, msgs[: last + 1], **kwargs)
    prompt = _ids(tok, msgs[:last], add_generation_prompt=True, **kwargs)
    shared = 0
    for a, b in zip(prompt, full, strict=False):
        if a != b:
            break
        shared += 1
    end = len(full)
    eos = getattr(tok, "eos_token_id", None)
    if eos is not None and eos in full[shared:]:
        end = len(full) - full[::-1].index(eos)
    if end <= shared:
        raise DataError("the assistant answer renders to no tokens", field="messages")
    weights = [0.0] * shared + [1.0] * (end - shared) + [0.0] * (len(full) - end)
    return full, weights


def batch_schedule(n_rows: int, *, batch_size: int, epochs: int, seed: int) -> list[list[int]]:
    """Return the row indices of every optimizer step, in order.

    Each epoch visits every row once, in an order drawn from
    ``numpy.random.default_rng([seed, epoch])``; batches do not cross epochs (the
    last one of an epoch may be smaller). The schedule depends on nothing else, so
    a worker that resumes at step ``k`` trains exactly the batches an
    uninterrupted one would have.

    Examples
    --------
    >>> batch_schedule(5, batch_size=2, epochs=1, seed=0)
    [[2, 4], [3, 0], [1]]
    """
    steps: list[list[int]] = []
    per_epoch = math.ceil(n_rows / batch_size)
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(n_rows)
        for b in range(per_epoch):
            steps.append([int(i) for i in order[b * batch_size : (b + 1) * batch_size]])
    return steps
