"""The flat batch check (``fast.canon_flat``) on SQLite: on a clean migration every
batch's rows are exactly the ones the KV side predicts (no batch pays for the
per-payment comparison), and a planted corruption makes its batch differ, so the
per-payment comparison (whose verdicts ``test_canon`` checks against the full
decoder) decides. PostgreSQL takes it too, through its own reader of the same lists
(``canon_flatpg``; ``test_canon_flatpg`` checks it against the tuples it replaced)."""

from __future__ import annotations

import pytest

from migwizard.core.engine.runs import latest_run
from migwizard.core.fast.canon import SAMPLE_PERCENT, CanonValidator, KvSide, iter_main_payments, replay_allocator
from migwizard.core.fast.canon_flat import read_flat, with_times
from migwizard.core.fast.canon_flatpg import read_flat_pg
from migwizard.core.fast.timefmt import ts_for
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.values import POSTGRES, dialect_for

from .test_canon import CORRUPTIONS, SQLITE_ONLY, _exec, _migrated


def _check_all(kv, url, batch_size=40):
    """A CanonValidator over the whole store: (its flat outcomes, the verdicts, the
    predicted and read flat rows of every batch)."""
    db = open_database(url)
    try:
        run = latest_run(db)
        with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
            v = CanonValidator(db, dialect_for(db), root.bucket(b"payments-root-bucket"),
                               first_payment_id=run.first_payment_id,
                               alloc=replay_allocator(run.switch_seq_before or 0))
            verdicts, batch = [], []
            for item in iter_main_payments(root):
                batch.append(item)
                if len(batch) == batch_size:
                    verdicts += v.check(batch, sum(x.counted for x in verdicts))
                    batch = []
            if batch:
                verdicts += v.check(batch, sum(x.counted for x in verdicts))
            return dict(v.flat_batches), verdicts
    finally:
        db.close()


@pytest.mark.parametrize("profile,count", [("edge", 260), ("mixed", 400), ("legacy-zero-ids", 60)])
def test_clean_migration_every_batch_flat_equal(generated_ro, target_url, profile, count):
    kv = generated_ro(profile, count)
    _migrated(kv, target_url)
    flat, verdicts = _check_all(kv, target_url)
    assert flat.get(False, 0) == 0 and flat[True] == -(-len(verdicts) // 40)
    assert not any(v.differences for v in verdicts)
    assert any(v.route == "sample" for v in verdicts) or profile == "legacy-zero-ids"


@pytest.mark.parametrize("name", ["alice", "carol", "dave"])
def test_real_fixtures_every_batch_flat_equal(import_fixture, target_url, name):
    kv = import_fixture(name)
    _migrated(kv, target_url)
    flat, verdicts = _check_all(kv, target_url)
    assert verdicts and flat.get(False, 0) == 0 and flat[True] >= 1


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS) + sorted(SQLITE_ONLY))
def test_planted_corruption_fails_its_batch(generated_ro, sqlite_url, corruption):
    kv = generated_ro("mixed", 150)
    _migrated(kv, sqlite_url)
    _exec(sqlite_url, {**CORRUPTIONS, **SQLITE_ONLY}[corruption])
    flat, verdicts = _check_all(kv, sqlite_url)
    assert flat.get(False, 0) >= 1
    assert any(v.route == "diff" for v in verdicts)


@pytest.mark.parametrize("profile", ["edge", "legacy-zero-ids"])
def test_predicted_rows_are_the_read_rows(generated_ro, target_url, profile):
    """Table by table, row by row (a failing comparison says where), on either target."""
    kv = generated_ro(profile, 120)
    _migrated(kv, target_url)
    db = open_database(target_url)
    try:
        run = latest_run(db)
        with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
            dialect = dialect_for(db)
            ts = ts_for(dialect)
            side = KvSide(ts, SAMPLE_PERCENT, dialect.is_postgres, replay_allocator(run.switch_seq_before or 0))
            items = [side.item(*it) for it in iter_main_payments(root)]
            b = side.batch(items)
            lo = run.first_payment_id
            read = (read_flat_pg if dialect.is_postgres else read_flat)(db, lo, lo + len(items) - 1)
            assert len(read) == len(b.flat) + 3
            for mine, got in zip(with_times(b.flat, ts), read):
                assert mine == got
    finally:
        db.close()


def test_postgres_takes_the_flat_check():
    side = KvSide(ts_for(POSTGRES), SAMPLE_PERCENT, True, replay_allocator(0))
    assert side.flat is not None and side.batch([]).flat is not None
