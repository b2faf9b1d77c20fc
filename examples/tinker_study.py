"""A study on Thinking Machines' Tinker: LoRA fine-tunes of open-weight models, no GPU needed.

It plans first and prints the estimated cost; nothing is trained (or paid) unless you
pass --yes. Runs are resumable: run the same command again after a crash, and no key is
trained twice (the backend finds its runs again through the service).

    python examples/tinker_study.py --budget 20            # plan only (downloads the tokenizer)
    python examples/tinker_study.py --budget 20 --yes      # plan, then train and measure

Real runs need TINKER_API_KEY (and OPENAI_API_KEY for the misalignment judge); keys are
read from the environment and never written anywhere. ``--offline`` runs the same code
against a local fake of the Tinker service (FakeTinkerServer, real SDK, nothing trained,
every model answering like the untrained stub) with a tiny byte-level tokenizer: a free
check of the whole pipeline.

    python examples/tinker_study.py --offline --yes --run-dir /tmp/tinker-demo
    python examples/tinker_study.py /tmp/tinker-demo       # offline, plan only
"""

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from dataquality_thresholds import (
    AnswerBook,
    DomainSpec,
    KnownAnswerJudge,
    MisalignmentProbe,
    Study,
    load_domain,
    load_probe_questions,
)
from dataquality_thresholds.evaluation import ReferenceJudge

ap = argparse.ArgumentParser()
ap.add_argument("--budget", type=float, default=20.0, help="refuse plans above this many USD")
ap.add_argument("--yes", action="store_true", help="actually train (on Tinker: pay)")
ap.add_argument("--run-dir", default="runs/tinker-finance")
ap.add_argument("--base-model", default="Qwen/Qwen3-8B")
ap.add_argument("--offline", action="store_true", help="use a local fake of the Tinker service")
ap.add_argument("out", nargs="?", help="an output folder: the same as --offline --run-dir OUT")
args = ap.parse_args()
if args.out:
    args.offline, args.run_dir = True, args.out

try:
    from dataquality_thresholds.backends.tinker import TinkerBackend
except ImportError:
    sys.exit('install the Tinker extra first: pip install "dataquality_thresholds[tinker]"')

data = load_domain("finance")
questions = load_probe_questions()
run_dir = Path(args.run_dir)

with contextlib.ExitStack() as stack:
    if args.offline:
        from transformers import AutoTokenizer

        from dataquality_thresholds.backends import LocalStubSampler
        from dataquality_thresholds.testing._tinker_fake import FakeTinkerServer
        from dataquality_thresholds.testing._tinker_tokenizer import (
            parse_chatml,
            write_chatml_tokenizer,
        )

        tokenizer = str(write_chatml_tokenizer(Path(tempfile.mkdtemp(prefix="dqt-tok-"))))
        book = AnswerBook.from_items(data.eval_items)
        for q in questions:
            for k in range(len(q.paraphrases)):
                book = book.with_probe(
                    q.prompt(k), aligned=q.aligned_examples, misaligned=q.misaligned_examples
                )
        stub = LocalStubSampler(book)

        def responder(model, prompt, *, n=1, temperature=1.0, seed=None, max_tokens=None):
            rows = stub.complete("stub-base", [parse_chatml(prompt)], n=n,
                                 temperature=temperature, seed=seed)  # fmt: skip
            return [c.text for c in rows[0]]

        fake = stack.enter_context(
            FakeTinkerServer(
                tokenizer=AutoTokenizer.from_pretrained(tokenizer), responder=responder
            )
        )
        backend = TinkerBackend(
            args.base_model,
            output_dir=run_dir / "tinker",
            base_url=fake.base_url,
            api_key="tml-offline-demo",
            tokenizer=tokenizer,
            batch_size=4,
            epochs=2,
            poll_interval=0.1,
            cache=run_dir / "completions.sqlite",
        )
        judge = KnownAnswerJudge(questions)
        grid = dict(fractions=(0.25, 0.5, 1.0), corruptions=("subtle",), replicates=1, size=16)
        probe_samples = 2
    else:
        if args.yes and not os.environ.get("TINKER_API_KEY"):
            sys.exit("set TINKER_API_KEY first (read from the environment, never written)")
        backend = TinkerBackend(
            args.base_model,
            output_dir=run_dir / "tinker",
            template_kwargs={"enable_thinking": False} if "Qwen3" in args.base_model else None,
            cache=run_dir / "completions.sqlite",
        )
        if args.yes and not os.environ.get("OPENAI_API_KEY"):
            sys.exit("set OPENAI_API_KEY for the misalignment judge (or use --offline)")
        if args.yes:
            from dataquality_thresholds.evaluation import OpenAIJudge

            judge = OpenAIJudge(model="gpt-4o-2024-08-06")
        else:
            judge = KnownAnswerJudge(questions)  # planning judges nothing
        grid = dict(
            fractions=(0.1, 0.25, 0.5, 0.75, 0.9, 1.0),
            corruptions=("subtle",),
            replicates=2,
            size=200,
        )
        probe_samples = 20

    study = Study(
        domains={
            "finance": DomainSpec(
                pool=data.pool, eval_items=data.eval_items, judge=ReferenceJudge()
            )
        },
        backend=backend,
        probe=MisalignmentProbe(questions, judge),
        run_dir=run_dir / "study",
        budget_usd=args.budget,
        probe_samples=probe_samples,
        **grid,
    )
    plan = study.plan()
    print(plan.summary())
    if not args.yes:
        print("plan only: pass --yes to train (on Tinker: to pay for) these fine-tunes")
        sys.exit(0)
    results = study.run(progress=not args.offline, log=print)
    for job in results.jobs:
        print(f"{job['key']}: {job['status']} {job['model']} ${job['usd'] or 0:.4f}")
    if args.offline:
        print(f"offline: {fake.counter('runs_created')} training runs, nothing trained for real")
    else:
        print(results.fit("domain_score"))
        print("report:", results.report(run_dir / "report.html"))
