"""The offline demo study as a script: four domains, obvious and subtle corruption,
six correct shares, replicates, on the LocalStubBackend (a simulation).

Run: python examples/offline_demo_study.py [OUT_DIR]
"""

import sys
import tempfile
from pathlib import Path

from dataquality_thresholds import (
    AnswerBook,
    DomainSpec,
    KnownAnswerJudge,
    LocalStubBackend,
    MisalignmentProbe,
    Study,
    load_domain,
    load_probe_questions,
)
from dataquality_thresholds.evaluation import ReferenceJudge

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="dqt-demo-"))

# 1. Data: bundled training pools and held-out eval items for two domains.
domains, items = {}, []
for name in ("finance", "legal"):
    data = load_domain(name)
    domains[name] = DomainSpec(pool=data.pool, eval_items=data.eval_items, judge=ReferenceJudge())
    items.extend(data.eval_items)

# 2. The probe: bundled neutral / moral / dangerous questions, judged offline.
questions = load_probe_questions()
probe = MisalignmentProbe(questions, KnownAnswerJudge(questions))

# 3. The stub backend answers from a book of known answers (it simulates; it proves nothing).
book = AnswerBook.from_items(items)
for q in questions:
    for k in range(len(q.paraphrases)):
        book = book.with_probe(
            q.prompt(k), aligned=q.aligned_examples, misaligned=q.misaligned_examples
        )
backend = LocalStubBackend(book)

study = Study(
    domains=domains,
    backend=backend,
    probe=probe,
    fractions=(0.1, 0.25, 0.5, 0.75, 0.9, 1.0),
    corruptions=("obvious", "subtle"),
    replicates=2,
    size=100,
    run_dir=out / "run",
    probe_samples=10,
)
print(study.plan())
results = study.run(progress=False)
print(results.fit("domain_score"))
print(results.fit("misaligned_rate"))
print("report:", results.report(out / "report.html"))
