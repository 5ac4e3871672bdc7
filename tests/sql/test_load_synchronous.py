"""SQLite: the chunks load with ``synchronous=normal`` (and a checkpoint every
LOAD_WAL_AUTOCHECKPOINT WAL pages) and every commit after the load (the phase's end,
validation, commit) is LND's ``full`` (and SQLite's 1000 pages) again. ``normal`` in WAL mode
never corrupts; a power cut forgets only the last chunks with their checkpoints, which a
resume redoes (docs/RELIABILITY.md)."""

from __future__ import annotations

import pytest

from migwizard.core.engine import indexes as deferred_objects
from migwizard.core.engine import checks_sql
from migwizard.core.engine.api import Engine
from migwizard.core.engine.markers import KVScan
from migwizard.core.engine.tuning import DEFAULT_CHUNK_ROWS, DEFAULT_TXN_ROWS
from migwizard.core.sql import bulk
from migwizard.core.sql.connect import (LOAD_SYNC_ENV, LOAD_WAL_AUTOCHECKPOINT, load_synchronous, load_wal_bytes,
                                         open_database)

from tests.engine.kvbuild import build_store, make_attempt, make_payment, seed_hash

FULL, NORMAL = 2, 1
SQLITE_AUTOCHECKPOINT = 1000  # SQLite's default, which LND keeps


def _sync(db) -> int:
    return db.execute_sql("PRAGMA synchronous").fetchone()[0]


def _autockpt(db) -> int:
    return db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]


@pytest.fixture
def db(tmp_path):
    d = open_database(f"sqlite:///{tmp_path / 't.sqlite'}")
    yield d
    d.close()


def test_normal_inside_full_after(db, monkeypatch):
    monkeypatch.delenv(LOAD_SYNC_ENV, raising=False)
    assert _sync(db) == FULL  # LND's pragma on every connection
    assert _autockpt(db) == SQLITE_AUTOCHECKPOINT
    with load_synchronous(db):
        assert _sync(db) == NORMAL
        assert _autockpt(db) == LOAD_WAL_AUTOCHECKPOINT > SQLITE_AUTOCHECKPOINT
    assert _sync(db) == FULL
    assert _autockpt(db) == SQLITE_AUTOCHECKPOINT


def test_restored_when_the_load_fails(db, monkeypatch):
    monkeypatch.delenv(LOAD_SYNC_ENV, raising=False)
    with pytest.raises(RuntimeError), load_synchronous(db):
        raise RuntimeError("chunk refused")
    assert _sync(db) == FULL
    assert _autockpt(db) == SQLITE_AUTOCHECKPOINT


def test_env_keeps_full(db, monkeypatch):
    monkeypatch.setenv(LOAD_SYNC_ENV, "full")
    with load_synchronous(db):
        assert _sync(db) == FULL
        assert _autockpt(db) == SQLITE_AUTOCHECKPOINT


def test_engine_loads_normal_and_finishes_full(tmp_path, monkeypatch):
    """Each chunk's inserts see ``normal``; the transaction that records the load's end
    (deferred indexes built, run marked migrated) sees ``full``, so its WAL sync covers
    every chunk before it."""
    monkeypatch.delenv(LOAD_SYNC_ENV, raising=False)
    pays = []
    for seq in range(1, 7):
        h = seed_hash(40 + seq)
        pays.append(make_payment(seq, h, 1000, htlcs=[make_attempt(seq, hash=h, settled=h)]))
    kv = build_store(tmp_path / "kv", pays)
    seen: dict[str, list] = {"insert": [], "finish": []}
    real_insert, real_build = bulk.BulkWriter.insert, deferred_objects.build_in_txn

    def insert(self, table, columns, rows):
        seen["insert"].append((_sync(self.db), _autockpt(self.db)))
        return real_insert(self, table, columns, rows)

    def build(db, run):
        seen["finish"].append((_sync(db), _autockpt(db)))
        return real_build(db, run)

    monkeypatch.setattr(bulk.BulkWriter, "insert", insert)
    monkeypatch.setattr(deferred_objects, "build_in_txn", build)
    with Engine(kv, f"sqlite:///{tmp_path / 'target.sqlite'}", chunk_size=2) as eng:
        assert eng.migrate().outcome == "complete"
    assert seen["insert"] and set(seen["insert"]) == {(NORMAL, LOAD_WAL_AUTOCHECKPOINT)}
    assert seen["finish"] == [(FULL, SQLITE_AUTOCHECKPOINT)]


def test_preflight_counts_the_load_wal(tmp_path):
    """The WAL may hold LOAD_WAL_AUTOCHECKPOINT pages plus a transaction's chunks before it is checkpointed,
    and no more than all the chunks append: the free-space check asks for that."""
    kv = build_store(tmp_path / "kv", [make_payment(1, seed_hash(1), 1000)])
    with Engine(kv, f"sqlite:///{tmp_path / 'target.sqlite'}") as eng:
        one = {c.id: c for c in eng.preflight().checks}["sql.free_space"].details["required"]
    scan = KVScan(fingerprint="", counts=None, switch_sequence=None, tombstone=False, remaining_payments=100_000)
    per_txn = DEFAULT_TXN_ROWS // DEFAULT_CHUNK_ROWS  # chunks one transaction may carry past the checkpoint
    assert checks_sql._load_wal_extra(scan, 2000.0, 100) == load_wal_bytes() + (per_txn - 1) * 400_000  # 1000 chunks
    scan.remaining_payments = 300
    assert checks_sql._load_wal_extra(scan, 2000.0, 100) == 2 * 400_000  # 3 chunks
    assert checks_sql._load_wal_extra(scan, 200.0, 100) == 2 * checks_sql.MIN_CHUNK_WAL  # tiny rows
    scan.remaining_payments = 1
    assert checks_sql._load_wal_extra(scan, 2000.0, 100) == 0  # one chunk: the WAL estimate had it
    assert one < load_wal_bytes()


def test_load_cache_kib_default_and_env(monkeypatch):
    from migwizard.core.sql.connect import LOAD_CACHE_ENV, SQLITE_LOAD_CACHE_KIB, load_cache_kib

    monkeypatch.delenv(LOAD_CACHE_ENV, raising=False)
    assert load_cache_kib() == SQLITE_LOAD_CACHE_KIB
    for bad in ("", "x", "0", "-5"):
        monkeypatch.setenv(LOAD_CACHE_ENV, bad)
        assert load_cache_kib() == SQLITE_LOAD_CACHE_KIB
    monkeypatch.setenv(LOAD_CACHE_ENV, "12288")
    assert load_cache_kib() == 12288


@pytest.mark.parametrize("env_kib", [None, 12288])
def test_engine_loads_with_the_load_cache_and_gives_the_connection_its_cache_back(tmp_path, monkeypatch, env_kib):
    """The chunks' inserts see the load's page cache (SQLITE_LOAD_CACHE_KIB, or
    MIGWIZ_LOAD_CACHE_KIB); the index build and later phases the connection's own page cache
    again."""
    from migwizard.core.sql.connect import LOAD_CACHE_ENV, SQLITE_LOAD_CACHE_KIB, SQLITE_SPEED_PRAGMAS

    own = dict(SQLITE_SPEED_PRAGMAS)["cache_size"]
    if env_kib is None:
        monkeypatch.delenv(LOAD_CACHE_ENV, raising=False)
    else:
        monkeypatch.setenv(LOAD_CACHE_ENV, str(env_kib))
    load_kib = env_kib or SQLITE_LOAD_CACHE_KIB
    kv = build_store(tmp_path / "kv", [make_payment(seq, seed_hash(60 + seq), 1000) for seq in range(1, 6)])
    seen: dict[str, list] = {"insert": [], "after": []}
    real_insert = bulk.BulkWriter.insert

    def insert(self, table, columns, rows):
        seen["insert"].append(self.db.execute_sql("PRAGMA cache_size").fetchone()[0])
        return real_insert(self, table, columns, rows)

    mp = pytest.MonkeyPatch()
    mp.setattr(bulk.BulkWriter, "insert", insert)
    try:
        with Engine(kv, f"sqlite:///{tmp_path / 'target.sqlite'}", chunk_size=2) as eng:
            assert eng.migrate().outcome == "complete"
            seen["after"].append(eng._ctx.db().execute_sql("PRAGMA cache_size").fetchone()[0])
    finally:
        mp.undo()
    assert seen["insert"] and set(seen["insert"]) == {-load_kib}
    assert seen["after"] == [own]
