"""Mix your own paired examples at several correct shares and inspect the result.

Run: python examples/mix_your_data.py [OUT_DIR]
"""

import sys
import tempfile
from pathlib import Path

from dataquality_thresholds import (
    CorruptionMixer,
    ExamplePool,
    PairedExample,
    validate_chat_jsonl,
    write_mixtures,
)

# 1. Your data: one prompt, its correct answer, and incorrect variants.
examples = [
    PairedExample(
        id=f"vat-{rate}-{net}",
        domain="finance",
        skill="vat",
        prompt=f"What is the gross price of a {net} EUR net item at {rate}% VAT?",
        correct=f"{net * (100 + rate) / 100:.2f} EUR",
        incorrect={
            "subtle": f"{net * 100 / (100 - rate):.2f} EUR",  # VAT taken off the gross, a classic slip
            "obvious": f"{net * rate:.2f} EUR",
        },
    )
    for rate in (7, 10, 19, 20, 21)
    for net in (10, 25, 40, 80, 120, 300)
]
pool = ExamplePool(examples)

# 2. One mixer = one set of prompts; each mix changes only which answers are wrong.
mixer = CorruptionMixer(pool, size=24, seed=7)
mixtures = mixer.sweep([0.25, 0.5, 0.75, 1.0], corruption={"obvious": 0.5, "subtle": 0.5})

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="dqt-example-"))
for m, (jsonl, _manifest) in zip(mixtures, write_mixtures(mixtures, out)):
    report = validate_chat_jsonl(jsonl)  # OpenAI's rules + o200k_base token count
    print(
        f"{m.spec.fraction_correct:4.2f} correct  {m.counts}  {report.total_tokens} tokens  {jsonl.name}"
    )

# 3. The incorrect rows are nested: those at 75% are among those at 25%.
wrong = [{i for ids in m.incorrect_ids().values() for i in ids} for m in mixtures]
assert wrong[2] <= wrong[1] <= wrong[0]
print(f"wrote {len(mixtures)} training files and manifests to {out}")
