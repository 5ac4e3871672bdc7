"""Node identity: real lnd KV files against lnd databases built for a node."""

from __future__ import annotations

from datetime import datetime

import pytest

from migwizard.core.kv.open import open_kv
from migwizard.core.lnd.identity import Verdict, compare, kv_identity, sql_identity
from migwizard.core.sql.transactions import write_txn
from tests.support import lnddb


def _kv(name):
    path = lnddb.FIXTURES / f"lnd-regtest-{name}-channel.db"
    if not path.is_file():
        pytest.skip(f"fixture missing: {path}")
    store = open_kv(path)
    try:
        with store.read() as root:
            return kv_identity(root)
    finally:
        store.close()


def _lnd_db_for(db, pubkey: bytes, invoices: int):
    """An lnd database at tracker 13 whose graph says it is ``pubkey``."""
    lnddb.build_lnd_db(db, 13, sample_rows=False)
    p = "?" if db.__class__.__name__.startswith("Sqlite") else "%s"
    with write_txn(db):
        for n in range(invoices):
            db.execute_sql(
                "INSERT INTO invoices (hash, amount_msat, expiry, state, amount_paid_msat, is_amp, "
                f"is_hodl, is_keysend, created_at) VALUES ({', '.join([p] * 9)})",
                (n.to_bytes(32, "big"), 1, 60, 0, 0, False, False, False, datetime(2024, 1, 1)),
            )
        (node_id,) = db.execute_sql(
            f"INSERT INTO graph_nodes (version, pub_key) VALUES ({p}, {p}) RETURNING id", (1, pubkey)
        ).fetchone()
        db.execute_sql(f"INSERT INTO graph_source_nodes (node_id) VALUES ({p})", (node_id,))


def test_alice_kv_facts():
    alice = _kv("alice")
    assert alice.node_pubkey.hex().startswith("02e69c87") and len(alice.node_pubkey) == 33
    assert (alice.invoice_count, alice.payment_index_entries, alice.payment_seq_horizon) == (154, 8, 2001)


def test_own_node_matches(target_db):
    alice = _kv("alice")
    _lnd_db_for(target_db, alice.node_pubkey, invoices=154)
    got = compare(alice, sql_identity(target_db))
    assert got.verdict is Verdict.MATCH, got.describe()
    assert got.reasons == []
    assert "8 entries up to sequence 2001" in got.describe()


def test_other_node_refused_with_reason(target_db):
    alice, carol = _kv("alice"), _kv("carol")
    _lnd_db_for(target_db, alice.node_pubkey, invoices=154)
    got = compare(carol, sql_identity(target_db))
    assert got.verdict is Verdict.MISMATCH
    assert any(carol.node_pubkey.hex() in r and alice.node_pubkey.hex() in r for r in got.reasons)


def test_more_kv_invoices_than_sql_is_a_mismatch(target_db):
    alice = _kv("alice")
    _lnd_db_for(target_db, alice.node_pubkey, invoices=3)
    got = compare(alice, sql_identity(target_db))
    assert got.verdict is Verdict.MISMATCH
    assert "154 invoices but lnd's database only 3" in got.reasons[0]


def test_no_graph_in_sql_is_unknown(target_db):
    dave = _kv("dave")
    lnddb.build_lnd_db(target_db, 13, sample_rows=False)
    got = compare(dave, sql_identity(target_db))
    key = got.checks[0]
    assert key.name == "node public key" and key.verdict is Verdict.UNKNOWN
    assert "hold no source node" in key.detail
    # dave's one KV invoice is not in this empty database: that alone refuses
    assert got.verdict is Verdict.MISMATCH and "1 invoices but lnd's database only 0" in got.reasons[0]


def test_nothing_strong_is_unknown_not_match(target_db):
    dave = _kv("dave")
    _lnd_db_for(target_db, b"", invoices=1)
    target_db.execute_sql("DELETE FROM graph_source_nodes")
    got = compare(dave, sql_identity(target_db))
    assert got.verdict is Verdict.UNKNOWN  # invoices agree, but the key is unknown: never a silent pass
