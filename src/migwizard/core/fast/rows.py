"""KV bytes of one payment bucket -> the SQL row tuples, without codec objects.

The current path (``fetch_payment`` -> ``expected_sql_payment`` -> ``add_payment_rows``)
builds a dataclass tree per payment, deep-checks it and maps it to rows; that is
most of the migration's CPU. Almost every real payment has one plain shape: no
duplicates, no custom records, hashes present, attempt IDs > 0, MPP and metadata
the only hop records, failure messages already in LND's encoding. For exactly
that shape this module reads the values with precompiled ``Struct``s and emits
the same rows, bit for bit. Every other shape -- and every value the full decoder
would reject -- returns :data:`FALLBACK`, so the caller runs the full decoder on
it, which then names the payment, key and offset as it always did. No
normalisation ever applies to an accepted payment, so the caller's normalisation
counter needs no update for it.
"""

from __future__ import annotations

from struct import Struct
from struct import error as StructError
from typing import Any, Callable

from ..codec.keys import (
    PAYMENT_CREATION_INFO_KEY,
    PAYMENT_DUPLICATE_BUCKET,
    PAYMENT_FAIL_INFO_KEY,
    PAYMENT_HTLCS_BUCKET,
    PAYMENT_SEQUENCE_KEY,
)
from ..codec.model import METADATA_ONION_TYPE, MPP_ONION_TYPE, PaymentStatus
from ..codec.secp256k1 import N
from ..kv.errors import KVError
from .failmsg import is_canonical

__all__ = ["FALLBACK", "FastPayment", "append_rows", "decode_payment", "tally"]


class _Fallback:
    """The one "use the full decoder" answer (a singleton, compare with ``is``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FALLBACK"

    def __bool__(self) -> bool:
        return False


FALLBACK: Any = _Fallback()

_N_BYTES = N.to_bytes(32, "big")  # session keys at or above N are reduced (a normalisation)
_MAX_I64 = (1 << 63) - 1
_MAX_I32 = (1 << 31) - 1
_U64 = 1 << 64
_U32 = 1 << 32

_CREATION = Struct(">QQI")  # value, creation time, payment request length (after the 32-byte id)
# After the 32-byte session key: total time lock, total amount, source key CompactSize,
# source key (33 bytes when the CompactSize says so, else the payment falls back), hop count.
_ROUTE = Struct(">IQB33sI")
_U32S = Struct(">I")
# Key CompactSize, key, channel id, outgoing time lock, amount, legacy flag, record count.
_HOP = Struct(">B33sQIQBI")
_ATTEMPT_TAIL = Struct(">Q32s")  # attempt time, payment hash
_SETTLE = Struct(">32sQ")  # preimage, settle time
_RECORD = Struct(">QB")  # record type, value CompactSize (single byte only)
_U64S = Struct(">Q")
_U16S = Struct(">H")
_U16LE = Struct("<H")  # CompactSize 0xFD payload
_FAIL_TAIL = Struct(">BI")  # htlc fail reason, failure source index
_ATTEMPT_KEY = Struct(">2sQ")
_MIN_CUSTOM = 65536  # custom-record types below this abort LND's migration (CHECK key >= 65536)

_AI, _SI, _FI = b"ai", b"si", b"fi"
_SETTLED, _FAILED = 1, 2  # resolution_type values


def _time(raw: int) -> int | None:
    """KV u64 -> ns (0 is Go's zero time, None), as codec.primitives.decode_time."""
    if raw == 0:
        return None
    return raw - _U64 if raw > _MAX_I64 else raw


class _Fall(Exception):
    pass


class FastPayment:
    """One payment as plain values, ready for rows (``append_rows``) or a canonical
    tuple (``fast.canon``). Times are ns (None = Go zero time), integers unsigned as
    stored in KV. ``attempts``: tuples ``(attempt_id, session_key, attempt_time, hash,
    first_hop_amount, total_time_lock, total_amount, source_key, hops, resolution,
    wire_records)``; hops ``(pub_key, channel_id, outgoing_time_lock, amt_to_forward,
    metadata, mpp, custom_records)`` with mpp ``(payment_addr, total_msat)`` or None;
    resolution None, ``(1, settle_time, preimage)`` or ``(2, fail_time, source_index,
    reason, msg)``. Record collections are tuples of ``(type, value)`` sorted by type."""

    __slots__ = ("identifier", "value", "created", "payment_request", "fail_reason", "attempts", "status",
                 "first_hop_records")

    def __init__(self, identifier, value, created, payment_request, fail_reason, attempts, status,
                 first_hop_records=()) -> None:
        self.first_hop_records = first_hop_records
        self.identifier = identifier
        self.value = value
        self.created = created
        self.payment_request = payment_request
        self.fail_reason = fail_reason
        self.attempts = attempts
        self.status = status


def _bigsize(v: bytes, off: int) -> tuple[int, int]:
    """tlv.ReadVarInt (big-endian, minimal encodings only) -> (value, next offset)."""
    disc = v[off]
    if disc < 0xFD:
        return disc, off + 1
    if disc == 0xFD:
        (n,) = _U16S.unpack_from(v, off + 1)
        if n < 0xFD:
            raise _Fall
        return n, off + 3
    if disc == 0xFE:
        (n,) = _U32S.unpack_from(v, off + 1)
        if n < 0x10000:
            raise _Fall
        return n, off + 5
    (n,) = _U64S.unpack_from(v, off + 1)
    if n < _U32:
        raise _Fall
    return n, off + 9


def _tlv(v: bytes, off: int, *, p2p: bool) -> list[tuple[int, bytes]]:
    """A TLV stream running to the end of ``v``: strictly increasing types, every record
    complete (any doubt -> the full decoder). Records stay raw, as LND's unknown ones."""
    out: list[tuple[int, bytes]] = []
    end = len(v)
    last = -1
    while off < end:
        typ, off = _bigsize(v, off)
        if typ <= last or off >= end:
            raise _Fall
        ln, off = _bigsize(v, off)
        if (p2p and ln > 65535) or off + ln > end:
            raise _Fall
        out.append((typ, v[off:off + ln]))
        off += ln
        last = typ
    return out


def _attempt(v: bytes, aid: int) -> list:
    skey = v[:32]
    if skey >= _N_BYTES:
        raise _Fall
    # Too short for any of these reads: StructError, the same FALLBACK as a length check.
    ttl, tamt, klen, src, nhops = _ROUTE.unpack_from(v, 32)
    if klen != 33:
        raise _Fall  # other lengths are resized (a normalisation) or CompactSize-extended
    off = 82
    hops = []
    for _ in range(nhops):
        klen, pub, chan, otl, amt, legacy, nrec = _HOP.unpack_from(v, off)
        off += 59
        if klen != 33 or legacy:
            raise _Fall  # a resized key; legacy_payload_dropped
        if not nrec:
            hops.append((pub, chan, otl, amt, None, None, ()))
            continue
        mpp = None
        meta = None
        seen_meta = False
        custom = None
        for _ in range(nrec):
            typ, ln = _RECORD.unpack_from(v, off)
            off += 9
            val = v[off:off + ln]
            if ln >= 0xFD or len(val) != ln:
                raise _Fall
            off += ln
            if typ == MPP_ONION_TYPE and mpp is None:
                if not 32 <= ln <= 40 or (ln > 32 and val[32] == 0):
                    raise _Fall
                mpp = (val[:32], int.from_bytes(val[32:], "big"))
            elif typ == METADATA_ONION_TYPE and not seen_meta:
                seen_meta = True
                meta = val
            elif _MIN_CUSTOM <= typ <= _MAX_I64:
                if custom is None:
                    custom = {}
                elif typ in custom:
                    raise _Fall  # repeated type: Go's map keeps the last
                custom[typ] = val
            else:
                raise _Fall  # AMP, blinded, stray low types, repeated MPP/metadata
        hops.append((pub, chan, otl, amt, meta, mpp, tuple(sorted(custom.items())) if custom else ()))
    if len(v) - off < 40:
        raise _Fall  # nil hash (or stray bytes LND ignores); or truncated
    atime, phash = _ATTEMPT_TAIL.unpack_from(v, off)
    off += 40
    first_hop = 0
    wire = ()
    end = len(v)
    if off < end:
        # The attempt's TLV stream (P2P): type 0 is the first-hop amount, which LND
        # reads as a BigSize whatever its declared length says (accepted only when
        # the two agree); types >= 65536 are wire custom records; anything else is
        # parsed and dropped by LND, so it is left to the full decoder.
        if not v[off] and v[off + 1] < 0xFD and off + 2 + v[off + 1] == end:
            # The usual stream, that amount alone: what _tlv would return, unparsed.
            amount = v[off + 2:]
            first_hop, used = _bigsize(amount, 0)
            if used != len(amount):
                raise _Fall
            return [aid, skey, None if atime == 0 else (atime - _U64 if atime > _MAX_I64 else atime), phash,
                    first_hop, ttl, tamt, src, hops, None, ()]
        records = _tlv(v, off, p2p=True)
        if records and records[0][0] == 0:
            amount = records.pop(0)[1]
            first_hop, end = _bigsize(amount, 0)
            if end != len(amount):
                raise _Fall
        for typ, _val in records:
            if typ < _MIN_CUSTOM or typ > _MAX_I64:
                raise _Fall
        wire = tuple(records)
    return [aid, skey, None if atime == 0 else (atime - _U64 if atime > _MAX_I64 else atime), phash, first_hop,
            ttl, tamt, src, hops, None, wire]


def _fail(v: bytes) -> tuple:
    (ft,) = _U64S.unpack_from(v, 0)
    mlen = v[8]
    if mlen < 0xFD:
        off = 9
    elif mlen == 0xFD:
        (mlen,) = _U16LE.unpack_from(v, 9)
        if mlen < 0xFD:
            raise _Fall
        off = 11
    else:
        raise _Fall
    msg = v[off:off + mlen]
    off += mlen
    reason, src = _FAIL_TAIL.unpack_from(v, off)
    if off + 5 != len(v) or len(msg) != mlen:
        raise _Fall
    if msg and not is_canonical(msg):
        raise _Fall  # failure_message_reencoded / _dropped, or a message LND rejects
    return (_FAILED, _time(ft), src, reason, msg or None)


def _parts(pb) -> tuple:
    """(sequence, creation info, fail info, has duplicates, htlcs ``items()`` or None):
    in one cursor pass for both levels where the bucket offers ``scan`` (the LMDB
    store), by ``entries`` where it offers that (bbolt), else by lookups."""
    scan = getattr(pb, "scan", None)
    if scan is not None:
        ents, htlcs = scan(PAYMENT_HTLCS_BUCKET)
        get = ents.get
        return (get(PAYMENT_SEQUENCE_KEY), get(PAYMENT_CREATION_INFO_KEY), get(PAYMENT_FAIL_INFO_KEY),
                get(PAYMENT_DUPLICATE_BUCKET, b"") is None, htlcs)
    entries = getattr(pb, "entries", None)
    if entries is None:
        hb = pb.bucket(PAYMENT_HTLCS_BUCKET)
        return (pb.get(PAYMENT_SEQUENCE_KEY), pb.get(PAYMENT_CREATION_INFO_KEY), pb.get(PAYMENT_FAIL_INFO_KEY),
                pb.bucket(PAYMENT_DUPLICATE_BUCKET) is not None, hb.items() if hb is not None else None)
    seq = ci = fr = hb = None
    dup = False
    for key, value, child in entries():
        if key == PAYMENT_CREATION_INFO_KEY:
            ci = value
        elif key == PAYMENT_HTLCS_BUCKET:
            hb = child
        elif key == PAYMENT_SEQUENCE_KEY:
            seq = value
        elif key == PAYMENT_FAIL_INFO_KEY:
            fr = value
        elif key == PAYMENT_DUPLICATE_BUCKET:
            dup = child is not None
    return seq, ci, fr, dup, hb.items() if hb is not None else None


def _decode(pb) -> FastPayment:
    seq, ci, fr, dup, htlcs = _parts(pb)
    if seq is None or len(seq) < 8 or ci is None or len(ci) < 52:
        raise _Fall
    value, created, plen = _CREATION.unpack_from(ci, 32)
    if 52 + plen > len(ci):
        raise _Fall  # truncated: the full decoder names the offset
    first_hop_records = ()
    if 52 + plen < len(ci):
        first_hop_records = tuple(_tlv(ci, 52 + plen, p2p=False))
        for typ, _val in first_hop_records:
            if typ < _MIN_CUSTOM or typ > _MAX_I64:
                raise _Fall
    if fr is not None and not fr:
        raise _Fall
    if dup:
        raise _Fall  # legacy duplicates
    attempts: list = []
    if htlcs is not None:
        by_id: dict[int, list] = {}
        for key, v in htlcs:
            if v is None or len(key) != 10:
                raise _Fall
            prefix, aid = _ATTEMPT_KEY.unpack(key)
            if prefix == _AI:
                if aid == 0 or aid > _MAX_I64:
                    raise _Fall  # legacy ID-0 remap, or LND refuses the ID
                a = _attempt(v, aid)
                by_id[aid] = a
                attempts.append(a)
                continue
            a = by_id.get(aid)
            if a is None or a[9] is not None:
                raise _Fall  # missing attempt info, both settle and fail, unknown prefix
            if prefix == _SI:
                if len(v) != 40:
                    raise _Fall
                preimage, st = _SETTLE.unpack(v)
                a[9] = (_SETTLED, None if st == 0 else (st - _U64 if st > _MAX_I64 else st), preimage)
            elif prefix == _FI:
                a[9] = _fail(v)
            else:
                raise _Fall
    # decidePaymentStatus and setState's sent <= total check.
    inflight = settled = failed = False
    sent = 0
    for a in attempts:
        res = a[9]
        if res is not None and res[0] == _FAILED:
            failed = True
            continue
        if res is None:
            inflight = True
        else:
            settled = True
        if not a[8]:
            raise _Fall  # LND panics on a non-failed attempt without hops
        sent = (sent + a[8][-1][3]) % _U64
    if sent > value:
        raise _Fall
    if inflight:
        status = PaymentStatus.IN_FLIGHT
    elif settled:
        status = PaymentStatus.SUCCEEDED
    elif fr is not None:
        status = PaymentStatus.FAILED
    elif failed:
        status = PaymentStatus.IN_FLIGHT
    else:
        status = PaymentStatus.INITIATED
    return FastPayment(ci[:32], value, _time(created), ci[52:52 + plen], fr[0] if fr is not None else None,
                       attempts, status, first_hop_records)


def decode_payment(pb) -> FastPayment | Any:
    """``pb`` is a ``payments-root-bucket/<id>`` bucket (any object with get/bucket/items).
    Returns a :class:`FastPayment`, or :data:`FALLBACK` for every shape this module
    does not reproduce exactly (including everything the full decoder rejects)."""
    try:
        return _decode(pb)
    except (_Fall, StructError, IndexError, KVError):
        return FALLBACK  # KVError: a corrupt entry the full path reports by its own lookups


def _i64(u: int) -> int:
    return u - _U64 if u > _MAX_I64 else u


def _i32(u: int) -> int:
    return u - _U32 if u > _MAX_I32 else u


def _add_custom_records(r: dict, nxt: dict, table: str, owner: int, records) -> None:
    """Rows of one of the three custom-record tables, ids from that table's counter."""
    rows = r[table]
    cid = nxt.get(table, 1)
    for k, val in records:
        rows.append((cid, owner, k, val))
        cid += 1
    nxt[table] = cid


def _scid_text(chan: int) -> str:
    """``str(chan)``, kept for reuse while the cache is below :data:`_SCID_MAX` entries: a
    store's hops run over far fewer channels than it has hops (``mixed``: 410 channels in
    510k hops), and one shared text object per channel is cheaper to make, to marshal (a
    back-reference) and to load in the parent. Bounded, so the heap stays flat."""
    text = str(chan)
    if len(_SCID) < _SCID_MAX:
        _SCID[chan] = text
    return text


_SCID: dict[int, str] = {}
_SCID_MAX = 8192


def append_rows(chunk, fp: FastPayment, identifier: bytes, ids, ts: Callable[[int | None], Any]) -> int:
    """Append ``fp``'s rows to ``chunk`` (an ``engine.rows.ChunkRows``) exactly as
    ``add_payment_rows`` does for the transformed payment, taking ids from ``ids``
    (``engine.rows.IdCounters``) in the same order; ``identifier`` is the index hash
    (payments.payment_identifier), ``ts`` the dialect's time form. Returns payments.id.
    The int64/int32 casts are inlined: the hop loop runs once per hop of the store."""
    r = chunk.rows
    nxt = ids.next
    pid = nxt.get("payments", 1)
    nxt["payments"] = pid + 1
    v = fp.value
    r["payments"].append((pid, v - _U64 if v > _MAX_I64 else v, ts(fp.created), identifier, fp.fail_reason))
    if fp.payment_request:
        iid = nxt.get("payment_intents", 1)
        nxt["payment_intents"] = iid + 1
        r["payment_intents"].append((iid, pid, 0, fp.payment_request))
    if fp.first_hop_records:
        _add_custom_records(r, nxt, "payment_first_hop_custom_records", pid, fp.first_hop_records)
    attempts = fp.attempts
    if not attempts:
        return pid
    attempts_rows = r["payment_htlc_attempts"]
    hop_rows = r["payment_route_hops"]
    mpp_rows = r["payment_route_hop_mpp"]
    res_rows = r["payment_htlc_attempt_resolutions"]
    scid = _SCID.get
    aid_row = nxt.get("payment_htlc_attempts", 1)
    hid = hid0 = nxt.get("payment_route_hops", 1)
    for aidx, skey, atime, phash, fha, ttl, tamt, src, hops, res, wire in attempts:
        attempts_rows.append((aid_row, aidx, pid, skey, ts(atime), phash, fha - _U64 if fha > _MAX_I64 else fha,
                              ttl - _U32 if ttl > _MAX_I32 else ttl, tamt - _U64 if tamt > _MAX_I64 else tamt, src))
        aid_row += 1
        if wire:
            _add_custom_records(r, nxt, "payment_attempt_first_hop_custom_records", aidx, wire)
        i = 0
        for pub, chan, otl, amt, meta, mpp, custom in hops:
            hop_rows.append((hid, aidx, i, pub, scid(chan) or _scid_text(chan), otl - _U32 if otl > _MAX_I32 else otl,
                             amt - _U64 if amt > _MAX_I64 else amt, meta))
            if mpp is not None:
                mpp_rows.append((hid, mpp[0], _i64(mpp[1])))
            if custom:
                _add_custom_records(r, nxt, "payment_hop_custom_records", hid, custom)
            hid += 1
            i += 1
        if res is not None:
            if res[0] == _SETTLED:
                res_rows.append((aidx, ts(res[1]), _SETTLED, res[2], None, None, None))
            else:
                res_rows.append((aidx, ts(res[1]), _FAILED, None, _i32(res[2]), res[3], res[4]))
    chunk.attempts += len(attempts)
    chunk.hops += hid - hid0
    nxt["payment_htlc_attempts"] = aid_row
    if hid != hid0:  # untouched counters stay absent, as IdCounters.take leaves them
        nxt["payment_route_hops"] = hid
    return pid


_STATUS_FIELD = {PaymentStatus.SUCCEEDED: "succeeded", PaymentStatus.FAILED: "failed",
                 PaymentStatus.IN_FLIGHT: "in_flight", PaymentStatus.INITIATED: "initiated"}


def tally(stats, fp: FastPayment) -> None:
    """What the engine's ``_count_payment`` adds to a ``MigrationStats`` for this payment
    (an accepted payment never has duplicates); counted locally, stored once."""
    stats.payments += 1
    name = _STATUS_FIELD[fp.status]
    setattr(stats, name, getattr(stats, name) + 1)
    attempts = fp.attempts
    if not attempts:
        return
    hops = settled = failed = 0
    for a in attempts:
        hops += len(a[8])
        res = a[9]
        if res is not None:
            if res[0] == _SETTLED:
                settled += 1
            else:
                failed += 1
    stats.attempts += len(attempts)
    stats.hops += hops
    stats.attempts_settled += settled
    stats.attempts_failed += failed
    stats.attempts_in_flight += len(attempts) - settled - failed
