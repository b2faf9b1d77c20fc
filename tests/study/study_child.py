"""Run a small study in a child process; optionally SIGKILL itself at a chosen point.

    python study_child.py RUN_DIR [--kill-at submit:N | evaluate:N] [--base-url URL]

Used by tests/study/test_resume.py. The kill happens right after the backend
acted on the N-th submission (before the ledger records it), or on the N-th
sampling call (in the middle of measuring a model).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import make_study


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--kill-at", default=None)
    ap.add_argument("--base-url", default=None)
    args = ap.parse_args()
    study = make_study(args.run_dir, base_url=args.base_url)
    if args.kill_at:
        stage, n = args.kill_at.split(":")
        study.backend = KillingBackend(study.backend, stage, int(n))
    study.run(progress=False)
    print("completed")


if __name__ == "__main__":
    main()
