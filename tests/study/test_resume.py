"""Resume after SIGKILL: no job twice, results identical to an uninterrupted run."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from common import answer_book, make_study

from dataquality_thresholds.study import Ledger, StudyResults

CHILD = Path(__file__).with_name("study_child.py")


def run_child(run_dir, *extra):
    return subprocess.run(
        [sys.executable, str(CHILD), str(run_dir), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def comparable(rows):
    return sorted(
        (
            r["domain"],
            r["corruption"],
            r["fraction"] or -1,
            r["replicate"],
            r["metric"],
            r["value"],
            r["n"],
        )
        for r in rows
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    return make_study(run_dir).run(progress=False)  # the same study, uninterrupted, in-process


@pytest.mark.parametrize("kill_at", ["submit:1", "submit:7", "evaluate:25"])
def test_stub_study_survives_sigkill(tmp_path, reference, kill_at):
    run_dir = tmp_path / "run"
    proc = run_child(run_dir, "--kill-at", kill_at)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    partial = StudyResults.from_run_dir(run_dir)
    assert not partial.completed
    proc = run_child(run_dir)
    assert proc.returncode == 0, proc.stderr
    resumed = StudyResults.from_run_dir(run_dir)
    assert resumed.completed
    assert comparable(resumed.rows) == comparable(reference.rows)
    with Ledger(run_dir / "ledger.sqlite") as led:
        jobs = led.jobs()
    assert all(j is not None and j.status == "succeeded" for j in jobs.values())


def test_openai_study_killed_mid_submission_creates_each_job_once(tmp_path):
    from dataquality_thresholds.backends import LocalStubSampler
    from dataquality_thresholds.testing import FakeOpenAIServer

    stub = LocalStubSampler(answer_book())

    def responder(model, messages, *, n=1, temperature=1.0, seed=None, max_tokens=None):
        # every model answers as the untrained stub: this test is about jobs, not answers
        rows = stub.complete("stub-base", [messages], n=n, temperature=temperature, seed=seed)
        return [c.text for c in rows[0]]

    run_dir = tmp_path / "run"
    with FakeOpenAIServer(responder=responder, file_processing_polls=1) as fake:
        proc = run_child(run_dir, "--base-url", fake.base_url, "--kill-at", "submit:3")
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        with Ledger(run_dir / "ledger.sqlite") as led:
            statuses = [led.get_job(k)[0] for k in led.jobs()]
        assert (
            statuses.count("submitting") == 1
        )  # the third job exists remotely, not yet in the ledger
        proc = run_child(run_dir, "--base-url", fake.base_url)
        assert proc.returncode == 0, proc.stderr
        study = make_study(run_dir, base_url=fake.base_url)
        keys = {p.job_key for p in study.plan().cells}
        assert len(fake.jobs) == len(keys)  # each fine-tune created exactly once
        assert len(fake.files) == len(keys)  # each training file uploaded exactly once
        assert sorted(j["metadata"]["dqt_key"] for j in fake.jobs) == sorted(keys)
    res = StudyResults.from_run_dir(run_dir)
    assert res.completed and len(res.jobs) == len(keys)
