"""A Study on TogetherBackend against FakeTogetherServer: end to end, and killed with SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dataquality_thresholds.backends import LocalStubSampler
from dataquality_thresholds.study import Ledger, StudyResults

try:  # the face exports it once the shared files list it
    from dataquality_thresholds.testing import FakeTogetherServer
except ImportError:  # pragma: no cover
    from dataquality_thresholds.testing._together_fake import FakeTogetherServer

HERE = Path(__file__).resolve().parent
CHILD = HERE / "together_study_child.py"
sys.path.insert(0, str(HERE.parents[1] / "study"))

from common import answer_book  # noqa: E402


def stub_responder():
    stub = LocalStubSampler(answer_book())

    def responder(model, messages, *, n=1, temperature=1.0, seed=None, max_tokens=None):
        # every model answers as the untrained stub: these tests are about jobs, not answers
        rows = stub.complete("stub-base", [messages], n=n, temperature=temperature, seed=seed)
        return [c.text for c in rows[0]]

    return responder


def run_child(run_dir, base_url, *extra):
    return subprocess.run(
        [sys.executable, str(CHILD), str(run_dir), base_url, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def planned_keys(run_dir, base_url):
    from together_study_child import make_together_study

    study = make_together_study(run_dir, base_url)
    return {p.job_key for p in study.plan().cells}


@pytest.fixture
def tg():
    with FakeTogetherServer(responder=stub_responder(), file_processing_polls=1) as server:
        yield server


def test_study_runs_end_to_end_on_together(tmp_path, tg):
    sys.path.insert(0, str(HERE))
    from together_study_child import make_together_study

    study = make_together_study(tmp_path / "run", tg.base_url)
    plan = study.plan()
    keys = {p.job_key for p in plan.cells}
    assert plan.total_usd > 0  # priced from the Together table
    results = study.run(progress=False)
    assert results.completed
    assert len(tg.jobs) == len(keys) == tg.count("POST", r"/fine-tunes")
    assert len(tg.files) == len(keys) == tg.count("POST", r"/files/upload")
    with Ledger(tmp_path / "run" / "ledger.sqlite") as led:
        jobs = led.jobs()
    assert all(j.status == "succeeded" and j.backend == "together" for j in jobs.values())
    assert all(j.cost is not None and j.cost.price_date == "together" for j in jobs.values())


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["upload:2", "submit:3", "wait:4"])
def test_killed_study_creates_each_job_once(tmp_path, tg, kill_at):
    sys.path.insert(0, str(HERE))
    run_dir = tmp_path / "run"
    proc = run_child(run_dir, tg.base_url, "--kill-at", kill_at)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not StudyResults.from_run_dir(run_dir).completed
    at_kill = tg.jobs
    proc = run_child(run_dir, tg.base_url)
    assert proc.returncode == 0, proc.stderr
    keys = planned_keys(run_dir, tg.base_url)
    if kill_at.startswith("wait"):  # every job was submitted, some were still running
        assert len(at_kill) == len(keys)
        assert any(j["status"] != "completed" for j in at_kill)
    else:  # the kill came mid-way through the submissions
        assert len(at_kill) < len(keys)
    assert len(tg.jobs) == len(keys)  # each fine-tune created exactly once
    assert tg.count("POST", r"/fine-tunes") == len(keys)  # and never even attempted twice
    assert len(tg.files) == len(keys) == tg.count("POST", r"/files/upload")
    suffixes = {j["suffix"] for j in tg.jobs}
    assert len(suffixes) == len(keys)
    res = StudyResults.from_run_dir(run_dir)
    assert res.completed and len(res.jobs) == len(keys)


def test_dedicated_serving_stops_at_measuring_until_endpoints_are_named(tmp_path, tg):
    sys.path.insert(0, str(HERE))
    from together_study_child import make_together_study

    from dataquality_thresholds.backends.together import DeploymentRequiredError

    study = make_together_study(tmp_path / "run", tg.base_url)
    study.backend.serving = "dedicated"
    with pytest.raises(DeploymentRequiredError) as info:
        study.run(progress=False)
    jobs = tg.jobs
    assert info.value.model in {j["model_output_name"] for j in jobs}
    assert all(j["status"] == "completed" for j in jobs)  # training is done and paid for
    # the documented step: deploy each model, name its endpoint, run again
    study = make_together_study(tmp_path / "run", tg.base_url)
    study.backend.serving = "dedicated"
    study.backend.endpoints = {
        j["model_output_name"]: f"fake-account/endpoint-{i}" for i, j in enumerate(jobs)
    }
    results = study.run(progress=False)
    assert results.completed
    assert len(tg.jobs) == len(jobs) == tg.count("POST", r"/fine-tunes")
