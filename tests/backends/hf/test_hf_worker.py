"""HFBackend's worker modes: one process per job, or pool workers on one loaded base model.

Precision and batching options, the pool's queue (claims, cancel, stop) and the
restore of the base between jobs. Tests that train the tiny model are marked slow.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from hf_tiny import make_tiny_model

from dataquality_thresholds.backends.hf import HFBackend, LoRASpec
from dataquality_thresholds.backends.hf._jobspec import training_spec
from dataquality_thresholds.backends.hf._training import (
    LoadedBase,
    resolve_precision,
    sft_options,
    weights_dtype,
)
from dataquality_thresholds.backends.hf._worker import _claim
from dataquality_thresholds.errors import ConfigError, FineTuneJobError
from dataquality_thresholds.mixing import CorruptionMixer, ExamplePool
from dataquality_thresholds.records import Message, PairedExample

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
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


def _mix(fraction, n=6):
    return CorruptionMixer(_pool(n), size=n, seed=0).mix(fraction)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _backend(tiny, out, **kw):
    opts = dict(
        lora=LoRASpec(r=4, alpha=8), epochs=1, batch_size=4, max_seq_len=128, device="cpu",
        worker_idle_timeout=5,
    )  # fmt: skip
    opts.update(kw)
    backend = HFBackend(str(tiny), output_dir=out, **opts)
    _OPEN.append(backend)
    return backend


_OPEN: list[HFBackend] = []


@pytest.fixture(autouse=True)
def _close_backends():
    """Stop each test's pool workers when it ends (they would idle on into the next test)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def _state(backend, job):
    return json.loads((backend.job_dir(job.job_id) / "state.json").read_text())


def _adapter(backend, job):
    from safetensors.torch import load_file

    return load_file(str(backend.job_dir(job.job_id) / "model" / "adapter_model.safetensors"))


# ---------------------------------------------------------------- options (fast)
def test_worker_and_precision_options_are_checked(tiny, tmp_path):
    assert _backend(tiny, tmp_path).reuse_worker is True  # the default
    assert _backend(tiny, tmp_path, reuse_worker=False).reuse_worker is False
    cfg = tmp_path / "acc.yaml"
    cfg.write_text("num_processes: 2\n")
    assert _backend(tiny, tmp_path, accelerate_config=cfg).reuse_worker is False
    with pytest.raises(ConfigError, match="one job per launch") as err:
        _backend(tiny, tmp_path, accelerate_config=cfg, reuse_worker=True)
    assert err.value.field == "reuse_worker"
    with pytest.raises(ConfigError, match="needs a GPU") as err:
        _backend(tiny, tmp_path, precision="fp16")  # device="cpu"
    assert err.value.field == "precision"
    with pytest.raises(ConfigError, match="precision must be one of"):
        _backend(tiny, tmp_path, precision="int8")
    for bad in (-1, float("nan"), True):
        with pytest.raises(ConfigError, match="worker_idle_timeout"):
            _backend(tiny, tmp_path, worker_idle_timeout=bad)
    assert _backend(tiny, tmp_path, precision="fp16", device=None).precision == "fp16"


def test_precision_resolves_per_device(monkeypatch):
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision(None, "mps") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda") == "fp32"
    assert resolve_precision("fp16", "cuda") == "fp16"
    assert resolve_precision("bf16", "cpu") == "bf16"  # asked for: CPU autocast
    with pytest.raises(ValueError, match="needs a GPU"):
        resolve_precision("fp16", "cpu")
    assert weights_dtype("bf16", lora=True) is torch.bfloat16
    assert weights_dtype("fp16", lora=True) is torch.float16
    assert weights_dtype("fp16", lora=False) is None  # fp32 master weights
    assert weights_dtype("fp32", lora=True) is None


def test_sft_options_carry_precision_and_batching(tmp_path):
    from trl.trainer.sft_config import SFTConfig

    spec = {"seed": 3, "epochs": 2, "batch_size": 4, "grad_accum": 1, "learning_rate": 1e-4,
            "max_seq_len": 64}  # fmt: skip
    fields = [f.name for f in __import__("dataclasses").fields(SFTConfig)]
    plain = sft_options(spec, output_dir=tmp_path, device="cpu", precision="fp32", n_rows=10,
                        fields=fields)  # fmt: skip
    assert plain["bf16"] is plain["fp16"] is plain["packing"] is False
    assert plain["save_steps"] == 3 and plain["use_cpu"] is True
    assert "train_sampling_strategy" not in plain and "group_by_length" not in plain
    grouped = sft_options({**spec, "group_by_length": True, "packing": True}, output_dir=tmp_path,
                          device="cuda", precision="bf16", n_rows=10, fields=fields)  # fmt: skip
    assert grouped["bf16"] is True and grouped["use_cpu"] is False
    assert grouped["packing"] is True and grouped["save_strategy"] == "epoch"
    if "train_sampling_strategy" in fields:  # transformers 5
        assert grouped["train_sampling_strategy"] == "group_by_length"
    else:
        assert grouped["group_by_length"] is True
    SFTConfig(**{**grouped, "use_cpu": True, "bf16": False})  # TRL takes them
    old = sft_options(spec, output_dir=tmp_path, device="cpu", precision="fp16", n_rows=10,
                      fields=["group_by_length"])  # fmt: skip
    assert old["fp16"] is True


def test_batching_enters_the_training_spec_only_when_on():
    args = dict(model="m", fingerprint="f", settings={"epochs": 1, "learning_rate": 1e-4,
                "batch_size": 2, "grad_accum": 1, "max_seq_len": 8}, lora=None, seed=0)  # fmt: skip
    plain = training_spec(**args)
    assert training_spec(**args, batching={"packing": False, "group_by_length": False}) == plain
    on = training_spec(**args, batching={"packing": True, "group_by_length": False})
    assert on == {**plain, "packing": True}


# ---------------------------------------------------------------- the pool's queue (fast)
def _fake_job(root, job_id, created, status=None, **state):
    jdir = root / "jobs" / job_id
    jdir.mkdir(parents=True)
    (jdir / "job.json").write_text(json.dumps({"job_id": job_id, "created_at": created}))
    spec = {"source": {"kind": "dir", "path": "/m", "gguf_file": None}, "cache_dir": None,
            "device": "cpu", "lora": {"r": 4}, "precision": state.pop("precision", "auto")}  # fmt: skip
    (jdir / "spec.json").write_text(json.dumps(spec))
    if status:
        (jdir / "state.json").write_text(json.dumps({"status": status, **state}))
    return jdir


def test_a_pool_worker_claims_the_oldest_open_job_on_its_base_first(tmp_path):
    from dataquality_thresholds.backends._workers import try_lock
    from dataquality_thresholds.backends.hf._worker import _job_key

    _fake_job(tmp_path, "a-done", "2026-01-01T00:00:00", "succeeded")
    _fake_job(tmp_path, "b-cancelled", "2026-01-01T00:00:01", "cancelled")
    _fake_job(tmp_path, "c-died-often", "2026-01-01T00:00:02", "running", attempt=3)
    other = _fake_job(tmp_path, "d-bf16", "2026-01-01T00:00:03", precision="bf16")
    died = _fake_job(tmp_path, "e-died-once", "2026-01-01T00:00:04", "running", attempt=1)
    queued = _fake_job(tmp_path, "f-queued", "2026-01-01T00:00:05", "queued")
    jobs = tmp_path / "jobs"
    (jobs / "0-broken").mkdir()
    (jobs / "0-broken" / "job.json").write_text("{half a file")  # skipped, not fatal
    first = _claim(jobs, None, max_restarts=2)
    assert first is not None and first[0] == other  # oldest open job
    first[1].close()
    mine = _job_key(died)
    assert mine is not None and _job_key(other) != mine
    claim = _claim(jobs, mine, max_restarts=2)
    assert claim is not None and claim[0] == died  # the loaded base's jobs first
    second = _claim(jobs, mine, max_restarts=2)  # "died" is locked by the first claim
    assert second is not None and second[0] == queued
    claim[1].close()
    second[1].close()
    held = try_lock(other / "worker.lock")  # another worker trains it
    claim = _claim(jobs, None, max_restarts=2)
    assert claim is not None and claim[0] == died
    claim[1].close()
    held.close()


def test_cancelling_a_queued_job_marks_it_and_no_worker_starts_it(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(HFBackend, "_start_pool", lambda self: None)
    backend = _backend(tiny, tmp_path / "out")
    first = backend.submit(_mix(0.5), key="a")
    second = backend.submit(_mix(1.0), key="b")
    assert first.status == second.status == "queued"
    cancelled = backend.cancel(second)
    assert cancelled.status == "cancelled"
    assert (backend.job_dir(second.job_id) / "cancel").is_file()
    assert backend.refresh(first).status == "queued"  # the other job is untouched
    claim = _claim(tmp_path / "out" / "jobs", None, max_restarts=2)
    assert claim is not None and claim[0].name == first.job_id
    claim[1].close()
    with pytest.raises(FineTuneJobError) as err:
        backend.wait(second, poll_interval=0.01)
    assert err.value.code == "cancelled"


# ---------------------------------------------------------------- restoring the base (fast)
def test_the_loaded_base_is_restored_after_a_lora_or_a_full_finetune(tiny):
    from peft import LoraConfig, get_peft_model

    spec = {"source": {"kind": "dir", "path": str(tiny), "gguf_file": None}, "cache_dir": None}
    base = LoadedBase(spec, device="cpu", dtype=None, track=True)
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    assert base.pristine()
    # a LoRA job: layers injected, the forward patched, grads and flags left behind
    model = base.lend(full=False)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    peft(input_ids=torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]])).loss.backward()
    model.forward = lambda *a, **k: None
    model.config.pad_token_id = 7
    assert not base.pristine()
    base.restore()
    assert base.pristine() and "forward" not in vars(base.model)
    assert not hasattr(base.model, "peft_config")
    assert all(p.requires_grad and p.grad is None for p in base.model.parameters())
    assert base.model.config.pad_token_id != 7
    # a full fine-tune: weights changed in place are copied back
    model = base.lend(full=True)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    assert not base.pristine()
    base.restore()
    assert base.pristine()
    after = base.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # a change restore cannot undo is noticed (the worker then loads the base again)
    with torch.no_grad():
        next(base.model.parameters()).view(-1)[0] += 1e-6
    base._full_copy = None
    base.restore()
    assert not base.pristine()


# ---------------------------------------------------------------- training (slow)
@pytest.mark.slow
def test_one_pool_worker_trains_jobs_like_fresh_processes(tiny, tmp_path):
    """Two jobs in one process give the adapters that two fresh processes give."""
    mixtures = {"a": _mix(0.5), "b": _mix(1.0)}
    adapters = {}
    pids = {}
    for reuse in (False, True):
        backend = _backend(tiny, tmp_path / f"reuse-{reuse}", reuse_worker=reuse)
        jobs = [backend.submit(m, key=k) for k, m in mixtures.items()]
        done = [backend.wait(j, poll_interval=0.2, timeout=300) for j in jobs]
        assert all(d.succeeded for d in done)
        adapters[reuse] = [_adapter(backend, d) for d in done]
        pids[reuse] = [_state(backend, d)["pid"] for d in done]
        if reuse:  # jobs submitted in the same second: either may go first
            first, second = sorted(done, key=lambda d: "its job 2" in " ".join(d.events))
            assert any("base model already loaded (job 2 on it)" in e for e in second.events)
            assert second.metrics["load_seconds"] == 0 < first.metrics["load_seconds"]
            assert "training on cpu (fp32)" in " ".join(second.events)
        backend.close()
    assert pids[True][0] == pids[True][1] and pids[False][0] != pids[False][1]
    for fresh, pooled in zip(adapters[False], adapters[True], strict=True):
        assert fresh.keys() == pooled.keys() and fresh
        for name in fresh:
            torch.testing.assert_close(pooled[name], fresh[name], rtol=1e-5, atol=1e-6)
    # the two jobs learned different things (the comparison is not vacuous)
    name = next(iter(adapters[True][0]))
    assert not torch.equal(adapters[True][0][name], adapters[True][1][name])


@pytest.mark.slow
def test_cancel_in_a_pool_worker_stops_one_job_and_the_worker_goes_on(tiny, tmp_path):
    backend = _backend(tiny, tmp_path / "out", batch_size=1, save_steps=1)
    long = backend.submit(_mix(0.5, n=8), key="long", hyperparameters={"n_epochs": 20})
    queued = backend.submit(_mix(1.0), key="queued")
    last = backend.submit(_mix(0.0), key="last")
    assert backend.cancel(queued).status == "cancelled"  # never starts
    deadline = time.monotonic() + 300
    while backend.refresh(long).metrics.get("step", 0) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stopped = backend.cancel(long)
    assert stopped.status == "cancelled"
    assert any("cancelled at step" in e for e in stopped.events)
    assert stopped.metrics["step"] < stopped.metrics["max_steps"] == 160
    done = backend.wait(last, poll_interval=0.2, timeout=300)
    assert done.succeeded
    assert _state(backend, done)["pid"] == _state(backend, long)["pid"]  # the same worker
    assert not (backend.job_dir(queued.job_id) / "model").exists()
    assert backend.cancel(done) == backend.refresh(done)  # finished: unchanged
    backend.close()


@pytest.mark.slow
def test_a_stopped_pool_worker_requeues_its_job_which_resumes(tiny, tmp_path):
    backend = _backend(tiny, tmp_path / "out", batch_size=1, save_steps=1)
    job = backend.submit(_mix(0.5, n=8), key="resume", hyperparameters={"n_epochs": 2})
    deadline = time.monotonic() + 300
    while backend.refresh(job).metrics.get("step", 0) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    backend.close()  # SIGTERM to the pool worker
    state = _state(backend, job)
    assert state["status"] == "queued" and "worker stopped" in state["events"][-1]
    done = backend.wait(job, poll_interval=0.2, timeout=300)  # a new worker picks it up
    assert done.succeeded and done.metrics["step"] == done.metrics["max_steps"] == 16
    assert any("attempt 2" in e for e in done.events)
    assert any("resume from checkpoint-" in e for e in done.events)
    backend.close()


@pytest.mark.slow
def test_packing_and_group_by_length_train(tiny, tmp_path):
    backend = _backend(tiny, tmp_path / "out", packing=True, group_by_length=True,
                       reuse_worker=False)  # fmt: skip
    done = backend.wait(backend.submit(_mix(0.5), key="packed"), poll_interval=0.2, timeout=300)
    assert done.succeeded
    assert "packing, group_by_length" in " ".join(done.events)
    # six rows of ~45 tokens pack into fewer than six sequences of 128: one step of 4
    assert done.metrics["max_steps"] < 2
    assert done.hyperparameters["packing"] is True
