"""A tiny offline tokenizer with a ChatML chat template, for Tinker tests and demos.

Tinker renders conversations with the base model's Hugging Face tokenizer, which
tests cannot download. :func:`write_chatml_tokenizer` writes a real
``transformers`` tokenizer folder instead: byte-level (one token per UTF-8 byte, so
any text round-trips), with Qwen's special tokens (``<|im_start|>``, ``<|im_end|>``
as end of sequence, ``<|endoftext|>``) and a ChatML template like Qwen's. Pass the
folder as ``TinkerBackend(tokenizer=...)`` and, loaded, as
``FakeTinkerServer(tokenizer=...)``. :func:`parse_chatml` reads a rendered prompt
back into messages, for responders.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["CHATML_TEMPLATE", "parse_chatml", "write_chatml_tokenizer"]

#: The chat template written (ChatML, as Qwen models use it, without tools or thinking).
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_TURN = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>\n?|$)", re.S)


def write_chatml_tokenizer(folder: str | Path) -> Path:
    """Write the tokenizer into ``folder`` (created) and return the folder.

    Needs ``tokenizers`` and ``transformers`` (both come with the ``tinker`` SDK).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    make: Any = PreTrainedTokenizerFast  # untyped in transformers
    fast = make(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
    )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    return out


def parse_chatml(text: str) -> list[dict[str, str]]:
    r"""Return the messages of a ChatML rendering (an open assistant turn is dropped).

    Examples
    --------
    >>> parse_chatml("<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n")
    [{'role': 'user', 'content': 'Hi?'}]
    """
    out = [{"role": r, "content": c} for r, c in _TURN.findall(text)]
    if out and out[-1]["role"] == "assistant" and not out[-1]["content"]:
        out.pop()
    return out
