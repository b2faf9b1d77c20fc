"""Run a small study in a child process; optionally SIGKILL itself at a chosen point.

    python study_child.py RUN_DIR [--kill-at submit:N | evaluate:N | probe:N]
                          [--base-url URL] [--budget USD] [--epochs N] [--option k=v ...]

Used by tests/study/test_resume.py and test_faults.py. The kill happens right after
the backend acted on the N-th submission (before the ledger records it), on the N-th
sampling call (in the middle of measuring a model), or right after the N-th domain
score was written (before that model's probe is). Without ``--kill-at`` the study
runs on the plain backend (the OpenAI one submits with its cell label). A run
directory held by another process exits with status 3 and prints the error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import make_study

from dataquality_thresholds.errors import RunLockedError


class KillingBackend:
    def __init__(self, inner, stage, count):
        self.inner, self.stage, self.count, self.calls = inner, stage, count, 0
        self.name = inner.name
        self.base_model = inner.base_model

    def estimate_cost(self, mixture, **kw):
        return self.inner.estimate_cost(mixture, **kw)

    def submit(self, mixture, **kw):
        job = self.inner.submit(mixture, **kw)
        self.calls += 1
        if self.stage == "submit" and self.calls == self.count:
            os.kill(os.getpid(), signal.SIGKILL)
        return job

    def wait(self, job, **kw):
        return self.inner.wait(job, **kw)

    def refresh(self, job):
        return self.inner.refresh(job)

    def cancel(self, job):
        return self.inner.cancel(job)

    def sampler(self):
        inner = self.inner.sampler()
        outer = self

        class Killing:
            def complete(self, model, prompts, **kw):
                outer.calls += 1 if outer.stage == "evaluate" else 0
                if outer.stage == "evaluate" and outer.calls == outer.count:
                    os.kill(os.getpid(), signal.SIGKILL)
                return inner.complete(model, prompts, **kw)

        return Killing()


def kill_after_domain_writes(count):
    """SIGKILL this process right after the ``count``-th domain score is written."""
    from dataquality_thresholds.study import _measure

    original = _measure.record
    written = []

    def record(spec, state, cell, kind, model, payload):
        original(spec, state, cell, kind, model, payload)
        if kind == "domain":
            written.append(cell.key)
            if len(written) == count:
                os.kill(os.getpid(), signal.SIGKILL)

    _measure.record = record


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--kill-at", default=None)
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--budget", type=float, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--option", action="append", default=[])
    args = ap.parse_args()
    options = {}
    for item in args.option:
        k, v = item.split("=", 1)
        options[k] = json.loads(v)
    if args.epochs is not None:
        options["hyperparameters"] = {"n_epochs": args.epochs}
    study = make_study(args.run_dir, base_url=args.base_url, budget_usd=args.budget, **options)
    if args.kill_at:
        stage, n = args.kill_at.split(":")
        if stage == "probe":
            kill_after_domain_writes(int(n))
        else:
            study.backend = KillingBackend(study.backend, stage, int(n))
    try:
        res = study.run(progress=False)
    except RunLockedError as exc:
        print(f"locked: pid={exc.pid} started_at={exc.started_at}: {exc}")
        sys.exit(3)
    print("completed" if res.completed else f"stopped: {json.dumps(res.stopped)}")


if __name__ == "__main__":
    main()
