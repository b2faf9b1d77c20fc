"""Mixing benchmark: a synthetic 1M-row pool in a datasets.Dataset, 9 fractions.

Prints wall time and peak memory (max RSS of a fresh process) for
  mix    : CorruptionMixer.sweep over 9 fractions (index arrays only)
  mix+write : the same, then each mixture written as OpenAI chat JSONL
  plain write : the same number of rows written straight from the dataset as
               JSONL, with no mixing (the baseline)
Target: mix+write at most 2x plain write; peak memory under 1 GB.

    python benchmarks/mixing.py               # 1,000,000 rows
    python benchmarks/mixing.py --rows 100000 # quicker
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FRACTIONS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def make_dataset(rows: int, path: Path) -> None:
    import datasets
    import numpy as np

    i = np.arange(rows)
    s = i.astype(str)
    ds = datasets.Dataset.from_dict(
        {
            "id": np.char.add("row-", np.char.zfill(s, 7)).tolist(),
            "domain": ["finance"] * rows,
            "prompt": np.char.add(
                "What is the balance after one year on a deposit of $", s
            ).tolist(),
            "correct": np.char.add("The balance is $", s).tolist(),
            "obvious": ["Money disappears in banks, so the balance is $0."] * rows,
            "subtle": np.char.add("The balance is about $", s).tolist(),
        }
    )
    ds.save_to_disk(str(path))


def peak_rss_mib() -> float:
    """High-water RSS of this process image (VmHWM, reset at exec).

    Not getrusage's ru_maxrss: on Linux that keeps the parent's high-water mark
    across fork+exec, so a child would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, data: Path, out: Path) -> dict[str, float]:
    import datasets

    from dataquality_thresholds import CorruptionMixer, ExamplePool, write_mixtures

    ds = datasets.load_from_disk(str(data))  # memory-mapped
    t0 = time.perf_counter()
    if name == "plain":
        n_rows = 0
        for k in range(len(FRACTIONS)):
            with open(out / f"plain-{k}.jsonl", "w", encoding="utf-8") as fh:
                for batch in ds.iter(batch_size=10_000):
                    for p, a in zip(batch["prompt"], batch["correct"]):
                        fh.write(
                            json.dumps(
                                {
                                    "messages": [
                                        {"role": "user", "content": p},
                                        {"role": "assistant", "content": a},
                                    ]
                                },
                                ensure_ascii=False,
                                sort_keys=True,
                                separators=(",", ":"),
                            )
                            + "\n"
                        )
                        n_rows += 1
        t_mix = 0.0
    else:
        pool = ExamplePool.from_hf(ds, prompt="prompt")
        t_pool = time.perf_counter()
        mixes = CorruptionMixer(pool, size=len(pool), seed=0).sweep(
            FRACTIONS, {"obvious": 0.5, "subtle": 0.5}
        )
        t_mix = time.perf_counter() - t0
        print(
            f"    (pool wrap + validation {t_pool - t0:.2f} s, sweep {time.perf_counter() - t_pool:.2f} s)",
            flush=True,
        )
        n_rows = sum(len(m) for m in mixes)
        if name == "mix+write":
            for k, m in enumerate(mixes):
                m.to_jsonl(out / f"mix-{k}.jsonl")
            del write_mixtures
    wall = time.perf_counter() - t0
    peak = peak_rss_mib()
    return {"wall_s": wall, "mix_s": t_mix, "peak_mib": peak, "rows": n_rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, Path(args.data), Path(args.out))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "pool"
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                f"import mixing; from pathlib import Path; mixing.make_dataset({args.rows}, Path({str(data)!r}))",
            ],
            check=True,
            capture_output=True,
        )
        print(
            f"synthetic pool: {args.rows:,} rows, built in {time.perf_counter() - t0:.1f} s; {len(FRACTIONS)} fractions"
        )
        results = {}
        for name in ("mix", "mix+write", "plain"):
            out = Path(tmp) / name.replace("+", "_")
            out.mkdir()
            proc = subprocess.run(
                [sys.executable, __file__, "--phase", name, "--data", str(data), "--out", str(out)],
                check=True,
                capture_output=True,
                text=True,
            )
            lines = proc.stdout.strip().splitlines()
            for extra in lines[:-1]:
                print(extra)
            results[name] = json.loads(lines[-1])
            r = results[name]
            print(
                f"  {name:10s} wall {r['wall_s']:7.2f} s   peak RSS {r['peak_mib']:7.1f} MiB   rows {int(r['rows']):,}"
            )
            for f in out.iterdir():
                f.unlink()
        ratio = results["mix+write"]["wall_s"] / results["plain"]["wall_s"]
        peak = max(r["peak_mib"] for r in results.values())
        print(
            f"mix+write / plain write = {ratio:.2f}x (target <= 2x); peak memory {peak:.0f} MiB (target < 1024 MiB)"
        )


if __name__ == "__main__":
    main()
