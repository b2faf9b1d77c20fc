"""Run the small shared study on TogetherBackend against a FakeTogetherServer; maybe SIGKILL.

    python together_study_child.py RUN_DIR BASE_URL [--kill-at upload:N | submit:N | wait:N]

Used by test_together_study.py. ``upload:N`` dies right after the N-th training
file was uploaded (before its job is created), ``submit:N`` right after the N-th
job was created remotely (before the study's ledger records it), ``wait:N`` on the
N-th poll of a running job.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "study"))

from common import make_study

from dataquality_thresholds.backends.together import TogetherBackend


class DyingBackend(TogetherBackend):
    """A TogetherBackend that kills its own process at a chosen point."""

    kill_stage = ""
    kill_count = 0
    calls = 0

    def _tick(self, stage):
        if stage == self.kill_stage:
            DyingBackend.calls += 1
            if DyingBackend.calls == self.kill_count:
                os.kill(os.getpid(), signal.SIGKILL)

    def _upload(self, mixture, filename):
        file = super()._upload(mixture, filename)
        self._tick("upload")
        return file

    def submit(self, mixture, **kw):
        job = super().submit(mixture, **kw)
        self._tick("submit")
        return job

    def refresh(self, job):
        fresh = super().refresh(job)
        self._tick("wait")
        return fresh


def make_backend(base_url):
    return DyingBackend(
        base_url=base_url,
        api_key="tg-test-child",
        serving="serverless",
        poll_interval=0.005,
        max_poll_interval=0.01,
        file_poll_interval=0.005,
    )


#: A smaller grid than the shared one: 5 fine-tunes (1.0 is shared by both corruptions).
OPTIONS = dict(fractions=(0.1, 0.5, 1.0), replicates=1)


def make_together_study(run_dir, base_url):
    return make_study(run_dir, backend=make_backend(base_url), **OPTIONS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("base_url")
    ap.add_argument("--kill-at", default=None)
    args = ap.parse_args()
    if args.kill_at:
        stage, n = args.kill_at.split(":")
        DyingBackend.kill_stage, DyingBackend.kill_count = stage, int(n)
    study = make_together_study(args.run_dir, args.base_url)
    study.run(progress=False)
    print("completed")


if __name__ == "__main__":
    main()
