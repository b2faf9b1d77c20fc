"""A SQLite store of sampled completions, so that rerunning the same work costs nothing.

Each sample is stored under a key: the sha256 of a canonical JSON document of
``(base_url, model, messages, sampling parameters, sample index)``. The number
of samples ``n`` is *not* part of the key, so asking for 10 samples after 5
were cached requests only the 5 missing ones. The API key is never part of the
key nor of what is stored: only what the model was asked and what it answered.

The database uses WAL journaling and a busy timeout, and writes with
``INSERT OR IGNORE``: many threads (one connection each) and many processes
may read and write one file at once; the first answer stored for a key wins.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from dataquality_thresholds.errors import ConfigError, DataError, SchemaVersionError
from dataquality_thresholds.records import Completion, Message

__all__ = ["CACHE_SCHEMA_VERSION", "CompletionCache", "cache_key"]

#: Version of the cache's table layout and value format.
CACHE_SCHEMA_VERSION = 1
#: Version of the key derivation (part of the hashed document).
_KEY_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def _message_dict(m: Message | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(m, Message):
        d: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.weight is not None:
            d["weight"] = m.weight
        return d
    return dict(m)


def cache_key(
    *,
    base_url: str | None,
    model: str,
    messages: Sequence[Message | Mapping[str, Any]],
    params: Mapping[str, Any],
    index: int,
) -> str:
    """Return the cache key of one sample.

    Parameters
    ----------
    base_url : str or None
        The endpoint (trailing slashes ignored); None for the default endpoint.
    model : str
        The model asked.
    messages : sequence of Message or mapping
        The conversation sent.
    params : mapping
        Sampling parameters that change the answer (temperature, max_tokens,
        seed, top_logprobs ...). Not ``n``, and never credentials.
    index : int
        Which sample (0-based) among those for the same request.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    ConfigError
        Something is not JSON-serialisable (the key would not be stable, so
        we refuse rather than cache under a random key).
    """
    doc = {
        "v": _KEY_VERSION,
        "base_url": (base_url or "").rstrip("/"),
        "model": model,
        "messages": [_message_dict(m) for m in messages],
        "params": {k: params[k] for k in sorted(params) if params[k] is not None},
        "index": int(index),
    }
    try:
        text = json.dumps(doc, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot build a stable cache key: {exc}", field="params") from exc
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def completion_to_json(c: Completion) -> dict[str, Any]:
    """Return a JSON-safe dict of a completion (the cache's value format)."""
    d: dict[str, Any] = {
        "text": c.text,
        "model": c.model,
        "index": c.index,
        "finish_reason": c.finish_reason,
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "info": dict(c.info),
    }
    top = getattr(c, "top_logprobs", None)
    if top is not None:
        d["top_logprobs"] = [[[t, lp] for t, lp in pos] for pos in top]
    return d


def completion_from_json(d: Mapping[str, Any]) -> Completion:
    """Inverse of :func:`completion_to_json`."""
    kw: dict[str, Any] = {k: d.get(k) for k in ("text", "model", "index", "finish_reason")}
    kw["prompt_tokens"] = d.get("prompt_tokens")
    kw["completion_tokens"] = d.get("completion_tokens")
    kw["info"] = d.get("info") or {}
    if d.get("top_logprobs") is not None:
        kw["top_logprobs"] = tuple(
            tuple((str(t), float(lp)) for t, lp in pos) for pos in d["top_logprobs"]
        )
    return Completion(**kw)


class CompletionCache:
    """Completions by key, in one SQLite file (WAL), safe across threads and processes.

    Parameters
    ----------
    path : str or Path
        The database file (created with its parent folder if missing).
    timeout : float
        Seconds a writer waits for a lock held by another connection.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from dataquality_thresholds.records import Completion
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with CompletionCache(pathlib.Path(d) / "c.sqlite") as cache:
    ...         k = cache_key(base_url=None, model="m", messages=[], params={}, index=0)
    ...         cache.put(k, Completion(text="hi", model="m"))
    ...         cache.get(k).text
    'hi'
    """

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout = float(timeout)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        self._check_schema(conn)

    def __repr__(self) -> str:
        return f"CompletionCache({str(self.path)!r})"

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - e.g. some network file systems
                raise DataError(
                    f"cannot enable WAL journaling (got {mode!r}); put the cache on a local disk",
                    path=self.path,
                )
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        for attempt in range(50):
            try:
                conn.executescript(_DDL)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', ?)",
                    (str(CACHE_SCHEMA_VERSION),),
                )
                break
            except sqlite3.OperationalError:  # pragma: no cover - contention at creation
                if attempt == 49:
                    raise
                time.sleep(0.05)
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        found = int(row[0])
        if found > CACHE_SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the cache was written by a newer version (schema {found}); upgrade "
                "dataquality_thresholds or use another cache file",
                found=found,
                supported=CACHE_SCHEMA_VERSION,
                path=self.path,
            )

    def get(self, key: str) -> Completion | None:
        """Return the completion stored under ``key``, or None."""
        row = self._conn().execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
        return None if row is None else completion_from_json(json.loads(row[0]))

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        """Return the stored completions among ``keys`` (missing keys are absent)."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, Completion] = {}
        conn = self._conn()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for k, v in conn.execute(
                f"SELECT key, value FROM completions WHERE key IN ({marks})", chunk
            ):
                out[k] = completion_from_json(json.loads(v))
        return out

    def put(self, key: str, completion: Completion) -> None:
        """Store ``completion`` under ``key`` unless something is stored already."""
        self.put_many([(key, completion)])

    def put_many(self, items: Iterable[tuple[str, Completion]]) -> None:
        """Store many completions in one transaction (first answer per key wins)."""
        now = time.time()
        rows = [
            (k, c.model, json.dumps(completion_to_json(c), sort_keys=True, allow_nan=False), now)
            for k, c in items
        ]
        if not rows:
            return
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR IGNORE INTO completions (key, model, value, created) VALUES (?,?,?,?)",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def __contains__(self, key: object) -> bool:
        return (
            self._conn().execute("SELECT 1 FROM completions WHERE key = ?", (key,)).fetchone()
            is not None
        )

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()
        self._local = threading.local()

    def __enter__(self) -> CompletionCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __reduce__(self) -> Any:
        return (type(self), (self.path,), None)
