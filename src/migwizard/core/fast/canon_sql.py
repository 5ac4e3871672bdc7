"""Validation's SQL reader: each payment of a ``payments.id`` range as one canonical
tuple, in the same shape :func:`.canon.canon_fast` builds from the KV side, so the
comparing process compares two tuples and nothing else. SQLite reads a handful of
joined queries per range; PostgreSQL has its own keyed reader (:mod:`.canon_pg`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..engine.sqlread import _query
from ..sql.introspect import is_postgres
from .canon_pg import TWICE, read_canonical_pg

_PAYMENTS = "SELECT id, amount_msat, created_at, payment_identifier, fail_reason FROM payments " \
            "WHERE id BETWEEN ? AND ? ORDER BY id"
_INTENTS = "SELECT payment_id, intent_type, intent_payload FROM payment_intents " \
           "WHERE payment_id BETWEEN ? AND ? ORDER BY id"
_FIRST_HOP = "SELECT payment_id, key, value FROM payment_first_hop_custom_records " \
             "WHERE payment_id BETWEEN ? AND ? ORDER BY id"
_ATTEMPTS = ("SELECT payment_id, attempt_index, session_key, attempt_time, payment_hash, first_hop_amount_msat, "
             "route_total_time_lock, route_total_amount, route_source_key FROM payment_htlc_attempts "
             "WHERE payment_id BETWEEN ? AND ? ORDER BY payment_id, attempt_index")
_JOIN_A = "JOIN payment_htlc_attempts a ON a.attempt_index = {col} WHERE a.payment_id BETWEEN ? AND ?"
_ATTEMPT_RECORDS = ("SELECT c.htlc_attempt_index, c.key, c.value FROM payment_attempt_first_hop_custom_records c "
                    + _JOIN_A.format(col="c.htlc_attempt_index") + " ORDER BY c.id")
_HOPS = ("SELECT h.htlc_attempt_index, h.id, h.hop_index, h.pub_key, h.scid, h.outgoing_time_lock, "
         "h.amt_to_forward, h.meta_data, m.hop_id, m.payment_addr, m.total_msat, p.hop_id, p.root_share, p.set_id, "
         "p.child_index, b.hop_id, b.encrypted_data, b.blinding_point, b.blinded_path_total_amt "
         "FROM payment_route_hops h "
         "LEFT JOIN payment_route_hop_mpp m ON m.hop_id = h.id "
         "LEFT JOIN payment_route_hop_amp p ON p.hop_id = h.id "
         "LEFT JOIN payment_route_hop_blinded b ON b.hop_id = h.id "
         + _JOIN_A.format(col="h.htlc_attempt_index") + " ORDER BY h.htlc_attempt_index, h.hop_index")
# An IN subquery, not a join: without table statistics SQLite drove the join from a
# full scan of the custom records, once per batch (quadratic in the store's size).
_HOP_RECORDS = ("SELECT c.hop_id, c.key, c.value FROM payment_hop_custom_records c WHERE c.hop_id IN "
                "(SELECT h.id FROM payment_route_hops h JOIN payment_htlc_attempts a "
                "ON a.attempt_index = h.htlc_attempt_index WHERE a.payment_id BETWEEN ? AND ?) ORDER BY c.id")
_RESOLUTIONS = ("SELECT r.attempt_index, r.resolution_time, r.resolution_type, r.settle_preimage, "
                "r.failure_source_index, r.htlc_fail_reason, r.failure_msg FROM payment_htlc_attempt_resolutions r "
                + _JOIN_A.format(col="r.attempt_index"))
_DUPLICATES = ("SELECT payment_id, amount_msat, created_at, fail_reason, settle_preimage, settle_time "
               "FROM payment_duplicates WHERE payment_id BETWEEN ? AND ? ORDER BY id")

_TWICE = TWICE  # a second resolution row for one attempt: never equal to anything


def _grouped(db, sql: str, span: tuple[int, int]) -> dict[int, list]:
    """``(owner, a, b)`` rows as ``{owner: [(a, b), ...]}`` in query order (custom records, intents)."""
    out: dict[int, list] = defaultdict(list)
    for owner, a, b in _query(db, sql, span):
        out[owner].append((a, b))
    return out


def read_canonical(db, lo: int, hi: int) -> dict[int, tuple[bytes, tuple]]:
    """``{payments.id: (payment_identifier, canonical tuple)}`` for ids ``lo..hi``.

    Values stay in their stored forms (bytes may come back as memoryview on
    PostgreSQL, which compares equal to bytes); nothing is parsed, so nothing here
    can fail on a tampered value -- it just will not be equal. PostgreSQL has its
    own reader of the same rows (:mod:`.canon_pg`: keyed lookups, pipelined, binary).
    """
    if is_postgres(db):
        return read_canonical_pg(db, lo, hi)
    return read_canonical_joined(db, lo, hi)


def read_canonical_joined(db, lo: int, hi: int) -> dict[int, tuple[bytes, tuple]]:
    """The portable reader: a handful of joined queries per id range. Children are read
    first so every tuple is built once, bottom-up."""
    span = (lo, hi)
    res: dict[int, Any] = {}
    for aidx, *r in _query(db, _RESOLUTIONS, span):
        res[aidx] = tuple(r) if aidx not in res else _TWICE
    acr = _grouped(db, _ATTEMPT_RECORDS, span)
    hcr = _grouped(db, _HOP_RECORDS, span)
    hops: dict[int, list] = defaultdict(list)
    for (aidx, hid, idx, pub, scid, otl, amt, meta, m_id, addr, total, p_id, root, set_id, child,
         b_id, ed, bp, btotal) in _query(db, _HOPS, span):
        hops[aidx].append((idx, pub, scid, otl, amt, meta,
                           (addr, total) if m_id is not None else None,
                           (root, set_id, child) if p_id is not None else None,
                           (ed, bp, btotal) if b_id is not None else None,
                           tuple(hcr[hid]) if hid in hcr else ()))
    attempts: dict[int, list] = defaultdict(list)
    for pid, aidx, skey, atime, phash, fha, ttl, tamt, src in _query(db, _ATTEMPTS, span):
        attempts[pid].append((aidx, skey, atime, phash, fha, ttl, tamt, src,
                              tuple(acr[aidx]) if aidx in acr else (),
                              tuple(hops[aidx]) if aidx in hops else (), res.get(aidx)))
    intents = _grouped(db, _INTENTS, span)
    first_hop = _grouped(db, _FIRST_HOP, span)
    dups: dict[int, list] = defaultdict(list)
    for pid, *dup in _query(db, _DUPLICATES, span):
        dups[pid].append(tuple(dup))
    out = {}
    for pid, amount, created, ident, fr in _query(db, _PAYMENTS, span):
        ident = bytes(ident) if ident is not None else None
        out[pid] = (ident, (amount, created, ident, fr, tuple(intents.get(pid, ())), tuple(first_hop.get(pid, ())),
                            tuple(attempts.get(pid, ())), tuple(dups.get(pid, ()))))
    return out
