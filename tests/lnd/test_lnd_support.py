"""The test support itself: lnd databases built from lnd's files in global
order, and lnd's own sqlc queries run on them (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

import pytest

from migwizard.core.lnd.target import go_time_string, record_payments_migration
from migwizard.core.sql.transactions import write_txn
from tests.support import lnddb
from tests.support.lndqueries import lnd_queries, parse_queries, run_query

LOW, HIGH = datetime(1970, 1, 1), datetime(9999, 12, 31)


def _is_sqlite(db):
    return db.__class__.__name__.startswith("Sqlite")


def _ts(db, dt: datetime):
    return go_time_string(dt.astimezone()) if _is_sqlite(db) else dt


def _read_args(db, name, *, ids=(), attempts=(), hops=(), identifier=b"\0" * 32):
    return {
        "index_offset_get": None, "index_offset_let": None, "intent_type": None,
        # lnd binds time.Time; on SQLite that is Go's String() text (a bare
        # "0"/"9" would be taken as a number by the TIMESTAMP column's affinity)
        "created_after": _ts(db, LOW), "created_before": _ts(db, HIGH),
        "num_limit": 100, "payment_ids": list(ids), "htlc_attempt_indices": list(attempts),
        "hop_ids": list(hops),
        "p1": identifier if name == "FetchPayment" else 0, "p2": 100,
    }


def _all_reads(db, **kw):
    out = {}
    for name, q in lnd_queries().items():
        if q.is_read:
            out[name] = run_query(db, name, _read_args(db, name, **kw))
    return out


def test_parser_handles_sqlc_forms():
    qs = parse_queries(
        "-- name: A :many\nSELECT sqlc.embed(p) FROM payments p WHERE p.id IN (sqlc.slice('ids')/*SLICE:ids*/)"
        " AND p.x = sqlc.narg('x') OR sqlc.narg('x') IS NULL AND y = @y AND z = $1;\n"
        "-- name: B :exec\n-- comment $9\nDELETE FROM t WHERE id = $1;\n"
    )
    a = qs["A"]
    assert a.params == ("ids", "x", "y", "p1") and a.slices == {"ids"}
    sql, bound = a.render("sqlite", {"ids": [4, 5], "x": None, "y": 2, "p1": 3})
    assert "p.*" in sql and "IN (:ids__0, :ids__1)" in sql and sql.count(":x") == 2
    assert bound == {"ids__0": 4, "ids__1": 5, "x": None, "y": 2, "p1": 3}
    sql, _ = a.render("postgres", {"ids": [], "x": 1, "y": 2, "p1": 3})
    assert "IN (NULL)" in sql and "%(x)s" in sql
    assert qs["B"].params == ("p1",)  # the comment's $9 is not a parameter
    with pytest.raises(KeyError, match="missing parameters"):
        a.render("sqlite", {})


def test_every_lnd_read_query_runs_on_an_empty_lnd_db(target_db):
    lnddb.build_lnd_db(target_db, 13)
    reads = _all_reads(target_db)
    assert len(reads) >= 14
    assert reads["CountPayments"] == (0,)
    assert all(v in ([], None, (0,)) for v in reads.values()), reads


def test_build_at_13_then_record_14_and_apply_12_to_15(target_db):
    lnddb.build_lnd_db(target_db, 13)
    rows = target_db.execute_sql("SELECT version FROM migration_tracker ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, 14))
    assert target_db.execute_sql("SELECT version, dirty FROM schema_migrations").fetchall() in ([(11, 0)], [(11, False)])
    with write_txn(target_db):
        record_payments_migration(target_db)
    assert lnddb.apply_later_files(target_db) == [15, 16, 17, 18]
    assert target_db.execute_sql("SELECT MAX(version) FROM migration_tracker").fetchone()[0] == 18
    assert target_db.execute_sql("SELECT version FROM schema_migrations").fetchone()[0] == 15
    assert _all_reads(target_db)["CountPayments"] == (0,)


def test_insert_with_lnds_queries_and_read_back(target_db):
    lnddb.build_lnd_db(target_db, 18)
    db = target_db
    ident = bytes(range(32))
    now = datetime(2024, 8, 5, 2, 18, 1, 907038)
    with write_txn(db):
        (pid,) = run_query(db, "InsertPayment", {
            "amount_msat": 5000, "created_at": _ts(db, now), "payment_identifier": ident})
        run_query(db, "InsertPaymentIntent", {"payment_id": pid, "intent_type": 0, "intent_payload": b"lnbc1..."})
        run_query(db, "InsertHtlcAttempt", {
            "payment_id": pid, "attempt_index": 1000, "session_key": b"\x01" * 32,
            "attempt_time": _ts(db, now), "payment_hash": ident, "first_hop_amount_msat": 5010,
            "route_total_time_lock": 800, "route_total_amount": 5010, "route_source_key": b"\x02" * 33})
        (hop_id,) = run_query(db, "InsertRouteHop", {
            "htlc_attempt_index": 1000, "hop_index": 0, "pub_key": b"\x03" * 33, "scid": "123456",
            "outgoing_time_lock": 760, "amt_to_forward": 5000, "meta_data": None})
        run_query(db, "InsertRouteHopMpp", {"hop_id": hop_id, "payment_addr": b"\x04" * 32, "total_msat": 5000})
        run_query(db, "SettleAttempt", {
            "attempt_index": 1000, "resolution_time": _ts(db, now), "resolution_type": 1,
            "settle_preimage": b"\x05" * 32})
    reads = _all_reads(db, ids=[pid], attempts=[1000], hops=[hop_id], identifier=ident)
    assert reads["CountPayments"] == (1,)
    assert reads["FetchPayment"][0] == pid and bytes(reads["FetchPayment"][3]) == ident
    assert [r[0] for r in reads["FilterPayments"]] == [pid]
    assert len(reads["FetchHtlcAttemptsForPayments"]) == 1
    assert len(reads["FetchHopsForAttempts"]) == 1
    assert len(reads["FetchHtlcAttemptResolutionsForPayments"]) == 1
    assert reads["FetchNonTerminalPayments"] == []  # settled: terminal
    assert run_query(db, "FailPayment", (3, ident)) == 1
