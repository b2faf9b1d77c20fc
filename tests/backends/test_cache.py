"""The SQLite completion cache: keys, reopen, concurrent writers, no secrets on disk."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from dataquality_thresholds.backends import CompletionCache, cache_key
from dataquality_thresholds.errors import ConfigError, SchemaVersionError
from dataquality_thresholds.records import Completion, Message

MSGS = (Message("user", "hello"),)


def _key(**over: object) -> str:
    kw: dict[str, object] = {
        "base_url": "http://x/v1",
        "model": "m",
        "messages": MSGS,
        "params": {"temperature": 1.0, "seed": 1},
        "index": 0,
    }
    kw.update(over)
    return cache_key(**kw)  # type: ignore[arg-type]


def test_key_is_stable_and_sensitive() -> None:
    k = _key()
    assert len(k) == 64 and k == _key()
    assert _key(base_url="http://x/v1/") == k  # trailing slash ignored
    assert _key(messages=[{"role": "user", "content": "hello"}]) == k
    assert _key(params={"seed": 1, "temperature": 1.0}) == k  # order-free
    assert _key(params={"temperature": 1.0, "seed": 1, "max_tokens": None}) == k
    for other in (
        _key(base_url="http://y/v1"),
        _key(model="m2"),
        _key(messages=(Message("user", "hello!"),)),
        _key(params={"temperature": 0.5, "seed": 1}),
        _key(params={"temperature": 1.0, "seed": 2}),
        _key(index=1),
    ):
        assert other != k


def test_unhashable_params_refused() -> None:
    with pytest.raises(ConfigError):
        _key(params={"x": object()})
    with pytest.raises(ConfigError):
        _key(params={"x": float("nan")})


def test_roundtrip_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    c = Completion(
        text="hi",
        model="m",
        index=2,
        finish_reason="stop",
        prompt_tokens=3,
        completion_tokens=1,
        info={"a": "b"},
        top_logprobs=[[("80", -0.2), ("90", -1.9)]],
    )
    with CompletionCache(path) as cache:
        cache.put("k1", c)
        cache.put("k1", Completion(text="other", model="m"))  # first answer wins
        assert len(cache) == 1 and "k1" in cache and "k2" not in cache
    with CompletionCache(path) as cache:
        assert cache.get("k1") == c
        assert cache.get("k2") is None
        assert cache.get_many(["k1", "k2", "k1"]) == {"k1": c}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    CompletionCache(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError):
        CompletionCache(path)


def test_concurrent_threads(tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path / "c.sqlite")
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(50):
                cache.put(f"t{t}-{i}", Completion(text=f"{t}-{i}", model="m"))
                cache.put(f"shared-{i}", Completion(text=f"{t}", model="m"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(cache) == 8 * 50 + 50
    cache.close()


def _process_writer(path: str, w: int) -> None:
    with CompletionCache(path) as cache:
        for i in range(0, 40, 4):
            cache.put_many(
                [(f"p{w}-{j}", Completion(text=str(j), model="m")) for j in range(i, i + 4)]
            )
            cache.put(f"shared-{i}", Completion(text=str(w), model="m"))


def test_concurrent_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    CompletionCache(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    with CompletionCache(path) as cache:
        assert len(cache) == 3 * 40 + 10


def test_no_api_key_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-secret-DO-NOT-STORE-123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    path = tmp_path / "c.sqlite"
    with CompletionCache(path) as cache:
        cache.put(_key(), Completion(text="x", model="m"))
    for f in tmp_path.iterdir():
        assert secret.encode() not in f.read_bytes()


def test_usage_counts_a_shared_prompt_once(tmp_path: Path) -> None:
    with CompletionCache(tmp_path / "c.sqlite") as cache:
        shared = {"usage_shared_by": "2"}
        cache.put_many(
            [
                ("a", Completion(text="x", model="m", prompt_tokens=10, completion_tokens=4)),
                (
                    "b",
                    Completion(
                        text="y", model="m", prompt_tokens=10, completion_tokens=6, info=shared
                    ),
                ),
                (
                    "c",
                    Completion(
                        text="z", model="m", prompt_tokens=10, completion_tokens=6, info=shared
                    ),
                ),
                ("d", Completion(text="w", model="n")),
            ]
        )
        usage = cache.usage()
    assert usage["m"] == (20.0, 16.0, 3)  # 10 + 10/2 + 10/2 prompt tokens
    assert usage["n"] == (0.0, 0.0, 1)


def test_a_damaged_or_vanished_cache_is_a_data_error(tmp_path: Path) -> None:
    from dataquality_thresholds.errors import DataError

    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 64)
    with pytest.raises(DataError, match="damaged") as info:
        CompletionCache(bad)
    assert info.value.path == str(bad)
    folder = tmp_path / "gone"
    cache = CompletionCache(folder / "c.sqlite")
    import shutil

    shutil.rmtree(folder)
    with pytest.raises(DataError, match="gone"):
        cache.put("k", Completion(text="x", model="m"))
    cache.close()


def test_the_schema_is_checkpointed_into_the_main_file(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = CompletionCache(path)
    cache.put("k", Completion(text="x", model="m"))
    # a process killed now leaves the -wal file; losing it must not lose the schema
    Path(str(path) + "-wal").unlink(missing_ok=True)
    Path(str(path) + "-shm").unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {"meta", "completions"} <= tables
    cache.close()
