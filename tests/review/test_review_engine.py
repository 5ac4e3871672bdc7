"""Review findings: each test demonstrates a defect of the current engine."""

from __future__ import annotations

import pytest

from migwizard.core.engine.api import Engine
from migwizard.core.sql.connect import open_database

from tests.engine.kvbuild import (
    build_store,
    make_attempt,
    make_payment,
    seed_hash,
)


def _q(db, sql: str) -> str:
    return sql if db.param == "?" else sql.replace("?", "%s")


def _exec(url: str, sql: str, params=()):
    db = open_database(url)
    try:
        with db.atomic():
            cur = db.execute_sql(_q(db, sql), params)
            try:
                return cur.fetchall()
            except Exception:  # noqa: BLE001
                return None
    finally:
        db.close()


def _explain(rep) -> str:
    return f"error={rep.error!r} diffs={[(d.path, d.kv, d.sql) for d in rep.differences[:6]]}"


# ---------------------------------------------------------------------------
# F1: a payment holding a legacy ID-0 attempt next to ordinary attempts
#     (§4.6 "Remapped attempts can sort after non-remapped ones within a payment").
#     The migration is right, but validation compares the KV htlc list in the
#     pre-remap order with the SQL list sorted by attempt_index -> false mismatch,
#     the run can never be validated/committed.
# ---------------------------------------------------------------------------


def test_zero_id_attempt_next_to_nonzero_attempts_validates(tmp_path, target_url):
    h = seed_hash(7)
    p = make_payment(
        1, h, 1_000_000,
        htlcs=[make_attempt(0, hash=h, failed=True), make_attempt(5, hash=h, settled=h)],
    )
    kv = build_store(tmp_path / "kv", [p], switch_sequence=100)
    with Engine(kv, target_url) as eng:
        res = eng.migrate()
        assert res.outcome == "complete", res.error
        rep = eng.validate()
        assert rep.ok, _explain(rep)


# ---------------------------------------------------------------------------
# F2: migrate() lets SchemaError (a RuntimeError) escape the public API when the
#     target is an LND database whose own schema migration is dirty; preflight
#     does not see the problem and passes.
# ---------------------------------------------------------------------------


def _make_dirty_lnd_target(url: str) -> None:
    from migwizard.core.sql.schema import list_migrations, render_sql, split_statements

    db = open_database(url)
    try:
        with db.atomic():
            for m in list_migrations():
                if m.version in (1, 2):
                    for stmt in split_statements(render_sql(m.up_sql, db)):
                        db.execute_sql(stmt)
            db.execute_sql("CREATE TABLE schema_migrations (version BIGINT NOT NULL, dirty BOOLEAN NOT NULL)")
            db.execute_sql(_q(db, "INSERT INTO schema_migrations (version, dirty) VALUES (?, ?)"), (11, True))
    finally:
        db.close()


def test_dirty_lnd_target_gives_engine_error_not_schema_error(tmp_path, target_url):
    from migwizard.core.engine import EngineError

    h = seed_hash(1)
    kv = build_store(tmp_path / "kv", [make_payment(1, h, 1000, htlcs=[make_attempt(1, hash=h, settled=h)])])
    _make_dirty_lnd_target(target_url)
    with Engine(kv, target_url) as eng:
        try:
            eng.migrate()
        except EngineError:
            pass  # the documented failure type
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"migrate() raised {type(e).__name__} instead of EngineError: {e}")
        else:
            pytest.fail("migrate() accepted a target with a dirty LND schema")


# ---------------------------------------------------------------------------
# F3: validate()/verify() crash with ValueError on a SQLite time value they
#     cannot parse instead of reporting a difference (sqlread's own contract:
#     "a tampered row must surface as a difference in validation, not as an
#     exception").
# ---------------------------------------------------------------------------


def test_unparseable_sqlite_time_is_a_difference_not_a_crash(tmp_path, sqlite_url):
    h = seed_hash(2)
    kv = build_store(tmp_path / "kv", [make_payment(1, h, 1000, htlcs=[make_attempt(1, hash=h, settled=h)])])
    with Engine(kv, sqlite_url) as eng:
        assert eng.migrate().outcome == "complete"
    _exec(sqlite_url, "UPDATE payment_htlc_attempts SET attempt_time = 'yesterday'")
    with Engine(kv, sqlite_url) as eng:
        try:
            rep = eng.validate()
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"validate() raised {type(e).__name__}: {e}")
        assert not rep.ok


# ---------------------------------------------------------------------------
# F4: a password given as a URL query parameter (libpq's ?password=) is shown in
#     clear in every "redacted" target string: error messages, logs, the report
#     and the tombstone details written to the KV store.
# ---------------------------------------------------------------------------


def test_password_in_url_query_is_redacted(tmp_path):
    from migwizard.core.engine import EngineError

    secret = "s3cr3t-pw-Zq9"
    h = seed_hash(3)
    kv = build_store(tmp_path / "kv", [make_payment(1, h, 1000, htlcs=[make_attempt(1, hash=h, settled=h)])])
    url = f"postgresql://someone@127.0.0.1:1/nodb?password={secret}&sslmode=disable"
    with Engine(kv, url) as eng:
        with pytest.raises(EngineError) as ei:
            eng.migrate()
    assert secret not in str(ei.value)


# ---------------------------------------------------------------------------
# F5: the attempt_index LND's allocator gives a legacy ID-0 attempt is never
#     validated: validation copies whatever SQL holds (matched by session key).
#     Here the remapped index is moved to the new switch horizon, i.e. the very
#     next id lnd's runtime sequencer will issue -> UNIQUE(attempt_index)
#     collision on the first live payment. Validation passes.
# ---------------------------------------------------------------------------


def test_tampered_remapped_attempt_index_is_detected(tmp_path, sqlite_url):
    import sqlite3

    h = seed_hash(4)
    p = make_payment(1, h, 1_000_000, htlcs=[make_attempt(0, hash=h, settled=h)])
    kv = build_store(tmp_path / "kv", [p], switch_sequence=10)
    with Engine(kv, sqlite_url) as eng:
        assert eng.migrate().outcome == "complete"
    path = sqlite_url[len("sqlite:///"):]
    con = sqlite3.connect(path)  # foreign_keys off: move the attempt and its children together
    with con:
        (old,) = con.execute("SELECT attempt_index FROM payment_htlc_attempts").fetchone()
        assert old == 10
        for t, c in (("payment_htlc_attempts", "attempt_index"),
                     ("payment_htlc_attempt_resolutions", "attempt_index"),
                     ("payment_route_hops", "htlc_attempt_index"),
                     ("payment_attempt_first_hop_custom_records", "htlc_attempt_index")):
            con.execute(f"UPDATE {t} SET {c} = 11 WHERE {c} = 10")
    con.close()
    with Engine(kv, sqlite_url) as eng:
        rep = eng.validate()
        assert not rep.ok, "attempt_index 11 (= switch horizon after the run) passed validation"


# ---------------------------------------------------------------------------
# F6: payments.id order is never validated. LND reads SequenceNum = payments.id
#     (§3.5) and requires ids in KV-sequence order (§4.13); two payments whose
#     ids (and children) are swapped pass validation.
# ---------------------------------------------------------------------------


def test_swapped_payment_ids_are_detected(tmp_path, sqlite_url):
    import sqlite3

    pays = []
    for seq, seed in ((1, 11), (2, 12)):
        h = seed_hash(seed)
        pays.append(make_payment(seq, h, 1000 + seq, htlcs=[make_attempt(seq, hash=h, settled=h)]))
    kv = build_store(tmp_path / "kv", pays)
    with Engine(kv, sqlite_url) as eng:
        assert eng.migrate().outcome == "complete"
    con = sqlite3.connect(sqlite_url[len("sqlite:///"):])
    with con:
        for t, c in (("payments", "id"), ("payment_intents", "payment_id"),
                     ("payment_htlc_attempts", "payment_id"), ("payment_first_hop_custom_records", "payment_id"),
                     ("payment_duplicates", "payment_id")):
            con.execute(f"UPDATE {t} SET {c} = CASE {c} WHEN 1 THEN 1002 WHEN 2 THEN 1001 ELSE {c} END")
            con.execute(f"UPDATE {t} SET {c} = {c} - 1000 WHERE {c} > 1000")
    con.close()
    with Engine(kv, sqlite_url) as eng:
        rep = eng.validate()
        assert not rep.ok, "payments in reverse KV-sequence order passed validation"


# ---------------------------------------------------------------------------
# F7: after a chunk the database refused, the run record claims the refused
#     chunk's payments: _flush restores checkpoint/ids/stats but not the
#     payments_done/attempts_done/hops_done/... columns set by _stats_to().
# ---------------------------------------------------------------------------


def test_refused_chunk_does_not_count_as_done(tmp_path, target_url, monkeypatch):
    from migwizard.core.sql import bulk

    pays = []
    for seq in range(1, 5):
        h = seed_hash(20 + seq)
        pays.append(make_payment(seq, h, 1000, htlcs=[make_attempt(seq, hash=h, settled=h)]))
    kv = build_store(tmp_path / "kv", pays)
    real = bulk.BulkWriter.insert
    state = {"chunk_payments_inserts": 0}

    def refusing(self, table, columns, rows):
        if table == "payments":
            state["chunk_payments_inserts"] += 1
            if state["chunk_payments_inserts"] >= 2:  # chunk 2 and its culprit replay
                raise RuntimeError("simulated constraint violation")
        return real(self, table, columns, rows)

    monkeypatch.setattr(bulk.BulkWriter, "insert", refusing)
    with Engine(kv, target_url, chunk_size=2) as eng:
        res = eng.migrate()
        assert res.outcome == "failed"
    monkeypatch.setattr(bulk.BulkWriter, "insert", real)
    (row,) = _exec(target_url, "SELECT payments_done, attempts_done FROM migwizard_runs")
    (n,) = _exec(target_url, "SELECT COUNT(*) FROM payments")[0]
    assert n == 2
    assert tuple(row) == (2, 2), f"run record claims {tuple(row)} with only {n} payments committed"


# ---------------------------------------------------------------------------
# F8: sqlread masks int32 columns with & 0xFFFFFFFF and parses scid with
#     Python's int(). A SQLite value outside int32 (LND's sqlc int32 scan fails:
#     "value out of range") or a scid strconv.ParseUint rejects ("+100000",
#     "100_000") reads back equal to the KV value, so validation passes a row
#     LND cannot load.
# ---------------------------------------------------------------------------


def _one_settled_payment(tmp_path, sqlite_url):
    h = seed_hash(30)
    kv = build_store(tmp_path / "kv", [make_payment(1, h, 1000, htlcs=[make_attempt(1, hash=h, settled=h)])])
    with Engine(kv, sqlite_url) as eng:
        assert eng.migrate().outcome == "complete"
    return kv


def test_int32_column_out_of_range_is_detected(tmp_path, sqlite_url):
    kv = _one_settled_payment(tmp_path, sqlite_url)
    _exec(sqlite_url, "UPDATE payment_route_hops SET outgoing_time_lock = outgoing_time_lock + 4294967296")
    with Engine(kv, sqlite_url) as eng:
        rep = eng.validate()
        assert not rep.ok, "outgoing_time_lock outside int32 passed validation"


def test_scid_not_parseable_by_lnd_is_detected(tmp_path, sqlite_url):
    kv = _one_settled_payment(tmp_path, sqlite_url)
    _exec(sqlite_url, "UPDATE payment_route_hops SET scid = '+' || scid")
    with Engine(kv, sqlite_url) as eng:
        rep = eng.validate()
        assert not rep.ok, "scid '+100000' (rejected by strconv.ParseUint) passed validation"
