"""Byte-level building blocks shared by every KV value decoder.

LND's KV encodings mix two varints (btcd CompactSize, little-endian, for
``VarBytes``; BOLT BigSize, big-endian, inside TLV streams) with fixed-width
big-endian integers. Keeping each one in exactly one place is the best defence
against the most likely class of byte-level bugs.

Every read goes through :class:`Reader`, which checks bounds *before* slicing,
so a hostile length can never make us allocate or loop on unchecked input, and
every rejection is a :class:`DecodeError` carrying the offset inside the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import DecodeError
from .model import Nanos

U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF
U64_MAX = 0xFFFF_FFFF_FFFF_FFFF

# tlv.MaxRecordSize: the P2P decode variant refuses larger records.
TLV_P2P_MAX_RECORD = 65535


class Reader:
    """A cursor over one KV value.

    ``base`` lets a nested value (a failure message inside a fail info) report
    offsets relative to the outer KV value, which is what a hex editor shows.
    """

    __slots__ = ("data", "pos", "base")

    def __init__(self, data: bytes, *, base: int = 0) -> None:
        self.data = bytes(data)
        self.pos = 0
        self.base = base

    # -- position -----------------------------------------------------------
    @property
    def offset(self) -> int:
        return self.base + self.pos

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def error(self, reason: str, *, code: str = "decode", at: int | None = None) -> DecodeError:
        return DecodeError(reason, offset=self.base + (self.pos if at is None else at), code=code)

    # -- raw reads ----------------------------------------------------------
    def read(self, n: int, what: str = "bytes") -> bytes:
        if n < 0 or n > self.remaining():
            raise self.error(f"truncated {what}: need {n} bytes, {self.remaining()} left", code="truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    def peek(self, n: int) -> bytes:
        return self.data[self.pos : self.pos + n]

    def u8(self, what: str = "u8") -> int:
        return self.read(1, what)[0]

    def u16(self, what: str = "u16") -> int:
        return int.from_bytes(self.read(2, what), "big")

    def u32(self, what: str = "u32") -> int:
        return int.from_bytes(self.read(4, what), "big")

    def u64(self, what: str = "u64") -> int:
        return int.from_bytes(self.read(8, what), "big")

    def bool_(self, what: str = "bool") -> bool:
        # Go's binary.Read into a bool: any non-zero byte is true.
        return self.u8(what) != 0

    def time(self, what: str = "time") -> Nanos:
        return decode_time(self.u64(what))

    # -- varints ------------------------------------------------------------
    def compact_size(self, what: str = "CompactSize") -> int:
        """btcd wire.ReadVarInt: little-endian, minimal encodings only."""
        start = self.pos
        disc = self.u8(what)
        if disc < 0xFD:
            return disc
        if disc == 0xFD:
            v, floor = int.from_bytes(self.read(2, what), "little"), 0xFD
        elif disc == 0xFE:
            v, floor = int.from_bytes(self.read(4, what), "little"), 0x10000
        else:
            v, floor = int.from_bytes(self.read(8, what), "little"), 0x1_0000_0000
        if v < floor:
            raise self.error(f"non-canonical CompactSize {v} for {what}", code="varint_not_canonical", at=start)
        return v

    def var_bytes(self, max_len: int, what: str = "VarBytes") -> bytes:
        """btcd wire.ReadVarBytes: CompactSize length (checked against max) + bytes."""
        start = self.pos
        n = self.compact_size(what)
        if n > max_len:
            raise self.error(f"{what} length {n} exceeds maximum {max_len}", code="too_large", at=start)
        return self.read(n, what)

    def bigsize(self, what: str = "BigSize") -> int:
        """tlv.ReadVarInt: big-endian, minimal encodings only."""
        start = self.pos
        disc = self.u8(what)
        if disc < 0xFD:
            return disc
        if disc == 0xFD:
            v, floor = self.u16(what), 0xFD
        elif disc == 0xFE:
            v, floor = self.u32(what), 0x10000
        else:
            v, floor = self.u64(what), 0x1_0000_0000
        if v < floor:
            raise self.error(f"non-canonical BigSize {v} for {what}", code="varint_not_canonical", at=start)
        return v

    def tuint(self, length: int, max_len: int, what: str = "truncated uint") -> int:
        """tlv.DTUint64/DTUint32: ``length`` big-endian bytes, no leading zero."""
        start = self.pos
        if length > max_len:
            raise self.error(f"{what} of {length} bytes exceeds {max_len}", code="bad_length", at=start)
        raw = self.read(length, what)
        if raw and raw[0] == 0:
            raise self.error(f"non-minimal {what}", code="tu_not_minimal", at=start)
        return int.from_bytes(raw, "big")


# -- writers ------------------------------------------------------------------


def w_u8(v: int) -> bytes:
    return v.to_bytes(1, "big")


def w_u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def w_u32(v: int) -> bytes:
    return v.to_bytes(4, "big")


def w_u64(v: int) -> bytes:
    return v.to_bytes(8, "big")


def w_compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= U16_MAX:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= U32_MAX:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def w_var_bytes(b: bytes) -> bytes:
    return w_compact_size(len(b)) + bytes(b)


def w_bigsize(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= U16_MAX:
        return b"\xfd" + n.to_bytes(2, "big")
    if n <= U32_MAX:
        return b"\xfe" + n.to_bytes(4, "big")
    return b"\xff" + n.to_bytes(8, "big")


def w_tuint(v: int) -> bytes:
    """Truncated uint: big-endian with leading zero bytes dropped (0 -> b"")."""
    return v.to_bytes((v.bit_length() + 7) // 8, "big")


# -- time ---------------------------------------------------------------------


def decode_time(raw: int) -> Nanos:
    """KV u64 -> ns. 0 is Go's zero time (None); the rest is a two's-complement int64."""
    if raw == 0:
        return None
    return raw - (1 << 64) if raw >= (1 << 63) else raw


def encode_time_u64(t: Nanos) -> int:
    if t is None:
        return 0
    return t & U64_MAX


def w_time(t: Nanos) -> bytes:
    return w_u64(encode_time_u64(t))


# -- TLV streams -------------------------------------------------------------

# A known-record decoder reads its value straight from the stream reader. LND's
# decoders are handed the whole reader plus the declared length and most of
# them ignore that length, so they consume what *they* need, not what the
# length says. We reproduce that, odd as it is, to accept and reject exactly
# the same bytes.
KnownDecoder = Callable[[Reader, int], Any]


def parse_tlv_stream(
    r: Reader,
    *,
    p2p: bool = False,
    known: Mapping[int, KnownDecoder] | None = None,
) -> tuple[dict[int, bytes], dict[int, Any]]:
    """tlv.Stream.DecodeWithParsedTypes[P2P] over the rest of ``r``.

    Returns (unknown records as raw bytes, decoded known records). Types must
    be strictly increasing; a stream may end cleanly only between records.
    """
    known = known or {}
    raw: dict[int, bytes] = {}
    decoded: dict[int, Any] = {}
    minimum = 0
    overflow = False
    while not r.at_end():
        start = r.pos
        typ = r.bigsize("TLV type")
        if overflow or typ < minimum:
            raise r.error(f"TLV stream not canonical: type {typ} after {minimum - 1}", code="tlv_not_canonical", at=start)
        if r.at_end():
            raise r.error(f"truncated TLV record {typ}: no length", code="truncated")
        length = r.bigsize("TLV length")
        if p2p and length > TLV_P2P_MAX_RECORD:
            raise r.error(f"TLV record {typ} too large ({length} bytes)", code="tlv_record_too_large", at=start)
        if typ in known:
            decoded[typ] = known[typ](r, length)
        else:
            raw[typ] = r.read(length, f"TLV record {typ} value")
        if typ == U64_MAX:
            overflow = True
        else:
            minimum = typ + 1
    return raw, decoded


def w_tlv_record(typ: int, value: bytes) -> bytes:
    return w_bigsize(typ) + w_bigsize(len(value)) + bytes(value)


def w_tlv_stream(records: Mapping[int, bytes] | Iterable[tuple[int, bytes]]) -> bytes:
    """Canonical TLV stream: sorted by type (types are unique by construction)."""
    items = records.items() if isinstance(records, Mapping) else records
    return b"".join(w_tlv_record(t, v) for t, v in sorted(items, key=lambda kv: kv[0]))


def bigsize_known(r: Reader, _length: int) -> int:
    """tlv.DBigSize: reads a BigSize regardless of the declared record length."""
    return r.bigsize("BigSize TLV value")
