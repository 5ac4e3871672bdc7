"""A whole batch checked at once: the rows of its id range, flat, against the rows the
KV side predicts for it (SQLite here; PostgreSQL reads the same lists with
:mod:`.canon_flatpg`).

Building every payment's canonical tuple from the SQL rows (``canon_sql.read_canonical``)
is most of what the comparing process spends on a clean target. Here both sides
hand over each table's rows for the batch as one flat list, in one fixed order,
with just enough keys to say whom a row belongs to: the payment's offset in the
batch (``payments.id - lo``: the KV side counts its payments, so an id out of
index order is a different row) and the KV's own attempt index and hop index. Two
equal lists therefore give every payment of the batch exactly the canonical tuple
the KV side expects, at its expected id, which is all the per-payment comparison
would have concluded; a list that differs anywhere sends the whole batch to that
comparison (``CanonValidator.compare``), whose verdicts are the ones reported.
The flat rows hold values in their stored forms, as the canonical tuples do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from ..engine.sqlread import _query
from ..sql.connect import sqlite_pragma
from .rows import _SCID, FastPayment, _scid_text

_U64 = 1 << 64
_U32 = 1 << 32
_MAX_I64 = (1 << 63) - 1
_MAX_I32 = (1 << 31) - 1
_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


def _ns(t):
    """A PostgreSQL time value of the full way's rows (a naive datetime, µs) as the
    nanoseconds :func:`with_times` turns back into exactly that datetime; anything else
    as it is. Why: the batch then crosses marshalled (``kvside.to_wire``), not pickled."""
    return (t - _EPOCH) // _US * 1000 if t.__class__ is datetime else t

# Joins are driven from the batch's attempts (CROSS JOIN fixes SQLite's join order:
# without statistics it may start from a full scan of the other table). Attempts come in
# index order (payment_id, then rowid), which SQLite reads without sorting; each carries
# its attempt index, so equal lists are still exactly the order the prediction lists
# (see ``read_flat``). Slots 0-7 line up with the prediction's lists (``FlatRows``); the
# hops' MPP, AMP and blinded parts are lists of their own (8-10, ``BY_HOP_ID``).
QUERIES = (  # (slot, query, whether it takes the offset parameter)
    (0, "SELECT id - ?, amount_msat, created_at, payment_identifier, fail_reason FROM payments "
        "WHERE id BETWEEN ? AND ? ORDER BY id", True),
    (1, "SELECT payment_id - ?, intent_type, intent_payload FROM payment_intents "
        "WHERE payment_id BETWEEN ? AND ? ORDER BY payment_id, id", True),
    (2, "SELECT payment_id - ?, key, value FROM payment_first_hop_custom_records "
        "WHERE payment_id BETWEEN ? AND ? ORDER BY payment_id, id", True),
    # attempts with their resolution (the resolution's key is the attempt index: at most one)
    (3, "SELECT a.payment_id - ?, a.attempt_index, a.session_key, a.attempt_time, a.payment_hash, "
        "a.first_hop_amount_msat, a.route_total_time_lock, a.route_total_amount, a.route_source_key, "
        "r.attempt_index IS NOT NULL, r.resolution_time, r.resolution_type, r.settle_preimage, "
        "r.failure_source_index, r.htlc_fail_reason, r.failure_msg FROM payment_htlc_attempts a "
        "LEFT JOIN payment_htlc_attempt_resolutions r ON r.attempt_index = a.attempt_index "
        "WHERE a.payment_id BETWEEN ? AND ? ORDER BY a.payment_id, a.id", True),
    (4, "SELECT c.htlc_attempt_index, c.key, c.value FROM payment_htlc_attempts a "
        "CROSS JOIN payment_attempt_first_hop_custom_records c ON c.htlc_attempt_index = a.attempt_index "
        "WHERE a.payment_id BETWEEN ? AND ? ORDER BY a.payment_id, c.htlc_attempt_index, c.id", False),
    (7, "SELECT payment_id - ?, amount_msat, created_at, fail_reason, settle_preimage, settle_time "
        "FROM payment_duplicates WHERE payment_id BETWEEN ? AND ? ORDER BY payment_id, id", True),
)
TABLES = 8  # the prediction's lists (FlatRows): slots 5 and 6, the hops and their custom records, BY_HOP_ID

# The hop ids of the batch's hops (those of its attempts) span HOP_SPAN's MIN..MAX; the
# hops and the rows of the tables keyed by hop id are read by that range, driven from
# those tables (a range scan, one seek per row a side table holds, instead of a seek per
# hop into each side table). Every batch hop and all its rows are in the range; a hop in
# the range that is not one of the batch's carries another attempt's index, so the lists
# differ and the batch takes the per-payment comparison.
HOP_SPAN = ("SELECT MIN(h.id), MAX(h.id) FROM payment_htlc_attempts a "
            "CROSS JOIN payment_route_hops h ON h.htlc_attempt_index = a.attempt_index "
            "WHERE a.payment_id BETWEEN ? AND ?")
BY_HOP_ID = (
    (5, "SELECT h.htlc_attempt_index, h.hop_index, h.pub_key, h.scid, h.outgoing_time_lock, h.amt_to_forward, "
        "h.meta_data FROM payment_route_hops h WHERE h.id BETWEEN ? AND ? ORDER BY h.id"),
    (6, "SELECT h.htlc_attempt_index, h.hop_index, c.key, c.value FROM payment_hop_custom_records c "
        "CROSS JOIN payment_route_hops h ON h.id = c.hop_id WHERE c.hop_id BETWEEN ? AND ? ORDER BY c.hop_id, c.id"),
    (8, "SELECT h.htlc_attempt_index, h.hop_index, m.payment_addr, m.total_msat FROM payment_route_hop_mpp m "
        "CROSS JOIN payment_route_hops h ON h.id = m.hop_id WHERE m.hop_id BETWEEN ? AND ? ORDER BY m.hop_id"),
    (9, "SELECT h.htlc_attempt_index, h.hop_index, p.root_share, p.set_id, p.child_index "
        "FROM payment_route_hop_amp p CROSS JOIN payment_route_hops h ON h.id = p.hop_id "
        "WHERE p.hop_id BETWEEN ? AND ? ORDER BY p.hop_id"),
    (10, "SELECT h.htlc_attempt_index, h.hop_index, b.encrypted_data, b.blinding_point, b.blinded_path_total_amt "
         "FROM payment_route_hop_blinded b CROSS JOIN payment_route_hops h ON h.id = b.hop_id "
         "WHERE b.hop_id BETWEEN ? AND ? ORDER BY b.hop_id"),
)
READ_TABLES = TABLES + 3


MMAP_BYTES = 1 << 40  # SQLite caps it (2 GiB by default)


def mapped_reads(db):
    """SQLite reads the file through a memory map while validation reads it back:
    pages come straight from the OS cache instead of being copied into SQLite's own
    (about a quarter of the read's CPU at 100k). The connection's setting is restored."""
    return sqlite_pragma(db, "mmap_size", MMAP_BYTES)


def read_flat(db, lo: int, hi: int) -> tuple[list, ...]:
    """The rows of ``payments.id`` ``lo..hi`` and their children, flat, per table (SQLite),
    in :func:`with_times`'s layout.

    Equal to the prediction means what the former read (one query per table driven
    from the payments' ids, attempts sorted by attempt index, hops by attempt and hop
    index with their MPP/AMP/blinded parts LEFT JOINed) would have concluded: every
    attempt row carries its payment's offset and attempt index, every hop and hop-keyed
    row its attempt index and hop index -- keys unique in the tables and in the
    prediction -- so equal lists hold exactly the batch's rows (nothing missing,
    nothing of another batch's), and the same rows in another order are not equal.
    Rows within one owner (custom records, intents) keep their stored id order."""
    out: list = [None] * READ_TABLES
    for slot, sql, offset in QUERIES:
        out[slot] = _query(db, sql, (lo, lo, hi) if offset else (lo, hi))
    first, last = _query(db, HOP_SPAN, (lo, hi))[0]
    for slot, sql in BY_HOP_ID:
        out[slot] = _query(db, sql, (first, last)) if first is not None else []
    return tuple(out)


def _i64(u: int) -> int:
    return u - _U64 if u > _MAX_I64 else u


def _i32(u: int) -> int:
    return u - (1 << 32) if u > _MAX_I32 else u


_NO_RES = (0, None, None, None, None, None, None)


def with_times(tables: tuple[list, ...], ts: Callable[[int | None], Any]) -> tuple[list, ...]:
    """The prediction in :func:`read_flat`'s layout: the fast payments' times (nanoseconds)
    in the stored text form, and each hop's MPP, AMP and blinded parts as rows of their
    own lists, keyed by the hop's attempt index and hop index.

    Done by the comparing process: formatting the text was ~8% of the walking process's
    CPU, the slower of the two. Only ints are formatted; the full way's rows
    (:meth:`FlatRows.add_rows`) already hold text."""
    pay, intents, first, att, arec, hops, hrec, dups = tables
    if dups:
        dups = [(k, a, ts(c) if c.__class__ is int else c, f, p, ts(st) if st.__class__ is int else st)
                for k, a, c, f, p, st in dups]
    pay = [(k, a, ts(c), i, f) if c.__class__ is int else (k, a, c, i, f) for k, a, c, i, f in pay]
    att = [(k, ai, sk, ts(at), ph, fa, tl, ta, src, r, ts(rt) if rt.__class__ is int else rt, ry, sp, fs, hr, fm)
           if at.__class__ is int else (k, ai, sk, at, ph, fa, tl, ta, src, r, rt, ry, sp, fs, hr, fm)
           for k, ai, sk, at, ph, fa, tl, ta, src, r, rt, ry, sp, fs, hr, fm in att]
    return (pay, intents, first, att, arec, [h[:7] for h in hops], hrec, dups,
            [(h[0], h[1], h[8], h[9]) for h in hops if h[7]],
            [(h[0], h[1], h[11], h[12], h[13]) for h in hops if h[10]],
            [(h[0], h[1], h[15], h[16], h[17]) for h in hops if h[14]])


class FlatRows:
    """The KV side's prediction of :func:`read_flat` for one batch, payment by payment
    in index order. ``ok`` is False once a payment cannot be predicted this way (its
    own identifier is not its index key: only the per-payment comparison says what
    that means)."""

    def __init__(self) -> None:
        self.tables: tuple[list, ...] = tuple([] for _ in range(TABLES))
        self.n = 0  # payments predicted so far: the next one's offset in the batch
        self.ok = True

    def add_fast(self, fp: FastPayment, phash: bytes) -> None:
        """A payment the fast decoder accepted (``canon.canon_fast``'s values), its times
        as nanoseconds: the comparing process writes them as text (:func:`with_times`)."""
        if fp.identifier != phash:
            self.ok = False
        k = self.n
        self.n += 1
        pay, intents, first, att, arec, hops, hrec, _dups = self.tables
        scid = _SCID.get  # channel ids as text, one shared object per channel (fast.rows)
        # The int64/int32 casts inlined: this loop runs once per hop of the store.
        v = fp.value
        pay.append((k, v - _U64 if v > _MAX_I64 else v, fp.created, fp.identifier, fp.fail_reason))
        if fp.payment_request:
            intents.append((k, 0, fp.payment_request))
        for key, v in fp.first_hop_records:
            first.append((k, key, v))
        for aidx, skey, atime, ph, fha, ttl, tamt, src, hs, res, wire in fp.attempts:
            if res is None:
                r = _NO_RES
            elif res[0] == 1:
                r = (1, res[1], 1, res[2], None, None, None)
            else:
                r = (1, res[1], 2, None, _i32(res[2]), res[3], res[4])
            att.append((k, aidx, skey, atime, ph, fha - _U64 if fha > _MAX_I64 else fha,
                        ttl - _U32 if ttl > _MAX_I32 else ttl, tamt - _U64 if tamt > _MAX_I64 else tamt, src) + r)
            for key, v in wire:
                arec.append((aidx, key, v))
            i = 0
            for pub, chan, otl, amt, meta, mpp, custom in hs:
                if otl > _MAX_I32:
                    otl -= _U32
                if amt > _MAX_I64:
                    amt -= _U64
                if mpp is None:
                    hops.append((aidx, i, pub, scid(chan) or _scid_text(chan), otl, amt, meta, 0, None, None,
                                 0, None, None, None, 0, None, None, None))
                else:
                    hops.append((aidx, i, pub, scid(chan) or _scid_text(chan), otl, amt, meta, 1, mpp[0],
                                 _i64(mpp[1]), 0, None, None, None, 0, None, None, None))
                for key, v in custom:
                    hrec.append((aidx, i, key, v))
                i += 1

    def add_rows(self, rows: dict[str, list[tuple]], phash: bytes) -> None:
        """A payment through the migration's row mapping (``engine.rows`` layout: what
        ``canon.canon_rows`` reads; surrogate ids ignored)."""
        (_pid, amount, created, ident, fail_reason) = rows["payments"][0]
        if ident != phash:
            self.ok = False
        k = self.n
        self.n += 1
        pay, intents, first, att, arec, hops, hrec, dups = self.tables
        pay.append((k, amount, _ns(created), ident, fail_reason))
        intents.extend((k, t, p) for _i, _p, t, p in rows["payment_intents"])
        first.extend((k, key, v) for _i, _p, key, v in rows["payment_first_hop_custom_records"])
        mpp = {r[0]: r[1:] for r in rows["payment_route_hop_mpp"]}
        amp = {r[0]: r[1:] for r in rows["payment_route_hop_amp"]}
        blinded = {r[0]: r[1:] for r in rows["payment_route_hop_blinded"]}
        res: dict[int, list] = {}
        for r in rows["payment_htlc_attempt_resolutions"]:
            res.setdefault(r[0], []).append(r[1:])
        acr: dict[int, list] = {}
        for _id, aidx, key, v in rows["payment_attempt_first_hop_custom_records"]:
            acr.setdefault(aidx, []).append((aidx, key, v))
        hcr: dict[int, list] = {}
        for _id, hid, key, v in rows["payment_hop_custom_records"]:
            hcr.setdefault(hid, []).append((key, v))
        by_attempt: dict[int, list] = {}
        for h in rows["payment_route_hops"]:
            by_attempt.setdefault(h[1], []).append(h)
        for _id, aidx, _p, skey, at, ph, fha, ttl, tamt, src in sorted(rows["payment_htlc_attempts"],
                                                                     key=lambda r: r[1]):
            rs = res.get(aidx, ())
            if len(rs) > 1:
                self.ok = False  # two resolutions for one attempt: never equal to anything
            r = (1, _ns(rs[0][0])) + rs[0][1:] if rs else _NO_RES
            att.append((k, aidx, skey, _ns(at), ph, fha, ttl, tamt, src) + r)
            arec.extend(acr.get(aidx, ()))
            for hid, _a, i, pub, scid, otl, amt, meta in by_attempt.get(aidx, ()):
                m, p, b = mpp.get(hid), amp.get(hid), blinded.get(hid)
                hops.append((aidx, i, pub, scid, otl, amt, meta)
                            + ((1,) + m if m is not None else (0, None, None))
                            + ((1,) + p if p is not None else (0, None, None, None))
                            + ((1,) + b if b is not None else (0, None, None, None)))
                hrec.extend((aidx, i, key, v) for key, v in hcr.get(hid, ()))
        dups.extend((k, a, _ns(c), f, p, _ns(st)) for _i, _p, a, c, f, p, st in rows["payment_duplicates"])

    def take(self) -> tuple[list, ...] | None:
        """The batch's prediction (None: not predictable), and start the next batch."""
        out = self.tables if self.ok else None
        self.__init__()
        return out
