"""The engine on its fast paths (fast.rows in migrate, fast.canon in validate, row-sized
chunks, deferred indexes) against the same engine with ``MIGWIZ_FASTPATH=0``: identical
tables, identical verdicts, on clean and on tampered targets, SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from migwizard.core.engine import ChunkCommitted, Engine, RunState
from migwizard.core.engine.runs import latest_run
from migwizard.core.sql import deferred, introspect
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.dump import dump_tables
from migwizard.core.sql.schema import apply_migrations

TAMPER = [
    "UPDATE payment_route_hops SET amt_to_forward = amt_to_forward + 1 WHERE id = 3",
    "DELETE FROM payment_route_hop_mpp WHERE hop_id = (SELECT MIN(hop_id) FROM payment_route_hop_mpp)",
    "UPDATE payments SET amount_msat = 42 WHERE id = 7",
    "UPDATE payment_htlc_attempt_resolutions SET htlc_fail_reason = htlc_fail_reason + 1 WHERE attempt_index = "
    "(SELECT MAX(attempt_index) FROM payment_htlc_attempt_resolutions WHERE resolution_type = 2)",
]


def _run(kv, url, monkeypatch, fast: bool, chunk_size: int = 5000, **env):
    monkeypatch.setenv("MIGWIZ_FASTPATH", "1" if fast else "0")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with Engine(kv, url, chunk_size=chunk_size) as e:
        res = e.migrate()
        assert res.outcome == "complete", res.error
        rep = e.validate()
    monkeypatch.delenv("MIGWIZ_CHUNK_ROWS", raising=False)
    return res, rep


def _revalidate(kv, url, monkeypatch, fast: bool):
    monkeypatch.setenv("MIGWIZ_FASTPATH", "1" if fast else "0")
    with Engine(kv, url) as e:
        return e.validate()


def _verdict(rep):
    return (rep.ok, rep.error, rep.payments_checked, rep.duplicates_checked, rep.count_sql, rep.differences_total,
            [(d.payment, d.path, d.kv, d.sql) for d in rep.differences],
            [(r.identifier, r.sequence, r.sql_id, r.status, r.amount_msat, r.attempts, r.created_ns,
              r.normalisations, r.differences) for r in rep.payments])


def _dump(url):
    db = open_database(url)
    try:
        return dump_tables(db)
    finally:
        db.close()


def _exec(url, sql):
    db = open_database(url)
    try:
        with db.atomic():
            db.execute_sql(sql)
    finally:
        db.close()


@pytest.mark.parametrize("profile,count", [("edge", 0), ("mixed", 300)])
def test_fast_and_full_engine_give_identical_tables_and_verdicts(generated, target_url, pg_or_sqlite_second,
                                                                 monkeypatch, profile, count):
    kv = generated(profile, count)
    res_slow, rep_slow = _run(kv, pg_or_sqlite_second, monkeypatch, fast=False, chunk_size=37)
    res_fast, rep_fast = _run(kv, target_url, monkeypatch, fast=True, MIGWIZ_CHUNK_ROWS="400")
    assert rep_slow.ok and rep_fast.ok
    assert _dump(target_url) == _dump(pg_or_sqlite_second)
    assert _verdict(rep_fast) == _verdict(rep_slow)
    for f in ("payments", "succeeded", "failed", "in_flight", "initiated", "attempts", "attempts_settled",
              "attempts_failed", "attempts_in_flight", "hops", "duplicate_payments", "duplicate_entries",
              "skipped", "normalisations", "rows"):
        assert getattr(res_fast.stats, f) == getattr(res_slow.stats, f), f
    # Planted corruptions: the same differences, payment by payment, either way.
    for sql in TAMPER:
        _exec(target_url, sql)
    fast, slow = _revalidate(kv, target_url, monkeypatch, True), _revalidate(kv, target_url, monkeypatch, False)
    assert not fast.ok and fast.differences
    assert _verdict(fast) == _verdict(slow)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_legacy_zero_ids_every_payment_tampered_same_verdicts(generated, target_url, monkeypatch, workers):
    """The walk does the full decode (and the legacy ID-0 allocator replay) of the
    fallback and sampled payments; a fallback payment whose rows differ is decoded again
    for the tree diff from the horizon the walk saw before it. Every payment tampered, so
    every remapped legacy attempt takes that replay, in one process and in two."""
    kv = generated("legacy-zero-ids", 60)
    monkeypatch.setenv("MIGWIZ_VALIDATION_BATCH", "7")  # the replay across many batches
    monkeypatch.setenv("MIGWIZ_WORKERS", workers)
    _res, rep = _run(kv, target_url, monkeypatch, fast=True)
    assert rep.ok
    _exec(target_url, "UPDATE payment_htlc_attempts SET route_total_amount = route_total_amount + 1")
    fast, slow = _revalidate(kv, target_url, monkeypatch, True), _revalidate(kv, target_url, monkeypatch, False)
    assert not fast.ok and fast.differences_total >= fast.payments_checked
    assert any("legacy_zero_attempt_id_remapped" in r.normalisations for r in fast.payments)
    assert _verdict(fast) == _verdict(slow)


def test_chunks_close_by_rows_and_chunk_size_stays_an_upper_bound(generated, sqlite_url, tmp_path, monkeypatch):
    kv = generated("mixed", 200)
    res_rows, _ = _run(kv, sqlite_url, monkeypatch, fast=True, MIGWIZ_CHUNK_ROWS="300")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    res_pay, _ = _run(kv, other, monkeypatch, fast=True, chunk_size=50)
    assert res_rows.stats.chunks > 200 * 3 // 300  # rows, not payments, closed the chunks
    assert res_pay.stats.chunks == 4  # 200 payments, at most 50 each, far below the row budget
    assert _dump(sqlite_url) == _dump(other)


def test_deferred_indexes_survive_cancel_resume_and_rollback(generated, target_url, pg_or_sqlite_second,
                                                             monkeypatch):
    kv = generated("mixed", 120)
    db = open_database(pg_or_sqlite_second)
    try:
        apply_migrations(db)
        lnd_indexes = set(introspect.indexes(db))
        wanted = deferred.deferrable(db)
    finally:
        db.close()
    assert len(wanted) >= 5
    cancel = threading.Event()

    def sink(ev):
        if isinstance(ev, ChunkCommitted) and ev.chunk >= 2:
            cancel.set()

    monkeypatch.setenv("MIGWIZ_CHUNK_ROWS", "200")
    with Engine(kv, target_url, on_event=sink) as e:
        assert e.migrate(cancel=cancel).outcome == "cancelled"
    db = open_database(target_url)
    try:
        run = latest_run(db)
        assert sorted(run.stats["deferred_indexes"]) == sorted(wanted)
        assert not set(wanted) & set(introspect.indexes(db))  # dropped for the load
    finally:
        db.close()
    with Engine(kv, target_url) as e:
        assert e.state() is RunState.IN_PROGRESS
        assert e.migrate().outcome == "complete"
    db = open_database(target_url)
    try:
        assert set(introspect.indexes(db)) == lnd_indexes  # LND's schema again, every index
        assert latest_run(db).stats["deferred_indexes"] == []
    finally:
        db.close()
    with Engine(kv, target_url) as e:
        assert e.validate().ok
        e.rollback()
    db = open_database(target_url)
    try:
        assert "payments" not in set(introspect.table_names(db))
    finally:
        db.close()


def test_validation_builds_indexes_a_crash_left_missing(generated, sqlite_url, monkeypatch):
    """A crash between the last chunk and the index build: validation builds them first."""
    kv = generated("mixed", 40)
    with Engine(kv, sqlite_url) as e:
        assert e.migrate().outcome == "complete"
    db = open_database(sqlite_url)
    try:
        wanted = deferred.deferrable(db)
        run = latest_run(db)
        with db.atomic():
            deferred.drop(db, wanted)
            run.stats["deferred_indexes"] = wanted
            run.save(db)
    finally:
        db.close()
    with Engine(kv, sqlite_url) as e:
        assert e.validate().ok
    db = open_database(sqlite_url)
    try:
        assert set(wanted) <= set(introspect.indexes(db))
        assert latest_run(db).stats["deferred_indexes"] == []
    finally:
        db.close()


def test_existing_lnd_tables_keep_their_indexes(generated, target_url, monkeypatch):
    """Tables the run did not create keep every index during the load."""
    kv = generated("mixed", 30)
    db = open_database(target_url)
    try:
        apply_migrations(db)
        before = set(introspect.indexes(db))
    finally:
        db.close()
    with Engine(kv, target_url) as e:
        assert e.migrate().outcome == "complete"
    db = open_database(target_url)
    try:
        run = latest_run(db)
        assert not run.stats.get("deferred_indexes")
        assert set(introspect.indexes(db)) == before
    finally:
        db.close()


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "full"])
def test_refused_chunk_names_the_payment(generated, sqlite_url, monkeypatch, fast):
    """The failure search names the payment the target really refuses (a trigger here),
    on the fast path as on the full one."""
    from migwizard.core.kv.lmdb_store import LmdbStore

    kv = generated("mixed", 60)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        entries = list(root.bucket(b"payments-index-bucket").items())
    victim = entries[33][1][2:]  # the index value: hash-type prefix + 32-byte hash
    db = open_database(sqlite_url)
    try:
        apply_migrations(db)
        db.execute_sql("CREATE TRIGGER refuse BEFORE INSERT ON payments WHEN NEW.payment_identifier = "
                       f"x'{victim.hex()}' BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END")
    finally:
        db.close()
    monkeypatch.setenv("MIGWIZ_FASTPATH", "1" if fast else "0")
    with Engine(kv, sqlite_url, chunk_size=10) as e:
        res = e.migrate()
    assert res.outcome == "failed"
    assert res.failing_payment == victim.hex()
    assert "refused by test trigger" in res.error and "first failing payment" in res.error
    (n,) = _rows(sqlite_url, "SELECT COUNT(*) FROM payments")[0]
    assert n == 30  # the three chunks before the refused one stay committed


def _rows(url, sql):
    db = open_database(url)
    try:
        return db.execute_sql(sql).fetchall()
    finally:
        db.close()
