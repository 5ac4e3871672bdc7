"""bbolt's on-disk format: page and meta layouts, constants, the meta checksum.

Kept apart from the reader so the reader module holds only the walking logic
(and its defences against crafted files). Reference: storage-notes.md §1.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BBOLT_MAGIC = 0xED0CDAED
BBOLT_VERSION = 2
PGID_NO_FREELIST = 0xFFFFFFFFFFFFFFFF

PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
META = struct.Struct("<IIIIQQQQQQ")  # magic version pageSize flags root seq freelist pgid txid checksum
BRANCH_ELEM = struct.Struct("<IIQ")  # pos ksize pgid
LEAF_ELEM = struct.Struct("<IIII")  # flags pos ksize vsize
BUCKET_HDR = struct.Struct("<QQ")  # root sequence
U64 = struct.Struct("<Q")

FLAG_BRANCH = 0x01
FLAG_LEAF = 0x02
FLAG_META = 0x04
FLAG_FREELIST = 0x10
LEAF_BUCKET = 0x01

HEADER_SIZE = 16
ELEM_SIZE = 16
META_CHECKSUM_SPAN = 56
MAX_TREE_DEPTH = 64  # a B+tree of 2^64 pages is shallower; deeper means a cycle

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64, bbolt's meta checksum (``meta.go Sum64``)."""
    h = _FNV_OFFSET
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK64
    return h


def is_bbolt_header(head: bytes) -> bool:
    """True if ``head`` (the first bytes of a file) carries bbolt meta magic in either byte order.

    Big-endian files count, so the reader rather than the detector gets to
    explain why they are refused.
    """
    if len(head) < 20:
        return False
    return head[16:20] in (BBOLT_MAGIC.to_bytes(4, "little"), BBOLT_MAGIC.to_bytes(4, "big"))


@dataclass(frozen=True)
class BboltMeta:
    """One decoded meta page; ``problem`` is None when it validates."""

    page: int  # 0 or 1
    magic: int
    version: int
    page_size: int
    flags: int
    root: int
    root_sequence: int
    freelist: int
    hwm: int
    txid: int
    checksum: int
    problem: str | None

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def has_freelist(self) -> bool:
        return self.freelist != PGID_NO_FREELIST


def _decode_meta(buf, offset: int, page: int) -> BboltMeta | None:
    """Decode the 64-byte meta at ``offset`` (the page start + 16); None if it doesn't fit."""
    if offset + META.size > len(buf):
        return None
    fields = META.unpack_from(buf, offset)
    magic, version = fields[0], fields[1]
    problem = None
    if magic != BBOLT_MAGIC:
        problem = f"bad magic 0x{magic:08x}"
    elif version != BBOLT_VERSION:
        problem = f"unsupported bbolt version {version}"
    else:
        want = fnv1a64(bytes(buf[offset : offset + META_CHECKSUM_SPAN]))
        if want != fields[9]:
            problem = f"checksum mismatch (stored 0x{fields[9]:016x}, computed 0x{want:016x})"
    return BboltMeta(page, *fields, problem=problem)
