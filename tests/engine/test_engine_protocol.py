"""The engine's safety protocol end to end: golden rows, validation, resume, rollback, reconcile.

Real LMDB stores, real SQLite files and a real PostgreSQL server (``target_url``
runs each test on both).
"""

from __future__ import annotations

import threading

import pytest

from migwizard.core.engine import ChunkCommitted, Engine, EngineError, RunState
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.dump import dump_tables

from .conftest import kv_digest

CAROL_HASH = "c25cd89a"


def _q(db, sql: str) -> str:
    return sql if db.param == "?" else sql.replace("?", "%s")


def _rows(url: str, sql: str, params=()):
    db = open_database(url)
    try:
        return db.execute_sql(_q(db, sql), params).fetchall()
    finally:
        db.close()


def _full_run(kv, url, chunk_size=500):
    with Engine(kv, url, chunk_size=chunk_size) as e:
        res = e.migrate()
        assert res.outcome == "complete", res.error
        rep = e.validate()
        assert rep.ok, (rep.error, rep.differences[:5])
        return res, rep


# --------------------------------------------------------------------------- golden


def test_carol_golden_rows(import_fixture, target_url):
    kv = import_fixture("carol")
    _full_run(kv, target_url)
    pg = target_url.startswith("postgres")
    (p,) = _rows(target_url, "SELECT id, amount_msat, created_at, payment_identifier, fail_reason FROM payments")
    assert p[0] == 1 and p[1] == 123000 and p[4] is None
    assert bytes(p[3]).hex().startswith(CAROL_HASH) and bytes(p[3]).hex().endswith("7ad3")
    if pg:
        assert p[2].isoformat(sep=" ") == "2024-08-05 02:18:01.891209"
    else:
        assert p[2] == "2024-08-05 02:18:01.891209181 +0000 UTC"
    (intent,) = _rows(target_url, "SELECT payment_id, intent_type, intent_payload FROM payment_intents")
    assert intent[0] == 1 and intent[1] == 0 and len(bytes(intent[2])) == 260
    assert bytes(intent[2]).startswith(b"lnbcrt1230n1pntqdth")
    (a,) = _rows(target_url, "SELECT attempt_index, payment_id, session_key, attempt_time, payment_hash, "
                             "first_hop_amount_msat, route_total_time_lock, route_total_amount, route_source_key "
                             "FROM payment_htlc_attempts")
    assert a[0] == 1 and a[1] == 1 and bytes(a[2]).hex().startswith("4e6774ff") and bytes(a[2]).hex().endswith("b68d")
    assert (a[3].isoformat(sep=" ") if pg else a[3]) == (
        "2024-08-05 02:18:01.907038" if pg else "2024-08-05 02:18:01.907038272 +0000 UTC")
    assert bytes(a[4]) == bytes(p[3]) and a[5] == 0 and a[6] == 1373 and a[7] == 123000
    assert bytes(a[8]).hex().startswith("0354187e") and len(bytes(a[8])) == 33
    (h,) = _rows(target_url, "SELECT id, htlc_attempt_index, hop_index, pub_key, scid, outgoing_time_lock, "
                             "amt_to_forward, meta_data FROM payment_route_hops")
    assert h[1:3] == (1, 0) and bytes(h[3]).hex().startswith("02e69c87") and h[4] == "234195976781824"
    assert h[5] == 1373 and h[6] == 123000 and h[7] is None
    (m,) = _rows(target_url, "SELECT hop_id, payment_addr, total_msat FROM payment_route_hop_mpp")
    assert m[0] == h[0] and bytes(m[1]).hex().startswith("55e2ecc3") and bytes(m[1]).hex().endswith("803e90")
    assert m[2] == 123000
    (r,) = _rows(target_url, "SELECT attempt_index, resolution_time, resolution_type, settle_preimage, "
                             "failure_source_index, htlc_fail_reason, failure_msg FROM payment_htlc_attempt_resolutions")
    assert r[0] == 1 and r[2] == 1 and bytes(r[3]).hex().startswith("9b6ae739") and r[4:] == (None, None, None)
    assert (r[1].isoformat(sep=" ") if pg else r[1]) == (
        "2024-08-05 02:18:02.058851" if pg else "2024-08-05 02:18:02.058851465 +0000 UTC")
    for t in ("payment_route_hop_amp", "payment_route_hop_blinded", "payment_hop_custom_records",
              "payment_first_hop_custom_records", "payment_attempt_first_hop_custom_records", "payment_duplicates"):
        assert _rows(target_url, f"SELECT COUNT(*) FROM {t}")[0][0] == 0


def test_dave_golden_rows(import_fixture, target_url):
    kv = import_fixture("dave")
    _, rep = _full_run(kv, target_url)
    (p,) = _rows(target_url, "SELECT id, amount_msat, created_at, fail_reason FROM payments")
    assert p[0] == 1 and p[1] == 123000 and p[3] == 4
    if target_url.startswith("sqlite"):
        assert p[2] == "2024-08-05 02:14:57.987228588 +0000 UTC"
    assert _rows(target_url, "SELECT COUNT(*) FROM payment_intents")[0][0] == 1
    assert _rows(target_url, "SELECT COUNT(*) FROM payment_htlc_attempts")[0][0] == 0
    assert rep.payments[0].status == "failed"


def test_alice_migrates_eight_payments_in_sequence_order(import_fixture, target_url):
    kv = import_fixture("alice")
    res, rep = _full_run(kv, target_url, chunk_size=3)
    assert res.stats.payments == 8 and res.stats.succeeded == 8 and res.stats.chunks == 3
    rows = _rows(target_url, "SELECT id FROM payments ORDER BY id")
    assert [r[0] for r in rows] == list(range(1, 9))
    # ids follow the KV sequence order 1,4,5,6,7,1001,1002,2001
    assert [r.sequence for r in rep.payments] == [1, 4, 5, 6, 7, 1001, 1002, 2001]
    assert [r.sql_id for r in rep.payments] == list(range(1, 9))
    attempts = _rows(target_url, "SELECT attempt_index FROM payment_htlc_attempts ORDER BY payment_id")
    assert [a[0] for a in attempts] == [1, 2, 3, 4, 5, 1000, 1001, 2000]


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("profile,count", [("edge", 0), ("mixed", 80)])
def test_generated_profiles_migrate_with_zero_differences(generated_ro, target_url, profile, count):
    kv = generated_ro(profile, count)
    res, rep = _full_run(kv, target_url, chunk_size=7)
    assert rep.ok and not rep.differences
    assert rep.payments_checked == res.stats.payments > 0
    if profile == "edge":
        for name in ("legacy_payload_dropped", "orphaned_blinded_total_dropped", "nil_hash_from_payment",
                     "legacy_zero_attempt_id_remapped", "legacy_zero_attempt_terminalised",
                     "duplicate_unresolved_marked_failed", "duplicate_index_entry_skipped",
                     "settle_and_fail_settle_wins", "failure_message_reencoded", "failure_message_dropped"):
            assert res.stats.normalisations.get(name, 0) > 0, name


def test_altered_sql_row_is_reported_with_field_path(import_fixture, target_url):
    kv = import_fixture("alice")
    _full_run(kv, target_url)
    db = open_database(target_url)
    try:
        with db.atomic():
            db.execute_sql("UPDATE payment_route_hops SET amt_to_forward = amt_to_forward + 1 WHERE id = 3")
            db.execute_sql(_q(db, "UPDATE payments SET amount_msat = ? WHERE id = 5"), (42,))
    finally:
        db.close()
    with Engine(kv, target_url) as e:
        rep = e.validate()
    assert not rep.ok
    paths = {d.path for d in rep.differences}
    assert "htlcs[0].route.hops[0].amt_to_forward" in paths
    assert "amount_msat" in paths
    amt = next(d for d in rep.differences if d.path == "amount_msat")
    assert amt.sql == 42 and amt.kv != 42
    with Engine(kv, target_url) as e:
        with pytest.raises(EngineError):
            e.commit()


# --------------------------------------------------------------------- resume


def _cancel_after(chunk: int):
    cancel = threading.Event()

    def sink(ev):
        if isinstance(ev, ChunkCommitted) and ev.chunk >= chunk:
            cancel.set()

    return cancel, sink


def test_resume_after_cancel_is_identical_to_uninterrupted(generated_ro, target_url, tmp_path, pg_or_sqlite_second):
    kv = generated_ro("edge", 0)
    # uninterrupted
    _full_run(kv, pg_or_sqlite_second, chunk_size=4)
    # interrupted after chunk 2, then resumed
    cancel, sink = _cancel_after(2)
    with Engine(kv, target_url, chunk_size=4, on_event=sink) as e:
        res = e.migrate(cancel=cancel)
        assert res.outcome == "cancelled"
        assert e.state() is RunState.IN_PROGRESS
    with Engine(kv, target_url, chunk_size=4) as e:
        res = e.migrate()
        assert res.outcome == "complete"
        assert e.validate().ok
    a = open_database(pg_or_sqlite_second)
    b = open_database(target_url)
    try:
        assert dump_tables(a) == dump_tables(b)
    finally:
        a.close()
        b.close()


def test_resume_after_failed_chunk_transaction(generated_ro, target_url, monkeypatch):
    """A chunk whose transaction dies half-way (a crash) leaves nothing; resume gives the same rows."""
    kv = generated_ro("mixed", 40)
    from migwizard.core.sql import bulk

    calls = {"n": 0}
    real = bulk.BulkWriter.insert

    def flaky(self, table, columns, rows):
        calls["n"] += 1
        if calls["n"] == 14:  # inside chunk 2
            raise KeyboardInterrupt("simulated crash")
        return real(self, table, columns, rows)

    monkeypatch.setattr(bulk.BulkWriter, "insert", flaky)
    with Engine(kv, target_url, chunk_size=10) as e:
        with pytest.raises(KeyboardInterrupt):
            e.migrate()
    monkeypatch.setattr(bulk.BulkWriter, "insert", real)
    db = open_database(target_url)
    try:
        (chk,) = db.execute_sql("SELECT checkpoint_seq, payments_done FROM migwizard_runs").fetchall()
        assert chk[1] in (10, 20)
        assert db.execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0] == chk[1]
        partial = dump_tables(db)
    finally:
        db.close()
    with Engine(kv, target_url, chunk_size=10) as e:
        assert e.migrate().outcome == "complete"
        assert e.validate().ok
    db = open_database(target_url)
    try:
        full = dump_tables(db)
        assert all(full[t][: len(rows)] == rows for t, rows in partial.items())
        ids = [r[0] for r in full["payments"]]
        assert ids == list(range(1, len(ids) + 1))
    finally:
        db.close()


# ------------------------------------------------------------------- rollback


def _unrelated(db):
    db.execute_sql("CREATE TABLE invoices_keep (id INTEGER PRIMARY KEY, note TEXT)")
    db.execute_sql("INSERT INTO invoices_keep (id, note) VALUES (1, 'mine'), (2, 'also mine')")


def _snapshot(url):
    from migwizard.core.sql.introspect import table_names

    db = open_database(url)
    try:
        names = table_names(db)
        return names, dump_tables(db, names)
    finally:
        db.close()


def test_rollback_restores_target_and_leaves_kv_unchanged(generated_ro, target_url):
    kv = generated_ro("edge", 0)
    db = open_database(target_url)
    try:
        with db.atomic():
            _unrelated(db)
    finally:
        db.close()
    before = _snapshot(target_url)
    digest = kv_digest(kv)
    data_file = (kv / "data.mdb").read_bytes()
    with Engine(kv, target_url, chunk_size=5) as e:
        assert e.migrate().outcome == "complete"
        assert e.validate().ok
        assert e.state() is RunState.IN_PROGRESS
        res = e.rollback()
        assert res.kv_unchanged and sum(res.rows_deleted.values()) > 0
        assert "payments" in res.tables_dropped
        assert e.state() is RunState.FRESH
    assert _snapshot(target_url) == before
    assert kv_digest(kv) == digest
    assert (kv / "data.mdb").read_bytes() == data_file  # byte-identical, not only the same content


def test_rollback_of_cancelled_run_on_new_sqlite_file_removes_it(generated_ro, tmp_path):
    kv = generated_ro("mixed", 30)
    path = tmp_path / "new" / "lnd.sqlite"
    path.parent.mkdir()
    url = f"sqlite:///{path}"
    cancel, sink = _cancel_after(1)
    digest = kv_digest(kv)
    with Engine(kv, url, chunk_size=5, on_event=sink) as e:
        assert e.migrate(cancel=cancel).outcome == "cancelled"
        e.rollback()
    assert not path.exists() and list(path.parent.iterdir()) == []
    assert kv_digest(kv) == digest


def test_rollback_refused_once_committed(import_fixture, target_url):
    kv = import_fixture("carol")
    _full_run(kv, target_url)
    with Engine(kv, target_url) as e:
        e.commit()
        with pytest.raises(EngineError, match="refusing to roll back"):
            e.rollback()


def test_failed_run_rolls_back_cleanly(generated, target_url):
    from migwizard.core.generate import corrupt_payment_value

    kv = generated("mixed", 30)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        h = list(root.bucket(b"payments-index-bucket").items())[17][1][2:]
    res = corrupt_payment_value(kv, h, b"payment-creation-info", 20, mode="truncate")
    before = _snapshot(target_url)
    with Engine(kv, target_url, chunk_size=5) as e:
        r = e.migrate()
        assert r.outcome == "failed"
        assert r.failing_payment == res.payment_hash.hex()
        assert "payment-creation-info" in r.error and "byte offset" in r.error
        e.rollback()
    assert _snapshot(target_url) == before


# ----------------------------------------------------------------- reconcile


def _tombstoned(kv) -> bool:
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        rb = root.bucket(b"payments-root-bucket")
        return rb is not None and rb.get(b"payments-tombstone") == b"1"


def test_reconcile_matrix(import_fixture, target_url, pg_or_sqlite_second, monkeypatch):
    kv = import_fixture("alice")
    with Engine(kv, target_url) as e:
        assert e.state() is RunState.FRESH
        assert e.migrate().outcome == "complete"
        assert e.state() is RunState.IN_PROGRESS
        assert e.validate().ok
        # commit durable, then a crash before the tombstone
        from migwizard.core.engine import finish

        def boom(ctx, run):
            raise KeyboardInterrupt("power cut after commit")

        monkeypatch.setattr(finish, "write_tombstone", boom)
        with pytest.raises(KeyboardInterrupt):
            e.commit()
        monkeypatch.undo()
        assert not _tombstoned(kv)
        assert e.state() is RunState.COMMITTED_NO_TOMBSTONE
    # a different store must not be tombstoned against this target
    other = import_fixture("carol")
    with Engine(other, target_url) as e:
        with pytest.raises(EngineError, match="different KV store"):
            e.reconcile()
    assert not _tombstoned(other)
    with Engine(kv, target_url) as e:
        assert e.reconcile() is RunState.COMPLETE
        assert _tombstoned(kv)
        assert e.state() is RunState.COMPLETE
        with pytest.raises(EngineError):
            e.migrate()
        assert e.verify().ok  # verify still works on a tombstoned store
        assert not e.preflight().ok
    # tombstone without committed SQL: refuse, explain recovery
    with Engine(kv, pg_or_sqlite_second) as e:
        assert e.state() is RunState.TOMBSTONE_WITHOUT_SQL
        with pytest.raises(EngineError, match="tombstoned") as ei:
            e.reconcile()
        assert "restore" in ei.value.hint
        assert not e.preflight().ok


def test_commit_advances_switch_sequencer_and_writes_tombstone_only_after(generated, target_url):
    kv = generated("edge", 0)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        before = root.bucket(b"next-payment-id-key").sequence()
    with Engine(kv, target_url) as e:
        res = e.migrate()
        zero = res.stats.normalisations.get("legacy_zero_attempt_id_remapped", 0)
        assert zero > 0
        assert e.validate().ok
        assert not _tombstoned(kv)
        e.commit()
    assert _tombstoned(kv)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        after = root.bucket(b"next-payment-id-key").sequence()
    assert after == max(before, 1) + zero


def test_preflight_checks_on_both_dialects(import_fixture, target_url):
    from migwizard.core.engine import CheckStatus

    kv = import_fixture("alice")
    with Engine(kv, target_url) as e:
        rep = e.preflight()
    checks = {c.id: c for c in rep.checks}
    assert rep.ok, [(c.id, c.reason) for c in rep.checks if c.status is CheckStatus.FAIL]
    assert checks["sql.version"].status is CheckStatus.PASS, checks["sql.version"].reason
    assert checks["kv.channeldb"].details["version"] == 29
    assert rep.counts.succeeded == 8 and rep.counts.index_entries == 8
    assert checks["markers"].status is CheckStatus.PASS
    if target_url.startswith("postgres"):
        assert checks["sql.permissions"].status is CheckStatus.PASS
    assert "sql.free_space" in checks and "tmp.free_space" in checks
    # an empty target is not lnd's database: said plainly, needs an acknowledgement in the wizard
    assert [w.id for w in rep.warnings] == ["sql.lnd_tracker"]


def _make_lnd_target(url: str, invoices: int = 154) -> None:
    """A target as lnd leaves it when its own payments migration (global version 14) failed:
    schema files up to 000011 applied, migration_tracker at 13, and the node's invoices
    (alice has 154) copied by lnd's invoice migration (global 7), so the node-identity
    check sees the same node."""
    from migwizard.core.sql.schema import list_migrations, render_sql, split_statements

    db = open_database(url)
    try:
        with db.atomic():
            for m in list_migrations():
                if m.version in (1, 2):  # = lnd's 000010_payments, 000011_payment_duplicates
                    for stmt in split_statements(render_sql(m.up_sql, db)):
                        db.execute_sql(stmt)
            db.execute_sql("CREATE TABLE schema_migrations (version BIGINT NOT NULL, dirty BOOLEAN NOT NULL)")
            db.execute_sql(_q(db, "INSERT INTO schema_migrations (version, dirty) VALUES (?, ?)"), (11, False))
            db.execute_sql("CREATE TABLE migration_tracker (version INTEGER UNIQUE NOT NULL, "
                           "migration_time TIMESTAMP NOT NULL)")
            for v in range(1, 14):
                db.execute_sql(_q(db, "INSERT INTO migration_tracker (version, migration_time) VALUES (?, ?)"),
                               (v, "2026-06-01 10:00:00"))
            db.execute_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY, memo TEXT)")
            for n in range(1, invoices + 1):
                db.execute_sql(_q(db, "INSERT INTO invoices (id, memo) VALUES (?, ?)"), (n, f"invoice {n}"))
    finally:
        db.close()


def test_lnd_owned_target_gets_tracker_version_14_on_commit(import_fixture, target_url):
    kv = import_fixture("alice")
    _make_lnd_target(target_url)
    with Engine(kv, target_url) as e:
        assert e.preflight().ok
        _ = e.migrate()
        assert e.validate().ok
        res = e.commit()
    assert res.lnd_tracker_recorded
    versions = [r[0] for r in _rows(target_url, "SELECT version FROM migration_tracker ORDER BY version")]
    assert versions == list(range(1, 15))
    assert _rows(target_url, "SELECT COUNT(*) FROM payments")[0][0] == 8


def test_rollback_on_lnd_owned_target_keeps_lnd_tables(import_fixture, target_url):
    kv = import_fixture("alice")
    _make_lnd_target(target_url)
    before = _snapshot(target_url)
    with Engine(kv, target_url, chunk_size=3) as e:
        assert e.migrate().outcome == "complete"
        res = e.rollback()
        assert "payments" not in res.tables_dropped
    assert _snapshot(target_url) == before


def test_store_held_by_another_process_is_refused(import_fixture, sqlite_url):
    import subprocess
    import sys
    import time

    from migwizard.core.engine import CheckStatus

    kv = import_fixture("carol")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom migwizard.core.kv.lmdb_store import LmdbStore\n"
         f"s = LmdbStore.open({str(kv)!r})\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with Engine(kv, sqlite_url) as e:
            rep = e.preflight()
            kvopen = next(c for c in rep.checks if c.id == "kv.open")
            assert kvopen.status is CheckStatus.FAIL and not rep.ok
            with pytest.raises(EngineError) as ei:
                e.migrate()
            assert "stop" in ei.value.hint
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with Engine(kv, sqlite_url) as e:
        assert e.preflight().ok


def test_two_sessions_on_one_store_are_refused(generated_ro, sqlite_url, tmp_path):
    import subprocess
    import sys

    kv = generated_ro("mixed", 60)
    env = dict(__import__("os").environ, MIGWIZ_THROTTLE_CHUNK_S="0.2")
    first = subprocess.Popen(
        [sys.executable, "-c",
         "from migwizard.core.engine import Engine, ChunkCommitted\n"
         "def sink(ev):\n"
         "    if isinstance(ev, ChunkCommitted) and ev.chunk == 1: print('chunk', flush=True)\n"
         f"e = Engine({str(kv)!r}, {sqlite_url!r}, chunk_size=5, on_event=sink)\n"
         "print(e.migrate().outcome, flush=True)"],
        stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert first.stdout.readline().strip() == "chunk"
        with Engine(kv, f"sqlite:///{tmp_path / 'other.sqlite'}") as e:
            with pytest.raises(EngineError, match="another migwizard session"):
                e.migrate()
            assert not e.preflight().ok
    finally:
        out = first.communicate(timeout=60)[0]
    assert out.strip() == "complete"


def test_payment_detail_masks_differences_unless_secrets_are_asked_for(import_fixture, sqlite_url):
    kv = import_fixture("carol")
    _full_run(kv, sqlite_url)
    db = open_database(sqlite_url)
    with db.atomic():
        db.execute_sql("UPDATE payment_htlc_attempts SET session_key = X'" + "22" * 32 + "'")
    db.close()
    with Engine(kv, sqlite_url) as e:
        masked = e.payment_detail(CAROL_HASH)
        shown = e.payment_detail(CAROL_HASH, show_secrets=True)
    (dm,) = [d for d in masked.differences if d.path.endswith("session_key")]
    (ds,) = [d for d in shown.differences if d.path.endswith("session_key")]
    assert dm.kv == dm.sql == "<redacted>"
    assert ds.sql == "22" * 32 and ds.kv.startswith("4e6774ff")
    assert "22" * 32 not in repr(masked)
