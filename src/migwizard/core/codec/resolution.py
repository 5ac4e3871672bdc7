"""HTLC settle and fail infos (``si``/``fi`` + attempt id), spec §2.6-§2.7.

Both readers stop after their fields; LND ignores anything that follows.
"""

from __future__ import annotations

from .model import HTLCFailInfo, HTLCSettleInfo
from .onion import ExtraTLVError, decode_failure_message, encode_failure_message
from .primitives import Reader, w_time, w_u8, w_u32, w_var_bytes

FAILURE_MESSAGE_MAX = 0xFFFF  # math.MaxUint16, the VarBytes limit for the message


def decode_settle_info(raw: bytes) -> HTLCSettleInfo:
    r = Reader(raw)
    return HTLCSettleInfo(preimage=r.read(32, "preimage"), settle_time=r.time("settle time"))


def encode_settle_info(info: HTLCSettleInfo) -> bytes:
    return bytes(info.preimage) + w_time(info.settle_time)


def decode_fail_info(raw: bytes) -> HTLCFailInfo:
    r = Reader(raw)
    fail_time = r.time("fail time")
    raw_message = r.var_bytes(FAILURE_MESSAGE_MAX, "failure message")
    msg_base = r.offset - len(raw_message)
    message = None
    dropped = False
    if raw_message:
        try:
            message = decode_failure_message(raw_message, base=msg_base)
        except ExtraTLVError:
            # ErrParsingExtraTLVBytes is the one failure LND tolerates: it
            # keeps the fail info with Message = nil (SQL failure_msg NULL).
            # Every other DecodeError propagates and aborts, as in LND.
            dropped = True
    reason = r.u8("htlc fail reason")
    source = r.u32("failure source index")
    return HTLCFailInfo(
        fail_time=fail_time,
        message=message,
        reason=reason,
        failure_source_index=source,
        raw_message=raw_message,
        message_dropped=dropped,
    )


def encode_fail_info(info: HTLCFailInfo) -> bytes:
    """serializeHTLCFailInfo. A message LND dropped has no re-encoding, so its
    stored bytes are written back (that is what such a store holds)."""
    if info.message is not None:
        msg = encode_failure_message(info.message)
    elif info.message_dropped:
        msg = bytes(info.raw_message)
    else:
        msg = b""
    return w_time(info.fail_time) + w_var_bytes(msg) + w_u8(info.reason) + w_u32(info.failure_source_index)
