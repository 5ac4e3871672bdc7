"""SQLite: the load's WAL checkpoints on a thread of their own (core/sql/walcheckpoint.py).

Grouped by behaviour: the WAL stays within its documented bound even when the thread falls
behind; the thread is gone after the load however the load ends; the tables are the same with
and without it; a thread that fails hands the checkpoints back to the writer (and says so)."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import struct
import threading
import time

import pytest

from migwizard.core.engine import ChunkCommitted
from migwizard.core.engine.api import Engine
from migwizard.core.sql import bulk, walcheckpoint
from migwizard.core.sql.connect import (BG_MAX_PAGES_ENV, LOAD_SYNC_ENV, LOAD_WAL_AUTOCHECKPOINT, SQLITE_PAGE_SIZE,
                                         load_synchronous, load_wal_bytes, open_database)
from migwizard.core.sql.dump import dump_tables
from migwizard.core.sql.transactions import write_txn
from migwizard.core.sql.walcheckpoint import BG_CHECKPOINT_ENV, BackgroundCheckpointer, wal_frames

from tests.engine.kvbuild import build_store, make_attempt, make_payment, seed_hash

THREAD = "migwizard-wal-checkpoint"
ROWS_PER_TXN = 200  # random 200-byte keys under a UNIQUE index: ~20-30 pages of WAL a transaction


@pytest.fixture(autouse=True)
def _bg_on(monkeypatch):
    monkeypatch.delenv(LOAD_SYNC_ENV, raising=False)
    monkeypatch.delenv(BG_MAX_PAGES_ENV, raising=False)
    monkeypatch.setenv(BG_CHECKPOINT_ENV, "1")


@pytest.fixture
def db(tmp_path):
    d = open_database(f"sqlite:///{tmp_path / 't.sqlite'}")
    d.execute_sql("CREATE TABLE t (k BLOB NOT NULL UNIQUE, v BLOB)")
    yield d
    d.close()


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD]


def _load(db, wal, txns: int) -> list[int]:
    """``txns`` transactions of random-keyed rows, the checkpointer told after each; the WAL's
    frames after each COMMIT (before the checkpointer's turn) and after its turn."""
    seen = []
    for _ in range(txns):
        with write_txn(db):
            db.connection().executemany("INSERT INTO t VALUES (?, ?)",
                                        [(os.urandom(200), os.urandom(100)) for _ in range(ROWS_PER_TXN)])
        seen.append(wal_frames(db.database))
        wal.committed()
        seen.append(wal_frames(db.database))
    return seen


def _backfilled(db) -> int:
    """Frames already copied into the database file (nBackfill, the wal-index's checkpoint
    info after its two headers: https://www.sqlite.org/walformat.html)."""
    with open(str(db.database) + "-shm", "rb") as f:
        f.seek(96)
        return struct.unpack("=I", f.read(4))[0]


# -- the bound ------------------------------------------------------------------------------------


def test_wal_stays_within_the_bound_when_the_thread_falls_behind(db, monkeypatch):
    """The thread's checkpoints take far longer than the writer's transactions: past max_pages
    the writer checkpoints itself before the next transaction, so no transaction ever begins
    on a WAL holding more than max_pages frames not yet in the file (the next one restarts it):
    the WAL peaks at max_pages plus one transaction."""
    max_pages = 100
    real_connect = BackgroundCheckpointer._connect

    class Slow:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql):
            time.sleep(0.3)
            return self.conn.execute(sql)

        def close(self):
            self.conn.close()

    monkeypatch.setattr(BackgroundCheckpointer, "_connect", lambda self: Slow(real_connect(self)))
    begins = []  # (frames, backfilled) when each next transaction may begin
    with load_synchronous(db, max_pages=max_pages) as wal:
        for _ in range(20):
            _load(db, wal, 1)
            begins.append((wal_frames(db.database), _backfilled(db)))
    assert wal.stats["writer_runs"] >= 3, wal.stats  # the bound was reached, and kept by the writer
    assert any(f > max_pages for f, _ in begins)
    over = [(f, done) for f, done in begins if f > max_pages and done < f]
    assert not over, (over, begins)


def test_the_thread_does_the_checkpoints_below_the_bound(db):
    """Below the bound the writer never checkpoints: the thread copies every committed frame
    into the file (so the next transaction restarts the WAL)."""
    backfilled = []
    with load_synchronous(db, max_pages=1_000_000) as wal:
        for i in range(1, 11):
            _load(db, wal, 1)
            deadline = time.monotonic() + 5
            while wal.stats["bg_runs"] < i and time.monotonic() < deadline:
                time.sleep(0.01)
            backfilled.append((wal_frames(db.database), _backfilled(db)))
    assert wal.stats["writer_runs"] == 0 and wal.stats["bg_runs"] >= 10, wal.stats
    assert all(f == done > 0 for f, done in backfilled), backfilled
    first = backfilled[0][0]
    grew = [b[0] - a[0] for a, b in zip(backfilled, backfilled[1:])]
    assert all(g < first for g in grew), backfilled  # each transaction restarted the WAL, none appended


def test_bound_documented_for_preflight(monkeypatch):
    """Preflight counts load_wal_bytes(): the background bound, or the writer's own interval
    when the thread is switched off."""
    assert load_wal_bytes() == 2 * LOAD_WAL_AUTOCHECKPOINT * SQLITE_PAGE_SIZE
    monkeypatch.setenv(BG_MAX_PAGES_ENV, "100")
    assert load_wal_bytes() == 100 * SQLITE_PAGE_SIZE
    monkeypatch.setenv(BG_CHECKPOINT_ENV, "0")
    assert load_wal_bytes() == LOAD_WAL_AUTOCHECKPOINT * SQLITE_PAGE_SIZE


# -- stopping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [None, RuntimeError, KeyboardInterrupt])
def test_thread_gone_after_the_block(db, stop):
    """Normal end, an error, Ctrl-C: the thread is joined before the block is left."""
    assert not _threads()
    with pytest.raises(stop) if stop else _nothing():
        with load_synchronous(db) as wal:
            _load(db, wal, 2)
            assert wal.alive and _threads()
            if stop:
                raise stop("stop")
    assert not wal.alive and not _threads()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _store(tmp_path, n: int = 24):
    pays = []
    for seq in range(1, n + 1):
        h = seed_hash(300 + seq)
        pays.append(make_payment(seq, h, 1000 + seq, htlcs=[make_attempt(seq, hash=h, settled=h)]))
    return build_store(tmp_path / "kv", pays)


def _spy(monkeypatch) -> list[BackgroundCheckpointer]:
    made: list[BackgroundCheckpointer] = []
    real = BackgroundCheckpointer.__init__

    def init(self, *a, **k):
        real(self, *a, **k)
        made.append(self)

    monkeypatch.setattr(BackgroundCheckpointer, "__init__", init)
    return made


def test_engine_thread_gone_after_a_cancel(tmp_path, monkeypatch):
    made = _spy(monkeypatch)
    cancel = threading.Event()

    def sink(ev):
        if isinstance(ev, ChunkCommitted):
            cancel.set()

    with Engine(_store(tmp_path), f"sqlite:///{tmp_path / 'target.sqlite'}", chunk_size=2, on_event=sink) as e:
        assert e.migrate(cancel=cancel).outcome == "cancelled"
    assert made and not any(w.alive for w in made) and not _threads()


def test_engine_thread_gone_after_a_refused_chunk(tmp_path, monkeypatch):
    """A refused chunk: rolled back, the culprit searched (inside the load), the thread joined."""
    made = _spy(monkeypatch)
    real = bulk.BulkWriter.insert
    calls = {"n": 0}

    def refusing(self, table, columns, rows):
        if table == "payments":
            calls["n"] += 1
            if calls["n"] >= 3:
                raise RuntimeError("simulated constraint violation")
        return real(self, table, columns, rows)

    monkeypatch.setattr(bulk.BulkWriter, "insert", refusing)
    monkeypatch.setenv("MIGWIZ_TXN_ROWS", "1")  # a commit per chunk: the thread has work before the refusal
    with Engine(_store(tmp_path), f"sqlite:///{tmp_path / 'target.sqlite'}", chunk_size=2) as e:
        assert e.migrate().outcome == "failed"
    assert made and not any(w.alive for w in made) and not _threads()


# -- the same tables -----------------------------------------------------------------------------


def _migrated(tmp_path, monkeypatch, kv, name: str, **env) -> dict:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    url = f"sqlite:///{tmp_path / name}"
    mine = tmp_path / f"kv-{name}"
    shutil.copytree(kv, mine)  # the same store each time (a run writes its lock file into it)
    with Engine(mine, url, chunk_size=3) as e:
        assert e.migrate().outcome == "complete"
    db = open_database(url)
    try:
        return dump_tables(db)
    finally:
        db.close()


def test_same_tables_with_and_without_the_thread(tmp_path, monkeypatch):
    """Differential: the writer's own checkpoints, the thread's, and the thread's with the
    writer forced past a tiny bound after most commits, give identical tables."""
    monkeypatch.setenv("MIGWIZ_TXN_ROWS", "8")  # many commits, so many checkpoints
    made = _spy(monkeypatch)
    kv = _store(tmp_path, 60)
    off = _migrated(tmp_path, monkeypatch, kv, "off.sqlite", MIGWIZ_BG_CHECKPOINT="0")
    assert not made
    on = _migrated(tmp_path, monkeypatch, kv, "on.sqlite", MIGWIZ_BG_CHECKPOINT="1")
    tight = _migrated(tmp_path, monkeypatch, kv, "tight.sqlite", MIGWIZ_BG_CHECKPOINT="1", MIGWIZ_BG_CHECKPOINT_PAGES="4")
    assert len(made) == 2 and made[1].stats["writer_runs"] >= 1, [m.stats for m in made]
    assert off["payments"] and len(off["payments"]) == 60
    assert on == off
    assert tight == off


# -- failures ------------------------------------------------------------------------------------


def test_a_failing_thread_hands_the_checkpoints_back(db, monkeypatch, caplog):
    """The thread cannot checkpoint (an injected I/O error): it logs the error and stops; the
    writer's next COMMIT turns SQLite's automatic checkpoint back on and checkpoints."""
    real_connect = BackgroundCheckpointer._connect

    class Broken:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql):
            raise sqlite3.OperationalError("disk I/O error (injected)")

        def close(self):
            self.conn.close()

    monkeypatch.setattr(BackgroundCheckpointer, "_connect", lambda self: Broken(real_connect(self)))
    caplog.set_level(logging.WARNING, logger=walcheckpoint.__name__)
    with load_synchronous(db, max_pages=10_000) as wal:
        _load(db, wal, 1)
        wal._thread.join(5)
        assert not wal.alive
        _load(db, wal, 1)
        assert wal.fell_back
        assert db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == LOAD_WAL_AUTOCHECKPOINT
        (busy, log_frames, done) = db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert wal.stats["writer_runs"] >= 1
    assert "injected" in caplog.text and "background WAL checkpoint failed" in caplog.text
    assert isinstance(wal.error, sqlite3.OperationalError)
    assert db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # SQLite's again after the load


def test_busy_is_not_a_failure(db, monkeypatch):
    """A BUSY checkpoint (SQLite's row ``(1, ...)``: another checkpoint held the lock) is no
    failure: the thread tries again after the next COMMIT and the writer does not take over."""
    real_connect = BackgroundCheckpointer._connect

    class BusyOnce:
        def __init__(self, conn):
            self.conn, self.busy = conn, True

        def execute(self, sql):
            if self.busy:
                self.busy = False
                return self.conn.execute("SELECT 1, -1, -1")
            return self.conn.execute(sql)

        def close(self):
            self.conn.close()

    monkeypatch.setattr(BackgroundCheckpointer, "_connect", lambda self: BusyOnce(real_connect(self)))
    with load_synchronous(db, max_pages=10_000) as wal:
        for _ in range(3):
            _load(db, wal, 1)
            deadline = time.monotonic() + 5
            while wal._wake.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)
        assert wal.alive and wal.error is None
    assert wal.stats["bg_busy"] == 1 and wal.stats["bg_runs"] >= 2, wal.stats
    assert not wal.fell_back and wal.stats["writer_runs"] == 0


def test_wal_frames_reads_the_header(db):
    """wal_frames() follows SQLite's own count (a reader's PRAGMA wal_checkpoint reports it)."""
    db.execute_sql("PRAGMA wal_autocheckpoint = 0")
    db.execute_sql("INSERT INTO t VALUES (x'01', x'02')")
    n = wal_frames(db.database)
    (_, log_frames, _) = db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert n == log_frames > 0
    assert wal_frames(str(db.database) + ".absent") is None
