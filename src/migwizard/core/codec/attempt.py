"""HTLCAttemptInfo (``ai`` + attempt id), spec §2.4.

The attempt id is not in the value (it is the key suffix), so the caller
passes it in. The hash is optional: legacy attempts end right after the
attempt time, and LND silently ignores 1-31 stray bytes there (we keep them in
``ignored_tail`` only so a re-encode is byte-exact).
"""

from __future__ import annotations

from .model import MIN_CUSTOM_RECORDS_TLV_TYPE, HTLCAttempt
from .primitives import Reader, bigsize_known, parse_tlv_stream, w_bigsize, w_time, w_tlv_stream
from .route import decode_route, encode_route

FIRST_HOP_AMOUNT_TLV_TYPE = 0
# session key (32) + route total time lock (4) + total amount (8): then the source key.
_SOURCE_KEY_OFFSET = 44


def decode_attempt_info(raw: bytes, attempt_id: int) -> HTLCAttempt:
    r = Reader(raw)
    session_key = r.read(32, "session key")
    route = decode_route(r)
    attempt_time = r.time("attempt time")
    if r.remaining() < 32:
        return HTLCAttempt(
            attempt_id=attempt_id,
            session_key=session_key,
            route=route,
            attempt_time=attempt_time,
            hash=None,
            ignored_tail=r.rest(),
        )
    payment_hash = r.read(32, "payment hash")
    # ParseAndExtractCustomRecords (P2P): type 0 is the first-hop amount, types
    # >= 65536 are wire custom records, anything else is parsed and dropped.
    tlv_absent = r.at_end()
    records, known = parse_tlv_stream(r, p2p=True, known={FIRST_HOP_AMOUNT_TLV_TYPE: bigsize_known})
    route.first_hop_amount = known.get(FIRST_HOP_AMOUNT_TLV_TYPE, 0)
    route.first_hop_wire_custom_records = {t: v for t, v in records.items() if t >= MIN_CUSTOM_RECORDS_TLV_TYPE}
    return HTLCAttempt(
        attempt_id=attempt_id,
        session_key=session_key,
        route=route,
        attempt_time=attempt_time,
        hash=payment_hash,
        tlv_absent=tlv_absent,
    )


def encode_attempt_info(attempt: HTLCAttempt) -> bytes:
    """serializeHTLCAttemptInfo. Without a hash nothing follows the time (the
    first-hop amount and wire records are then not representable)."""
    out = bytes(attempt.session_key) + encode_route(attempt.route) + w_time(attempt.attempt_time)
    if attempt.hash is None:
        return out + bytes(attempt.ignored_tail)
    route = attempt.route
    if attempt.tlv_absent and not route.first_hop_amount and not route.first_hop_wire_custom_records:
        return out + bytes(attempt.hash)
    tlv = dict(attempt.route.first_hop_wire_custom_records)
    tlv[FIRST_HOP_AMOUNT_TLV_TYPE] = w_bigsize(attempt.route.first_hop_amount)
    return out + bytes(attempt.hash) + w_tlv_stream(tlv)


def peek_num_hops(raw: bytes) -> int:
    """numHops of an attempt info without decoding it: after the session key,
    total time lock and total amount comes the source key as CompactSize-prefixed
    bytes, then u32 BE numHops. 0 if malformed: only preflight's estimate uses it,
    and the migration reports malformed values precisely."""
    off = _SOURCE_KEY_OFFSET
    if len(raw) <= off:
        return 0
    n = raw[off]
    if n < 0xFD:
        off += 1
    elif n == 0xFD:
        n, off = int.from_bytes(raw[off + 1:off + 3], "little"), off + 3
    else:
        return 0
    off += n
    return int.from_bytes(raw[off:off + 4], "big") if len(raw) >= off + 4 else 0
