"""Small fixed-shape values: index entries, sequence numbers, payment fail reasons.

These are where Go would *panic* on short input (``binary.BigEndian.Uint64`` on
fewer than 8 bytes, ``b[0]`` on an empty slice). A panic aborts LND's migration
just like an error, so we reject the same inputs with a DecodeError.
"""

from __future__ import annotations

from .primitives import Reader, w_u64, w_var_bytes

PAYMENT_INDEX_TYPE_HASH = 0
INDEX_HASH_MAX_LEN = 66000  # wire.ReadVarBytes limit used by deserializePaymentIndex


def decode_index_entry(raw: bytes) -> bytes:
    """deserializePaymentIndex: type byte 0, then VarBytes that must be a 32-byte hash."""
    if len(raw) == 34 and raw[0] == PAYMENT_INDEX_TYPE_HASH and raw[1] == 32:
        return bytes(raw[2:])  # the one well-formed shape, without a Reader (a million times per pass)
    r = Reader(raw)
    typ = r.u8("index type")
    if typ != PAYMENT_INDEX_TYPE_HASH:
        raise r.error(f"unknown payment index type: {typ}", code="bad_index_type", at=0)
    start = r.pos
    h = r.var_bytes(INDEX_HASH_MAX_LEN, "payment hash")
    if len(h) != 32:
        raise r.error(f"invalid hash length in index entry: {len(h)}", code="bad_length", at=start)
    return h


def encode_index_entry(payment_hash: bytes) -> bytes:
    return bytes([PAYMENT_INDEX_TYPE_HASH]) + w_var_bytes(payment_hash)


def decode_sequence(raw: bytes) -> int:
    """A u64 BE sequence number. Go reads the first 8 bytes and ignores any more."""
    if len(raw) >= 8:
        return int.from_bytes(raw[:8], "big")
    return Reader(raw).u64("sequence number")  # raises, located


def encode_sequence(seq: int) -> bytes:
    return w_u64(seq)


def decode_failure_reason(raw: bytes) -> int:
    """payment-fail-info: only byte 0 counts; an empty value would panic in Go."""
    return Reader(raw).u8("payment fail reason")


def encode_failure_reason(reason: int) -> bytes:
    return bytes([reason])
