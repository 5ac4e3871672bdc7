"""Legacy duplicate-payment values (channeldb migration 9), spec §2.9 and §4.8.

Duplicates predate the nanosecond format: creation time is Unix *seconds* and
0 means 1970 (``time.Unix(0, 0)``), never the Go zero time, so it is an int and
never None.
"""

from __future__ import annotations

from .model import Nanos
from .primitives import Reader, w_u32, w_u64
from .resolution import decode_settle_info

NS_PER_S = 1_000_000_000


def decode_legacy_creation_info(raw: bytes) -> tuple[bytes, int, int, bytes]:
    """-> (payment hash, value msat, creation time ns, payment request)."""
    r = Reader(raw)
    payment_hash = r.read(32, "payment hash")
    value = r.u64("value")
    secs = r.u64("creation time (seconds)")
    if secs >= 1 << 63:
        secs -= 1 << 64  # Go: time.Unix(int64(u64), 0)
    payreq = r.read(r.u32("payment request length"), "payment request")
    return payment_hash, value, secs * NS_PER_S, payreq


def encode_legacy_creation_info(payment_hash: bytes, value: int, creation_time_ns: int, payment_request: bytes) -> bytes:
    secs = creation_time_ns // NS_PER_S
    return bytes(payment_hash) + w_u64(value) + w_u64(secs & (2**64 - 1)) + w_u32(len(payment_request)) + bytes(payment_request)


def parse_duplicate_settle(raw: bytes) -> tuple[bytes, Nanos]:
    """parseDuplicateSettleData: a bare 32-byte preimage (no time), else a
    modern settle info (>= 40 bytes; zero time -> None)."""
    if len(raw) == 32:
        return bytes(raw), None
    info = decode_settle_info(raw)
    return info.preimage, info.settle_time


def decode_legacy_attempt_id(raw: bytes) -> int:
    """The u64 attempt id that opens a legacy payment-attempt-info (log use only)."""
    return Reader(raw).u64("legacy attempt id")
