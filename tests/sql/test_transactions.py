"""write_txn: the body's error wins, a failed COMMIT always raises, nothing is half-written."""

import sqlite3

import peewee
import pytest

from migwizard.core.sql import introspect
from migwizard.core.sql.transactions import CommitError, write_txn


class BodyError(Exception):
    pass


@pytest.fixture
def kv_db(target_db):
    target_db.execute_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    return target_db


def _p(db):
    return "%s" if introspect.is_postgres(db) else "?"


def _count(db, table="t"):
    return db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_commit_on_success(kv_db):
    with write_txn(kv_db) as db:
        db.execute_sql(f"INSERT INTO t VALUES (1, {_p(db)})", ("a",))
        assert db.in_transaction()
    assert not kv_db.in_transaction()
    assert _count(kv_db) == 1


def test_body_error_rolls_back_and_is_the_one_raised(kv_db):
    with pytest.raises(BodyError, match="boom"):
        with write_txn(kv_db) as db:
            db.execute_sql(f"INSERT INTO t VALUES (1, {_p(db)})", ("a",))
            raise BodyError("boom")
    assert _count(kv_db) == 0
    assert not kv_db.in_transaction()
    with write_txn(kv_db) as db:  # connection still usable
        db.execute_sql(f"INSERT INTO t VALUES (2, {_p(db)})", ("b",))
    assert _count(kv_db) == 1


def test_sql_error_in_body_surfaces_and_rolls_back(kv_db):
    with pytest.raises(peewee.IntegrityError):
        with write_txn(kv_db) as db:
            db.execute_sql(f"INSERT INTO t VALUES (1, {_p(db)})", ("a",))
            db.execute_sql(f"INSERT INTO t VALUES (1, {_p(db)})", ("dup",))
    assert _count(kv_db) == 0


def test_failing_rollback_does_not_mask_body_error(kv_db, monkeypatch):
    real = kv_db.execute_sql

    def flaky(sql, params=None):
        if sql == "ROLLBACK":
            real(sql, params)
            raise peewee.OperationalError("rollback exploded")
        return real(sql, params)

    monkeypatch.setattr(kv_db, "execute_sql", flaky)
    with pytest.raises(BodyError) as info:
        with write_txn(kv_db) as db:
            db.execute_sql(f"INSERT INTO t VALUES (1, {_p(db)})", ("a",))
            raise BodyError("the real problem")
    assert "rollback exploded" in " ".join(getattr(info.value, "__notes__", []))
    monkeypatch.undo()
    assert _count(kv_db) == 0


def _make_deferred_violation(db):
    """A body that succeeds but whose COMMIT must fail (deferred FK)."""
    if introspect.is_postgres(db):
        db.execute_sql("INSERT INTO child VALUES (1, 999)")
    else:
        db.execute_sql("PRAGMA defer_foreign_keys = ON")
        db.execute_sql("INSERT INTO child VALUES (1, 999)")


def test_failing_commit_raises_and_writes_nothing(kv_db):
    db = kv_db
    deferrable = " DEFERRABLE INITIALLY DEFERRED" if introspect.is_postgres(db) else ""
    db.execute_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute_sql(f"CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL REFERENCES parent (id){deferrable})")
    with pytest.raises(CommitError) as info:
        with write_txn(db):
            db.execute_sql(f"INSERT INTO t VALUES (1, {_p(db)})", ("written before the bad row",))
            _make_deferred_violation(db)
    assert isinstance(info.value.__cause__, peewee.IntegrityError)
    assert not db.in_transaction()
    assert _count(db) == 0 and _count(db, "child") == 0
    with write_txn(db):  # and the connection is clean afterwards
        db.execute_sql(f"INSERT INTO t VALUES (2, {_p(db)})", ("ok",))
    assert _count(db) == 1


def test_nested_block_is_a_savepoint(kv_db):
    with write_txn(kv_db) as db:
        db.execute_sql(f"INSERT INTO t VALUES (1, {_p(db)})", ("outer",))
        with pytest.raises(BodyError):
            with write_txn(db):
                db.execute_sql(f"INSERT INTO t VALUES (2, {_p(db)})", ("inner",))
                raise BodyError()
        with write_txn(db):
            db.execute_sql(f"INSERT INTO t VALUES (3, {_p(db)})", ("inner ok",))
    rows = kv_db.execute_sql("SELECT id FROM t ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [1, 3]


def test_outer_failure_discards_committed_savepoints(kv_db):
    with pytest.raises(BodyError):
        with write_txn(kv_db) as db:
            with write_txn(db):
                db.execute_sql(f"INSERT INTO t VALUES (1, {_p(db)})", ("inner",))
            raise BodyError()
    assert _count(kv_db) == 0


def test_sqlite_write_lock_taken_at_begin(sqlite_url):
    from migwizard.core.sql.connect import open_database

    db = open_database(sqlite_url)
    db.execute_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    other = sqlite3.connect(db.database, timeout=0, isolation_level=None)
    try:
        with write_txn(db):
            # BEGIN IMMEDIATE: the lock is held before the first write.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        db.close()
