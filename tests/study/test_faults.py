"""Fault runs of a paid study against FakeOpenAIServer: kill -9, two processes, budgets.

Every child is ``study_child.py`` (a small finance study on the OpenAI backend, or on
the stub); the fake server runs in this process, so it outlives the children it serves.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from common import make_study, stub_responder

from dataquality_thresholds.backends import PriceTable
from dataquality_thresholds.errors import RunLockedError
from dataquality_thresholds.study import Ledger, RunLock, StudyResults, run_status
from dataquality_thresholds.testing import FakeOpenAIServer

CHILD = Path(__file__).with_name("study_child.py")
CHAT = "/chat/completions"


def child(run_dir, *extra, base_url=None):
    args = [sys.executable, str(CHILD), str(run_dir), *extra]
    if base_url is not None:
        args += ["--base-url", base_url]
    return args


def run_child(run_dir, *extra, base_url=None):
    return subprocess.run(
        child(run_dir, *extra, base_url=base_url), capture_output=True, text=True, timeout=300
    )


def rows_of(run_dir):
    res = StudyResults.from_run_dir(run_dir)
    return res, sorted(
        (r["corruption"], r["fraction"] or -1, r["replicate"], r["metric"], r["value"])
        for r in res.rows
    )


@pytest.mark.slow
def test_kill_between_domain_and_probe_writes_is_finished_on_resume(tmp_path):
    reference = make_study(tmp_path / "ref").run(progress=False)
    run_dir = tmp_path / "run"
    proc = run_child(run_dir, "--kill-at", "probe:4")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Ledger(run_dir / "ledger.sqlite") as led:
        kinds = led.kinds()
    # the killed cell has its domain score and no probe: a resume must not call it done
    assert any(k == {"domain"} for k in kinds.values())
    assert not StudyResults.from_run_dir(run_dir).completed
    proc = run_child(run_dir)
    assert proc.returncode == 0 and "completed" in proc.stdout, proc.stderr
    res, rows = rows_of(run_dir)
    assert res.completed
    with Ledger(run_dir / "ledger.sqlite") as led:
        assert all(k == {"domain", "probe"} for k in led.kinds().values())
    assert rows == rows_of(reference_dir := tmp_path / "ref")[1]
    assert reference.completed and reference_dir.exists()


def test_a_second_process_gets_run_locked_error_naming_the_holder(tmp_path):
    run_dir = tmp_path / "run"
    with RunLock(run_dir):
        info = json.loads((run_dir / "run.lock.json").read_text())
        proc = run_child(run_dir)
        assert proc.returncode == 3, proc.stderr
        assert f"pid={info['pid']}" in proc.stdout and info["started_at"] in proc.stdout
        with pytest.raises(RunLockedError) as caught:
            make_study(run_dir).run(progress=False)  # a second run in this process, too
        assert caught.value.pid == info["pid"] and caught.value.path == str(run_dir)
    assert not (run_dir / "run.lock.json").exists()
    assert make_study(run_dir).run(progress=False).completed  # free again
    with RunLock(run_dir):
        status = run_status(run_dir)  # readable while held, and names the holder
        assert status.holder is not None and status.holder.pid == info["pid"]
        assert status.completed and status.cells_complete == status.cells == 16
    assert run_status(run_dir).holder is None


@pytest.mark.slow
def test_two_processes_at_once_create_each_job_once(tmp_path):
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(responder=stub_responder()) as fake:
        # slow job polls: the first process holds the directory for several seconds
        fake.add_fault(method="GET", path=r"/fine_tuning/jobs/[^/]+", delay=0.05, times=10_000)
        procs = [
            subprocess.Popen(
                child(run_dir, base_url=fake.base_url),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 3], outs
        locked = next(o for p, o in zip(procs, outs, strict=True) if p.returncode == 3)
        winner = next(p for p in procs if p.returncode == 0)
        assert f"pid={winner.pid}" in locked[0]
        keys = {p.job_key for p in make_study(run_dir, base_url=fake.base_url).plan().cells}
        assert len(fake.jobs) == len(keys)
        assert len(fake.files) == len(keys)
        # the job metadata names the cell next to the key's hash
        assert all(j["metadata"]["dqt_cell"].startswith("finance/") for j in fake.jobs)
    with Ledger(run_dir / "ledger.sqlite") as led:
        rows = led.job_rows()
    assert all(r["cell"] and r["cell"].startswith("finance/") for r in rows)


def kill_when(proc, fake, count, *, path=CHAT, timeout=120):
    deadline = time.monotonic() + timeout
    while fake.count("POST", path) < count:
        assert proc.poll() is None, proc.returncode
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_resume_after_kills_repays_almost_no_completion(tmp_path):
    with FakeOpenAIServer(responder=stub_responder()) as fake:
        assert run_child(tmp_path / "ref", base_url=fake.base_url).returncode == 0
        reference = fake.count("POST", CHAT)
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(responder=stub_responder()) as fake:
        fake.add_fault(method="POST", path=CHAT, delay=0.01, times=10_000)
        for at in (reference // 4, reference // 2, 3 * reference // 4):
            proc = subprocess.Popen(
                child(run_dir, base_url=fake.base_url),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            kill_when(proc, fake, at)
        proc = run_child(run_dir, base_url=fake.base_url)
        assert proc.returncode == 0, proc.stderr
        total = fake.count("POST", CHAT)
        keys = {p.job_key for p in make_study(run_dir, base_url=fake.base_url).plan().cells}
        assert len(fake.jobs) == len(keys)
    repaid = total - reference
    # only requests in flight at a kill (answered by the server, never read) are paid again
    assert 0 <= repaid <= 3 * 16, (repaid, reference)
    assert StudyResults.from_run_dir(run_dir).completed


SMALL = ["--option", "fractions=[0.1, 0.5, 1.0]", "--option", 'corruptions=["obvious"]',
         "--option", "replicates=1"]  # fmt: skip
PRICE = PriceTable.default().price("gpt-4o-mini-2024-07-18")


def small_plan(run_dir, base_url, **kw):
    study = make_study(
        run_dir,
        base_url=base_url,
        fractions=(0.1, 0.5, 1.0),
        corruptions=("obvious",),
        replicates=1,
        **kw,
    )
    return study.plan()


def test_the_plan_prices_the_configured_epochs_and_a_budget_below_it_pays_nothing(tmp_path):
    with FakeOpenAIServer(responder=stub_responder()) as fake:
        plan = small_plan(tmp_path / "p", fake.base_url, hyperparameters={"n_epochs": 25})
        auto = small_plan(tmp_path / "a", fake.base_url)
        assert plan.cells[0].estimate.epochs == 25 and auto.cells[0].estimate.epochs != 25
        assert plan.finetune_usd == pytest.approx(
            auto.finetune_usd * 25 / auto.cells[0].estimate.epochs
        )
        assert plan.domain_usd > 0 and plan.probe_usd > 0  # sampling is priced too
        assert plan.total_usd == pytest.approx(
            plan.finetune_usd + plan.domain_usd + plan.probe_usd + plan.judge_usd
        )
        budget = plan.total_usd * 0.9
        proc = run_child(
            tmp_path / "low", "--epochs", "25", "--budget", str(budget), *SMALL,
            base_url=fake.base_url,
        )  # fmt: skip
        assert proc.returncode != 0 and "BudgetExceededError" in proc.stderr
        assert fake.jobs == [] and fake.count("POST", CHAT) == 0


def test_spend_is_trained_tokens_times_price_and_an_overrun_stops_before_sampling(tmp_path):
    with FakeOpenAIServer(responder=stub_responder()) as fake:
        plan = small_plan(tmp_path / "p", fake.base_url, hyperparameters={"n_epochs": 25})
        estimated = [p.estimate.trained_tokens for p in plan.cells if p.estimate]
        # the provider trains on three times what the library estimated
        fake.set_default_job_script(
            ("validating_files", "queued", "running", "succeeded"),
            trained_tokens=3 * max(estimated),
        )
        budget = plan.total_usd * 1.2
        proc = run_child(
            tmp_path / "run", "--epochs", "25", "--budget", str(budget), *SMALL,
            base_url=fake.base_url,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "stopped" in proc.stdout
        created = fake.jobs
    res = StudyResults.from_run_dir(tmp_path / "run")
    assert not res.completed and res.stopped["reason"] == "budget"
    assert "sampling" in res.stopped["next"]  # no fine-tuned model was sampled past the budget
    status = run_status(tmp_path / "run")
    billed = sum(j["trained_tokens"] for j in created) * PRICE / 1e6
    assert status.spend.jobs_actual == pytest.approx(billed)  # recorded = provider's tokens x price
    assert status.spend.jobs_estimated == 0
    assert all(r["usd"] == pytest.approx(3 * max(estimated) * PRICE / 1e6) for r in res.jobs)
    # the jobs were submitted within the budget by their estimates; the overrun is the provider's
    assert status.spend.total - (billed - plan.finetune_usd) <= budget + 1e-9


@pytest.mark.slow
def test_adaptive_rounds_keep_to_the_budget(tmp_path):
    with FakeOpenAIServer(responder=stub_responder()) as fake:
        kw = dict(design="adaptive", max_rounds=3, hyperparameters={"n_epochs": 3})
        plan = small_plan(tmp_path / "p", fake.base_url, **kw)
        estimated = [p.estimate.trained_tokens for p in plan.cells if p.estimate]
        fake.set_default_job_script(
            ("validating_files", "queued", "running", "succeeded"),
            trained_tokens=min(estimated),
        )
        budget = 1.5 * plan.total_usd
        proc = run_child(
            tmp_path / "run", "--epochs", "3", "--budget", str(budget), *SMALL,
            "--option", 'design="adaptive"',
            "--option", "max_rounds=3", base_url=fake.base_url,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        created = len(fake.jobs)
    status = run_status(tmp_path / "run")
    assert status.spend.total <= budget + 1e-9
    res = StudyResults.from_run_dir(tmp_path / "run")
    assert created > plan.n_fine_tunes  # rounds ran ...
    assert not res.completed and res.stopped["reason"] == "budget"  # ... until the budget
