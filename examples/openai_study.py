"""A real study on OpenAI fine-tuning (needs OPENAI_API_KEY; it costs money).

It plans first and prints the estimated cost; nothing is paid unless you pass
--yes. Runs are resumable: run the same command again after a crash.

    python examples/openai_study.py --budget 50            # plan only
    python examples/openai_study.py --budget 50 --yes      # plan, then run

OpenAI stops accepting new fine-tuning jobs on 2027-01-06 and already refuses
organisations without recent use (403): see docs/backends.md for the open-weight path.
"""

import argparse
import os
import sys
from pathlib import Path

from dataquality_thresholds import (
    DomainSpec,
    MisalignmentProbe,
    Study,
    load_domain,
    load_probe_questions,
)

ap = argparse.ArgumentParser()
ap.add_argument("--budget", type=float, required=True, help="refuse plans above this many USD")
ap.add_argument("--yes", action="store_true", help="actually submit fine-tuning jobs")
ap.add_argument("--run-dir", default="runs/openai-finance")
ap.add_argument("--base-model", default="gpt-4o-mini-2024-07-18")
args = ap.parse_args()

if not os.environ.get("OPENAI_API_KEY"):
    sys.exit(
        "set OPENAI_API_KEY first (it is read from the environment and never written anywhere)"
    )

from dataquality_thresholds.backends.openai import OpenAIBackend  # noqa: E402
from dataquality_thresholds.evaluation import OpenAIJudge, ReferenceJudge  # noqa: E402

data = load_domain("finance")
backend = OpenAIBackend(base_model=args.base_model)
probe = MisalignmentProbe(load_probe_questions(), OpenAIJudge(model="gpt-4o-2024-08-06"))
study = Study(
    domains={
        "finance": DomainSpec(pool=data.pool, eval_items=data.eval_items, judge=ReferenceJudge())
    },
    backend=backend,
    probe=probe,
    fractions=(0.1, 0.25, 0.5, 0.75, 0.9, 1.0),
    corruptions=("subtle",),
    replicates=2,
    size=200,
    run_dir=Path(args.run_dir),
    budget_usd=args.budget,
    base_model=args.base_model,
    probe_samples=20,
)
plan = study.plan()
print(plan.summary())
if not args.yes:
    print("plan only: pass --yes to submit (and pay for) these fine-tunes")
    sys.exit(0)
results = study.run(progress=True, log=print)
print(results.fit("domain_score"))
print("report:", results.report(Path(args.run_dir) / "report.html"))
