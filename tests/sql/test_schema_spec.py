"""The created schema equals spec lnd-payments.md §3.2, on both dialects, and
its constraints behave (CHECK, UNIQUE, FK cascade)."""

import peewee
import pytest

from migwizard.core.sql import introspect
from migwizard.core.sql.models import ALL_MODELS
from migwizard.core.sql.transactions import write_txn
from migwizard.core.sql.values import dialect_for

# (column, LND SQLite type, NOT NULL) straight from §3.2.
SPEC_COLUMNS = {
    "payments": [
        ("id", "INTEGER", True), ("amount_msat", "BIGINT", True), ("created_at", "TIMESTAMP", True),
        ("payment_identifier", "BLOB", True), ("fail_reason", "INTEGER", False),
    ],
    "payment_intents": [
        ("id", "INTEGER", True), ("payment_id", "BIGINT", True), ("intent_type", "SMALLINT", True),
        ("intent_payload", "BLOB", False),
    ],
    "payment_htlc_attempts": [
        ("id", "INTEGER", True), ("attempt_index", "BIGINT", True), ("payment_id", "BIGINT", True),
        ("session_key", "BLOB", True), ("attempt_time", "TIMESTAMP", True), ("payment_hash", "BLOB", True),
        ("first_hop_amount_msat", "BIGINT", True), ("route_total_time_lock", "INTEGER", True),
        ("route_total_amount", "BIGINT", True), ("route_source_key", "BLOB", True),
    ],
    "payment_htlc_attempt_resolutions": [
        ("attempt_index", "INTEGER", True), ("resolution_time", "TIMESTAMP", True),
        ("resolution_type", "INTEGER", True), ("settle_preimage", "BLOB", False),
        ("failure_source_index", "INTEGER", False), ("htlc_fail_reason", "INTEGER", False),
        ("failure_msg", "BLOB", False),
    ],
    "payment_route_hops": [
        ("id", "INTEGER", True), ("htlc_attempt_index", "BIGINT", True), ("hop_index", "INTEGER", True),
        ("pub_key", "BLOB", False), ("scid", "TEXT", True), ("outgoing_time_lock", "INTEGER", True),
        ("amt_to_forward", "BIGINT", True), ("meta_data", "BLOB", False),
    ],
    "payment_route_hop_mpp": [("hop_id", "INTEGER", True), ("payment_addr", "BLOB", True), ("total_msat", "BIGINT", True)],
    "payment_route_hop_amp": [
        ("hop_id", "INTEGER", True), ("root_share", "BLOB", True), ("set_id", "BLOB", True),
        ("child_index", "INTEGER", True),
    ],
    "payment_route_hop_blinded": [
        ("hop_id", "INTEGER", True), ("encrypted_data", "BLOB", True), ("blinding_point", "BLOB", False),
        ("blinded_path_total_amt", "BIGINT", False),
    ],
    "payment_first_hop_custom_records": [
        ("id", "INTEGER", True), ("payment_id", "BIGINT", True), ("key", "BIGINT", True), ("value", "BLOB", True),
    ],
    "payment_attempt_first_hop_custom_records": [
        ("id", "INTEGER", True), ("htlc_attempt_index", "BIGINT", True), ("key", "BIGINT", True),
        ("value", "BLOB", True),
    ],
    "payment_hop_custom_records": [
        ("id", "INTEGER", True), ("hop_id", "BIGINT", True), ("key", "BIGINT", True), ("value", "BLOB", True),
    ],
    "payment_duplicates": [
        ("id", "INTEGER", True), ("payment_id", "BIGINT", True), ("amount_msat", "BIGINT", True),
        ("created_at", "TIMESTAMP", True), ("fail_reason", "INTEGER", False), ("settle_preimage", "BLOB", False),
        ("settle_time", "TIMESTAMP", False),
    ],
}
PRIMARY_KEYS = {t: cols[0][0] for t, cols in SPEC_COLUMNS.items()}
DEFAULT_NOW = {("payments", "created_at"), ("payment_htlc_attempts", "attempt_time"), ("payment_duplicates", "created_at")}

NAMED_CONSTRAINTS = {
    "payments": ["idx_payments_payment_identifier_unique"],
    "payment_intents": ["idx_payment_intents_payment_id_unique"],
    "payment_htlc_attempts": ["idx_htlc_attempt_index_unique", "idx_htlc_session_key_unique"],
    "payment_route_hops": ["idx_route_hops_unique_hop_per_attempt"],
    "payment_first_hop_custom_records": ["idx_payment_first_hop_custom_records_unique"],
    "payment_attempt_first_hop_custom_records": ["idx_payment_attempt_first_hop_custom_records_unique"],
    "payment_hop_custom_records": ["idx_payment_hop_custom_records_unique"],
    "payment_duplicates": ["chk_payment_duplicates_outcome"],
}

# Explicit indexes after 000014 (name -> table, columns).
INDEXES = {
    "idx_payments_created_at": ("payments", "created_at"),
    "idx_payments_no_fail_reason": ("payments", "id"),
    "idx_payment_intents_type": ("payment_intents", "intent_type"),
    "idx_htlc_payment_id": ("payment_htlc_attempts", "payment_id"),
    "idx_htlc_payment_hash": ("payment_htlc_attempts", "payment_hash"),
    "idx_htlc_attempt_time": ("payment_htlc_attempts", "attempt_time"),
    "idx_htlc_payment_id_attempt_time": ("payment_htlc_attempts", "payment_id,attempt_time"),
    "idx_htlc_resolutions_type": ("payment_htlc_attempt_resolutions", "resolution_type"),
    "idx_htlc_resolutions_time": ("payment_htlc_attempt_resolutions", "resolution_time"),
    "idx_htlc_resolutions_type_attempt_index": ("payment_htlc_attempt_resolutions", "resolution_type,attempt_index"),
    "idx_payment_duplicates_payment_id": ("payment_duplicates", "payment_id"),
}
DROPPED_INDEXES = ["idx_htlc_attempt_index", "idx_route_hops_htlc_attempt_index"]

FKS = {  # (table, column) -> (parent table, parent column), all ON DELETE CASCADE
    ("payment_intents", "payment_id"): ("payments", "id"),
    ("payment_htlc_attempts", "payment_id"): ("payments", "id"),
    ("payment_htlc_attempt_resolutions", "attempt_index"): ("payment_htlc_attempts", "attempt_index"),
    ("payment_route_hops", "htlc_attempt_index"): ("payment_htlc_attempts", "attempt_index"),
    ("payment_route_hop_mpp", "hop_id"): ("payment_route_hops", "id"),
    ("payment_route_hop_amp", "hop_id"): ("payment_route_hops", "id"),
    ("payment_route_hop_blinded", "hop_id"): ("payment_route_hops", "id"),
    ("payment_first_hop_custom_records", "payment_id"): ("payments", "id"),
    ("payment_attempt_first_hop_custom_records", "htlc_attempt_index"): ("payment_htlc_attempts", "attempt_index"),
    ("payment_hop_custom_records", "hop_id"): ("payment_route_hops", "id"),
    ("payment_duplicates", "payment_id"): ("payments", "id"),
}


def _is_pg(db):
    return introspect.is_postgres(db)


def test_columns_types_nullability(migrated_db):
    db = migrated_db
    for table, expected in SPEC_COLUMNS.items():
        cols = introspect.columns(db, table)
        assert [(c.name, c.type, c.notnull) for c in cols] == expected, table
        assert [c.name for c in cols if c.pk] == [PRIMARY_KEYS[table]], table
        for c in cols:
            if (table, c.name) in DEFAULT_NOW:
                assert c.default.upper() == "CURRENT_TIMESTAMP"
            elif not c.pk:
                assert c.default is None, (table, c.name)


def test_pg_physical_types(pg_url):
    from migwizard.core.sql.connect import open_database
    from migwizard.core.sql.schema import apply_migrations

    db = open_database(pg_url)
    apply_migrations(db)
    rows = dict(
        ((t, c), (typ, d))
        for t, c, typ, d in db.execute_sql(
            "SELECT table_name, column_name, data_type, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ).fetchall()
    )
    assert rows[("payments", "id")][0] == "bigint" and rows[("payments", "id")][1].startswith("nextval(")
    assert rows[("payment_htlc_attempt_resolutions", "attempt_index")][1].startswith("nextval(")
    assert rows[("payment_route_hop_amp", "hop_id")][1].startswith("nextval(")
    assert rows[("payments", "created_at")][0] == "timestamp without time zone"
    assert rows[("payments", "payment_identifier")][0] == "bytea"
    assert rows[("payment_route_hops", "scid")][0] == "text"
    assert rows[("payment_intents", "intent_type")][0] == "smallint"
    db.close()


def test_named_constraints(migrated_db):
    db = migrated_db
    for table, names in NAMED_CONSTRAINTS.items():
        if _is_pg(db):
            present = introspect.constraints(db, table)
            for name in names:
                assert name in present, (table, name)
        else:
            (sql,) = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            for name in names:
                assert f"CONSTRAINT {name}" in sql, (table, name)
    if _is_pg(db):
        uniq = introspect.constraints(db, "payment_route_hops")["idx_route_hops_unique_hop_per_attempt"]
        assert uniq == "UNIQUE (htlc_attempt_index, hop_index)"
        checks = " ".join(introspect.constraints(db, "payment_htlc_attempt_resolutions").values())
        assert "resolution_type = ANY (ARRAY[1, 2])" in checks


def test_indexes(migrated_db):
    db = migrated_db
    for name, (table, cols) in INDEXES.items():
        defs = introspect.indexes(db, table)
        assert name in defs, name
        d = defs[name].replace('"', "").replace(" USING btree", "").replace("public.", "")
        assert f"ON {table}({cols})" in d or f"ON {table}({cols.replace(',', ', ')})" in d, d
    partial = introspect.indexes(db, "payments")["idx_payments_no_fail_reason"]
    assert "WHERE" in partial and "fail_reason IS NULL" in partial
    all_idx = introspect.indexes(db)
    for name in DROPPED_INDEXES:
        assert name not in all_idx


def test_foreign_keys_cascade(migrated_db):
    db = migrated_db
    if _is_pg(db):
        rows = db.execute_sql(
            """SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, af.attname, c.confdeltype
               FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
               JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
               WHERE c.contype = 'f'"""
        ).fetchall()
        found = {(t, col): (pt, pc) for t, col, pt, pc, deltype in rows if deltype == "c"}
    else:
        found = {}
        for table in SPEC_COLUMNS:
            for row in db.execute_sql(f"PRAGMA foreign_key_list('{table}')").fetchall():
                _id, _seq, parent, col, pcol, _upd, on_delete, _m = row
                if on_delete == "CASCADE":
                    found[(table, col)] = (parent, pcol)
    for key, parent in FKS.items():
        assert found.get(key) == parent, key


def test_models_match_created_schema(migrated_db):
    for model in ALL_MODELS:
        table = model._meta.table_name
        cols = introspect.columns(migrated_db, table)
        actual = [(c.name, c.type, c.notnull) for c in cols]
        expected = [(f.column_name, f.field_type, not f.null) for f in model._meta.sorted_fields]
        assert actual == expected, table


# --- constraints in action --------------------------------------------------


def _ins(db, table, **cols):
    p = "%s" if _is_pg(db) else "?"
    names = ", ".join(cols)
    db.execute_sql(f"INSERT INTO {table} ({names}) VALUES ({', '.join([p] * len(cols))})", tuple(cols.values()))


def _seed(db):
    ts = dialect_for(db).ts(1704110400 * 10**9)
    with write_txn(db):
        _ins(db, "payments", id=1, amount_msat=1000, created_at=ts, payment_identifier=b"\x01" * 32)
        _ins(db, "payment_htlc_attempts", id=1, attempt_index=7, payment_id=1, session_key=b"\x02" * 32,
             attempt_time=ts, payment_hash=b"\x01" * 32, first_hop_amount_msat=0,
             route_total_time_lock=100, route_total_amount=1000, route_source_key=b"\x03" * 33)
        _ins(db, "payment_route_hops", id=1, htlc_attempt_index=7, hop_index=0, pub_key=b"\x04" * 33,
             scid="123", outgoing_time_lock=90, amt_to_forward=1000)
    return ts


def _rejects(db, table, **cols):
    with pytest.raises(peewee.IntegrityError):
        with write_txn(db):
            _ins(db, table, **cols)


def test_check_constraints_reject_bad_rows(migrated_db):
    db = migrated_db
    ts = _seed(db)
    _rejects(db, "payment_htlc_attempt_resolutions", attempt_index=7, resolution_time=ts, resolution_type=3)
    _rejects(db, "payment_htlc_attempt_resolutions", attempt_index=7, resolution_time=ts, resolution_type=1,
             settle_preimage=b"\x05" * 32, failure_msg=b"\x40\x0f")
    _rejects(db, "payment_htlc_attempt_resolutions", attempt_index=7, resolution_time=ts, resolution_type=1)
    _rejects(db, "payment_htlc_attempt_resolutions", attempt_index=7, resolution_time=ts, resolution_type=2,
             settle_preimage=b"\x05" * 32)
    _rejects(db, "payment_first_hop_custom_records", id=1, payment_id=1, key=65535, value=b"x")
    _rejects(db, "payment_attempt_first_hop_custom_records", id=1, htlc_attempt_index=7, key=1, value=b"x")
    _rejects(db, "payment_hop_custom_records", id=1, hop_id=1, key=-5, value=b"x")
    _rejects(db, "payment_duplicates", id=1, payment_id=1, amount_msat=1, created_at=ts)
    # ...and accept good ones.
    with write_txn(db):
        _ins(db, "payment_htlc_attempt_resolutions", attempt_index=7, resolution_time=ts, resolution_type=2,
             failure_source_index=1, htlc_fail_reason=0, failure_msg=None)
        _ins(db, "payment_first_hop_custom_records", id=1, payment_id=1, key=65536, value=b"")
        _ins(db, "payment_duplicates", id=1, payment_id=1, amount_msat=1, created_at=ts, fail_reason=2)
        _ins(db, "payment_duplicates", id=2, payment_id=1, amount_msat=1, created_at=ts,
             settle_preimage=b"\x06" * 32, settle_time=None)


def test_unique_constraints_fire(migrated_db):
    db = migrated_db
    ts = _seed(db)
    _rejects(db, "payments", id=2, amount_msat=1, created_at=ts, payment_identifier=b"\x01" * 32)
    attempt = dict(payment_id=1, attempt_time=ts, payment_hash=b"\x01" * 32, first_hop_amount_msat=0,
                   route_total_time_lock=1, route_total_amount=1, route_source_key=b"\x03" * 33)
    _rejects(db, "payment_htlc_attempts", id=2, attempt_index=7, session_key=b"\x09" * 32, **attempt)
    _rejects(db, "payment_htlc_attempts", id=2, attempt_index=8, session_key=b"\x02" * 32, **attempt)
    _rejects(db, "payment_route_hops", id=2, htlc_attempt_index=7, hop_index=0, scid="1",
             outgoing_time_lock=1, amt_to_forward=1)
    with write_txn(db):
        _ins(db, "payment_intents", id=1, payment_id=1, intent_type=0, intent_payload=b"lnbc1")
    _rejects(db, "payment_intents", id=2, payment_id=1, intent_type=0, intent_payload=b"lnbc2")
    with write_txn(db):
        _ins(db, "payment_hop_custom_records", id=1, hop_id=1, key=70000, value=b"a")
    _rejects(db, "payment_hop_custom_records", id=2, hop_id=1, key=70000, value=b"b")


def test_foreign_keys_enforced(migrated_db):
    db = migrated_db
    _seed(db)
    _rejects(db, "payment_intents", id=1, payment_id=99, intent_type=0)
    _rejects(db, "payment_route_hop_mpp", hop_id=99, payment_addr=b"\x00" * 32, total_msat=1)


def test_delete_cascades_to_children(migrated_db):
    db = migrated_db
    ts = _seed(db)
    with write_txn(db):
        _ins(db, "payment_intents", id=1, payment_id=1, intent_type=0, intent_payload=b"lnbc1")
        _ins(db, "payment_first_hop_custom_records", id=1, payment_id=1, key=65536, value=b"v")
        _ins(db, "payment_attempt_first_hop_custom_records", id=1, htlc_attempt_index=7, key=65536, value=b"v")
        _ins(db, "payment_route_hop_mpp", hop_id=1, payment_addr=b"\x00" * 32, total_msat=1)
        _ins(db, "payment_route_hop_amp", hop_id=1, root_share=b"\x00" * 32, set_id=b"\x01" * 32, child_index=-1)
        _ins(db, "payment_route_hop_blinded", hop_id=1, encrypted_data=b"\x01")
        _ins(db, "payment_hop_custom_records", id=1, hop_id=1, key=65536, value=b"v")
        _ins(db, "payment_htlc_attempt_resolutions", attempt_index=7, resolution_time=ts, resolution_type=1,
             settle_preimage=b"\x05" * 32)
        _ins(db, "payment_duplicates", id=1, payment_id=1, amount_msat=1, created_at=ts, fail_reason=2)
    with write_txn(db):
        db.execute_sql("DELETE FROM payments WHERE id = 1")
    for table in SPEC_COLUMNS:
        (n,) = db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()
        assert n == 0, table
