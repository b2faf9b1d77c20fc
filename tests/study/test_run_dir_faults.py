"""A damaged, read-only or vanished run directory is a typed error, never a silent restart."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from common import answer_book, make_study

from dataquality_thresholds.backends import CompletionCache, LocalStubBackend
from dataquality_thresholds.errors import DataError, SchemaVersionError
from dataquality_thresholds.study import Ledger, RunLock, StudyResults, run_status

CHILD = Path(__file__).with_name("study_child.py")


def killed_run(run_dir, kill_at="submit:7"):
    proc = subprocess.run(
        [sys.executable, str(CHILD), str(run_dir), "--kill-at", kill_at],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Ledger(run_dir / "ledger.sqlite", readonly=True) as led:
        return led.job_rows(), led.kinds()


@pytest.mark.parametrize("damage", ["lose", "garbage"])
def test_a_lost_or_damaged_wal_loses_nothing(tmp_path, damage):
    run_dir = tmp_path / "run"
    jobs, kinds = killed_run(run_dir, "evaluate:20")
    assert jobs and kinds
    wal = run_dir / "ledger.sqlite-wal"
    for suffix in ("-wal", "-shm"):
        Path(str(run_dir / "ledger.sqlite") + suffix).unlink(missing_ok=True)
    if damage == "garbage":
        wal.write_bytes(os.urandom(4096))
    # the main file was checkpointed after every step: it holds every job and result
    with Ledger(run_dir / "ledger.sqlite") as led:
        assert [r["key"] for r in led.job_rows()] == [r["key"] for r in jobs]
        assert led.kinds() == kinds
        assert led.get_meta("config") is not None
    assert make_study(run_dir).run(progress=False).completed


def test_a_damaged_ledger_is_a_data_error_naming_the_file(tmp_path):
    run_dir = tmp_path / "run"
    killed_run(run_dir)
    ledger = run_dir / "ledger.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(ledger) + suffix).unlink(missing_ok=True)
    data = bytearray(ledger.read_bytes())
    data[:100] = os.urandom(100)  # the header
    ledger.write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        make_study(run_dir).run(progress=False)
    assert info.value.path == str(ledger)
    assert "damaged" in str(info.value) and "backup" in str(info.value)
    with pytest.raises(DataError, match="damaged"):
        run_status(run_dir)


def test_a_database_without_the_ledger_tables_is_not_started_again(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with sqlite3.connect(run_dir / "ledger.sqlite") as db:
        db.execute("CREATE TABLE other (x)")
    with pytest.raises(DataError, match="none of its tables"):
        make_study(run_dir).run(progress=False)


def test_a_damaged_cache_is_a_data_error_naming_the_file(tmp_path):
    run_dir = tmp_path / "run"
    killed_run(run_dir, "evaluate:20")
    cache = run_dir / "completions.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(cache) + suffix).unlink(missing_ok=True)
    cache.write_bytes(b"not a database" * 100)
    with pytest.raises(DataError) as info:
        make_study(run_dir).run(progress=False)
    assert info.value.path == str(cache) and "damaged" in str(info.value)
    with pytest.raises(DataError):
        CompletionCache(cache)


def test_a_vanished_run_dir_is_a_data_error(tmp_path):
    run_dir = tmp_path / "run"

    class Vanishing(LocalStubBackend):
        calls = 0

        def submit(self, mixture, **kw):
            Vanishing.calls += 1
            if Vanishing.calls == 3:
                shutil.rmtree(run_dir)
            return super().submit(mixture, **kw)

    with pytest.raises(DataError) as info:
        make_study(run_dir, backend=Vanishing(answer_book())).run(progress=False)
    assert str(run_dir) in str(info.value)
    assert "gone" in str(info.value) or "vanished" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_run_dir_is_a_data_error(tmp_path):
    run_dir = tmp_path / "run"
    make_study(run_dir).run(progress=False)
    run_dir.chmod(0o555)
    try:
        with pytest.raises(DataError, match="read-only"):
            make_study(run_dir).run(progress=False)
    finally:
        run_dir.chmod(0o755)


def test_read_only_is_reported_as_such(tmp_path, monkeypatch):
    from dataquality_thresholds.study import _ledger

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(DataError, match="read-only") as info:
        RunLock(run_dir).acquire()
    assert info.value.path == str(run_dir)
    err = _ledger.ledger_error(
        sqlite3.OperationalError("attempt to write a readonly database"), run_dir / "ledger.sqlite"
    )
    assert "read-only" in str(err) and err.path == str(run_dir / "ledger.sqlite")


def test_a_version_1_ledger_gains_the_cell_columns(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE jobs (key TEXT PRIMARY KEY, status TEXT NOT NULL, job TEXT,
                               updated_at TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1');
            INSERT INTO jobs VALUES ('dqt-abc', 'submitting', NULL, '2025-01-01');
            """
        )
    with Ledger(path) as led:
        assert led.get_meta("schema_version") == 2
        assert led.job_rows()[0]["cell"] is None
        led.mark_submitting("dqt-new", ["finance/subtle/f0.2500/r1"])
        row = next(r for r in led.job_rows() if r["key"] == "dqt-new")
        assert row["cell"] == "finance/subtle/f0.2500/r1"
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
    with pytest.raises(SchemaVersionError):
        Ledger(path)


def test_results_of_a_killed_run_name_each_jobs_cell(tmp_path):
    run_dir = tmp_path / "run"
    rows, _ = killed_run(run_dir, "submit:5")
    assert rows and all(r["cells"] and r["cell"] == r["cells"][0] for r in rows)
    assert {c.split("/")[0] for r in rows for c in r["cells"]} == {"finance"}
    assert not StudyResults.from_run_dir(run_dir).completed
