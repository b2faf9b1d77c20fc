"""TogetherBackend through the real openai client against FakeTogetherServer on loopback."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle

import openai
import pytest

from dataquality_thresholds.backends import FineTuneBackend, Sampler
from dataquality_thresholds.backends.together import (
    DeploymentRequiredError,
    TogetherBackend,
    TogetherLoRA,
    TogetherSampler,
    model_size_b,
    together_price_table,
)
from dataquality_thresholds.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    FineTuneJobError,
    JobTimeoutError,
)

try:  # the face exports it once the shared files list it
    from dataquality_thresholds.testing import FakeTogetherServer
except ImportError:  # pragma: no cover
    from dataquality_thresholds.testing._together_fake import FakeTogetherServer

SECRET = "tg-test-SECRET-do-not-leak-41b7"
JOBS = r"/fine-tunes"
UPLOAD = r"/files/upload"
LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def tg():
    with FakeTogetherServer(file_processing_polls=1) as server:
        yield server


def make_backend(fake, **kw):
    opts = dict(
        base_url=fake.base_url,
        api_key=SECRET,
        poll_interval=0.001,
        max_poll_interval=0.002,
        file_poll_interval=0.001,
        serving="serverless",
    )
    opts.update(kw)
    return TogetherBackend(**opts)


def created_bodies(fake):
    return [j for j in fake.jobs]


def test_protocols(tg):
    backend = make_backend(tg)
    assert isinstance(backend, FineTuneBackend)
    assert isinstance(backend.sampler(), Sampler)


def test_happy_path_sends_what_together_expects_and_records_cost(tg, mixer):
    backend = make_backend(tg, hyperparameters={"n_epochs": 2})
    mixture = mixer.mix(0.5)
    seen = []
    job = backend.submit(mixture, key="run-1", hyperparameters={"learning_rate": 2e-5})
    assert job.job_id and job.status == "pending" and not job.done
    assert job.fingerprint == mixture.fingerprint and job.key == "run-1"
    assert job.cost is not None and job.cost.price_date == "together-estimate"
    done = backend.wait(job, on_progress=seen.append)
    assert done.status == "succeeded" and seen[-1] == done
    assert done.fine_tuned_model.endswith(f":{done.job_id}")
    assert done.finished_at is not None and done.created_at is not None
    assert any("completed" in e for e in done.events)
    assert done.metrics["total_steps"] == 1.0
    (remote,) = tg.jobs
    key_hash = hashlib.sha256(b"run-1").hexdigest()[:16]
    assert remote["suffix"] == f"dqt-{key_hash}-{mixture.fingerprint[:10]}"
    assert len(remote["suffix"]) <= 40
    assert remote["n_epochs"] == 2 and remote["learning_rate"] == 2e-5
    assert remote["batch_size"] == "max" and remote["random_seed"] == 0
    assert remote["training_type"] == {
        "type": "Lora",
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "lora_trainable_modules": "all-linear",
    }
    assert remote["training_method"] == {"method": "sft", "train_on_inputs": "auto"}
    (f,) = tg.files
    assert f["filename"] == f"dqt-{mixture.fingerprint}.jsonl"
    assert tg.file_content(f["id"]) == b"".join(mixture.iter_jsonl())
    # the billed price (total_price, nanodollars) replaces the estimate
    words = len(tg.file_content(f["id"]).split())
    assert done.trained_tokens == words * 2
    assert done.cost.price_date == "together"
    assert done.cost.usd == pytest.approx(words * 2 * 0.48 / 1e6)
    assert done.cost.tokens == words and done.cost.epochs == 2
    assert getattr(done.cost, "actual", True) and not getattr(job.cost, "actual", False)
    assert tg.count("POST", JOBS) == 1 and tg.count("POST", UPLOAD) == 1


def test_full_fine_tuning_and_table_cost_without_a_billed_price(tg, mixer):
    tg.script_job(report_price=False)
    backend = make_backend(tg, lora=None, check_price=False)
    job = backend.wait(backend.submit(mixer.mix(0.5), key="full"))
    assert tg.jobs[0]["training_type"] == {"type": "Full"}
    assert tg.count("POST", r"/fine-tunes/estimate-price") == 0
    # token_count x epochs x the table's full fine-tuning price for an 8B model
    assert job.cost.usd_per_million == pytest.approx(0.54)
    assert job.cost.usd == pytest.approx(job.trained_tokens * 0.54 / 1e6)


def test_resubmit_same_key_is_idempotent(tg, mixer):
    backend = make_backend(tg)
    a = backend.submit(mixer.mix(0.5), key="k")
    b = make_backend(tg).submit(mixer.mix(0.5), key="k")  # a new process
    assert a.job_id == b.job_id and b.cost is not None
    assert len(tg.jobs) == 1 and len(tg.files) == 1
    with pytest.raises(ConfigError, match="other data"):
        backend.submit(mixer.mix(0.9), key="k")
    c = backend.submit(mixer.mix(0.5), key="k2")  # same bytes: the file is reused
    assert c.job_id != a.job_id and len(tg.files) == 1 and len(tg.jobs) == 2


def test_failed_job_raises_with_status_and_reason(tg, mixer):
    tg.script_job(("pending", "running", "error"), error_message="CUDA error on node 7")
    backend = make_backend(tg)
    job = backend.submit(mixer.mix(0.5), key="f")
    with pytest.raises(FineTuneJobError) as info:
        backend.wait(job)
    assert info.value.job_id == job.job_id and info.value.code == "error"
    failed = backend.refresh(job)
    assert failed.status == "failed" and "CUDA" in failed.error_message


@pytest.mark.parametrize(
    "message",
    [
        "Training data violates the acceptable use policy (safety filter)",
        "Dataset validation failed: line 3 has no assistant message",
    ],
)
def test_refused_data_is_rejected_not_raised(tg, mixer, message):
    tg.script_job(("pending", "running", "user_error"), error_message=message)
    backend = make_backend(tg)
    job = backend.wait(backend.submit(mixer.mix(0.1), key="r"))
    assert job.status == "rejected" and job.done and not job.succeeded
    assert job.error_code == "user_error" and job.error_message == message


def test_user_error_not_matching_the_pattern_is_a_failure(tg, mixer):
    tg.script_job(("pending", "user_error"), error_message="batch size too large for model")
    backend = make_backend(tg)
    with pytest.raises(FineTuneJobError) as info:
        backend.wait(backend.submit(mixer.mix(0.5), key="u"))
    assert info.value.code == "user_error"


def test_blocked_training_file_is_rejected(mixer):
    with FakeTogetherServer(blocked_file_words=["obviously wrong"]) as fake:
        backend = make_backend(fake)
        job = backend.submit(mixer.mix(0.5), key="b")
        assert job.status == "rejected" and job.job_id is None and job.file_id
        assert "acceptable use" in job.error_message and job.cost is not None
        assert fake.jobs == []
        assert backend.refresh(job) == job and backend.wait(job) == job


def test_rate_limited_create_waits_for_retry_after(tg, mixer):
    fault = tg.add_fault(method="POST", path=JOBS, status=429, retry_after=7, times=3)
    sleeps = Sleeps()
    backend = make_backend(tg, sleep=sleeps)
    job = backend.submit(mixer.mix(0.5), key="rl")
    assert fault.hits == 3 and job.job_id and sleeps.count(7.0) == 3
    assert len(tg.jobs) == 1 and tg.count("POST", JOBS) == 4  # no SDK retry stacked on ours


def test_rate_limit_gives_up_after_budget(tg, mixer):
    tg.add_fault(method="POST", path=JOBS, status=429, retry_after=60, times=100)
    backend = make_backend(tg, sleep=Sleeps(), rate_limit_wait=100)
    with pytest.raises(BackendError, match="rate-limited"):
        backend.submit(mixer.mix(0.5), key="rl2")
    assert tg.jobs == []


def test_server_errors_on_create_then_success(tg, mixer):
    tg.add_fault(method="POST", path=JOBS, status=500, times=2)
    backend = make_backend(tg, sleep=Sleeps())
    job = backend.submit(mixer.mix(0.5), key="s")
    assert job.job_id and len(tg.jobs) == 1
    assert tg.count("POST", JOBS) == 3  # the client did not retry on its own


def test_dropped_connection_after_create_adopts_the_job(tg, mixer):
    tg.add_fault(method="POST", path=JOBS, drop="after", times=1)
    backend = make_backend(tg, sleep=Sleeps())
    job = backend.submit(mixer.mix(0.5), key="d")
    assert len(tg.jobs) == 1 and job.job_id == tg.jobs[0]["id"]
    assert tg.count("POST", JOBS) == 1
    # the listing after the dropped create came before any retry
    paths = [(r.method, r.path) for r in tg.requests]
    assert paths[paths.index(("POST", "/fine-tunes")) + 1] == ("GET", "/fine-tunes")


def test_timed_out_create_is_not_repeated(tg, mixer):
    # the server acts, then answers too late for the client: the job exists
    tg.add_fault(method="POST", path=JOBS, delay=1.0, times=1)
    client = openai.OpenAI(base_url=tg.base_url, api_key=SECRET, timeout=0.3)
    backend = TogetherBackend(client, file_poll_interval=0.001, sleep=Sleeps())
    job = backend.submit(mixer.mix(0.5), key="t")
    assert len(tg.jobs) == 1 and job.job_id == tg.jobs[0]["id"]
    assert tg.count("POST", JOBS) == 1


def test_dropped_upload_is_not_repeated(tg, mixer):
    tg.add_fault(method="POST", path=UPLOAD, drop="after", times=1)
    backend = make_backend(tg, sleep=Sleeps())
    job = backend.submit(mixer.mix(0.5), key="u")
    assert len(tg.files) == 1 and job.file_id == tg.files[0]["id"]
    assert tg.count("POST", UPLOAD) == 1


def test_dropped_upload_before_acting_is_retried(tg, mixer):
    tg.add_fault(method="POST", path=UPLOAD, drop="before", times=1)
    backend = make_backend(tg, sleep=Sleeps())
    job = backend.submit(mixer.mix(0.5), key="u2")
    assert len(tg.files) == 1 and tg.count("POST", UPLOAD) == 2 and job.job_id


def test_crash_after_upload_resumes_without_second_upload(tg, mixer, monkeypatch):
    first = make_backend(tg)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(first, "_create", crash)
    with pytest.raises(KeyboardInterrupt):
        first.submit(mixer.mix(0.5), key="c")
    assert len(tg.files) == 1 and tg.jobs == []
    job = make_backend(tg).submit(mixer.mix(0.5), key="c")
    assert job.job_id and len(tg.files) == 1 and len(tg.jobs) == 1
    assert tg.count("POST", UPLOAD) == 1


def test_crash_after_create_before_the_caller_knew_adopts(tg, mixer, monkeypatch):
    first = make_backend(tg)
    real = first._record

    def crash_after_create(remote, **kw):
        if remote.get("status") is not None and kw.get("prior") is not None:
            raise KeyboardInterrupt("killed right after the create answered")
        return real(remote, **kw)

    monkeypatch.setattr(first, "_record", crash_after_create)
    with pytest.raises(KeyboardInterrupt):
        first.submit(mixer.mix(0.5), key="cc")
    assert len(tg.jobs) == 1
    job = make_backend(tg).submit(mixer.mix(0.5), key="cc")
    assert job.job_id == tg.jobs[0]["id"] and job.cost is not None
    assert tg.count("POST", JOBS) == 1 and tg.count("POST", UPLOAD) == 1


def test_crash_during_polling_then_resume(tg, mixer):
    tg.script_job(("pending", *["running"] * 40, "completed"))
    backend = make_backend(tg)
    job = backend.submit(mixer.mix(0.5), key="w")
    with pytest.raises(JobTimeoutError) as info:
        backend.wait(job, timeout=0.05, poll_interval=0.02)
    assert info.value.job_id == job.job_id and info.value.job.status == "running"
    again = make_backend(tg).submit(mixer.mix(0.5), key="w")  # a new process
    assert again.job_id == job.job_id and again.status == "running"
    assert make_backend(tg).wait(again).status == "succeeded"
    assert len(tg.jobs) == 1 and tg.count("POST", JOBS) == 1


def test_wait_survives_transient_poll_errors(tg, mixer):
    job = make_backend(tg).submit(mixer.mix(0.5), key="p")
    client = openai.OpenAI(base_url=tg.base_url, api_key=SECRET, max_retries=0)
    backend = TogetherBackend(client, poll_interval=0.001, max_poll_interval=0.002)
    tg.add_fault(method="GET", path=r"/fine-tunes/[^/]+", status=503, times=3)
    assert backend.wait(job).status == "succeeded"


def test_cancel(tg, mixer):
    tg.script_job(("pending", *["running"] * 100))
    backend = make_backend(tg)
    job = backend.submit(mixer.mix(0.5), key="x")
    cancelled = backend.cancel(job)
    assert cancelled.status == "cancelled" and cancelled.done
    with pytest.raises(FineTuneJobError) as info:
        backend.wait(cancelled)
    assert info.value.code == "cancelled"
    assert backend.cancel(cancelled).status == "cancelled"  # a no-op when done
    assert tg.count("POST", r"/fine-tunes/[^/]+/cancel") == 1


def test_no_credit_stops_before_anything_is_created(mixer):
    with FakeTogetherServer(credit_usd=0.0) as fake:
        with pytest.raises(BackendError, match="allowed_to_proceed"):
            make_backend(fake).submit(mixer.mix(0.5), key="poor")
        assert fake.jobs == []
    with FakeTogetherServer() as fake:
        fake.add_fault(method="POST", path=JOBS, status=402, message="insufficient balance")
        with pytest.raises(BackendError, match="no credit"):
            make_backend(fake).submit(mixer.mix(0.5), key="poor")
        assert fake.count("POST", JOBS) == 1


def test_auth_failure_is_unavailable(tg, mixer):
    tg.add_fault(method="GET", path=JOBS, status=401, times=10)
    with pytest.raises(BackendUnavailableError, match="TOGETHER_API_KEY"):
        make_backend(tg).submit(mixer.mix(0.5), key="a")


def test_hyperparameters_are_checked(tg, mixer):
    with pytest.raises(ConfigError, match="learning_rate is absolute"):
        make_backend(tg, hyperparameters={"learning_rate_multiplier": 2})
    with pytest.raises(ConfigError):
        make_backend(tg).submit(mixer.mix(0.5), key="h", hyperparameters={"n_epochs": "auto"})
    with pytest.raises(ConfigError):
        make_backend(tg).submit(mixer.mix(0.5), key="")
    with pytest.raises(ConfigError):
        make_backend(tg, serving="somewhere")
    with pytest.raises(ValueError):
        TogetherLoRA(dropout=1.0)


def test_no_client_without_key(monkeypatch):
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with pytest.raises(BackendUnavailableError, match="TOGETHER_API_KEY"):
        _ = TogetherBackend(base_url="http://127.0.0.1:9/v1").client


def test_sampler_serving_modes(tg, mixer):
    job = make_backend(tg).wait(make_backend(tg).submit(mixer.mix(0.5), key="s1"))
    model = job.fine_tuned_model
    dedicated = make_backend(tg, serving="dedicated")
    before = tg.count("POST", r"/chat/completions")
    with pytest.raises(DeploymentRequiredError, match="dedicated endpoint") as info:
        dedicated.sampler().complete(model, ["hi"])
    assert info.value.model == model and isinstance(info.value, BackendUnavailableError)
    assert tg.count("POST", r"/chat/completions") == before  # nothing was sent
    # a base model needs no deployment; a named endpoint serves the fine-tune
    rows = dedicated.sampler().complete(LLAMA, ["hi"])
    assert rows[0][0].text == f"fake answer 0 from {LLAMA}"
    sampler = dedicated.sampler(endpoints={model: "fake-account/my-endpoint-1a2b"})
    assert isinstance(sampler, TogetherSampler)
    rows = sampler.complete(model, ["hi", "there"], n=2, seed=1)
    assert [[c.text for c in r] for r in rows] == [
        [f"fake answer {i} from fake-account/my-endpoint-1a2b" for i in range(2)]
    ] * 2
    rows = make_backend(tg).sampler().complete(model, ["hi"])  # serverless: the name as it is
    assert rows[0][0].text == f"fake answer 0 from {model}"
    with pytest.raises(ConfigError, match="Batch API"):
        make_backend(tg).sampler(batch=True)


def test_sampler_cache_makes_a_rerun_free(tg, tmp_path):
    backend = make_backend(tg)
    first = backend.sampler(cache=tmp_path / "cache.sqlite").complete(LLAMA, ["a", "b"], seed=3)
    sent = tg.count("POST", r"/chat/completions")
    again = backend.sampler(cache=tmp_path / "cache.sqlite").complete(LLAMA, ["a", "b"], seed=3)
    assert [c.text for r in again for c in r] == [c.text for r in first for c in r]
    assert tg.count("POST", r"/chat/completions") == sent


def test_estimate_cost_by_hand(mixer, word_tokenizer):
    mixture = mixer.mix(0.5)
    backend = TogetherBackend(api_key="x", tokenizer=word_tokenizer)
    est = backend.estimate_cost(mixture)
    assert est.epochs == 1 and est.usd_per_million == pytest.approx(0.48)
    assert est.usd == pytest.approx(est.tokens * 0.48 / 1e6) and est.n_examples == 30
    est3 = TogetherBackend(
        api_key="x", tokenizer=word_tokenizer, hyperparameters={"n_epochs": 3}
    ).estimate_cost(mixture)
    assert est3.trained_tokens == 3 * est.tokens and est3.usd == pytest.approx(3 * est.usd)
    full = TogetherBackend(api_key="x", tokenizer=word_tokenizer, lora=None).estimate_cost(mixture)
    assert full.usd_per_million == pytest.approx(0.54)
    big = backend.estimate_cost(mixture, base_model="Qwen/Qwen2.5-72B-Instruct")
    assert big.usd_per_million == pytest.approx(2.90) and big.price_date == "2025-11-01"
    mine = TogetherBackend(api_key="x", tokenizer=word_tokenizer, prices={LLAMA: 1.0})
    assert mine.estimate_cost(mixture).usd == pytest.approx(est.tokens / 1e6)
    with pytest.raises(ConfigError, match="size"):
        backend.estimate_cost(mixture, base_model="acme/mystery-model")
    sized = TogetherBackend(api_key="x", tokenizer=word_tokenizer, model_sizes={"acme/m": 30})
    assert sized.estimate_cost(mixture, base_model="acme/m").usd_per_million == 1.50


def test_price_table_helpers():
    assert model_size_b("Qwen/Qwen2.5-14B-Instruct") == 14.0
    assert model_size_b(LLAMA) == 8.0
    assert model_size_b("acme/tiny-0.5B-chat") == 0.5
    assert together_price_table().price(LLAMA) == 0.48
    assert together_price_table(lora=False).price(LLAMA) == 0.54
    with pytest.raises(ConfigError, match="stops at"):
        together_price_table({"huge/405B": 405})


def test_hosting_estimate():
    backend = TogetherBackend(api_key="x")
    with pytest.raises(ConfigError, match="usd_per_hour"):
        backend.estimate_hosting_cost(10)
    est = backend.estimate_hosting_cost(10, hours_per_model=0.5, usd_per_hour=4.0)
    assert est.usd == pytest.approx(20.0) and est.n_models == 10
    serverless = TogetherBackend(api_key="x", serving="serverless", hosting_usd_per_hour=4.0)
    assert serverless.estimate_hosting_cost(10).usd == 0.0


def test_api_key_never_leaks(tg, mixer, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    backend = make_backend(tg, work_dir=tmp_path)
    job = backend.wait(backend.submit(mixer.mix(0.5), key="secret-check"))
    sampler = backend.sampler(cache=tmp_path / "c.sqlite")
    sampler.complete(job.fine_tuned_model, ["hi"])
    texts = [repr(backend), str(backend), repr(job), repr(sampler), caplog.text, repr(tg)]
    assert all(SECRET not in t for t in texts)
    assert SECRET not in repr(backend.__dict__)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    for f in tg.files:
        assert SECRET.encode() not in tg.file_content(f["id"])
    assert SECRET not in json.dumps(tg.jobs)
    with pytest.raises(TypeError):
        pickle.dumps(backend)
