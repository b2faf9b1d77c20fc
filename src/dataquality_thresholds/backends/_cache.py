"""A SQLite store of sampled completions, so that rerunning the same work costs nothing.

Each sample is stored under a key: the sha256 of a canonical JSON document of
``(base_url, model, messages, sampling parameters, sample index)``. The number
of samples ``n`` is *not* part of the key, so asking for 10 samples after 5
were cached requests only the 5 missing ones. The API key is never part of the
key nor of what is stored: only what the model was asked and what it answered.

The database uses WAL journaling and a busy timeout, and writes with
``INSERT OR IGNORE``: many threads (one connection each) and many processes
may read and write one file at once; the first answer stored for a key wins.
The WAL is checkpointed into the main file when the schema is made, every
:data:`CHECKPOINT_EVERY` writes and on :meth:`CompletionCache.close`, so a lost
``-wal`` file costs at most that many writes. A damaged, read-only or vanished
file is a :class:`~dataquality_thresholds.errors.DataError` naming it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from dataquality_thresholds.errors import ConfigError, DataError, SchemaVersionError
from dataquality_thresholds.records import Completion, Message

__all__ = ["CACHE_SCHEMA_VERSION", "CHECKPOINT_EVERY", "CompletionCache", "cache_key", "db_error"]

#: Version of the cache's table layout and value format.
CACHE_SCHEMA_VERSION = 1
#: Version of the key derivation (part of the hashed document).
_KEY_VERSION = 1
#: Writes between two checkpoints of the WAL into the main file.
CHECKPOINT_EVERY = 64

# tokens per model, a prompt shared by n samples counted once (summed in SQLite: fast)
_USAGE_SQL = """
SELECT model,
       SUM(COALESCE(json_extract(value, '$.prompt_tokens'), 0) * 1.0
           / COALESCE(CAST(json_extract(value, '$.info.usage_shared_by') AS REAL), 1.0)),
       SUM(COALESCE(json_extract(value, '$.completion_tokens'), 0)),
       COUNT(*)
FROM completions GROUP BY model
"""

_DDL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def db_error(exc: sqlite3.Error, path: Path, what: str, remedy: str) -> DataError:
    """Translate a SQLite failure on ``path`` into a :class:`DataError` that says what to do.

    Parameters
    ----------
    exc : sqlite3.Error
        The failure.
    path : Path
        The database file.
    what : str
        What the file is ("the completion cache").
    remedy : str
        What to do when the file is damaged.

    Returns
    -------
    DataError
    """
    text = str(exc)
    low = text.lower()
    if not path.parent.is_dir() or "unable to open" in low or "disk i/o" in low:
        if not path.parent.is_dir():
            why = f"its folder {path.parent} is gone (was the run directory moved or deleted?)"
        else:
            why = "it cannot be opened (a missing or unreadable folder, or a full disk)"
        return DataError(
            f"{what} {why} (SQLite: {text}); restore the folder or use another one",
            path=path,
        )
    if "readonly" in low or "read-only" in low or "permission" in low:
        return DataError(
            f"{what} cannot be written: the file or its folder is read-only (SQLite: {text}); "
            "make it writable, or copy the folder somewhere writable and use that",
            path=path,
        )
    return DataError(f"{what} is damaged (SQLite: {text}); {remedy}", path=path)


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
        self._writes = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"cannot make the cache's folder ({exc.strerror}); use a writable path",
                path=self.path,
            ) from exc
        with self._guard():
            conn = self._conn()
            self._check_schema(conn)
            # the main file holds the schema: a lost -wal never leaves an empty cache
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Translate SQLite failures into a :class:`DataError` naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise db_error(
                exc,
                self.path,
                "the completion cache",
                "move it aside (rename it) to start an empty cache, whose answers are then "
                "requested (and paid for) again, or restore it from a backup",
            ) from exc

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
        if row is None:  # pragma: no cover - the insert above makes it
            raise sqlite3.DatabaseError("no schema_version in meta")
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
        with self._guard():
            row = (
                self._conn()
                .execute("SELECT value FROM completions WHERE key = ?", (key,))
                .fetchone()
            )
        return None if row is None else completion_from_json(json.loads(row[0]))

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        """Return the stored completions among ``keys`` (missing keys are absent)."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, Completion] = {}
        with self._guard():
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
        with self._guard():
            if not self.path.parent.is_dir():
                raise sqlite3.OperationalError("unable to open database file: folder gone")
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR IGNORE INTO completions (key, model, value, created) "
                    "VALUES (?,?,?,?)",
                    rows,
                )
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            self._writes += 1
            if self._writes % CHECKPOINT_EVERY == 0:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def usage(self) -> dict[str, tuple[float, float, int]]:
        """Tokens stored per model: what sampling them cost, in tokens.

        Returns
        -------
        dict of str to (float, float, int)
            ``model -> (prompt_tokens, completion_tokens, samples)``. A request for
            ``n`` samples is billed its prompt once: each sample counts its share
            (``info["usage_shared_by"]``). Samples without usage count 0 tokens.
        """
        with self._guard():
            conn = self._conn()
            try:
                return {
                    str(m): (float(p or 0.0), float(c or 0.0), int(n))
                    for m, p, c, n in conn.execute(_USAGE_SQL)
                }
            except sqlite3.OperationalError:  # pragma: no cover - SQLite without JSON1
                rows = conn.execute("SELECT model, value FROM completions").fetchall()
        out: dict[str, list[float]] = {}
        for model, value in rows:
            d = json.loads(value)
            shared = float((d.get("info") or {}).get("usage_shared_by") or 1) or 1.0
            acc = out.setdefault(str(model), [0.0, 0.0, 0])
            acc[0] += float(d.get("prompt_tokens") or 0) / shared
            acc[1] += float(d.get("completion_tokens") or 0)
            acc[2] += 1
        return {m: (a[0], a[1], int(a[2])) for m, a in out.items()}

    def __len__(self) -> int:
        with self._guard():
            return int(self._conn().execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def __contains__(self, key: object) -> bool:
        with self._guard():
            row = self._conn().execute("SELECT 1 FROM completions WHERE key = ?", (key,))
            return row.fetchone() is not None

    def close(self) -> None:
        """Checkpoint the WAL and close every connection this object opened (in any thread)."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for i, c in enumerate(conns):
            if i == 0:
                with contextlib.suppress(sqlite3.Error):
                    c.execute("PRAGMA wal_checkpoint(PASSIVE)")
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
