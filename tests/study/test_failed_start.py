"""A study that fails before it committed anything leaves nothing behind (issue 22)."""

import pytest
from common import answer_book, make_study

from dataquality_thresholds import BackendUnavailableError
from dataquality_thresholds.backends import LocalStubBackend
from dataquality_thresholds.study import Ledger

SMALL = dict(fractions=(0.1, 0.5, 1.0), corruptions=("obvious",), replicates=1)


class NoKey(LocalStubBackend):
    """Fails on its first request, as a hosted backend without an API key does."""

    def sampler(self):
        raise BackendUnavailableError("no API key (test)")


class RefusesJobs(LocalStubBackend):
    """Samples, but every job creation fails after the run marked it."""

    def submit(self, mixture, **kw):
        raise BackendUnavailableError("the provider refused the job (test)")


def test_a_fresh_run_dir_is_removed_again_after_a_failed_start(tmp_path):
    run_dir = tmp_path / "runs" / "x"
    with pytest.raises(BackendUnavailableError):
        make_study(run_dir, backend=NoKey(answer_book()), **SMALL).run(progress=False)
    assert not (tmp_path / "runs").exists()


def test_an_existing_run_dir_keeps_what_it_held(tmp_path):
    run_dir = tmp_path / "x"
    make_study(tmp_path / "first", **SMALL).run(progress=False)  # a cache to start from
    run_dir.mkdir()
    (run_dir / "completions.sqlite").write_bytes(
        (tmp_path / "first" / "completions.sqlite").read_bytes()
    )
    with pytest.raises(BackendUnavailableError):
        make_study(run_dir, backend=NoKey(answer_book()), **SMALL).run(progress=False)
    assert sorted(p.name for p in run_dir.iterdir()) == ["completions.sqlite"]


def test_a_run_that_asked_for_a_job_keeps_its_ledger(tmp_path):
    run_dir = tmp_path / "x"
    with pytest.raises(BackendUnavailableError):
        make_study(run_dir, backend=RefusesJobs(answer_book()), **SMALL).run(progress=False)
    with Ledger(run_dir / "ledger.sqlite") as led:  # the job may exist: it is never forgotten
        assert [r["status"] for r in led.job_rows()] == ["submitting"]
