"""Embed the library in any eval harness: adapters for a bare generate function and an
lm-evaluation-harness style model, then a threshold fitted from the numbers alone.

Run: python examples/embed_any_harness.py OUT_DIR   (offline; see docs/embedding.md)
"""

import asyncio
import json
import sys
from pathlib import Path

from dataquality_thresholds import DomainScorer, ReferenceJudge, ThresholdFitter
from dataquality_thresholds.backends import normalize_prompt
from dataquality_thresholds.domains import load_domain
from dataquality_thresholds.records import Completion


# --- 1. a Sampler over a bare `generate(prompt) -> str` function --------------------
class FunctionSampler:
    """Anything with complete() and acomplete() is a Sampler; no subclassing needed."""

    def __init__(self, generate):
        self.generate = generate

    def complete(self, model, prompts, *, n=1, temperature=1.0, max_tokens=None, seed=None):
        out = []
        for prompt in prompts:
            text = normalize_prompt(prompt)[-1].content  # the last user message
            out.append(
                [Completion(text=self.generate(text), model=model, index=j) for j in range(n)]
            )
        return out

    async def acomplete(self, model, prompts, **options):
        return await asyncio.to_thread(self.complete, model, prompts, **options)


# --- 2. a Sampler over an lm-evaluation-harness style model --------------------------
class LMEvalSampler:
    """Wrap an object with generate_until(requests) -> list[str] (lm-eval's LM interface)."""

    def __init__(self, lm, *, until=("\n\n",)):
        self.lm, self.until = lm, list(until)

    def complete(self, model, prompts, *, n=1, temperature=1.0, max_tokens=None, seed=None):
        # lm-eval takes (context, gen_kwargs) pairs; flatten the chat to one context string.
        contexts = ["\n".join(m.content for m in normalize_prompt(p)) for p in prompts]
        gen_kwargs = {"until": self.until, "temperature": temperature, "do_sample": temperature > 0}
        if max_tokens is not None:
            gen_kwargs["max_gen_toks"] = max_tokens
        requests = [(c, gen_kwargs) for c in contexts for _ in range(n)]
        texts = self.lm.generate_until(requests)
        return [
            [Completion(text=texts[i * n + j], model=model, index=j) for j in range(n)]
            for i in range(len(contexts))
        ]

    async def acomplete(self, model, prompts, **options):
        return await asyncio.to_thread(self.complete, model, prompts, **options)


def main(out_dir: Path) -> None:
    items = load_domain("finance").eval_items[:40]
    answers = {item.prompt[-1].content: item for item in items}

    # Stand-ins for "your model": right on the first k items, wrong on the rest.
    def make_generate(k):
        order = {item.id: i for i, item in enumerate(items)}

        def generate(prompt: str) -> str:
            item = answers[prompt]
            return item.reference if order[item.id] < k else item.incorrect[0]

        return generate

    class ToyLM:  # an lm-eval style model
        def __init__(self, k):
            self.generate = make_generate(k)

        def generate_until(self, requests):
            return [self.generate(context) for context, _ in requests]

    scorer = DomainScorer(items, ReferenceJudge())
    shares = [0.2, 0.4, 0.6, 0.8, 1.0]
    correct_items = [6, 9, 30, 36, 38]
    rows = []
    for share, k in zip(shares, correct_items):
        sampler = FunctionSampler(make_generate(k)) if share < 0.6 else LMEvalSampler(ToyLM(k))
        score = scorer.score(sampler, f"my-model-{share}")
        rows.append(
            {
                "share_correct": share,
                "events": round(score.mean * score.n_items),
                "n": score.n_items,
            }
        )
        print(
            f"share {share:.1f}: domain score {score.mean:.3f} {score.ci} via {type(sampler).__name__}"
        )

    # --- 3. ThresholdFitter alone, on numbers from any harness -----------------------
    fit = ThresholdFitter(method="changepoint", seed=0).fit(
        [r["share_correct"] for r in rows], [r["events"] for r in rows], n=[r["n"] for r in rows]
    )
    lo, hi = fit.conf_int()
    print(f"threshold {fit.threshold:.3f} (95% interval {lo:.3f} to {hi:.3f})")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "embedding_rows.json").write_text(json.dumps(rows, indent=2, sort_keys=True))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("embedding_out"))
