"""Throughput of OpenAISampler against FakeOpenAIServer with added latency.

Usage::

    python benchmarks/sampler.py                      # 2000 requests, concurrency 50, 100 ms
    python benchmarks/sampler.py --requests 500 --concurrency 20 --latency 0.05
    python benchmarks/sampler.py --inspect-python /path/to/venv/bin/python
        # also inspect_ai's OpenAI provider, from a separate venv that has inspect-ai

The fake server runs in a child process (so its HTTP handling does not compete
with the sampler for this process's GIL) and answers every chat completion
after ``--latency`` seconds. With ``c`` requests in flight and latency ``L``
the best possible rate is ``c / L`` requests per second; the script prints the
achieved rate against that limit, then reruns the identical work with the cache
and prints how many requests the rerun sent (it must be 0).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dataquality_thresholds.backends import CompletionCache
from dataquality_thresholds.backends.openai import OpenAISampler
from dataquality_thresholds.testing import FakeOpenAIServer

CHAT = r"/chat/completions"


def _serve(latency: float, conn: Connection) -> None:
    """Child process: run the fake server with added latency; answer count queries."""
    with FakeOpenAIServer() as server:
        server.add_fault(method="POST", path=CHAT, delay=latency, times=10**9)
        conn.send(server.base_url)
        while True:
            msg = conn.recv()
            if msg == "count":
                conn.send(server.count("POST", CHAT))
            elif msg == "cpu":
                conn.send(time.process_time())
            else:
                break


_INSPECT_CLIENT = r"""
import asyncio, sys, time
from inspect_ai.model import GenerateConfig, get_model
base_url, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = get_model(
    "openai/gpt-4o-mini", base_url=base_url, api_key="sk-benchmark",
    config=GenerateConfig(max_connections=conc),
)
async def main():
    await model.generate("warm up")
    t0 = time.perf_counter()
    await asyncio.gather(*(model.generate(f"inspect prompt {i}") for i in range(n)))
    print(n / (time.perf_counter() - t0))
asyncio.run(main())
"""


def _run_inspect(python: str, base_url: str, n: int, concurrency: int) -> float:
    """Rate of inspect_ai's OpenAI provider, run by ``python`` (a venv that has it)."""
    import subprocess

    out = subprocess.run(
        [python, "-c", _INSPECT_CLIENT, base_url, str(n), str(concurrency)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument(
        "--inspect-python",
        metavar="PYTHON",
        help="an interpreter with inspect_ai installed (kept out of this venv): also time "
        "inspect_ai's OpenAI provider on the same server and concurrency",
    )
    args = ap.parse_args()

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(args.latency, child), daemon=True)
    proc.start()
    base_url = parent.recv()
    prompts = [f"benchmark prompt {i}" for i in range(args.requests)]
    limit = args.concurrency / args.latency
    try:
        with tempfile.TemporaryDirectory() as d:
            cache = CompletionCache(Path(d) / "cache.sqlite")
            sampler = OpenAISampler(
                base_url=base_url,
                api_key="sk-benchmark",
                max_concurrency=args.concurrency,
                cache=cache,
            )
            # warm-up (not timed): imports, the sampler's event loop and HTTP clients
            sampler.complete("m", ["warm up"])
            parent.send("count")
            before = parent.recv()
            parent.send("cpu")
            server_cpu0 = parent.recv()
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            rows = sampler.complete("m", prompts, seed=0)
            elapsed = time.perf_counter() - t0
            client_cpu = time.process_time() - cpu0
            parent.send("cpu")
            server_cpu = parent.recv() - server_cpu0
            parent.send("count")
            sent = parent.recv() - before
            assert len(rows) == args.requests
            rate = args.requests / elapsed
            print(
                f"requests: {args.requests}, concurrency: {args.concurrency}, "
                f"latency: {args.latency * 1000:.0f} ms"
            )
            print(f"first run : {sent} requests in {elapsed:.2f} s")
            print(
                f"CPU       : sampler {1000 * client_cpu / args.requests:.2f} ms/request, "
                f"fake server {1000 * server_cpu / args.requests:.2f} ms/request; "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
            )
            print(
                f"achieved  : {rate:.1f} req/s; limit (concurrency / latency) {limit:.1f} req/s "
                f"-> {100 * rate / limit:.1f}% of the limit"
            )
            t0 = time.perf_counter()
            again = sampler.complete("m", prompts, seed=0)
            elapsed2 = time.perf_counter() - t0
            parent.send("count")
            rerun_sent = parent.recv() - before - sent
            assert again == rows
            print(f"rerun     : {rerun_sent} requests sent ({elapsed2:.2f} s, all from the cache)")
            sampler.close()
            cache.close()
            if args.inspect_python:
                irate = _run_inspect(args.inspect_python, base_url, args.requests, args.concurrency)
                print(
                    f"inspect_ai: {irate:.1f} req/s ({100 * irate / limit:.1f}% of the limit) "
                    f"vs OpenAISampler {rate:.1f} req/s"
                )
    finally:
        parent.send("stop")
        proc.join(10)


if __name__ == "__main__":
    main()
