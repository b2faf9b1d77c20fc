"""OpenAIBackend through the real openai client against FakeOpenAIServer on loopback."""

from __future__ import annotations

import logging
import pickle

import openai
import pytest

from dataquality_thresholds.backends import FineTuneBackend, Sampler
from dataquality_thresholds.backends.openai import OpenAIBackend
from dataquality_thresholds.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    FineTuneJobError,
    JobTimeoutError,
)

SECRET = "sk-test-SECRET-do-not-leak-7f3a9c"
JOBS = r"/fine_tuning/jobs"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_backend(fake, **kw):
    opts = dict(
        base_url=fake.base_url,
        api_key=SECRET,
        base_model="gpt-4o-mini-2024-07-18",
        poll_interval=0.001,
        max_poll_interval=0.002,
        file_poll_interval=0.001,
    )
    opts.update(kw)
    return OpenAIBackend(**opts)


def test_protocols(fake):
    backend = make_backend(fake)
    assert isinstance(backend, FineTuneBackend)
    assert isinstance(backend.sampler(), Sampler)


def test_happy_path(fake, mixer):
    backend = make_backend(fake, hyperparameters={"n_epochs": 2})
    mixture = mixer.mix(0.5)
    seen = []
    job = backend.submit(mixture, key="run-1", hyperparameters={"batch_size": 4})
    assert job.job_id and job.status in ("validating", "queued") and not job.done
    assert job.fingerprint == mixture.fingerprint and job.key == "run-1"
    done = backend.wait(job, on_progress=seen.append)
    assert done.status == "succeeded" and done.fine_tuned_model.startswith("ft:gpt-4o-mini")
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.finished_at is not None and done.created_at is not None
    assert any("successfully" in e for e in done.events)
    assert done.metrics["train_loss"] == pytest.approx(0.42)
    assert seen[-1] == done
    (remote,) = fake.jobs
    assert remote["metadata"]["dqt_key"] == "run-1"
    assert remote["metadata"]["dqt_fingerprint"] == mixture.fingerprint
    assert remote["method"]["supervised"]["hyperparameters"]["n_epochs"] == 2
    assert remote["method"]["supervised"]["hyperparameters"]["batch_size"] == 4
    (f,) = fake.files
    assert fake.file_content(f["id"]) == b"".join(mixture.iter_jsonl())
    assert f["filename"] == f"dqt-{mixture.fingerprint}.jsonl"


def test_resubmit_same_key_is_idempotent(fake, mixer):
    backend = make_backend(fake)
    a = backend.submit(mixer.mix(0.5), key="k")
    b = make_backend(fake).submit(mixer.mix(0.5), key="k")  # a new process
    assert a.job_id == b.job_id
    assert len(fake.jobs) == 1 and len(fake.files) == 1
    with pytest.raises(ConfigError, match="other data"):
        backend.submit(mixer.mix(0.9), key="k")
    # another key with the same bytes reuses the uploaded file
    c = backend.submit(mixer.mix(0.5), key="k2")
    assert c.job_id != a.job_id and len(fake.files) == 1 and len(fake.jobs) == 2


def test_failed_job_raises_with_code(fake, mixer):
    fake.script_job(
        ("validating_files", "running", "failed"),
        error_code="invalid_training_file",
        error_message="line 3 has no assistant message",
    )
    backend = make_backend(fake)
    job = backend.submit(mixer.mix(0.5), key="f")
    with pytest.raises(FineTuneJobError) as info:
        backend.wait(job)
    assert info.value.job_id == job.job_id and info.value.code == "invalid_training_file"
    failed = backend.refresh(job)
    assert failed.status == "failed" and "assistant" in failed.error_message


def test_safety_failure_is_rejected_not_raised(fake, mixer):
    fake.script_job(
        ("validating_files", "running", "failed"),
        error_code="model_safety_evaluation_failed",
        error_message="The fine-tuned model did not pass our safety evaluation.",
    )
    backend = make_backend(fake)
    job = backend.wait(backend.submit(mixer.mix(0.1), key="r"))
    assert job.status == "rejected" and job.done and not job.succeeded
    assert job.error_code == "model_safety_evaluation_failed"


def test_blocked_training_file_is_rejected(mixer):
    from dataquality_thresholds.testing import FakeOpenAIServer

    with FakeOpenAIServer(blocked_file_words=["obviously wrong"]) as fake:
        backend = make_backend(fake)
        job = backend.submit(mixer.mix(0.5), key="b")
        assert job.status == "rejected" and job.job_id is None and job.file_id
        assert "moderation" in job.error_message
        assert fake.jobs == []
        assert backend.refresh(job) == job
        assert backend.wait(job) == job


def test_rate_limit_storm_waits_for_retry_after(fake, mixer):
    fault = fake.add_fault(
        method="POST",
        path=JOBS,
        status=429,
        code="daily_rate_limit_exceeded",
        retry_after=7,
        times=3,
    )
    sleeps = Sleeps()
    backend = make_backend(fake, sleep=sleeps)
    job = backend.submit(mixer.mix(0.5), key="rl")
    assert fault.hits == 3 and job.job_id
    assert sleeps.count(7.0) == 3
    assert len(fake.jobs) == 1


def test_rate_limit_gives_up_after_budget(fake, mixer):
    fake.add_fault(
        method="POST", path=JOBS, status=429, code="rate_limit_exceeded", retry_after=60, times=100
    )
    backend = make_backend(fake, sleep=Sleeps(), rate_limit_wait=100)
    with pytest.raises(BackendError, match="rate-limited"):
        backend.submit(mixer.mix(0.5), key="rl2")
    assert fake.jobs == []


def test_insufficient_quota_does_not_retry(fake, mixer):
    fake.add_fault(method="POST", path=JOBS, status=429, code="insufficient_quota", times=5)
    backend = make_backend(fake, sleep=Sleeps())
    with pytest.raises(BackendError, match="insufficient_quota"):
        backend.submit(mixer.mix(0.5), key="q")
    assert fake.count("POST", JOBS) == 1


def test_server_errors_on_create_then_success(fake, mixer):
    fake.add_fault(method="POST", path=JOBS, status=500, times=2)
    backend = make_backend(fake, sleep=Sleeps())
    job = backend.submit(mixer.mix(0.5), key="s")
    assert job.job_id and len(fake.jobs) == 1
    assert fake.count("POST", JOBS) == 3  # the SDK did not retry on its own


def test_dropped_connection_after_create_adopts_the_job(fake, mixer):
    fake.add_fault(method="POST", path=JOBS, drop="after", times=1)
    backend = make_backend(fake, sleep=Sleeps())
    job = backend.submit(mixer.mix(0.5), key="d")
    assert len(fake.jobs) == 1 and job.job_id == fake.jobs[0]["id"]
    assert fake.count("POST", JOBS) == 1


def test_timed_out_create_is_not_repeated(fake, mixer):
    # the server acts, then answers too late for the client: the job exists
    fake.add_fault(method="POST", path=JOBS, delay=1.0, times=1)
    client = openai.OpenAI(base_url=fake.base_url, api_key=SECRET, timeout=0.3)
    backend = OpenAIBackend(client, file_poll_interval=0.001, sleep=Sleeps())
    job = backend.submit(mixer.mix(0.5), key="t")
    assert len(fake.jobs) == 1 and job.job_id == fake.jobs[0]["id"]


def test_dropped_upload_is_not_repeated(fake, mixer):
    fake.add_fault(method="POST", path=r"/files", drop="after", times=1)
    backend = make_backend(fake, sleep=Sleeps())
    job = backend.submit(mixer.mix(0.5), key="u")
    assert len(fake.files) == 1 and job.file_id == fake.files[0]["id"]
    assert fake.count("POST", r"/files") == 1


def test_crash_between_upload_and_create_resumes_without_second_upload(fake, mixer, monkeypatch):
    first = make_backend(fake)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(first, "_create", crash)
    with pytest.raises(KeyboardInterrupt):
        first.submit(mixer.mix(0.5), key="c")
    assert len(fake.files) == 1 and fake.jobs == []
    job = make_backend(fake).submit(mixer.mix(0.5), key="c")
    assert job.job_id and len(fake.files) == 1 and len(fake.jobs) == 1
    assert fake.count("POST", r"/files") == 1


def test_wait_timeout_then_resume(fake, mixer):
    fake.script_job(("validating_files", *["running"] * 40, "succeeded"))
    backend = make_backend(fake)
    job = backend.submit(mixer.mix(0.5), key="w")
    with pytest.raises(JobTimeoutError) as info:
        backend.wait(job, timeout=0.05, poll_interval=0.02)
    assert info.value.job_id == job.job_id and info.value.job.status == "running"
    assert isinstance(info.value, FineTuneJobError) and isinstance(info.value, TimeoutError)
    # later (a new process): submit with the same key finds it, wait finishes it
    again = make_backend(fake).submit(mixer.mix(0.5), key="w")
    assert again.job_id == job.job_id
    assert backend.wait(again).status == "succeeded"
    assert len(fake.jobs) == 1


def test_wait_survives_transient_poll_errors(fake, mixer):
    backend = make_backend(fake)
    job = backend.submit(mixer.mix(0.5), key="p")
    client = openai.OpenAI(base_url=fake.base_url, api_key=SECRET, max_retries=0)
    backend = OpenAIBackend(client, poll_interval=0.001, max_poll_interval=0.002)
    fake.add_fault(method="GET", path=r"/fine_tuning/jobs/[^/]+", status=503, times=3)
    assert backend.wait(job).status == "succeeded"


def test_cancel(fake, mixer):
    fake.script_job(("validating_files", *["running"] * 100))
    backend = make_backend(fake)
    job = backend.submit(mixer.mix(0.5), key="x")
    cancelled = backend.cancel(job)
    assert cancelled.status == "cancelled" and cancelled.done
    with pytest.raises(FineTuneJobError) as info:
        backend.wait(cancelled)
    assert info.value.code == "cancelled"
    assert backend.cancel(cancelled).status == "cancelled"  # no-op when done


def test_403_on_create_explains_the_wind_down(fake, mixer):
    fake.add_fault(
        method="POST",
        path=JOBS,
        status=403,
        message="Fine-tuning is not available to this organization",
    )
    backend = make_backend(fake)
    with pytest.raises(BackendUnavailableError, match="2027-01-06") as info:
        backend.submit(mixer.mix(0.5), key="403")
    assert "2026-07-02" in str(info.value)
    assert not isinstance(info.value.__cause__, type(None))


def test_hyperparameters_are_checked(fake, mixer):
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        make_backend(fake, hyperparameters={"epochs": 3})
    with pytest.raises(ConfigError):
        make_backend(fake).submit(mixer.mix(0.5), key="h", hyperparameters={"n_epochs": 0})
    with pytest.raises(ConfigError):
        make_backend(fake).submit(mixer.mix(0.5), key="")


def test_max_active_jobs_waits_for_capacity(fake, mixer):
    fake.set_default_job_script(("validating_files", "running", "succeeded"))
    sleeps = Sleeps()
    backend = make_backend(fake, max_active_jobs=1, sleep=sleeps)
    backend.submit(mixer.mix(0.5), key="a1")
    # the second submit waits; the first job moves on only when polled, so poll it from sleep
    first_id = fake.jobs[0]["id"]

    def sleep_and_poll(seconds):
        sleeps.append(seconds)
        openai.OpenAI(base_url=fake.base_url, api_key=SECRET).fine_tuning.jobs.retrieve(first_id)

    backend._sleep = sleep_and_poll
    backend.submit(mixer.mix(0.6), key="a2")
    assert len(sleeps) >= 1 and len(fake.jobs) == 2


def test_sampler_through_fake(fake):
    backend = make_backend(fake)
    rows = backend.sampler().complete("gpt-4o-mini", ["hi", "there"], n=2, seed=1, max_tokens=5)
    assert [[c.text for c in r] for r in rows] == [
        ["fake answer 0 from gpt-4o-mini", "fake answer 1 from gpt-4o-mini"]
    ] * 2
    assert rows[0][1].index == 1 and rows[0][0].prompt_tokens == 1


def test_stub_responder_serves_completions(pool):
    from dataquality_thresholds.backends import AnswerBook, LocalStubSampler
    from dataquality_thresholds.testing import FakeOpenAIServer

    stub = LocalStubSampler(AnswerBook.from_pool(pool))
    ex = next(iter(pool))
    with FakeOpenAIServer(responder=stub.as_responder()) as fake:
        rows = make_backend(fake).sampler().complete("stub-base", [ex.prompt], temperature=0)
    assert rows[0][0].text == ex.correct


def test_no_client_without_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(BackendUnavailableError, match="OPENAI_API_KEY"):
        _ = OpenAIBackend(base_url="http://127.0.0.1:9/v1").client


def test_api_key_never_leaks(fake, mixer, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    backend = make_backend(fake, work_dir=tmp_path)
    mixture = mixer.mix(0.5)
    job = backend.submit(mixture, key="secret-check")
    job = backend.wait(job)
    sampler = backend.sampler()
    sampler.complete("gpt-4o-mini", ["hi"])
    texts = [repr(backend), str(backend), repr(job), repr(sampler), caplog.text, repr(fake)]
    assert all(SECRET not in t for t in texts)
    assert "***" not in repr(backend)  # not even a placeholder in the repr
    assert SECRET not in repr(backend.__dict__)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    for f in fake.files:
        assert SECRET.encode() not in fake.file_content(f["id"])
    with pytest.raises(TypeError):
        pickle.dumps(backend)


def test_wind_down_notice_before_and_after_the_cut():
    import datetime as dt

    from dataquality_thresholds.backends.openai import (
        FINE_TUNING_CUTOFF,
        wind_down_message,
        wind_down_notice,
    )

    assert dt.date(2027, 1, 6) == FINE_TUNING_CUTOFF
    assert wind_down_notice(dt.date(2026, 9, 1)) is None  # more than 60 days ahead
    near = wind_down_notice(dt.date(2026, 12, 7))
    assert near is not None and "30 days from now" in near
    for alt in ("HFBackend", "TinkerBackend", "TogetherBackend"):
        assert alt in near
    after = wind_down_notice(dt.date(2027, 2, 1))
    assert after == wind_down_message(dt.date(2027, 2, 1))
    assert "accepts no new fine-tuning jobs since 2027-01-06" in after
    assert "2026-07-02" in wind_down_message(dt.date(2026, 12, 7))
