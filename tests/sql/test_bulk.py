"""BulkWriter: same rows on both dialects, NULL vs empty blob kept, ids client-side."""

import peewee
import pytest

from migwizard.core.engine.rows import TIME_COLUMNS
from migwizard.core.sql import bulk, introspect
from migwizard.core.sql.bulk import BulkWriter, fix_sequences, next_id
from migwizard.core.sql.dump import dump_tables, table_names
from migwizard.core.sql.models import (
    Payment,
    PaymentHtlcAttempt,
    PaymentHtlcAttemptResolution,
    PaymentIntent,
    PaymentRouteHopBlinded,
)
from migwizard.core.sql.transactions import write_txn
from migwizard.core.sql.values import dialect_for

NS = [1722824281891209181, None, -1, 1704110400 * 10**9]

PAY_COLS = ["id", "amount_msat", "created_at", "payment_identifier", "fail_reason"]
ATT_COLS = ["id", "attempt_index", "payment_id", "session_key", "attempt_time", "payment_hash",
            "first_hop_amount_msat", "route_total_time_lock", "route_total_amount", "route_source_key"]
HOP_COLS = ["id", "htlc_attempt_index", "hop_index", "pub_key", "scid", "outgoing_time_lock",
            "amt_to_forward", "meta_data"]


def _rows(d, n=50):
    pays = [(i, i * 1000 - 2**63 if i == 1 else i * 1000, d.ts(NS[i % 4]), i.to_bytes(32, "big"),
             None if i % 3 else 2) for i in range(1, n + 1)]
    atts = [(i, 10 + i, i, (1000 + i).to_bytes(32, "big"), d.ts(NS[(i + 1) % 4]), i.to_bytes(32, "big"),
             0, d.int32(0x80000001) if i == 2 else 144, 1000, b"\x02" * 33) for i in range(1, n + 1)]
    hops = [(i, 10 + i, 0, b"\x03" * 33, d.scid(2**64 - 1 if i == 3 else i), -1, 5,
             (b"" if i % 2 else None)) for i in range(1, n + 1)]
    return pays, atts, hops


def _load(db, n=50):
    d = dialect_for(db)
    pays, atts, hops = _rows(d, n)
    w = BulkWriter(db, d)
    with write_txn(db):
        assert w.insert(Payment, PAY_COLS, pays) == n
        assert w.insert(PaymentHtlcAttempt, ATT_COLS, iter(atts)) == n
        assert w.insert("payment_route_hops", HOP_COLS, (h for h in hops)) == n
        w.insert(PaymentIntent, ["id", "payment_id", "intent_type", "intent_payload"],
                 [(1, 1, 0, b"lnbc1"), (2, 2, 0, b""), (3, 3, 0, None)])
        w.insert(PaymentHtlcAttemptResolution,
                 ["attempt_index", "resolution_time", "resolution_type", "settle_preimage",
                  "failure_source_index", "htlc_fail_reason", "failure_msg"],
                 [(11, d.ts(None), 2, None, 0, 0, None), (12, d.ts(NS[0]), 2, None, 1, 5, b""),
                  (13, d.ts(NS[3]), 1, b"\x07" * 32, None, None, None)])
        w.insert(PaymentRouteHopBlinded, ["hop_id", "encrypted_data", "blinding_point", "blinded_path_total_amt"],
                 [(1, b"\x01", None, None), (2, b"\x01", b"\x02" * 33, 7)])
    return pays, atts, hops


def _select(db, table, cols, pk):
    cur = db.execute_sql(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {pk}")
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in cur.fetchall()]


def test_rows_read_back_identical(target_db):
    db = target_db
    from migwizard.core.sql.schema import apply_migrations

    apply_migrations(db)
    pays, atts, hops = _load(db)
    assert _select(db, "payments", PAY_COLS, "id") == pays
    assert _select(db, "payment_htlc_attempts", ATT_COLS, "id") == atts
    assert _select(db, "payment_route_hops", HOP_COLS, "id") == hops


def test_null_vs_empty_blob_preserved(migrated_db):
    db = migrated_db
    _load(db)
    if introspect.is_postgres(db):
        q = "SELECT id, meta_data IS NULL, octet_length(meta_data) FROM payment_route_hops WHERE id IN (1, 2) ORDER BY id"
    else:
        q = "SELECT id, meta_data IS NULL, length(meta_data) FROM payment_route_hops WHERE id IN (1, 2) ORDER BY id"
        assert db.execute_sql("SELECT typeof(meta_data) FROM payment_route_hops WHERE id = 1").fetchone()[0] == "blob"
    assert [tuple(r) for r in db.execute_sql(q).fetchall()] == [(1, False, 0), (2, True, None)]
    dumped = dump_tables(db, ["payment_intents", "payment_htlc_attempt_resolutions", "payment_route_hop_blinded"])
    assert [r[3] for r in dumped["payment_intents"]] == ["6c6e626331", "", None]
    assert [r[6] for r in dumped["payment_htlc_attempt_resolutions"]] == [None, "", None]
    assert dumped["payment_route_hop_blinded"] == [(1, "01", None, None), (2, "01", "02" * 33, 7)]


def test_blob_buffers_of_every_kind_load_as_their_bytes(migrated_db):
    """bytes, bytearray and memoryview (slices of a decoded value) all load as the same
    bytes (PostgreSQL's COPY takes bytea through its C dumper; SQLite binds buffers)."""
    db = migrated_db
    d = dialect_for(db)
    raw = b"\x00\x01lnbc\xff" * 3
    values = [raw, bytearray(raw), memoryview(raw)[1:], b"", bytearray(), memoryview(b"")]
    with write_txn(db):
        BulkWriter(db, d).insert(Payment, PAY_COLS, [(i + 1, 1, d.ts(NS[0]), bytes([i]) * 32, None)
                                                    for i in range(len(values))])
        BulkWriter(db, d).insert(PaymentIntent, ["id", "payment_id", "intent_type", "intent_payload"],
                                 [(i + 1, i + 1, 0, v) for i, v in enumerate(values)])
    got = [r[0] for r in _select(db, "payment_intents", ["intent_payload"], "id")]
    assert got == [bytes(v) for v in values]


def test_same_content_on_both_dialects(sqlite_url, pg_url):
    from migwizard.core.sql.connect import open_database
    from migwizard.core.sql.schema import apply_migrations

    dumps = []
    for url in (sqlite_url, pg_url):
        db = open_database(url)
        apply_migrations(db)
        _load(db, 200)
        d = dialect_for(db)
        out = {}
        for table, rows in dump_tables(db).items():
            cols = TIME_COLUMNS.get(table, ())
            # Times as the ns each target keeps, truncated to PostgreSQL's µs.
            out[table] = [
                tuple((lambda ns: None if ns is None else ns // 1000 * 1000)(d.ts_to_ns(v)) if i in cols else v
                      for i, v in enumerate(row))
                for row in rows
            ]
        dumps.append(out)
        db.close()
    assert dumps[0] == dumps[1]
    assert dumps[0]["payments"][3][2] == 1722824281891209000  # id 4 -> NS[0]


def test_insert_requires_transaction(migrated_db):
    with pytest.raises(RuntimeError, match="write_txn"):
        BulkWriter(migrated_db).insert(Payment, PAY_COLS, [])


def test_unknown_column_and_bad_row_width(migrated_db):
    w = BulkWriter(migrated_db)
    with pytest.raises(ValueError, match="no column"):
        with write_txn(migrated_db):
            w.insert(Payment, ["id", "nope"], [(1, 2)])
    with pytest.raises(ValueError, match="expected 2"):
        with write_txn(migrated_db):
            w.insert(Payment, ["id", "amount_msat"], [(1, 2, 3)])
    assert next_id(migrated_db, Payment) == 1


def test_bad_row_width_anywhere_in_a_list_is_refused_before_any_row_is_sent(migrated_db, monkeypatch):
    """Lists of rows go to the driver whole (their widths checked first): a bad row at the end of
    the list still raises the same ValueError, and nothing reaches executemany."""
    d = dialect_for(migrated_db)
    pays, _atts, _hops = _rows(d, 5)
    sent = []
    if not introspect.is_postgres(migrated_db):
        real_cursor = migrated_db.cursor

        class Spy:
            def __init__(self, cur):
                self._cur = cur

            def executemany(self, sql, rows):
                def recorded():
                    for row in rows:
                        sent.append(row)
                        yield row
                return self._cur.executemany(sql, recorded())

            def __getattr__(self, name):
                return getattr(self._cur, name)

        monkeypatch.setattr(migrated_db, "cursor", lambda *a, **k: Spy(real_cursor(*a, **k)))
    with pytest.raises(ValueError, match="row has 4 values, expected 5"):
        with write_txn(migrated_db):
            BulkWriter(migrated_db).insert(Payment, PAY_COLS, pays + [pays[0][:4]])
    assert sent == []
    assert next_id(migrated_db, Payment) == 1


@pytest.mark.parametrize("shape", [list, tuple, iter])
def test_rows_as_list_tuple_or_iterator_write_the_same(migrated_db, shape):
    d = dialect_for(migrated_db)
    pays, _atts, _hops = _rows(d, 7)
    with write_txn(migrated_db):
        assert BulkWriter(migrated_db).insert(Payment, PAY_COLS, shape(pays)) == 7
        assert BulkWriter(migrated_db).insert(Payment, PAY_COLS, shape([])) == 0
    got = migrated_db.execute_sql("SELECT id, payment_identifier FROM payments ORDER BY id").fetchall()
    assert [(r[0], bytes(r[1])) for r in got] == [(p[0], p[3]) for p in pays]


def test_constraint_error_rolls_back_whole_chunk(migrated_db):
    db = migrated_db
    d = dialect_for(db)
    w = BulkWriter(db)
    rows = [(1, 1, d.ts(None), b"\x01" * 32, None), (2, 1, d.ts(None), b"\x01" * 32, None)]
    with pytest.raises(peewee.IntegrityError):
        with write_txn(db):
            w.insert(Payment, PAY_COLS, rows)
    assert dump_tables(db, [Payment]) == {"payments": []}


def test_next_id_and_fix_sequences(migrated_db):
    db = migrated_db
    assert next_id(db, Payment) == 1
    assert next_id(db, "payment_htlc_attempt_resolutions") == 1
    _load(db, 5)
    assert next_id(db, Payment) == 6
    assert next_id(db, PaymentHtlcAttemptResolution) == 14  # pk is attempt_index
    assert bulk.next_ids(db)["payment_route_hops"] == 6
    seqs = fix_sequences(db)
    if introspect.is_postgres(db):
        assert seqs["public.payments_id_seq"] == 6
    else:
        assert seqs == {}
    d = dialect_for(db)
    with write_txn(db):  # an lnd-style insert without an id continues after ours
        p = "%s" if introspect.is_postgres(db) else "?"
        db.execute_sql(
            f"INSERT INTO payments (amount_msat, created_at, payment_identifier) VALUES (1, {p}, {p})",
            (d.ts(None), b"\xff" * 32),
        )
    assert db.execute_sql("SELECT MAX(id) FROM payments").fetchone()[0] == 6


def test_dump_is_ordered_and_hex(migrated_db):
    db = migrated_db
    d = dialect_for(db)
    with write_txn(db):
        BulkWriter(db).insert(Payment, PAY_COLS, [(3, 1, d.ts(None), b"\x03" * 32, None),
                                                 (1, 1, d.ts(None), b"\xab" * 32, 1)])
    rows = dump_tables(db)["payments"]
    assert [r[0] for r in rows] == [1, 3]
    assert rows[0][3] == "ab" * 32
    assert "payments" in table_names(db) and "migwizard_runs" in table_names(db)
    assert set(dump_tables(db)) >= {"payments", "payment_duplicates"}
    assert "migwizard_runs" not in dump_tables(db)
