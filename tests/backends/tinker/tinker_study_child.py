"""Run the small shared study on TinkerBackend against a FakeTinkerServer; maybe SIGKILL.

    python tinker_study_child.py RUN_DIR BASE_URL TOKENIZER OUTPUT_DIR [--kill-at submit:N | evaluate:N]

Used by test_tinker_study.py. ``submit:N`` dies right after the N-th submit
returned (its worker started, before the study's ledger records the job),
``evaluate:N`` on the N-th sampling call. The training workers run in their own
sessions and survive the kill, as they would a crashed notebook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "study"))

from common import make_study  # noqa: E402
from study_child import KillingBackend  # noqa: E402

from dataquality_thresholds.backends.tinker import TinkerBackend  # noqa: E402

#: The grid: 3 fractions x 1 corruption x 1 replicate = 3 cells, 3 fine-tunes.
GRID = dict(
    fractions=(0.25, 0.5, 1.0), corruptions=("obvious",), replicates=1, size=8, probe_samples=2
)


def make(run_dir: str, base_url: str, tokenizer: str, output_dir: str):
    backend = TinkerBackend(
        "Qwen/Qwen3-8B",
        output_dir=output_dir,
        api_key="tml-study-test-key",
        base_url=base_url,
        tokenizer=tokenizer,
        batch_size=4,
        epochs=2,
        poll_interval=0.05,
        cache=Path(output_dir) / "completions.sqlite",
    )
    return make_study(run_dir, backend=backend, **GRID)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("base_url")
    ap.add_argument("tokenizer")
    ap.add_argument("output_dir")
    ap.add_argument("--kill-at", default=None)
    args = ap.parse_args()
    study = make(args.run_dir, args.base_url, args.tokenizer, args.output_dir)
    if args.kill_at:
        stage, n = args.kill_at.split(":")
        study.backend = KillingBackend(study.backend, stage, int(n))
    study.run(progress=False)
    print("completed")


if __name__ == "__main__":
    main()
