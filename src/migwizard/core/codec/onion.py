"""Onion failure messages as stored in ``fi`` values (lnwire ``onion_error.go``).

The SQL ``failure_msg`` column holds LND's *re-encoding* of the decoded message,
not the KV bytes (spec §4.5), and LND's SQL reader refuses a payment whose
message does not decode. So both directions must match lnwire exactly,
including its leniencies:

* IncorrectOrUnknownPaymentDetails: amount and height are optional on decode
  (absent = zero on re-encode); bytes after them are kept verbatim.
* Bytes after a fixed-size payload are ignored (and so lost on re-encode).
* A ChannelUpdate is read from a u16-length window (the window may claim more
  bytes than exist: Go's LimitReader just stops), a leading 0x0102 message type
  is skipped, and the bytes after the fixed fields are a TLV stream of which
  only the inbound fee (55555) survives re-encoding. The re-encoding always
  carries the 0x0102 prefix.
* An invalid TLV stream in that window is ``ErrParsingExtraTLVBytes``, which the
  fail-info decoder tolerates; we raise :class:`ExtraTLVError` for it so the
  caller can tell it apart from every other (fatal) error.
"""

from __future__ import annotations

from .errors import DecodeError
from .model import ChannelUpdate, FailureMessage
from .primitives import (
    Reader,
    parse_tlv_stream,
    w_bigsize,
    w_tlv_record,
    w_u8,
    w_u16,
    w_u32,
    w_u64,
)


class ExtraTLVError(DecodeError):
    """lnwire.ErrParsingExtraTLVBytes: only the ChannelUpdate's extra TLV is bad."""

    def __init__(self, reason: str, *, offset: int = 0, payment: bytes | None = None, key: str | None = None, code: str = "extra_tlv") -> None:
        super().__init__(reason, offset=offset, payment=payment, key=key, code=code)


FAILURE_CODES: dict[int, str] = {
    0x8001: "InvalidRealm",
    0x2002: "TemporaryNodeFailure",
    0x6002: "PermanentNodeFailure",
    0x6003: "RequiredNodeFeatureMissing",
    0xC004: "InvalidOnionVersion",
    0xC005: "InvalidOnionHmac",
    0xC006: "InvalidOnionKey",
    0x1007: "TemporaryChannelFailure",
    0x4008: "PermanentChannelFailure",
    0x4009: "RequiredChannelFeatureMissing",
    0x400A: "UnknownNextPeer",
    0x100B: "AmountBelowMinimum",
    0x100C: "FeeInsufficient",
    0x100D: "IncorrectCltvExpiry",
    0x100E: "ExpiryTooSoon",
    0x1014: "ChannelDisabled",
    0x400F: "IncorrectOrUnknownPaymentDetails",
    0x4010: "IncorrectPaymentAmount",
    0x0011: "FinalExpiryTooSoon",
    0x0012: "FinalIncorrectCltvExpiry",
    0x0013: "FinalIncorrectHtlcAmount",
    0x0015: "ExpiryTooFar",
    0x4016: "InvalidOnionPayload",
    0x0017: "MPPTimeout",
    0xC018: "InvalidBlinding",
}

# Payload shapes, by code (which FailureMessage fields are meaningful).
NO_PAYLOAD_CODES = frozenset({0x8001, 0x2002, 0x6002, 0x6003, 0x4008, 0x4009, 0x400A, 0x4010, 0x0011, 0x0015, 0x0017})
ONION_HASH_CODES = frozenset({0xC004, 0xC005, 0xC006, 0xC018})
# Codes whose ChannelUpdate is mandatory (Go value, not pointer); 0x1007's is optional.
UPDATE_CODES = frozenset({0x100B, 0x100C, 0x100D, 0x100E, 0x1014})
OPTIONAL_UPDATE_CODES = frozenset({0x1007})
HTLC_MSAT_CODES = frozenset({0x100B, 0x100C, 0x0013})
CLTV_CODES = frozenset({0x100D, 0x0012})
INCORRECT_DETAILS = 0x400F
INVALID_ONION_PAYLOAD = 0x4016
CHANNEL_DISABLED = 0x1014
TEMPORARY_CHANNEL_FAILURE = 0x1007

MSG_CHANNEL_UPDATE = 258  # lnwire.MsgChannelUpdate, the optional 0x0102 prefix
INBOUND_FEE_TLV_TYPE = 55555


def failure_name(code: int) -> str:
    return FAILURE_CODES.get(code, "<unknown>")


def _int32(u: int) -> int:
    return u - (1 << 32) if u >= (1 << 31) else u


def _fee_known(r: Reader, _length: int) -> tuple[int, int]:
    # lnwire.feeDecoder reads two u32s whatever the declared record length is.
    return _int32(r.u32("inbound base fee")), _int32(r.u32("inbound fee rate"))


def _decode_channel_update(r: Reader, length: int) -> ChannelUpdate:
    start = r.offset
    window = r.read(min(length, r.remaining()), "channel update")
    u = Reader(window, base=start)
    if u.remaining() < 2:
        raise u.error("channel update shorter than 2 bytes", code="truncated")
    if int.from_bytes(u.peek(2), "big") == MSG_CHANNEL_UPDATE:
        u.read(2)
    upd = ChannelUpdate(
        signature=u.read(64, "signature"),
        chain_hash=u.read(32, "chain hash"),
        short_channel_id=u.u64("short channel id"),
        timestamp=u.u32("timestamp"),
        message_flags=u.u8("message flags"),
        channel_flags=u.u8("channel flags"),
        time_lock_delta=u.u16("time lock delta"),
        htlc_minimum_msat=u.u64("htlc minimum"),
        base_fee=u.u32("base fee"),
        fee_rate=u.u32("fee rate"),
    )
    if upd.message_flags & 1:
        upd.htlc_maximum_msat = u.u64("htlc maximum")
    if not u.at_end():
        try:
            _raw, known = parse_tlv_stream(u, p2p=True, known={INBOUND_FEE_TLV_TYPE: _fee_known})
        except DecodeError as e:
            raise ExtraTLVError(f"error parsing extra TLV bytes: {e.reason}", offset=e.offset) from None
        upd.inbound_fee = known.get(INBOUND_FEE_TLV_TYPE)
    return upd


def decode_failure_message(data: bytes, *, base: int = 0) -> FailureMessage:
    """lnwire.DecodeFailureMessage over the bytes stored in a fail info."""
    r = Reader(data, base=base)
    code = r.u16("failure code")
    if code not in FAILURE_CODES:
        raise r.error(f"unknown failure code 0x{code:04x}", code="unknown_failure_code", at=0)
    msg = FailureMessage(code=code)
    if code in NO_PAYLOAD_CODES:
        pass
    elif code in ONION_HASH_CODES:
        msg.onion_sha256 = r.read(32, "onion sha256")
    elif code == TEMPORARY_CHANNEL_FAILURE:
        n = r.u16("channel update length")
        if n:
            msg.update = _decode_channel_update(r, n)
    elif code in UPDATE_CODES:
        if code in HTLC_MSAT_CODES:
            msg.htlc_msat = r.u64("htlc msat")
        elif code in CLTV_CODES:
            msg.cltv_expiry = r.u32("cltv expiry")
        elif code == CHANNEL_DISABLED:
            msg.flags = r.u16("flags")
        msg.update = _decode_channel_update(r, r.u16("channel update length"))
    elif code == INCORRECT_DETAILS:
        # Each optional field is absent only when *no* byte of it is present.
        if not r.at_end():
            msg.amount_msat = r.u64("amount")
            if not r.at_end():
                msg.height = r.u32("height")
                msg.extra_opaque_data = r.rest()
    elif code == 0x0012:
        msg.cltv_expiry = r.u32("cltv expiry")
    elif code == 0x0013:
        msg.htlc_msat = r.u64("htlc msat")
    elif code == INVALID_ONION_PAYLOAD:
        msg.tlv_type = r.bigsize("tlv type")
        msg.tlv_offset = r.u16("tlv offset")
    return msg


def _zero_update() -> ChannelUpdate:
    return ChannelUpdate(
        signature=bytes(64), chain_hash=bytes(32), short_channel_id=0, timestamp=0, message_flags=0,
        channel_flags=0, time_lock_delta=0, htlc_minimum_msat=0, base_fee=0, fee_rate=0,
    )


def encode_channel_update(u: ChannelUpdate) -> bytes:
    """writeOnionErrorChanUpdate: u16 length, then 0x0102 + ChannelUpdate1.Encode."""
    body = b"".join(
        [
            w_u16(MSG_CHANNEL_UPDATE),
            bytes(u.signature),
            bytes(u.chain_hash),
            w_u64(u.short_channel_id),
            w_u32(u.timestamp),
            w_u8(u.message_flags),
            w_u8(u.channel_flags),
            w_u16(u.time_lock_delta),
            w_u64(u.htlc_minimum_msat),
            w_u32(u.base_fee),
            w_u32(u.fee_rate),
        ]
    )
    if u.message_flags & 1:
        body += w_u64(u.htlc_maximum_msat)
    if u.inbound_fee is not None:
        fee_base, fee_rate = u.inbound_fee
        body += w_tlv_record(INBOUND_FEE_TLV_TYPE, w_u32(fee_base & 0xFFFFFFFF) + w_u32(fee_rate & 0xFFFFFFFF))
    return w_u16(len(body)) + body


def encode_failure_message(msg: FailureMessage) -> bytes:
    """lnwire.EncodeFailureMessage: what LND writes to SQL ``failure_msg``."""
    code = msg.code
    if code not in FAILURE_CODES:
        raise ValueError(f"cannot encode unknown failure code 0x{code:04x}")
    out = w_u16(code)
    if code in NO_PAYLOAD_CODES:
        return out
    if code in ONION_HASH_CODES:
        return out + (bytes(msg.onion_sha256) if msg.onion_sha256 is not None else bytes(32))
    if code == TEMPORARY_CHANNEL_FAILURE:
        return out + (encode_channel_update(msg.update) if msg.update is not None else w_u16(0))
    if code in UPDATE_CODES:
        if code in HTLC_MSAT_CODES:
            out += w_u64(msg.htlc_msat or 0)
        elif code in CLTV_CODES:
            out += w_u32(msg.cltv_expiry or 0)
        elif code == CHANNEL_DISABLED:
            out += w_u16(msg.flags or 0)
        return out + encode_channel_update(msg.update if msg.update is not None else _zero_update())
    if code == INCORRECT_DETAILS:
        return out + w_u64(msg.amount_msat or 0) + w_u32(msg.height or 0) + bytes(msg.extra_opaque_data)
    if code == 0x0012:
        return out + w_u32(msg.cltv_expiry or 0)
    if code == 0x0013:
        return out + w_u64(msg.htlc_msat or 0)
    if code == INVALID_ONION_PAYLOAD:
        return out + w_bigsize(msg.tlv_type or 0) + w_u16(msg.tlv_offset or 0)
    raise AssertionError(f"unhandled failure code 0x{code:04x}")  # pragma: no cover
