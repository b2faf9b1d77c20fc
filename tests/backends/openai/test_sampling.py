"""OpenAISampler through the real openai client against FakeOpenAIServer, and its engine."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dataquality_thresholds.backends import CompletionCache, Sampler
from dataquality_thresholds.backends.openai import (
    BatchError,
    ChatSampler,
    OpenAISampler,
    RetryableError,
)
from dataquality_thresholds.errors import BackendError, BackendUnavailableError, ConfigError
from dataquality_thresholds.records import EvalItem, Message
from dataquality_thresholds.testing import FakeOpenAIServer
from dataquality_thresholds.testing._fake_state import ApiError

CHAT = r"/chat/completions"


class Recorder:
    """A responder that records what it was asked and answers from the prompt."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        n: int = 1,
        temperature: float = 1.0,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> list[str]:
        with self.lock:
            self.calls.append(
                {
                    "model": model,
                    "messages": messages,
                    "n": n,
                    "seed": seed,
                    "max_tokens": max_tokens,
                }
            )
        last = messages[-1]["content"]
        if "bad" in last:
            raise ApiError(400, f"cannot answer {last!r}", code="invalid_prompt")
        return [f"{last} #{i} seed={seed}" for i in range(n)]


@pytest.fixture
def server() -> Any:
    rec = Recorder()
    with FakeOpenAIServer(responder=rec) as fake:
        fake.recorder = rec  # type: ignore[attr-defined]
        yield fake


def make(server: FakeOpenAIServer, **kw: Any) -> OpenAISampler:
    kw.setdefault("backoff", 0.01)
    return OpenAISampler(base_url=server.base_url, api_key="sk-test", **kw)


def test_protocol_and_basic_sampling(server: FakeOpenAIServer) -> None:
    s = make(server)
    assert isinstance(s, Sampler)
    item = EvalItem(id="e", domain="d", prompt="item prompt")
    rows = s.complete("m", ["hi", [Message("user", "there")], item], n=2, seed=7, max_tokens=5)
    assert [[c.text for c in r] for r in rows] == [
        ["hi #0 seed=7", "hi #1 seed=7"],
        ["there #0 seed=7", "there #1 seed=7"],
        ["item prompt #0 seed=7", "item prompt #1 seed=7"],
    ]
    assert [c.index for c in rows[0]] == [0, 1]
    c = rows[0][0]
    assert c.model == "m" and c.finish_reason == "stop"
    assert c.prompt_tokens == 1 and c.completion_tokens == 3
    calls = server.recorder.calls  # type: ignore[attr-defined]
    assert {(x["n"], x["seed"], x["max_tokens"]) for x in calls} == {(2, 7, 5)}
    assert server.count("POST", CHAT) == 3


def test_cache_rerun_makes_no_request(server: FakeOpenAIServer, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    prompts = [f"p{i}" for i in range(10)]
    first = make(server, cache=path).complete("m", prompts, n=2, temperature=0.7)
    sent = server.count("POST", CHAT)
    assert sent == 10
    s2 = make(server, cache=CompletionCache(path))
    again = s2.complete("m", prompts, n=2, temperature=0.7)
    assert again == first
    assert server.count("POST", CHAT) == sent and s2.requests_sent == 0
    assert s2.cache_hits == 20
    # more samples: only the missing ones are asked for (unseeded)
    more = s2.complete("m", prompts[:1], n=3, temperature=0.7)
    assert more[0][:2] == first[0] and server.count("POST", CHAT) == sent + 1
    assert server.recorder.calls[-1]["n"] == 1  # type: ignore[attr-defined]
    # other parameters are other work
    s2.complete("m", prompts[:1], n=2, temperature=0.5)
    assert server.count("POST", CHAT) == sent + 2
    # the key is never on disk
    for f in tmp_path.iterdir():
        assert b"sk-test" not in f.read_bytes()


def test_duplicate_prompts_sent_once(server: FakeOpenAIServer) -> None:
    rows = make(server).complete("m", ["same", "same", "other"])
    assert rows[0] == rows[1] and server.count("POST", CHAT) == 2


def test_retry_after_honoured_and_retries_not_stacked(server: FakeOpenAIServer) -> None:
    server.add_fault(method="POST", path=CHAT, status=429, retry_after=0.4, times=1)
    t0 = time.monotonic()
    rows = make(server).complete("m", ["hi"])
    assert time.monotonic() - t0 >= 0.4
    assert rows[0][0].text == "hi #0 seed=None"
    assert server.count("POST", CHAT) == 2

    server.clear_faults()
    server.add_fault(method="POST", path=CHAT, status=500, times=10)
    before = server.count("POST", CHAT)
    with pytest.raises(BackendError, match="giving up after 3 attempts"):
        make(server, max_retries=2).complete("m", ["x"])
    # exactly our 3 attempts: the SDK did not retry underneath
    assert server.count("POST", CHAT) - before == 3


def test_dropped_connection_retried(server: FakeOpenAIServer) -> None:
    server.add_fault(method="POST", path=CHAT, drop="before", times=1)
    rows = make(server).complete("m", ["hi"])
    assert rows[0][0].text.startswith("hi")


def test_final_errors_not_retried(server: FakeOpenAIServer) -> None:
    server.add_fault(method="POST", path=CHAT, status=429, code="insufficient_quota", times=5)
    with pytest.raises(BackendUnavailableError, match="quota"):
        make(server).complete("m", ["hi"])
    assert server.count("POST", CHAT) == 1
    server.clear_faults()
    with pytest.raises(BackendError, match="400"):
        make(server).complete("m", ["bad one"])
    with pytest.raises(ConfigError):
        make(server).complete("m", ["hi"], n=0)


def test_successes_cached_when_one_request_fails(server: FakeOpenAIServer, tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path / "c.sqlite")
    with pytest.raises(BackendError):
        make(server, cache=cache, max_concurrency=1).complete("m", ["a", "b", "bad", "c"])
    assert len(cache) >= 2  # whatever arrived was kept
    cache.close()


def test_works_inside_a_running_event_loop(server: FakeOpenAIServer) -> None:
    s = make(server)

    async def notebook_cell() -> list[str]:
        rows = s.complete("m", ["from a cell"])  # sync call while a loop runs
        arows = await s.acomplete("m", ["awaited"])
        return [rows[0][0].text, arows[0][0].text]

    assert asyncio.run(notebook_cell()) == ["from a cell #0 seed=None", "awaited #0 seed=None"]


def test_top_logprobs_requested_and_returned(server: FakeOpenAIServer) -> None:
    alts = [(str(v), -0.1 * i) for i, v in enumerate(range(0, 100, 4))]  # 25 alternatives
    server.responder = lambda model, messages, **kw: [{"text": "0", "top_logprobs": [alts]}]
    rows = make(server).complete("judge", ["q"], temperature=0, max_tokens=1, top_logprobs=20)
    top = rows[0][0].top_logprobs
    assert top is not None and len(top) == 1 and len(top[0]) == 20
    assert top[0][:2] == (("0", 0.0), ("4", -0.1))


def test_progress_bar(server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    make(server, progress=True).complete("m", ["a", "b"])
    assert "2/2" in capsys.readouterr().err


def test_batch_mode(server: FakeOpenAIServer, tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path / "c.sqlite")
    s = make(server, cache=cache, batch=True, batch_poll_interval=0.0)
    rows = s.complete("m", ["a", "b", "a"], n=2, seed=3)
    online = make(server).complete("m", ["a", "b", "a"], n=2, seed=3)
    assert [[c.text for c in r] for r in rows] == [[c.text for c in r] for r in online]
    assert server.count("POST", r"/batches") == 1
    lines = server.file_content(server.files[0]["id"]).decode().splitlines()
    assert len(lines) == 2  # "a" once
    # rerun: everything from the cache, no new batch
    assert s.complete("m", ["a", "b"], n=2, seed=3) == rows[:2]
    assert server.count("POST", r"/batches") == 1
    cache.close()


def test_batch_error_file_surfaced(server: FakeOpenAIServer, tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path / "c.sqlite")
    s = make(server, cache=cache, batch=True, batch_poll_interval=0.0)
    with pytest.raises(BatchError) as info:
        s.complete("m", ["good", "bad request", "fine"])
    err = info.value
    assert len(err.errors) == 1 and "cannot answer" in next(iter(err.errors.values()))
    assert err.batch_id.startswith("batch")
    assert len(cache) == 2  # the good ones are kept
    cache.close()


# ------------------------------------------------------------------ engine, without HTTP
class CountingTransport:
    """In-process transport: counts requests in flight, scripted failures."""

    def __init__(self, delay: float = 0.02, fail: int = 0, retry_after: float | None = None):
        self.delay = delay
        self.fail = fail
        self.retry_after = retry_after
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0

    async def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.fail > 0:
            self.fail -= 1
            raise RetryableError("scripted", retry_after=self.retry_after)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        n = body.get("n", 1)
        return {
            "id": "x",
            "model": body["model"],
            "choices": [
                {"index": i, "message": {"content": f"{i}"}, "finish_reason": "stop"}
                for i in range(n)
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": 1 + n},
        }

    async def aclose(self) -> None:
        pass


def test_concurrency_is_bounded() -> None:
    t = CountingTransport()
    s = ChatSampler(transport_factory=lambda: t, base_url="x", max_concurrency=5)  # type: ignore[arg-type,return-value]
    s.complete("m", [f"p{i}" for i in range(40)])
    assert t.max_in_flight == 5 and t.calls == 40


def test_engine_backoff_uses_retry_after() -> None:
    sleeps: list[float] = []
    now = [0.0]

    async def fake_sleep(x: float) -> None:
        sleeps.append(x)
        now[0] += x

    t = CountingTransport(fail=2, retry_after=7.0)
    s = ChatSampler(
        transport_factory=lambda: t,  # type: ignore[arg-type,return-value]
        base_url="x",
        sleep=fake_sleep,
        clock=lambda: now[0],
    )
    s.complete("m", ["p"])
    assert t.calls == 3
    assert now[0] >= 14.0  # two Retry-After pauses of 7 s, on the fake clock


def test_batch_adopted_after_giving_up(server: FakeOpenAIServer) -> None:
    s = make(server, batch=True, batch_poll_interval=0.0, batch_timeout=0.0)
    with pytest.raises(BackendError, match="keeps running remotely"):
        s.complete("m", ["x", "y"])
    assert server.count("POST", r"/batches") == 1
    s2 = make(server, batch=True, batch_poll_interval=0.0)
    rows = s2.complete("m", ["x", "y"])
    assert [r[0].text for r in rows] == ["x #0 seed=None", "y #0 seed=None"]
    assert server.count("POST", r"/batches") == 1  # the first batch was adopted, not paid again
    assert s2.requests_sent == 0


def test_concurrent_calls_share_the_concurrency_bound() -> None:
    t = CountingTransport(delay=0.05)
    s = ChatSampler(transport_factory=lambda: t, base_url="x", max_concurrency=4)  # type: ignore[arg-type,return-value]
    threads = [
        threading.Thread(target=s.complete, args=("m", [f"{k}-{i}" for i in range(12)]))
        for k in range(3)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert t.calls == 36 and t.max_in_flight == 4
    s.close()


def test_each_answered_request_is_committed_as_it_arrives(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    # the first request hangs; every other answer must be on disk before it returns,
    # so a process killed during the call loses none of them
    server.add_fault(method="POST", path="/chat/completions", delay=3.0, times=1)
    path = tmp_path / "cache.sqlite"
    sampler = make(server, cache=CompletionCache(path), max_concurrency=4)
    prompts = [f"question {i}" for i in range(12)]
    worker = threading.Thread(target=sampler.complete, args=("m", prompts))
    worker.start()
    deadline = time.monotonic() + 2.5
    seen = 0
    with CompletionCache(path) as reader:
        while time.monotonic() < deadline and seen < 11:
            seen = len(reader)
            time.sleep(0.02)
        assert worker.is_alive()  # the slow request is still out
    assert seen == 11
    worker.join()
    sampler.close()
