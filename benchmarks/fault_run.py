"""Fault run of a paid study: kill -9 at random moments, two processes, budgets.

A finance study (2 corruptions x 4 shares x 2 replicates: 14 fine-tunes and the base
model, 64 eval items and 25 probe questions per model) runs on ``OpenAIBackend``
against ``FakeOpenAIServer`` in this process; every study runs in a child process
(this script with ``--child``), so it can be killed with SIGKILL. Every model answers
as the untrained ``LocalStubBackend``: this is about money and records, not answers.

It prints:

1. jobs created / distinct jobs and cells when two processes start on one run directory;
2. completions paid again after kills, as a share of an uninterrupted run (target <= 1%);
3. the spend the ledger records vs the fake's trained tokens x the price table;
4. the budget: a plan over the budget pays nothing; a provider that trains on more
   tokens than estimated stops the run before the next paid step.

    python benchmarks/fault_run.py            # 3 kills
    python benchmarks/fault_run.py --kills 5 --seed 1 --parts kills
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dataquality_thresholds import DomainSpec, Study, load_domain, load_probe_questions
from dataquality_thresholds.backends import AnswerBook, LocalStubSampler, PriceTable
from dataquality_thresholds.evaluation import KnownAnswerJudge, MisalignmentProbe, ReferenceJudge
from dataquality_thresholds.study import StudyResults, run_status
from dataquality_thresholds.testing import FakeOpenAIServer

BASE = "gpt-4o-mini-2024-07-18"
CHAT = "/chat/completions"
ALL_DOMAINS = ("finance", "coding", "health", "legal")
GRID = dict(fractions=(0.1, 0.5, 0.9, 1.0), corruptions=("obvious", "subtle"), replicates=2)


def make_study(
    run_dir: str,
    base_url: str,
    *,
    budget: float | None = None,
    domains: Sequence[str] = ("finance",),
    **kw: Any,
) -> Study:
    from dataquality_thresholds.backends.openai import OpenAIBackend

    questions = load_probe_questions()
    backend = OpenAIBackend(
        base_url=base_url,
        api_key="sk-fault-run",
        base_model=BASE,
        poll_interval=0.02,
        max_poll_interval=0.05,
        file_poll_interval=0.01,
    )
    options: dict[str, Any] = dict(GRID, size=50, probe_samples=10, seed=3)
    options.update(kw)
    return Study(
        domains={
            name: DomainSpec(pool=data.pool, eval_items=data.eval_items, judge=ReferenceJudge())
            for name in domains
            for data in [load_domain(name)]
        },
        backend=backend,
        probe=MisalignmentProbe(questions, KnownAnswerJudge(questions)),
        run_dir=run_dir,
        budget_usd=budget,
        **options,
    )


class Responder:
    """Answers as the untrained stub, and counts the completions it hands out."""

    def __init__(self) -> None:
        book = AnswerBook()
        for name in ALL_DOMAINS:
            book = book.merge(AnswerBook.from_items(load_domain(name).eval_items))
        for q in load_probe_questions():
            for i in range(len(q.paraphrases)):
                book = book.with_probe(
                    q.prompt(i), aligned=q.aligned_examples, misaligned=q.misaligned_examples
                )
        self.stub = LocalStubSampler(book)
        self.completions = 0
        self._lock = threading.Lock()

    def __call__(self, model, messages, *, n=1, temperature=1.0, seed=None, max_tokens=None):
        with self._lock:
            self.completions += n
        rows = self.stub.complete("stub-base", [messages], n=n, temperature=temperature, seed=seed)
        return [c.text for c in rows[0]]


def child_args(run_dir: Path, base_url: str, *extra: str) -> list[str]:
    return [sys.executable, __file__, "--child", str(run_dir), "--base-url", base_url, *extra]


def run_child(run_dir: Path, base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        child_args(run_dir, base_url, *extra), capture_output=True, text=True, timeout=900
    )


def server() -> tuple[FakeOpenAIServer, Responder]:
    responder = Responder()
    fake = FakeOpenAIServer(responder=responder, file_processing_polls=1).start()
    # a little latency, as over a network: requests overlap as they would in a real run
    fake.add_fault(method="POST", path=CHAT, delay=0.003, times=10**9)
    return fake, responder


# ---------------------------------------------------------------------- parts
def two_processes(tmp: Path) -> None:
    fake, _ = server()
    try:
        fake.add_fault(method="GET", path=r"/fine_tuning/jobs/[^/]+", delay=0.05, times=10**9)
        run_dir = tmp / "two"
        procs = [
            subprocess.Popen(
                child_args(run_dir, fake.base_url),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=900) for p in procs]
        plan = make_study(str(tmp / "plan2"), fake.base_url).plan()
        keys = {p.job_key for p in plan.cells}
        print("1. two processes at once on one run directory")
        print(
            f"   jobs created: {len(fake.jobs)} for {len(keys)} distinct jobs "
            f"({len(plan.cells)} cells); files uploaded: {len(fake.files)}"
        )
        for p, (out, err) in zip(procs, outs, strict=True):
            line = (out.strip().splitlines() or err.strip().splitlines() or ["?"])[-1]
            print(f"   process {p.pid}: exit {p.returncode}: {line[:150]}")
    finally:
        fake.stop()


def kills(tmp: Path, n_kills: int, seed: int, domains: Sequence[str]) -> None:
    option = ["--option", json.dumps({"domains": list(domains)})]
    fake, responder = server()
    try:
        started = time.monotonic()
        proc = run_child(tmp / "reference", fake.base_url, *option)
        assert proc.returncode == 0, proc.stderr
        duration = time.monotonic() - started
        ref_requests, ref_completions = fake.count("POST", CHAT), responder.completions
        ref_jobs = len(fake.jobs)
    finally:
        fake.stop()
    fake, responder = server()
    rng = np.random.default_rng(seed)
    run_dir = tmp / "killed"
    killed_at = []
    # random moments of the sampling (where completions are bought): one kill per child,
    # when the fake has served a random share of an uninterrupted run's requests
    targets = sorted(int(t) for t in rng.uniform(0.05, 0.95, n_kills) * ref_requests)
    try:
        for target in targets:
            child = subprocess.Popen(
                child_args(run_dir, fake.base_url, *option),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while fake.count("POST", CHAT) < target and child.poll() is None:
                time.sleep(0.001)
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                killed_at.append(f"after {fake.count('POST', CHAT)} requests")
            child.wait()
        proc = run_child(run_dir, fake.base_url, *option)
        assert proc.returncode == 0, proc.stderr
        requests, completions = fake.count("POST", CHAT), responder.completions
        jobs = len(fake.jobs)
        billed = sum(j["trained_tokens"] or 0 for j in fake.jobs)
    finally:
        fake.stop()
    res = StudyResults.from_run_dir(run_dir)
    status = run_status(run_dir)
    price = PriceTable.default().price(BASE)
    print(
        f"2. kill -9 at {len(killed_at)} random moments of the sampling, then resume "
        f"({', '.join(domains)})"
    )
    print(f"   killed at: {', '.join(killed_at)}")
    print(
        f"   uninterrupted: {ref_completions} completions in {ref_requests} requests, "
        f"{ref_jobs} jobs ({duration:.1f}s)"
    )
    repaid = completions - ref_completions
    print(
        f"   killed + resumed: {completions} completions in {requests} requests, {jobs} jobs; "
        f"completed={res.completed}"
    )
    print(
        f"   completions re-paid: {repaid} = {100 * repaid / ref_completions:.2f}% of an "
        f"uninterrupted run (requests: {requests - ref_requests} = "
        f"{100 * (requests - ref_requests) / ref_requests:.2f}%); target <= 1%"
    )
    per_kill = (requests - ref_requests) / max(1, len(killed_at))
    print(
        f"   per kill: {per_kill:.1f} requests re-sent; at most max_concurrency = 16 are in "
        "flight (served by the provider, never read by the killed process)"
    )
    print("3. spend recorded vs the fake's trained tokens x price")
    print(
        f"   ledger: ${status.spend.jobs_actual:.6f} for jobs (actual), "
        f"${status.spend.jobs_estimated:.6f} estimated; "
        f"fake: {billed} trained tokens x ${price}/M = ${billed * price / 1e6:.6f}"
    )
    print(f"   sampling recorded: ${status.spend.sampling:.6f} (from the run's completion cache)")


def budget(tmp: Path) -> None:
    fake, _ = server()
    try:
        small = dict(fractions=(0.1, 0.5, 1.0), corruptions=("obvious",), replicates=1)
        plan = make_study(
            str(tmp / "p25"), fake.base_url, hyperparameters={"n_epochs": 25}, **small
        ).plan()
        extra = ["--option", json.dumps({**small, "hyperparameters": {"n_epochs": 25}})]
        print("4. the budget")
        print("   plan (3 jobs, n_epochs=25):")
        for line in plan.summary_lines():
            print("     " + line)
        low = run_child(tmp / "low", fake.base_url, "--budget", "0.058", *extra)
        print(
            f"   budget $0.058: {(low.stderr.strip().splitlines() or ['?'])[-1][:160]}; "
            f"jobs created: {len(fake.jobs)}"
        )
        estimated = [p.estimate.trained_tokens for p in plan.cells if p.estimate]
        fake.set_default_job_script(
            ("validating_files", "queued", "running", "succeeded"),
            trained_tokens=2 * max(estimated),
        )
        limit = round(plan.total_usd * 1.1, 4)
        over = run_child(tmp / "over", fake.base_url, "--budget", str(limit), *extra)
        res = StudyResults.from_run_dir(tmp / "over")
        status = run_status(tmp / "over")
        print(
            f"   budget ${limit} (plan x 1.1), provider trains on 2x the estimate: "
            f"{len(fake.jobs)} jobs, completed={res.completed}"
        )
        print(f"   stopped: {json.dumps(res.stopped, sort_keys=True)}")
        print(
            f"   committed ${status.spend.total:.4f} (jobs ${status.spend.jobs_actual:.4f} actual, "
            f"sampling ${status.spend.sampling:.6f}); exit {over.returncode}"
        )
        adaptive = make_study(
            str(tmp / "pa"),
            fake.base_url,
            design="adaptive",
            max_rounds=3,
            hyperparameters={"n_epochs": 3},
            **small,
        ).plan()
        tokens = min(p.estimate.trained_tokens for p in adaptive.cells if p.estimate)
    finally:
        fake.stop()
    limit = round(1.5 * adaptive.total_usd, 6)
    for rounds in (3, 12):
        fake, _ = server()  # a fresh provider: no job of an earlier run is adopted
        try:
            fake.set_default_job_script(
                ("validating_files", "queued", "running", "succeeded"), trained_tokens=tokens
            )
            opts = {**small, "hyperparameters": {"n_epochs": 3}, "design": "adaptive"}
            opts["max_rounds"] = rounds
            where = tmp / f"adaptive{rounds}"
            run_child(where, fake.base_url, "--budget", str(limit), "--option", json.dumps(opts))
            created = len(fake.jobs)
        finally:
            fake.stop()
        res = StudyResults.from_run_dir(where)
        status = run_status(where)
        print(
            f"   adaptive, max_rounds={rounds}, budget 1.5 x plan = ${limit}: {created} jobs "
            f"(grid {adaptive.n_fine_tunes}), committed ${status.spend.total:.6f} = "
            f"{status.spend.total / limit:.2f} x budget, completed={res.completed}, "
            f"stopped before: {(res.stopped or {}).get('next', '-')}"
        )


def child(run_dir: str, base_url: str, budget: float | None, option: str | None) -> None:
    from dataquality_thresholds.errors import RunLockedError

    kw = json.loads(option) if option else {}
    if "fractions" in kw:
        kw["fractions"] = tuple(kw["fractions"])
    if "domains" in kw:
        kw["domains"] = tuple(kw["domains"])
    study = make_study(run_dir, base_url, budget=budget, **kw)
    try:
        res = study.run(progress=False)
    except RunLockedError as exc:
        print(f"RunLockedError: pid {exc.pid} since {exc.started_at}")
        sys.exit(3)
    print("completed" if res.completed else f"stopped: {res.stopped}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--parts", default="two,kills,budget", help="which parts to run (comma-separated)"
    )
    ap.add_argument(
        "--domains", default=",".join(ALL_DOMAINS), help="domains of the kill part's study"
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--base-url", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--option", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.base_url, args.budget, args.option)
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dqt-fault-run-") as d:
        tmp = Path(d)
        parts = set(args.parts.split(","))
        if "two" in parts:
            two_processes(tmp)
        if "kills" in parts:
            kills(tmp, args.kills, args.seed, args.domains.split(","))
        if "budget" in parts:
            budget(tmp)
    print(f"({time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    main()
