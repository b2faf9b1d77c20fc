"""A Study on TinkerBackend against FakeTinkerServer: end to end, and killed with SIGKILL.

Each run has its own fake service, so a resumed study can only adopt what its own
first, killed, run left on the service.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tinker_helpers import stop_workers

from dataquality_thresholds.backends import LocalStubSampler
from dataquality_thresholds.study import Ledger, StudyResults
from dataquality_thresholds.testing._tinker_fake import FakeTinkerServer
from dataquality_thresholds.testing._tinker_tokenizer import parse_chatml

HERE = Path(__file__).resolve().parent
CHILD = HERE / "tinker_study_child.py"
sys.path.insert(0, str(HERE.parents[1] / "study"))

from common import answer_book  # noqa: E402


def stub_responder():
    stub = LocalStubSampler(answer_book())

    def responder(model, prompt, *, n=1, temperature=1.0, seed=None, max_tokens=None):
        # every model answers as the untrained stub: these tests are about jobs, not answers
        rows = stub.complete("stub-base", [parse_chatml(prompt)], n=n, temperature=temperature,
                             seed=seed)  # fmt: skip
        return [c.text for c in rows[0]]

    return responder


def run_child(run_dir, server, tokenizer, out, *extra):
    return subprocess.run(
        [sys.executable, str(CHILD), str(run_dir), server.base_url, str(tokenizer), str(out),
         *extra],
        capture_output=True,
        text=True,
        timeout=400,
    )  # fmt: skip


def comparable(rows):
    return sorted(
        (r["domain"], r["corruption"], r["fraction"] or -1, r["replicate"], r["metric"],
         r["value"], r["n"])
        for r in rows
    )  # fmt: skip


def job_keys(run_dir: Path) -> set[str]:
    with Ledger(run_dir / "ledger.sqlite") as led:
        return set(led.jobs())


@pytest.fixture(scope="module")
def reference(tmp_path_factory, chatml, chatml_dir):
    root = tmp_path_factory.mktemp("tinker-reference")
    with FakeTinkerServer(tokenizer=chatml, responder=stub_responder()) as fake:
        try:
            proc = run_child(root / "run", fake, chatml_dir, root / "tinker")
        finally:
            stop_workers(root)
        assert proc.returncode == 0, proc.stderr[-3000:]
        keys = job_keys(root / "run")
        assert fake.counter("runs_created") == len(keys) == 3
    return root / "run"


@pytest.mark.slow  # the module fixture trains a whole study (~12 s)
def test_study_runs_end_to_end_on_tinker(reference):
    results = StudyResults.from_run_dir(reference)
    assert results.completed and len(results.jobs) == 3
    for job in results.jobs:
        assert job["status"] == "succeeded" and job["model"].startswith("tinker://")
        assert job["trained_tokens"] > 0 and job["usd"] == pytest.approx(
            job["trained_tokens"] * 0.40 / 1e6
        )
    with Ledger(reference / "ledger.sqlite") as led:
        assert {j.backend for j in led.jobs().values()} == {"tinker"}
    assert {"domain_score", "misaligned_rate"} <= {r["metric"] for r in results.rows}
    assert {r["model"] for r in results.rows} >= {"Qwen/Qwen3-8B"}  # the base model, sampled too


@pytest.mark.slow  # kill -9 and resume of a whole study (~15 s each)
@pytest.mark.parametrize("kill_at", ["submit:1", "submit:3", "evaluate:3"])
def test_tinker_study_survives_sigkill(tmp_path, reference, chatml, chatml_dir, kill_at):
    run_dir, out = tmp_path / "run", tmp_path / "tinker"
    with FakeTinkerServer(tokenizer=chatml, responder=stub_responder()) as fake:
        try:
            proc = run_child(run_dir, fake, chatml_dir, out, "--kill-at", kill_at)
            assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
            assert not StudyResults.from_run_dir(run_dir).completed
            proc = run_child(run_dir, fake, chatml_dir, out)
            assert proc.returncode == 0, proc.stderr[-3000:]
        finally:
            stop_workers(tmp_path)
        keys = job_keys(run_dir)
        # one training run per fine-tune, each from the base model, none resumed
        assert fake.counter("runs_created") == len(keys) == 3
        assert fake.counter("runs_loaded") == 0
        assert sorted(r["user_metadata"]["dqt_key"] for r in fake.runs()) == sorted(keys)
        assert fake.counter("optim_step") == 3 * 2 * 2  # 8 rows, batch 4, 2 epochs
    resumed = StudyResults.from_run_dir(run_dir)
    assert resumed.completed
    assert comparable(resumed.rows) == comparable(StudyResults.from_run_dir(reference).rows)
    with Ledger(run_dir / "ledger.sqlite") as led:
        jobs = led.jobs()
    assert all(j is not None and j.status == "succeeded" for j in jobs.values())
