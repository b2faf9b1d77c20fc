"""A run directory that finds its jobs already made elsewhere says so (issue 22)."""

import pytest
from common import make_study, stub_responder

from dataquality_thresholds.study import Ledger
from dataquality_thresholds.testing import FakeOpenAIServer

SMALL = dict(fractions=(0.1, 0.5, 1.0), corruptions=("obvious",), replicates=1)


def test_a_new_run_dir_announces_each_job_it_adopts_from_an_earlier_run(tmp_path):
    with FakeOpenAIServer(responder=stub_responder()) as fake:
        make_study(tmp_path / "first", base_url=fake.base_url, **SMALL).run(progress=False)
        made = len(fake.jobs)
        assert made == 3 and {j["metadata"]["dqt_run"] for j in fake.jobs} == {"first"}
        lines: list[str] = []
        second = make_study(tmp_path / "second", base_url=fake.base_url, **SMALL)
        with pytest.warns(UserWarning, match="adopted job") as caught:
            second.run(progress=False, log=lines.append)
        assert len(fake.jobs) == made  # adopted, not paid again
        adopted = [line for line in lines if line.startswith("adopted job")]
        assert len(adopted) == made == sum("adopted job" in str(w.message) for w in caught)
        for job in fake.jobs:
            (line,) = [a for a in adopted if job["id"] in a]
            cell = job["metadata"]["dqt_cell"]
            assert f"for {cell} " in line  # the cell it is adopted for ...
            assert "by run 'first'" in line and f"for cell {cell}" in line  # ... where it came from
        with Ledger(tmp_path / "second" / "ledger.sqlite") as led:
            assert {r["job"].job_id for r in led.job_rows()} == {j["id"] for j in fake.jobs}
        # resuming a run directory adopts nothing from elsewhere: no warning (they are errors here)
        again: list[str] = []
        make_study(tmp_path / "second", base_url=fake.base_url, **SMALL).run(
            progress=False, log=again.append
        )
        assert not any("adopted" in line for line in again)


def test_a_study_moved_to_a_new_run_dir_records_and_announces_the_jobs_it_reuses(tmp_path):
    study = make_study(tmp_path / "a", **SMALL)
    study.run(progress=False)
    study.run_dir = tmp_path / "b"
    lines: list[str] = []
    with pytest.warns(UserWarning, match="made by this process for an earlier run"):
        results = study.run(progress=False, log=lines.append)
    assert results.completed
    assert sum(line.startswith("adopted job") for line in lines) == 3
    with Ledger(tmp_path / "b" / "ledger.sqlite") as led:
        assert len(led.job_rows()) == 3  # the new ledger knows its jobs (and their cost)
