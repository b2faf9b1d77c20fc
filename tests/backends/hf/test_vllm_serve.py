"""The served sampling path: HFBackend's adapters in vLLM's server (FakeVLLMServer stands in)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import openai
import pytest

from dataquality_thresholds.backends import CompletionCache
from dataquality_thresholds.backends.hf import (
    VLLM_LORA_RANKS,
    AdapterLoadError,
    HFBackend,
    LoRASpec,
    ServedHFBackend,
    VLLMSampler,
    vllm_serve_command,
)
from dataquality_thresholds.errors import BackendError, BackendUnavailableError, ConfigError
from dataquality_thresholds.testing import FakeVLLMServer

BASE = "org/tiny-chat"


def make_backend(tmp_path: Path, **kwargs) -> HFBackend:
    kwargs.setdefault("lora", LoRASpec(r=8))
    return HFBackend(kwargs.pop("base_model", BASE), output_dir=tmp_path / "hf", **kwargs)


def finished_job(backend: HFBackend, key: str, *, rank: int = 8, lora: bool = True) -> str:
    """Write what a finished job leaves in ``job_dir/model``; return its model name."""
    job_id = backend.job_id_for(key)
    model_dir = backend.job_dir(job_id) / "model"
    model_dir.mkdir(parents=True)
    if lora:
        (model_dir / "adapter_config.json").write_text(json.dumps({"r": rank}))
    else:
        (model_dir / "config.json").write_text("{}")
    return backend.model_name(job_id)


@pytest.fixture
def backend(tmp_path):
    return make_backend(tmp_path)


@pytest.fixture
def server():
    with FakeVLLMServer(BASE) as srv:
        yield srv


# ---------------------------------------------------------------------- the command


def test_serve_command_for_a_hub_model(tmp_path):
    backend = make_backend(tmp_path, lora=LoRASpec(r=12))
    cmd = backend.serve_command(port=8123)
    assert cmd == [
        "env", "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True", "vllm", "serve", BASE,
        "--served-model-name", BASE, "--enable-lora", "--max-lora-rank", "16",
        "--max-loras", "4", "--port", "8123",
    ]  # fmt: skip
    line = shlex.join(backend.serve_command(
        host="0.0.0.0", max_loras=8, max_cpu_loras=32, gpu_memory_utilization=0.4,
        extra_args=["--max-model-len", "2048"],
    ))  # fmt: skip
    assert line.endswith(
        "--max-lora-rank 16 --max-loras 8 --max-cpu-loras 32 --host 0.0.0.0 --port 8000 "
        "--gpu-memory-utilization 0.4 --max-model-len 2048"
    )


@pytest.mark.parametrize(("r", "rank"), [(1, 8), (8, 8), (32, 32), (33, 64), (300, 320)])
def test_max_lora_rank_is_the_lora_rank_rounded_up_to_a_vllm_value(tmp_path, r, rank):
    cmd = make_backend(tmp_path, lora=LoRASpec(r=r)).serve_command()
    assert cmd[cmd.index("--max-lora-rank") + 1] == str(rank)
    assert rank in VLLM_LORA_RANKS


def test_bad_serve_settings_are_config_errors(tmp_path):
    backend = make_backend(tmp_path, lora=LoRASpec(r=32))
    for options in (
        {"max_lora_rank": 16},  # below the adapters' rank
        {"max_lora_rank": 48},  # not a value vLLM accepts
        {"max_loras": 0},
        {"gpu_memory_utilization": 1.5},
    ):
        with pytest.raises(ConfigError):
            backend.serve_command(**options)
    with pytest.raises(ConfigError, match="above vLLM's largest"):
        make_backend(tmp_path, lora=LoRASpec(r=1024)).serve_command()
    with pytest.raises(ConfigError, match="fine-tunes all weights") as info:
        make_backend(tmp_path, lora=None).serve_command()
    assert info.value.field == "lora"


def test_a_local_folder_base_is_served_from_its_path_under_the_backends_name(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    backend = make_backend(tmp_path, base_model=str(folder))
    cmd = vllm_serve_command(backend)
    assert cmd[4] == str(folder.resolve())
    assert cmd[cmd.index("--served-model-name") + 1] == str(folder)


def test_a_gguf_base_is_served_from_its_original_repository(tmp_path):
    smol = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"  # the known file, by name
    smol.write_bytes(b"")
    assert make_backend(tmp_path, base_model=str(smol)).serve_command()[4] == (
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    other = tmp_path / "mystery.Q4_K_M.gguf"
    other.write_bytes(b"")
    backend = make_backend(tmp_path, base_model=str(other))
    with pytest.raises(ConfigError, match="base='org/name'") as info:
        backend.serve_command()
    assert info.value.field == "base"
    assert backend.serve_command(base="org/mystery")[4] == "org/mystery"


def test_a_gguf_base_without_a_known_repository_falls_back_to_the_dequantised_copy(tmp_path):
    from dataquality_thresholds.backends.hf._common import _source_key

    other = tmp_path / "mystery.gguf"
    other.write_bytes(b"")
    backend = make_backend(tmp_path, base_model=str(other))
    cached = backend.cache_dir / _source_key(backend.source)
    cached.mkdir(parents=True)
    (cached / "config.json").write_text("{}")
    assert backend.serve_command()[4] == str(cached)


# ---------------------------------------------------------------------- sampling


def test_an_adapter_loads_once_on_first_use_and_samples_under_its_name(backend, server):
    model = finished_job(backend, "finance/0.5")
    sampler = backend.served_sampler(server.base_url)
    assert isinstance(sampler, VLLMSampler)
    rows = sampler.complete(model, ["q1", "q2"], n=2, temperature=1.0)
    assert [[c.text for c in row] for row in rows] == [
        [f"fake answer 0 from {model}", f"fake answer 1 from {model}"]
    ] * 2
    sampler.complete(model, ["q3"])
    path = str((backend.job_dir(model.rsplit(":", 1)[-1]) / "model").resolve())
    assert server.adapters == {model: path}
    assert server.load_calls == 1 and sampler.admin.loads == 1
    # a second sampler finds it listed and loads nothing
    other = backend.served_sampler(server.base_url)
    other.complete(model, ["q4"])
    assert other.load_adapter(model) is False
    assert server.load_calls == 1
    # the base model needs no adapter
    assert sampler.complete(BASE, ["hi"])[0][0].text == f"fake answer 0 from {BASE}"
    assert server.load_calls == 1


def test_another_process_finds_the_adapter_loaded(backend, server):
    model = finished_job(backend, "k")
    backend.served_sampler(server.base_url).load_adapter(model)
    script = textwrap.dedent(
        f"""
        from dataquality_thresholds.backends.hf import HFBackend, LoRASpec
        backend = HFBackend({BASE!r}, output_dir={str(backend.output_dir)!r}, lora=LoRASpec(r=8))
        sampler = backend.served_sampler({server.base_url!r})
        print(sampler.complete({model!r}, ["from the child"])[0][0].text)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"fake answer 0 from {model}"
    assert server.load_calls == 1


def test_a_second_run_with_the_cache_sends_no_request(backend, server, tmp_path):
    model = finished_job(backend, "k")
    cache = tmp_path / "completions.sqlite"
    first = backend.served_sampler(server.base_url, cache=cache)
    answers = first.complete(model, ["a", "b", "c"], n=2, temperature=0.7, seed=1)
    first.close()
    sent = len(server.requests)
    assert sent > 0
    server.restart()  # even a server that lost the adapter is not asked: nothing to fetch
    again = backend.served_sampler(server.base_url, cache=CompletionCache(cache))
    assert again.complete(model, ["a", "b", "c"], n=2, temperature=0.7, seed=1) == answers
    assert len(server.requests) == sent
    assert again.requests_sent == 0 and again.cache_hits == 6


def test_a_restarted_server_gets_the_adapter_again(backend, server):
    model = finished_job(backend, "k")
    sampler = backend.served_sampler(server.base_url)
    sampler.complete(model, ["a"])
    server.restart()
    assert sampler.complete(model, ["b"])[0][0].text == f"fake answer 0 from {model}"
    assert server.load_calls == 2


def test_unknown_adapter_is_a_typed_error_naming_adapter_and_path(backend, server):
    model = backend.model_name(backend.job_id_for("never-trained"))
    sampler = backend.served_sampler(server.base_url)
    with pytest.raises(AdapterLoadError, match="no adapter") as info:
        sampler.complete(model, ["q"])
    assert info.value.adapter == model
    assert info.value.path.endswith("/model") and info.value.path in str(info.value)
    assert server.load_calls == 0 and server.count("POST", "/chat/completions") == 0


def test_a_full_fine_tune_is_refused_before_asking_the_server(backend, server):
    model = finished_job(backend, "full", lora=False)
    with pytest.raises(AdapterLoadError, match="full fine-tune"):
        backend.served_sampler(server.base_url).complete(model, ["q"])
    assert server.load_calls == 0


def test_the_servers_refusals_become_adapter_load_errors(tmp_path):
    backend = make_backend(tmp_path, lora=LoRASpec(r=64))
    model = finished_job(backend, "big", rank=64)
    with FakeVLLMServer(BASE, max_lora_rank=16) as srv:
        with pytest.raises(AdapterLoadError, match="max-lora-rank") as info:
            backend.served_sampler(srv.base_url).complete(model, ["q"])
        assert info.value.status == 400 and info.value.adapter == model
    with (
        FakeVLLMServer(BASE, runtime_lora_updating=False) as srv,
        pytest.raises(AdapterLoadError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"),
    ):
        backend.served_sampler(srv.base_url).load_adapter(model)


def test_another_adapter_under_the_same_name_is_refused(backend):
    model = finished_job(backend, "k")
    with FakeVLLMServer(BASE, lora_modules={model: "/elsewhere/model"}) as srv:
        with pytest.raises(AdapterLoadError, match="/elsewhere/model"):
            backend.served_sampler(srv.base_url).complete(model, ["q"])
        assert srv.load_calls == 0


def test_already_loaded_between_listing_and_loading_is_fine(backend, server):
    model = finished_job(backend, "k")
    sampler = backend.served_sampler(server.base_url)
    path = backend.job_dir(model.rsplit(":", 1)[-1]) / "model"
    assert sampler.admin.load(model, path.resolve(), known={}) is True
    # a stale listing (another process loaded it meanwhile): the 400 is confirmed, not raised
    assert sampler.admin.load(model, path.resolve(), known={}) is False
    assert server.load_calls == 2 and list(server.adapters) == [model]


def test_unknown_plain_model_is_the_servers_404(backend, server):
    with pytest.raises(BackendError, match="404"):
        backend.served_sampler(server.base_url, max_retries=0).complete("no-such-model", ["q"])
    assert server.load_calls == 0


def test_unreachable_server_is_backend_unavailable(backend, server):
    model = finished_job(backend, "k")
    url = server.base_url
    server.stop()
    with pytest.raises(BackendUnavailableError, match="cannot reach the vLLM server"):
        backend.served_sampler(url).load_adapter(model)


def test_unload_and_list(backend, server):
    model = finished_job(backend, "k")
    sampler = backend.served_sampler(server.base_url)
    assert sampler.load_adapter(model) is True
    assert list(sampler.loaded_adapters()) == [model]
    assert sampler.unload_adapter(model) is True
    assert sampler.unload_adapter(model) is False
    assert sampler.loaded_adapters() == {}


def test_sampler_options(backend, server):
    with pytest.raises(ConfigError, match="Batch API"):
        backend.served_sampler(server.base_url, batch=True)
    with pytest.raises(ConfigError, match="base_url"):
        backend.served_sampler("")
    sampler = backend.served_sampler(server.base_url, api_key="secret-key")
    assert "secret-key" not in repr(sampler) and "secret-key" not in repr(sampler.admin)


def test_served_backend_gives_a_study_the_served_sampler_with_its_cache(backend, server, tmp_path):
    model = finished_job(backend, "k")
    served = ServedHFBackend(backend, server.base_url, max_concurrency=4)
    assert served.name == "hf" and served.job_dir("x") == backend.job_dir("x")
    cache = CompletionCache(tmp_path / "run.sqlite")
    sampler = served.sampler(cache=cache)  # what a Study's run does
    assert isinstance(sampler, VLLMSampler)
    assert sampler.cache is cache and sampler.max_concurrency == 4
    assert sampler.complete(model, ["q"])[0][0].text == f"fake answer 0 from {model}"


# ---------------------------------------------------------------------- the fake


def test_fake_vllm_server_speaks_the_adapter_routes(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
    with FakeVLLMServer("base") as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="EMPTY", max_retries=0)
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            client.chat.completions.create(model="a1", messages=[{"role": "user", "content": "x"}])
        ok = client.post("/load_lora_adapter", cast_to=bytes,
                         body={"lora_name": "a1", "lora_path": str(adapter)})  # fmt: skip
        assert ok.startswith(b"Success")
        with pytest.raises(openai.BadRequestError, match="already been loaded"):
            client.post("/load_lora_adapter", cast_to=bytes,
                        body={"lora_name": "a1", "lora_path": str(adapter)})  # fmt: skip
        with pytest.raises(openai.NotFoundError, match="No adapter found"):
            client.post("/load_lora_adapter", cast_to=bytes,
                        body={"lora_name": "a2", "lora_path": str(tmp_path / "none")})  # fmt: skip
        cards = {m.id: m for m in client.models.list()}
        assert set(cards) == {"base", "a1"}
        reply = client.chat.completions.create(
            model="a1", messages=[{"role": "user", "content": "x"}]
        )
        assert reply.choices[0].message.content == "fake answer 0 from a1"
        client.post("/unload_lora_adapter", cast_to=bytes, body={"lora_name": "a1"})
        with pytest.raises(openai.NotFoundError, match="cannot be found"):
            client.post("/unload_lora_adapter", cast_to=bytes, body={"lora_name": "a1"})
        assert srv.adapters == {} and srv.load_calls == 3
