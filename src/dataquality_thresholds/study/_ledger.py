"""The study ledger: one SQLite file in the run directory that records every step.

Tables (schema version 2):

``meta``
    key -> JSON value: ``schema_version``, the study config, library version.
``mixtures``
    one row per cell (domain x corruption x fraction x replicate): the
    mixture's fingerprint, manifest, token count and estimated cost.
``jobs``
    one row per fine-tuning key: status, the full :class:`FineTuneJob`, and the
    cells it serves (``cell``, the first, e.g. ``finance/subtle/f0.2500/r1``, and
    ``cells``, all of them, JSON) next to the key's hash. A row with status
    ``submitting`` is written *before* the backend is asked, so a crash during
    submission is resumed by asking again with the same key (backends adopt the
    job they already made for that key). Version 1 ledgers gain the two columns.
``results``
    one row per (cell, kind): the measured payload (domain score, probe rates,
    raw rows), written in one transaction when the measurement is complete.

Every write is a transaction (``BEGIN IMMEDIATE``), WAL journalling, so a crash
at any instant leaves the ledger as it was before or after the step; after each
one the WAL is checkpointed into the main file, so the main file always holds the
schema and every step (a lost or damaged ``-wal`` file loses nothing). A damaged
file, a read-only folder or a vanished run directory is a
:class:`~dataquality_thresholds.errors.DataError` naming the file and what to do;
a ledger is never silently started again. JSON is written with sorted keys and
``allow_nan=False`` (NaN becomes null).
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds.backends import CostEstimate, FineTuneJob
from dataquality_thresholds.errors import DataError, SchemaVersionError

__all__ = ["SCHEMA_VERSION", "Ledger", "job_from_dict", "job_to_dict"]

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mixtures (
    cell TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, job_key TEXT NOT NULL,
    manifest TEXT NOT NULL, tokens INTEGER, est_usd REAL);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, status TEXT NOT NULL, job TEXT, updated_at TEXT NOT NULL,
    cell TEXT, cells TEXT);
CREATE TABLE IF NOT EXISTS results (
    cell TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (cell, kind));
"""

_REMEDY = (
    "it cannot be read. Nothing was changed: move the run directory aside and restore "
    "ledger.sqlite (with its -wal file, if any) from a backup, or start a new run_dir "
    "(jobs already made are adopted again by key, and cached completions in "
    "completions.sqlite are reused if you copy that file over)"
)


def ledger_error(exc: sqlite3.Error, path: Path) -> DataError:
    """Translate a SQLite failure on the ledger into a :class:`DataError` that says what to do."""
    text = str(exc)
    low = text.lower()
    if not path.parent.is_dir():
        return DataError(
            f"the run directory {path.parent} is gone (moved or deleted while in use?) "
            f"(SQLite: {text}); restore it, then resume",
            path=path,
        )
    if "readonly" in low or "read-only" in low or "permission" in low:
        return DataError(
            f"the ledger cannot be written: the run directory or ledger.sqlite is read-only "
            f"(SQLite: {text}); make it writable, or copy the run directory somewhere "
            "writable and resume there",
            path=path,
        )
    if "unable to open" in low or "disk i/o" in low:
        return DataError(
            f"the ledger cannot be opened (SQLite: {text}): a missing or unreadable run "
            "directory, or a full disk; check the folder, then resume",
            path=path,
        )
    return DataError(f"the ledger is damaged (SQLite: {text}); {_REMEDY}", path=path)


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
        The database file (created with its folder if missing, unless ``readonly``).
    readonly : bool
        Open for reading only (``dqt status`` beside a running study): nothing is
        created, migrated or written.

    Raises
    ------
    SchemaVersionError
        The file was written by a newer version of the library.
    DataError
        The file is damaged (not a database, or a database without the ledger's
        tables), its folder is read-only or gone, or (``readonly``) it does not exist.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        existed = self.path.exists() and self.path.stat().st_size > 0
        if readonly and not self.path.exists():
            raise DataError("no ledger here: not a study run directory", path=self.path)
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataError(
                    f"cannot make the run directory ({exc.strerror}); use a writable run_dir",
                    path=self.path.parent,
                ) from exc
        try:
            self._open(existed)
        except sqlite3.Error as exc:
            with contextlib.suppress(Exception):
                self._db.close()
            raise ledger_error(exc, self.path) from exc
        except BaseException:
            with contextlib.suppress(Exception):
                self._db.close()
            raise

    def _open(self, existed: bool) -> None:
        if self.readonly:
            self._db = sqlite3.connect(
                f"file:{self.path}?mode=ro",
                uri=True,
                check_same_thread=False,
                timeout=30,
                isolation_level=None,
            )
        else:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        tables = {
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if (existed or self.readonly) and "meta" not in tables:
            # a file with content but no ledger tables: never start it again silently
            raise DataError(
                f"the ledger holds none of its tables: it is damaged or not a ledger; {_REMEDY}",
                path=self.path,
            )
        if existed or self.readonly:
            check = self._db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check and check[0]}")
        if self.readonly:
            self._check_version(self._db)
            return
        with self.transaction() as db:
            for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                db.execute(stmt)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            else:
                self._check_version(db)
                if int(json.loads(row[0])) < 2:
                    columns = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
                    for col in ("cell", "cells"):
                        if col not in columns:
                            db.execute(f"ALTER TABLE jobs ADD COLUMN {col} TEXT")
                    db.execute(
                        "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
                    )

    def _check_version(self, db: sqlite3.Connection) -> None:
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None and int(json.loads(row[0])) > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"ledger written by a newer dataquality_thresholds (schema {row[0]}, "
                f"this version reads up to {SCHEMA_VERSION}); upgrade the library",
                found=int(json.loads(row[0])),
                supported=SCHEMA_VERSION,
                path=self.path,
                field="schema_version",
            )

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close the database."""
        with contextlib.suppress(sqlite3.Error):
            if not self.readonly:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block as one transaction (all of it is written, or none).

        The WAL is checkpointed into the main file after the commit.

        Raises
        ------
        DataError
            The ledger is read-only, damaged or gone (its run directory vanished).
        """
        with self._lock:
            if self.readonly:
                raise DataError("the ledger was opened read-only", path=self.path)
            if not self.path.exists():
                raise DataError(
                    f"the ledger vanished (was the run directory {self.path.parent} moved "
                    "or deleted while the study ran?); restore it, then resume",
                    path=self.path,
                )
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise ledger_error(exc, self.path) from exc
            try:
                yield self._db
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise ledger_error(exc, self.path) from exc
                raise
            try:
                self._db.execute("COMMIT")
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                raise ledger_error(exc, self.path) from exc

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Run a query, translating SQLite failures."""
        with self._lock:
            try:
                return self._db.execute(sql, tuple(args)).fetchall()
            except sqlite3.Error as exc:
                raise ledger_error(exc, self.path) from exc

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> Any:
        """Return a meta value (decoded JSON), or None."""
        rows = self._read("SELECT value FROM meta WHERE key=?", (key,))
        return None if not rows else json.loads(rows[0][0])

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
        rows = self._read("SELECT cell, fingerprint, job_key, tokens, est_usd FROM mixtures")
        return {
            r[0]: {"fingerprint": r[1], "job_key": r[2], "tokens": r[3], "est_usd": r[4]}
            for r in rows
        }

    # ------------------------------------------------------------------ jobs
    def mark_submitting(self, key: str, cells: Sequence[str] = ()) -> None:
        """Record the intent to submit ``key`` (before the backend is asked).

        Parameters
        ----------
        key : str
            The fine-tuning key.
        cells : sequence of str
            The cells the job serves (their keys name domain, corruption, fraction
            and replicate); the first is written as ``cell``.
        """
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM jobs WHERE key=?", (key,)).fetchone() is None:
                db.execute(
                    "INSERT INTO jobs (key, status, job, updated_at, cell, cells) "
                    "VALUES (?, 'submitting', NULL, ?, ?, ?)",
                    (key, _now(), cells[0] if cells else None, _dumps(list(cells))),
                )

    def put_job(self, job: FineTuneJob, cells: Sequence[str] = ()) -> None:
        """Record the job as last seen (``cells`` as for :meth:`mark_submitting`; kept if empty)."""
        with self.transaction() as db:
            row = db.execute("SELECT cell, cells FROM jobs WHERE key=?", (job.key,)).fetchone()
            cell, listed = (row[0], row[1]) if row is not None else (None, None)
            if cells:
                cell, listed = cells[0], _dumps(list(cells))
            db.execute(
                "INSERT OR REPLACE INTO jobs (key, status, job, updated_at, cell, cells) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (job.key, job.status, _dumps(job_to_dict(job)), _now(), cell, listed),
            )

    def get_job(self, key: str) -> tuple[str, FineTuneJob | None] | None:
        """Return ``(status, job)`` for ``key`` (job None while only ``submitting``), or None."""
        rows = self._read("SELECT status, job FROM jobs WHERE key=?", (key,))
        if not rows:
            return None
        status, job = rows[0]
        return status, (None if job is None else job_from_dict(json.loads(job)))

    def jobs(self) -> dict[str, FineTuneJob | None]:
        """All recorded jobs by key."""
        rows = self._read("SELECT key, job FROM jobs")
        return {k: (None if j is None else job_from_dict(json.loads(j))) for k, j in rows}

    def job_rows(self) -> list[dict[str, Any]]:
        """Return every job row (key, status, job, cell, cells, updated_at)."""
        rows = self._read("SELECT key, status, job, cell, cells, updated_at FROM jobs ORDER BY key")
        return [
            {
                "key": k,
                "status": st,
                "job": None if j is None else job_from_dict(json.loads(j)),
                "cell": c,
                "cells": json.loads(cs) if cs else ([c] if c else []),
                "updated_at": u,
            }
            for k, st, j, c, cs, u in rows
        ]

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
        rows = self._read("SELECT payload FROM results WHERE cell=? AND kind=?", (cell, kind))
        return None if not rows else dict(json.loads(rows[0][0]))

    def kinds(self) -> dict[str, set[str]]:
        """Return the kinds of measurement recorded, by cell."""
        out: dict[str, set[str]] = {}
        for cell, kind in self._read("SELECT cell, kind FROM results"):
            out.setdefault(cell, set()).add(kind)
        return out

    def results(self) -> list[tuple[str, str, dict[str, Any]]]:
        """All measurements as ``(cell, kind, payload)``, ordered by cell and kind."""
        rows = self._read("SELECT cell, kind, payload FROM results ORDER BY cell, kind")
        return [(c, k, json.loads(p)) for c, k, p in rows]
