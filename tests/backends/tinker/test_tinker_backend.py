"""TinkerBackend through the real tinker SDK against FakeTinkerServer: training, never twice, costs."""

from __future__ import annotations

import math
import pickle

import pytest
from tinker_helpers import SECRET

from dataquality_thresholds.backends.tinker import TINKER_PRICE_TABLE_DATE, TinkerBackend
from dataquality_thresholds.backends.tinker._files import checkpoint_name, sampler_name
from dataquality_thresholds.backends.tinker._render import batch_schedule, render_example
from dataquality_thresholds.errors import BackendUnavailableError, ConfigError, DataError

STEPS = 2 * math.ceil(30 / 4)  # epochs x batches per epoch


def train(backend, mixture, key="k", **kw):
    job = backend.submit(mixture, key=key, **kw)
    return backend.wait(job, timeout=120)


# ---------------------------------------------------------------------------- rendering
def test_render_trains_on_the_answer_and_its_end_token_only(chatml):
    msgs = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A!"}]
    tokens, weights = render_example(chatml, msgs)
    text = chatml.decode(tokens)
    assert text.endswith("<|im_start|>assistant\nA!<|im_end|>\n")
    trained = [t for t, w in zip(tokens, weights, strict=True) if w == 1.0]
    assert chatml.decode(trained) == "A!<|im_end|>"  # not the prompt, not the trailing newline


def test_render_handles_a_template_whose_generation_prompt_differs(chatml_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(chatml_dir))
    # Qwen3-like: the generation prompt adds an empty think block the answer does not have
    tok.chat_template = tok.chat_template.replace(
        "<|im_start|>assistant\n{% endif %}",
        "<|im_start|>assistant\n<think>\n\n</think>\n\n{% endif %}",
    )
    msgs = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A!"}]
    tokens, weights = render_example(tok, msgs)
    trained = [t for t, w in zip(tokens, weights, strict=True) if w == 1.0]
    assert tok.decode(trained) == "A!<|im_end|>"


def test_render_refuses_a_row_without_an_answer(chatml):
    with pytest.raises(DataError, match="assistant"):
        render_example(chatml, [{"role": "user", "content": "Q?"}])


def test_batch_schedule_is_seeded_and_covers_each_row_once_per_epoch():
    a = batch_schedule(10, batch_size=4, epochs=2, seed=3)
    assert a == batch_schedule(10, batch_size=4, epochs=2, seed=3)
    assert a != batch_schedule(10, batch_size=4, epochs=2, seed=4)
    assert [len(b) for b in a] == [4, 4, 2, 4, 4, 2]
    assert sorted(i for b in a[:3] for i in b) == list(range(10))


# ---------------------------------------------------------------------------- happy path
def test_trains_saves_sampler_weights_named_by_the_key_and_records_cost(
    make_backend, server, mixture, chatml
):
    backend = make_backend()
    estimate = backend.estimate_cost(mixture)
    job = train(backend, mixture, key="finance/obvious/0.50/rep0")
    assert job.status == "succeeded" and job.backend == "tinker"
    job_id = backend.job_id_for("finance/obvious/0.50/rep0")
    assert job.job_id == job_id
    assert job.fine_tuned_model.startswith("tinker://")
    assert job.fine_tuned_model.endswith(f"/sampler_weights/{sampler_name(job_id)}")
    # one run, created from the base model, tagged with the key
    runs = server.runs(dqt_key="finance/obvious/0.50/rep0")
    assert len(runs) == 1 and runs[0]["parent"] is None and runs[0]["lora_rank"] == 32
    assert server.counter("runs_created") == 1 and server.counter("runs_loaded") == 0
    assert server.counter("optim_step") == STEPS == job.metrics["step"] == job.metrics["max_steps"]
    # checkpoints: at step 0 and after the first epoch (not at the end: sampler weights then)
    names = [c["checkpoint_id"].split("/")[-1] for c in server.checkpoints("training")]
    assert names == [checkpoint_name(job_id, 0), checkpoint_name(job_id, STEPS // 2)]
    # the loss is on the answers only: every datum's weights are 0 on its prompt
    for batch in server.state.batches:
        for d in batch:
            w, targets = d["weights"], d["target_tokens"]
            assert len(w) == len(targets) == len(d["tokens"])
            first = w.index(1.0)
            assert set(w[:first]) == {0.0} and w[first] == 1.0
            assert chatml.decode(d["tokens"][: first + 1]).endswith("<|im_start|>assistant\n")
    # cost: the tokens the service trained, priced from the dated table
    assert job.trained_tokens == server.state.tokens_trained == estimate.trained_tokens
    assert job.cost.usd == pytest.approx(job.trained_tokens * 0.40 / 1e6)
    assert job.cost.price_date == TINKER_PRICE_TABLE_DATE
    assert job.metrics["train_loss"] > 0
    assert any("saved sampler weights" in e for e in job.events)


def test_hyperparameters_and_estimate(make_backend, mixture):
    backend = make_backend(prices={"Qwen/Qwen3-8B": 1.0})
    est = backend.estimate_cost(mixture, hyperparameters={"n_epochs": 3})
    assert est.epochs == 3 and est.usd_per_million == 1.0 and est.price_date == "user"
    assert est.usd == pytest.approx(est.tokens * 3 / 1e6)
    with pytest.raises(ConfigError, match="unknown Tinker hyperparameter"):
        backend.settings({"learning_rate_multiplier": 2})
    with pytest.raises(ConfigError, match="epochs"):
        backend.settings({"epochs": "auto"})
    with pytest.raises(ConfigError, match="fine-tunes"):
        backend.submit(mixture, key="k", base_model="meta-llama/Llama-3.1-8B")


# ---------------------------------------------------------------------------- never twice
def test_same_key_returns_the_same_job_and_starts_nothing(make_backend, server, mixture):
    backend = make_backend()
    first = train(backend, mixture)
    requests = len(server.requests)
    again = backend.submit(mixture, key="k")
    assert again.status == "succeeded" and again.fine_tuned_model == first.fine_tuned_model
    assert len(server.requests) == requests  # found on disk: not even a lookup
    fresh = make_backend(output_dir=backend.output_dir)  # a new process, same folder
    assert fresh.submit(mixture, key="k").fine_tuned_model == first.fine_tuned_model
    assert server.counter("runs_created") == 1


@pytest.mark.slow
def test_a_lost_job_folder_is_found_again_through_the_service(
    make_backend, server, mixture, tmp_path
):
    first = train(make_backend(), mixture)
    elsewhere = make_backend(output_dir=tmp_path / "other-machine")
    job = elsewhere.submit(mixture, key="k")
    assert job.status == "succeeded" and job.fine_tuned_model == first.fine_tuned_model
    assert not (elsewhere.job_dir(job.job_id) / "worker.log").exists()  # no worker started
    assert server.counter("runs_created") == 1 and server.counter("optim_step") == STEPS
    assert elsewhere.lookup("k").final_path == first.fine_tuned_model


@pytest.mark.slow
def test_same_key_for_other_data_or_settings_is_refused(
    make_backend, mixer, mixture, tmp_path, server
):
    backend = make_backend()
    train(backend, mixture)
    with pytest.raises(ConfigError, match="fingerprint"):
        backend.submit(mixer.mix(1.0), key="k")
    with pytest.raises(ConfigError, match=r"epochs: 2 -> 3"):
        backend.submit(mixture, key="k", hyperparameters={"epochs": 3})
    with pytest.raises(ConfigError, match="on Tinker"):  # only the service knows the key
        make_backend(output_dir=tmp_path / "b", seed=1).submit(mixture, key="k")
    assert server.counter("runs_created") == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "fresh", "loaded", "steps"),
    [
        # killed before the run's step-0 checkpoint: the run trained nothing, a second
        # one starts from the base model (the one case with two fresh runs; no token twice)
        ("after_create", 2, 0, STEPS),
        ("after_step:1", 1, 1, STEPS + 1),  # resumes from step 0: step 1 trained again
        ("after_checkpoint:8", 1, 1, STEPS),  # resumes exactly where it stopped
        ("after_step:11", 1, 1, STEPS + 3),  # steps 9-11 after the last checkpoint again
        ("after_sampler_save", 1, 0, STEPS),  # finished weights found: adopted
    ],
)
def test_a_killed_worker_resumes_from_its_last_checkpoint(
    make_backend, server, mixture, monkeypatch, point, fresh, loaded, steps
):
    monkeypatch.setenv("_DQT_TINKER_FAULT", point)  # SIGKILL there, first attempt only
    job = train(make_backend(), mixture)
    assert job.status == "succeeded"
    runs = server.runs(dqt_key="k")
    assert sum(r["parent"] is None for r in runs) == fresh
    assert sum(r["parent"] is not None for r in runs) == loaded
    assert server.counter("optim_step") == steps
    assert sum(r["tokens"] > 0 for r in runs if r["parent"] is None) == 1
    assert job.trained_tokens == server.state.tokens_trained  # what was billed, redone steps too
    assert len(server.checkpoints("sampler")) == 1
    if loaded:
        resumed = next(r for r in runs if r["parent"] is not None)
        assert resumed["user_metadata"]["dqt_resumed_from"] == resumed["parent"]


@pytest.mark.slow
def test_faults_are_retried_without_doing_anything_twice(make_backend, server, mixture):
    server.add_fault(method="POST", path="/api/v1/create_model", drop="after")
    server.add_fault(method="POST", path="/api/v1/optim_step", status=429, retry_after=0.1)
    server.add_fault(method="POST", path="/api/v1/forward_backward", status=500)
    server.add_fault(method="POST", path="/api/v1/optim_step", drop="after")
    server.add_fault(method="POST", path="/api/v1/save_weights", drop="after")
    job = train(make_backend(), mixture)
    assert job.status == "succeeded"
    assert all(f.hits == 1 for f in server.faults)
    assert server.counter("runs_created") == 1
    assert server.counter("optim_step") == STEPS  # a repeated seq_id is the same step
    assert server.counter("forward_backward") == STEPS
    assert server.counter("save_training") == 2


# ---------------------------------------------------------------------------- sampling
@pytest.mark.slow
def test_sampler_samples_the_weights_through_the_cache(make_backend, server, mixture, tmp_path):
    backend = make_backend(cache=tmp_path / "cache.sqlite")
    job = train(backend, mixture)
    sampler = backend.sampler()
    rows = sampler.complete(job.fine_tuned_model, ["What is 2+2?", "Hi"], n=2, seed=7)
    assert [c.text for c in rows[0]] == [
        f"fake answer 0 from {job.fine_tuned_model}",
        f"fake answer 1 from {job.fine_tuned_model}",
    ]
    assert rows[0][0].finish_reason == "stop" and rows[0][0].completion_tokens > 0
    sent = server.count("POST", "/api/v1/asample")
    again = sampler.complete(job.fine_tuned_model, ["What is 2+2?", "Hi"], n=2, seed=7)
    assert again == rows and server.count("POST", "/api/v1/asample") == sent  # cached
    more = sampler.complete(job.fine_tuned_model, ["Hi"], n=3, seed=7)
    assert more[0][:2] == rows[1] and server.count("POST", "/api/v1/asample") == sent + 1
    usage = sampler.usage
    assert usage["completion_tokens"] == server.state.tokens_sampled
    assert usage["usd"] == pytest.approx(
        (usage["prompt_tokens"] * 0.13 + usage["completion_tokens"] * 0.40) / 1e6
    )
    base = sampler.complete("Qwen/Qwen3-8B", ["Hi"], max_tokens=3)
    assert base[0][0].finish_reason == "length" and base[0][0].completion_tokens == 3


# ---------------------------------------------------------------------------- the key
@pytest.mark.slow
def test_the_api_key_is_never_written_or_shown(make_backend, mixture, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    backend = make_backend()
    train(backend, mixture)
    assert SECRET not in repr(backend) and "***" in repr(backend)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(backend)
    for path in backend.output_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in caplog.text


def test_no_key_is_a_clear_error(make_backend, mixture, monkeypatch, tmp_path):
    monkeypatch.delenv("TINKER_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no stored credentials either
    backend = make_backend(api_key=None)
    with pytest.raises(BackendUnavailableError, match="TINKER_API_KEY"):
        backend.submit(mixture, key="k")


@pytest.mark.slow
def test_cancel_stops_the_worker(make_backend, server, mixture):
    server.add_fault(method="POST", path="/api/v1/optim_step", delay=0.3, times=1000)
    backend = make_backend()
    job = backend.submit(mixture, key="k")
    for _ in range(200):
        job = backend.refresh(job)
        if job.metrics.get("step", 0) >= 1:
            break
        import time

        time.sleep(0.05)
    job = backend.cancel(job)
    assert job.status == "cancelled"
    assert isinstance(backend, TinkerBackend)
