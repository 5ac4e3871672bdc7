"""lnd's switch sequencer in channeldb_kv: read, advance (never lower),
create the bucket as lnd would; SQLite file and PostgreSQL transaction."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from migwizard.core.lnd import sequencer
from migwizard.core.lnd.errors import SequencerError
from migwizard.core.sql.transactions import write_txn
from tests.support import lnddb

ALICE_KVSQL = lnddb.FIXTURES / "derived-alice-channel-kvsql.sqlite"


@pytest.fixture
def alice_kvsql(tmp_path):
    if not ALICE_KVSQL.is_file():
        pytest.skip(f"fixture missing: {ALICE_KVSQL}")
    dst = tmp_path / "channel.sqlite"
    shutil.copyfile(ALICE_KVSQL, dst)
    return dst


@pytest.fixture
def empty_kv(tmp_path):
    path = tmp_path / "channel.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    lnddb.create_kv_table(conn)
    conn.execute("INSERT INTO channeldb_kv (key, value, parent_id) VALUES (?, NULL, NULL)", (b"payments-root-bucket",))
    conn.close()
    return path


def _raw(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT key, value, parent_id, sequence FROM channeldb_kv WHERE key = ?",
            (sequencer.NEXT_PAYMENT_ID_KEY,),
        ).fetchall()
    finally:
        conn.close()


def test_alice_reads_3000_and_advances_never_lowers(alice_kvsql):
    assert sequencer.read_sqlite_file(alice_kvsql) == sequencer.SequencerState(True, 3000)
    same = sequencer.advance_sqlite_file(alice_kvsql, 2001)
    assert (same.before, same.after, same.changed) == (3000, 3000, False)
    up = sequencer.advance_sqlite_file(alice_kvsql, 3003)
    assert (up.before, up.after, up.created, up.changed) == (3000, 3003, False, True)
    assert sequencer.read_sqlite_file(alice_kvsql).sequence == 3003
    assert _raw(alice_kvsql)[0][3] == 3003


def test_absent_bucket_is_created_like_lnd(empty_kv):
    assert sequencer.read_sqlite_file(empty_kv) == sequencer.SequencerState(False, 0)
    assert not sequencer.advance_sqlite_file(empty_kv, 1).changed  # lnd leaves it absent too
    assert _raw(empty_kv) == []
    res = sequencer.advance_sqlite_file(empty_kv, sequencer.horizon_for(3002))
    assert (res.before, res.after, res.created) == (0, 3003, True)
    assert _raw(empty_kv) == [(sequencer.NEXT_PAYMENT_ID_KEY, None, None, 3003)]


def test_u64_above_int64_is_stored_signed(empty_kv):
    big = (1 << 63) + 5
    sequencer.advance_sqlite_file(empty_kv, big)
    assert _raw(empty_kv)[0][3] == big - (1 << 64)
    assert sequencer.read_sqlite_file(empty_kv).sequence == big
    assert not sequencer.advance_sqlite_file(empty_kv, 10).changed  # still never lowered
    with pytest.raises(SequencerError, match="outside u64"):
        sequencer.advance_sqlite_file(empty_kv, 1 << 64)


def test_value_instead_of_bucket_refused(empty_kv):
    conn = sqlite3.connect(empty_kv, isolation_level=None)
    conn.execute("INSERT INTO channeldb_kv (key, value) VALUES (?, ?)", (sequencer.NEXT_PAYMENT_ID_KEY, b"x"))
    conn.close()
    with pytest.raises(SequencerError, match="holds a value, not a bucket"):
        sequencer.advance_sqlite_file(empty_kv, 5)


def test_missing_file_and_table(tmp_path):
    with pytest.raises(SequencerError, match="no such file"):
        sequencer.read_sqlite_file(tmp_path / "nope.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()
    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).close()
    with pytest.raises(SequencerError, match="does not exist here"):
        sequencer.advance_sqlite_file(path, 5)
    with pytest.raises(ValueError, match="identifier"):
        sequencer.read_sqlite_file(path, table='x"; DROP TABLE y; --')


def test_locked_file_refused_naming_lnd(empty_kv):
    holder = sqlite3.connect(empty_kv, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    try:
        import migwizard.core.lnd.sequencer as mod

        old = mod._BUSY_TIMEOUT_S
        mod._BUSY_TIMEOUT_S = 0.05
        try:
            with pytest.raises(SequencerError, match="is lnd running"):
                sequencer.advance_sqlite_file(empty_kv, 5)
        finally:
            mod._BUSY_TIMEOUT_S = old
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_postgres_in_callers_transaction(pg_url):
    from migwizard.core.sql.connect import open_database

    db = open_database(pg_url)
    try:
        lnddb.create_kv_table(db)
        with pytest.raises(RuntimeError, match="boom"):
            with write_txn(db):
                assert sequencer.advance(db, 3003).created
                raise RuntimeError("boom")
        assert sequencer.read(db) == sequencer.SequencerState(False, 0)  # rolled back with the caller
        with write_txn(db):
            sequencer.advance(db, 3003)
        assert sequencer.read(db) == sequencer.SequencerState(True, 3003)
        with write_txn(db):
            assert not sequencer.advance(db, 5).changed
            big = sequencer.advance(db, (1 << 64) - 1)
        assert big.after == (1 << 64) - 1
        (stored,) = db.execute_sql("SELECT sequence FROM channeldb_kv WHERE parent_id IS NULL AND key = %s",
                                   (sequencer.NEXT_PAYMENT_ID_KEY,)).fetchone()
        assert stored == -1
        assert sequencer.read(db).sequence == (1 << 64) - 1
    finally:
        db.close()
