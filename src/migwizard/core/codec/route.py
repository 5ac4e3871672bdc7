"""Route and Hop inside an attempt info (spec §2.5).

Per-hop records are a Go map written in random order, so the reader accepts
any order (last duplicate wins) and remembers the order it saw in
``Hop.record_order``; the writer replays that order so a canonical value
re-encodes byte for byte.
"""

from __future__ import annotations

from .errors import DecodeError
from .model import (
    AMP_ONION_TYPE,
    BLINDING_POINT_ONION_TYPE,
    ENCRYPTED_DATA_ONION_TYPE,
    METADATA_ONION_TYPE,
    MPP_ONION_TYPE,
    TOTAL_AMT_MSAT_BLINDED_TYPE,
    AMPRecord,
    Hop,
    MPPRecord,
    Route,
)
from .primitives import Reader, w_tuint, w_u8, w_u32, w_u64, w_var_bytes
from .secp256k1 import parse_pubkey

PUBKEY_VARBYTES_MAX = 66000  # codec.go ReadElement([]byte) limit
MAX_ONION_PAYLOAD_SIZE = 1300  # maxOnionPayloadSize: per-record value limit


def _vertex(raw: bytes) -> bytes:
    # Go: copy(v[:], pub) into a [33]byte, i.e. zero-pad or truncate.
    return (bytes(raw) + bytes(33))[:33]


def _decode_mpp(value: bytes, base: int) -> MPPRecord:
    if not 32 <= len(value) <= 40:
        raise DecodeError(f"MPP record has invalid length {len(value)}", offset=base, code="bad_length")
    r = Reader(value, base=base)
    addr = r.read(32, "payment_addr")
    return MPPRecord(payment_addr=addr, total_msat=r.tuint(len(value) - 32, 8, "MPP total_msat"))


def _decode_amp(value: bytes, base: int) -> AMPRecord:
    if not 64 <= len(value) <= 68:
        raise DecodeError(f"AMP record has invalid length {len(value)}", offset=base, code="bad_length")
    r = Reader(value, base=base)
    root = r.read(32, "root_share")
    set_id = r.read(32, "set_id")
    return AMPRecord(root_share=root, set_id=set_id, child_index=r.tuint(len(value) - 64, 4, "AMP child_index"))


def decode_hop(r: Reader) -> Hop:
    pub = _vertex(r.var_bytes(PUBKEY_VARBYTES_MAX, "hop pubkey"))
    hop = Hop(
        pub_key=pub,
        channel_id=r.u64("channel id"),
        outgoing_time_lock=r.u32("outgoing time lock"),
        amt_to_forward=r.u64("amount to forward"),
        legacy_payload=r.bool_("legacy payload flag"),
    )
    count = r.u32("hop record count")
    records: dict[int, bytes] = {}
    offsets: dict[int, int] = {}
    order: list[int] = []
    for _ in range(count):  # never pre-allocated: a bogus count just runs out of bytes
        typ = r.u64("hop record type")
        offsets[typ] = r.offset
        value = r.var_bytes(MAX_ONION_PAYLOAD_SIZE, f"hop record {typ}")
        if typ not in records:
            order.append(typ)
        records[typ] = value
    if count == 0:
        return hop
    hop.record_order = tuple(order)

    if (v := records.pop(MPP_ONION_TYPE, None)) is not None:
        hop.mpp = _decode_mpp(v, offsets[MPP_ONION_TYPE])
    if (v := records.pop(ENCRYPTED_DATA_ONION_TYPE, None)) is not None:
        hop.encrypted_data = v
    if (v := records.pop(BLINDING_POINT_ONION_TYPE, None)) is not None:
        try:
            parse_pubkey(v, offset=offsets[BLINDING_POINT_ONION_TYPE])
        except DecodeError as e:
            raise DecodeError(f"invalid blinding point: {e.reason}", offset=e.offset, code="invalid_blinding_point") from None
        hop.blinding_point = v
    if (v := records.pop(AMP_ONION_TYPE, None)) is not None:
        hop.amp = _decode_amp(v, offsets[AMP_ONION_TYPE])
    if (v := records.pop(METADATA_ONION_TYPE, None)) is not None:
        hop.metadata = v
    if (v := records.pop(TOTAL_AMT_MSAT_BLINDED_TYPE, None)) is not None:
        hop.total_amt_msat = Reader(v, base=offsets[TOTAL_AMT_MSAT_BLINDED_TYPE]).tuint(len(v), 8, "blinded total_amt_msat")
    hop.custom_records = records
    return hop


def hop_records(hop: Hop) -> dict[int, bytes]:
    """The per-hop record map serializeHop would build (empty for legacy payloads)."""
    if hop.legacy_payload:
        return {}
    recs: dict[int, bytes] = {}
    if hop.mpp is not None:
        recs[MPP_ONION_TYPE] = bytes(hop.mpp.payment_addr) + w_tuint(hop.mpp.total_msat)
    if hop.encrypted_data is not None:
        recs[ENCRYPTED_DATA_ONION_TYPE] = bytes(hop.encrypted_data)
    if hop.blinding_point is not None:
        # LND writes the parsed key back compressed.
        recs[BLINDING_POINT_ONION_TYPE] = parse_pubkey(hop.blinding_point)
    if hop.amp is not None:
        recs[AMP_ONION_TYPE] = bytes(hop.amp.root_share) + bytes(hop.amp.set_id) + w_tuint(hop.amp.child_index)
    if hop.metadata is not None:
        recs[METADATA_ONION_TYPE] = bytes(hop.metadata)
    if hop.total_amt_msat:
        recs[TOTAL_AMT_MSAT_BLINDED_TYPE] = w_tuint(hop.total_amt_msat)
    # Custom types are not range-checked (LND's writer would refuse < 65536) so
    # tests can build the stray-type stores the migration must reject.
    for typ, val in hop.custom_records.items():
        recs[typ] = bytes(val)
    return recs


def encode_hop(hop: Hop) -> bytes:
    recs = hop_records(hop)
    seen = [t for t in (hop.record_order or ()) if t in recs]
    order = seen + sorted(t for t in recs if t not in set(seen))
    out = [
        w_var_bytes(bytes(hop.pub_key)),
        w_u64(hop.channel_id),
        w_u32(hop.outgoing_time_lock),
        w_u64(hop.amt_to_forward),
        w_u8(1 if hop.legacy_payload else 0),
        w_u32(len(recs)),
    ]
    for typ in order:
        out.append(w_u64(typ))
        out.append(w_var_bytes(recs[typ]))
    return b"".join(out)


def decode_route(r: Reader) -> Route:
    total_time_lock = r.u32("total time lock")
    total_amount = r.u64("total amount")
    source = _vertex(r.var_bytes(PUBKEY_VARBYTES_MAX, "source pubkey"))
    n = r.u32("hop count")
    hops = [decode_hop(r) for _ in range(n)]
    return Route(total_time_lock=total_time_lock, total_amount=total_amount, source_pub_key=source, hops=hops)


def encode_route(route: Route) -> bytes:
    """SerializeRoute (first-hop amount and wire records live in the attempt TLV)."""
    return b"".join(
        [
            w_u32(route.total_time_lock),
            w_u64(route.total_amount),
            w_var_bytes(bytes(route.source_pub_key)),
            w_u32(len(route.hops)),
            *(encode_hop(h) for h in route.hops),
        ]
    )
