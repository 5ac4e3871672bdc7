"""An lnd native store that moved on without its history (tracker 18, schema
files up to 000015) holding a few payments lnd made since, inserted with lnd's
own sqlc queries -- one of them reusing a KV payment's identifier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migwizard.core.codec.walk import PaymentEntry, walk_payment_index
from migwizard.core.engine.markers import scan_kv
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.connect import TargetURL, open_database
from migwizard.core.sql.transactions import write_txn
from migwizard.core.sql.values import dialect_for
from tests.support import lnddb
from tests.support.lndqueries import run_query

#: lnd's payments since the skip: fixed (after any generated history), so two builds are identical
NOW_NS = 1_900_000_000 * 10**9
PAYMENT_TABLES = (
    "payments", "payment_intents", "payment_first_hop_custom_records", "payment_htlc_attempts",
    "payment_attempt_first_hop_custom_records", "payment_route_hops", "payment_route_hop_mpp",
    "payment_route_hop_amp", "payment_route_hop_blinded", "payment_hop_custom_records",
    "payment_htlc_attempt_resolutions", "payment_duplicates",
)


@dataclass
class LiveStore:
    url: str
    kv_identifiers: list[bytes]  # KV payments in index order
    lnd_ids: list[int]  # lnd's own payments.id, in insert order
    collided: bytes  # the KV identifier lnd reused
    switch: int  # the KV sequencer horizon


def kv_identifiers(kv: Path) -> tuple[list[bytes], int]:
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        ids = [e.payment_hash for e in walk_payment_index(root) if isinstance(e, PaymentEntry)]
        return ids, scan_kv(root).switch_sequence or 0


def build_live_store(url: str, kv: Path, *, collide_index: int = 5, new_payments: int = 3) -> LiveStore:
    """lnd at tracker 18 with ``new_payments`` made since the skip; the second reuses the
    identifier of KV payment ``collide_index``. Attempt indexes come from lnd's sequencer,
    i.e. above the KV horizon."""
    idents, switch = kv_identifiers(kv)
    db = open_database(TargetURL.parse(url))
    try:
        lnddb.build_lnd_db(db, 18)
        ts = dialect_for(db).ts
        now = NOW_NS
        lnd_ids = []
        with write_txn(db):
            for n in range(new_payments):
                ident = idents[collide_index] if n == 1 else bytes([0xEE, n]) * 16
                (pid,) = run_query(db, "InsertPayment", {"amount_msat": 1000 + n, "created_at": ts(now + n * 10**9),
                                                         "payment_identifier": ident})
                lnd_ids.append(pid)
                run_query(db, "InsertPaymentIntent", {"payment_id": pid, "intent_type": 0,
                                                      "intent_payload": b"lnbcrt" + bytes([n])})
                aidx = switch + 1 + n
                run_query(db, "InsertHtlcAttempt", {
                    "payment_id": pid, "attempt_index": aidx, "session_key": bytes([n + 1]) * 32,
                    "attempt_time": ts(now + n * 10**9 + 1000), "payment_hash": ident,
                    "first_hop_amount_msat": 1000 + n, "route_total_time_lock": 500, "route_total_amount": 1000 + n,
                    "route_source_key": bytes.fromhex("02" + "11" * 32)})
                (hid,) = run_query(db, "InsertRouteHop", {
                    "htlc_attempt_index": aidx, "hop_index": 0, "pub_key": bytes.fromhex("03" + "22" * 32),
                    "scid": "123:1:0", "outgoing_time_lock": 500, "amt_to_forward": 1000 + n, "meta_data": None})
                run_query(db, "InsertPaymentHopCustomRecord", {"hop_id": hid, "key": 65536 + n, "value": b"x"})
                run_query(db, "SettleAttempt", {"attempt_index": aidx, "resolution_time": ts(now + n * 10**9 + 2000),
                                                "resolution_type": 1, "settle_preimage": bytes([n + 7]) * 32})
    finally:
        db.close()
    return LiveStore(url, idents, lnd_ids, idents[collide_index], switch)


def dump(db) -> dict[str, list[tuple]]:
    """Every payment table, ordered by its first columns."""
    out = {}
    for t in PAYMENT_TABLES:
        rows = db.execute_sql(f'SELECT * FROM "{t}" ORDER BY 1, 2').fetchall()
        out[t] = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]
    return out


def rows_of(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """The rows of ``after`` whose key (first column: id, hop_id or attempt_index, all unique
    per table) was in ``before``: what became of lnd's own rows."""
    return {t: [r for r in after[t] if r[0] in {b[0] for b in before[t]}] for t in before}
