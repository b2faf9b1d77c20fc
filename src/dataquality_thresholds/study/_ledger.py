"""The study ledger: one SQLite file in the run directory that records every step.

Tables (schema version 1):

``meta``
    key -> JSON value: ``schema_version``, the study config, library version.
``mixtures``
    one row per cell (domain x corruption x fraction x replicate): the
    mixture's fingerprint, manifest, token count and estimated cost.
``jobs``
    one row per fine-tuning key: status and the full :class:`FineTuneJob`.
    A row with status ``submitting`` is written *before* the backend is asked,
    so a crash during submission is resumed by asking again with the same key
    (backends adopt the job they already made for that key).
``results``
    one row per (cell, kind): the measured payload (domain score, probe rates,
    raw rows), written in one transaction when the measurement is complete.

Every write is a transaction (``BEGIN IMMEDIATE``), WAL journalling, so a crash
at any instant leaves the ledger as it was before or after the step. JSON is
written with sorted keys and ``allow_nan=False`` (NaN becomes null).
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds.backends import CostEstimate, FineTuneJob
from dataquality_thresholds.errors import DataError, SchemaVersionError

__all__ = ["SCHEMA_VERSION", "Ledger", "job_from_dict", "job_to_dict"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mixtures (
    cell TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, job_key TEXT NOT NULL,
    manifest TEXT NOT NULL, tokens INTEGER, est_usd REAL);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, status TEXT NOT NULL, job TEXT, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    cell TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (cell, kind));
"""


def _clean(value: Any) -> Any:
    """Make a value JSON-safe: NaN/inf -> None, tuples -> lists, datetimes -> ISO."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    return json.dumps(_clean(value), sort_keys=True, allow_nan=False, ensure_ascii=False)


def job_to_dict(job: FineTuneJob) -> dict[str, Any]:
    """Return a JSON-safe dict of a job (the inverse of :func:`job_from_dict`)."""
    d = attrs.asdict(job, recurse=True)
    d["hyperparameters"] = dict(job.hyperparameters)
    d["metrics"] = dict(job.metrics)
    return dict(_clean(d))


def job_from_dict(data: Mapping[str, Any]) -> FineTuneJob:
    """Rebuild a :class:`FineTuneJob` from :func:`job_to_dict` output."""
    d = dict(data)
    for key in ("created_at", "finished_at"):
        if d.get(key):
            d[key] = datetime.fromisoformat(d[key])
    if d.get("cost"):
        d["cost"] = CostEstimate(**d["cost"])
    return FineTuneJob(**d)


def _now() -> str:
    from datetime import timezone

    return datetime.now(timezone.utc).isoformat()


class Ledger:
    """A study's SQLite ledger.

    Parameters
    ----------
    path : str or Path
        The database file (created with its folder if missing).

    Raises
    ------
    SchemaVersionError
        The file was written by a newer version of the library.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self.transaction() as db:
            for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                db.execute(stmt)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(json.loads(row[0])) > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"ledger written by a newer dataquality_thresholds (schema {row[0]}, "
                    f"this version reads up to {SCHEMA_VERSION}); upgrade the library",
                    found=int(json.loads(row[0])),
                    supported=SCHEMA_VERSION,
                    path=self.path,
                    field="schema_version",
                )

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block as one transaction (all of it is written, or none)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> Any:
        """Return a meta value (decoded JSON), or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Set a meta value."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, _dumps(value)))

    # ------------------------------------------------------------------ mixtures
    def put_mixture(
        self,
        cell: str,
        *,
        fingerprint: str,
        job_key: str,
        manifest: Mapping[str, Any],
        tokens: int,
        est_usd: float,
    ) -> None:
        """Record a cell's mixture (a second put of the same cell must agree)."""
        with self.transaction() as db:
            row = db.execute("SELECT fingerprint FROM mixtures WHERE cell=?", (cell,)).fetchone()
            if row is not None:
                if row[0] != fingerprint:
                    raise DataError(
                        f"cell {cell!r} was recorded with mixture {row[0][:12]}, "
                        f"now {fingerprint[:12]}: "
                        "the study config changed; use a new run directory",
                        path=self.path,
                        field="mixtures",
                    )
                return
            db.execute(
                "INSERT INTO mixtures VALUES (?, ?, ?, ?, ?, ?)",
                (cell, fingerprint, job_key, _dumps(manifest), int(tokens), float(est_usd)),
            )

    def mixtures(self) -> dict[str, dict[str, Any]]:
        """All recorded mixtures by cell."""
        with self._lock:
            rows = self._db.execute(
                "SELECT cell, fingerprint, job_key, tokens, est_usd FROM mixtures"
            ).fetchall()
        return {
            r[0]: {"fingerprint": r[1], "job_key": r[2], "tokens": r[3], "est_usd": r[4]}
            for r in rows
        }

    # ------------------------------------------------------------------ jobs
    def mark_submitting(self, key: str) -> None:
        """Record the intent to submit ``key`` (before the backend is asked)."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM jobs WHERE key=?", (key,)).fetchone() is None:
                db.execute("INSERT INTO jobs VALUES (?, 'submitting', NULL, ?)", (key, _now()))

    def put_job(self, job: FineTuneJob) -> None:
        """Record the job as last seen."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?)",
                (job.key, job.status, _dumps(job_to_dict(job)), _now()),
            )

    def get_job(self, key: str) -> tuple[str, FineTuneJob | None] | None:
        """Return ``(status, job)`` for ``key`` (job None while only ``submitting``), or None."""
        with self._lock:
            row = self._db.execute("SELECT status, job FROM jobs WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return row[0], (None if row[1] is None else job_from_dict(json.loads(row[1])))

    def jobs(self) -> dict[str, FineTuneJob | None]:
        """All recorded jobs by key."""
        with self._lock:
            rows = self._db.execute("SELECT key, job FROM jobs").fetchall()
        return {k: (None if j is None else job_from_dict(json.loads(j))) for k, j in rows}

    # ------------------------------------------------------------------ results
    def put_result(self, cell: str, kind: str, payload: Mapping[str, Any]) -> None:
        """Record a complete measurement of ``cell`` (replaces nothing: a second put is ignored)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?)",
                (cell, kind, _dumps(payload), _now()),
            )

    def get_result(self, cell: str, kind: str) -> dict[str, Any] | None:
        """Return a recorded measurement, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT payload FROM results WHERE cell=? AND kind=?", (cell, kind)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def results(self) -> list[tuple[str, str, dict[str, Any]]]:
        """All measurements as ``(cell, kind, payload)``, ordered by cell and kind."""
        with self._lock:
            rows = self._db.execute(
                "SELECT cell, kind, payload FROM results ORDER BY cell, kind"
            ).fetchall()
        return [(c, k, json.loads(p)) for c, k, p in rows]
