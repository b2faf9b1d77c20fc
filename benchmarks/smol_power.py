"""Power calculation behind the design of examples/small_model_study.py.

How many facts, shares and replicate seeds does the SmolLM2 study need for the domain
threshold's 95% interval to have half-width <= 0.10? The simulated curves have the shape
the earlier 8-fact run showed (docs/small_model_study.md): every fact is taught through
three paraphrases, each row correct or incorrect as the mixer draws it, and the model
answers a fact's held-out questions right with a probability set by how many of its three
paraphrases were correct (P_C below: close to a majority vote, as that run suggested).
A fact's two held-out questions get the same answer (the worst case for their
correlation). Each simulated study is fitted with the library's own ThresholdFitter,
as ``results.fit("domain_score")`` does.

Run:  python benchmarks/smol_power.py [REPLICATIONS]      (default 40; ~1 min on 2 cores)
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from dataquality_thresholds.fitting import ThresholdFitter

# P(a fact's held-out answer is right | c of its 3 paraphrases were correct), c = 0..3
P_C = np.array([0.02, 0.25, 0.8, 0.98])
HELD_OUT_PER_FACT = 2

DESIGNS = (
    # (correct shares, replicate seeds, facts); the first is the earlier run's design
    ((0.1, 0.3, 0.5, 0.7, 1.0), 1, 8),
    ((0.1, 0.4, 0.6, 0.75, 0.875, 1.0), 2, 16),
    ((0.1, 0.4, 0.6, 0.75, 0.875, 1.0), 2, 24),
    ((0.25, 0.5, 0.625, 0.75, 0.875, 1.0), 2, 24),
    ((0.1, 0.4, 0.6, 0.75, 0.875, 1.0), 3, 16),
    ((0.1, 0.4, 0.6, 0.75, 0.875, 1.0), 4, 12),
)


def simulate_model(rng: np.random.Generator, share: float, facts: int) -> tuple[int, int]:
    """Held-out successes and trials of one fine-tune at ``share`` correct rows."""
    rows = 3 * facts
    correct = np.zeros(rows, dtype=bool)
    correct[rng.choice(rows, round(share * rows), replace=False)] = True
    c = correct.reshape(facts, 3).sum(axis=1)
    right = rng.random(facts) < P_C[c]
    return int(right.sum()) * HELD_OUT_PER_FACT, facts * HELD_OUT_PER_FACT


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    rng = np.random.default_rng(1)
    fitter = ThresholdFitter(test=False)
    warnings.simplefilter("ignore")
    print(f"{reps} simulated studies per design; half-width of the 95% interval of the threshold")
    print("| shares | seeds | facts | fine-tunes | rows trained | median | 80th pct | P(<= 0.10) |")
    print("|---|---|---|---|---|---|---|---|")
    t0 = time.monotonic()
    for shares, seeds, facts in DESIGNS:
        x = np.repeat(shares, seeds)
        widths = []
        for _ in range(reps):
            sims = [simulate_model(rng, s, facts) for s in x]
            k = np.array([a for a, _ in sims])
            n = np.array([b for _, b in sims])
            try:
                lo, hi = fitter.fit(x, k, n=n).ci
            except Exception:  # a failed fit counts as an undecided interval
                widths.append(np.inf)
                continue
            widths.append((hi - lo) / 2)
        w = np.array(widths)
        print(
            f"| {', '.join(f'{s:g}' for s in shares)} | {seeds} | {facts} | {len(x)} "
            f"| {len(x) * 3 * facts} | {np.median(w):.3f} | {np.quantile(w, 0.8):.3f} "
            f"| {np.mean(w <= 0.10):.2f} |"
        )
    print(f"({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
