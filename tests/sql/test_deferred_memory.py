"""LND's deferred indexes are built with a small SQLite page cache, then the cache is
restored: SQLite sizes a CREATE INDEX sorter by the page cache, so with the load's
64 MB cache a 1M-payment sort added 64 MB of heap (docs/PERFORMANCE.md, Memory)."""

from __future__ import annotations

import pytest

from migwizard.core.sql import deferred, introspect
from migwizard.core.sql.connect import SQLITE_BUILD_CACHE_KIB, SQLITE_SPEED_PRAGMAS, open_database
from migwizard.core.sql.schema import apply_migrations
from migwizard.core.sql.transactions import write_txn

LOAD_CACHE = dict(SQLITE_SPEED_PRAGMAS)["cache_size"]


@pytest.fixture
def loaded(tmp_path):
    """A fresh target whose deferrable indexes were dropped, as a run's start does."""
    db = open_database(f"sqlite:///{tmp_path / 'target.sqlite'}")
    apply_migrations(db)
    names = deferred.deferrable(db)
    assert names  # LND's schema has non-unique indexes to defer
    with write_txn(db):
        deferred.drop(db, names)
    yield db, names
    db.close()


def _cache(db) -> int:
    return db.execute_sql("PRAGMA cache_size").fetchone()[0]


def _spy(monkeypatch, db, fail_at: int | None = None) -> list[int]:
    """Record the page cache in effect at every CREATE INDEX (optionally failing one)."""
    seen: list[int] = []
    real = db.execute_sql

    def execute_sql(sql, *a, **kw):
        if sql.startswith("CREATE INDEX"):
            seen.append(_cache(db))
            if fail_at is not None and len(seen) == fail_at:
                raise RuntimeError("planted failure")
        return real(sql, *a, **kw)

    monkeypatch.setattr(db, "execute_sql", execute_sql)
    return seen


def test_indexes_are_built_with_the_small_cache_which_is_restored(loaded, monkeypatch):
    db, names = loaded
    assert _cache(db) == LOAD_CACHE
    seen = _spy(monkeypatch, db)
    with write_txn(db):
        deferred.build(db, names)
    assert seen == [-SQLITE_BUILD_CACHE_KIB] * len(names)
    assert _cache(db) == LOAD_CACHE
    assert set(names) <= set(introspect.indexes(db))


def test_the_cache_is_restored_when_a_build_fails(loaded, monkeypatch):
    db, names = loaded
    _spy(monkeypatch, db, fail_at=2)
    with pytest.raises(RuntimeError, match="planted"):
        with write_txn(db):
            deferred.build(db, names)
    assert _cache(db) == LOAD_CACHE
