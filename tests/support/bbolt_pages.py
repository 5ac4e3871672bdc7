"""Byte-level access to bbolt pages, for building crafted files from real ones.

The hostile-input tests and the fuzz harness patch temp copies of the real
fixtures page by page; this module holds the layout arithmetic so each test
reads as the attack it builds ("point this sub-bucket at its parent's page").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migwizard.core.kv.bbolt import BboltReader
from migwizard.core.kv.bbolt_format import (
    BRANCH_ELEM,
    BUCKET_HDR,
    FLAG_BRANCH,
    FLAG_LEAF,
    LEAF_BUCKET,
    LEAF_ELEM,
    PAGE_HEADER,
)
from migwizard.core.kv.bucket import walk


@dataclass(frozen=True)
class SubBucketRef:
    """A leaf element that is a sub-bucket with its own root page."""

    page: int  # leaf page holding the element
    index: int
    key: bytes
    root: int
    root_offset: int  # file offset of the u64 root page id


class PageFile:
    """A bbolt file in memory; ``save()`` writes it back."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data = bytearray(self.path.read_bytes())
        with BboltReader(self.path) as r:
            self.page_size = r.page_size
            self.hwm = r.meta.hwm
            self.root = r.meta.root
            with r.read() as root:
                for _ in walk(root):
                    pass
            #: page -> owning bucket path, from a clean walk (every reachable page).
            self.owner = dict(r._owner)

    def save(self) -> None:
        self.path.write_bytes(bytes(self.data))

    def header(self, pg: int) -> tuple[int, int, int, int]:
        return PAGE_HEADER.unpack_from(self.data, pg * self.page_size)

    def set_header(self, pg: int, *, flags=None, count=None, overflow=None) -> None:
        pid, f, c, o = self.header(pg)
        PAGE_HEADER.pack_into(
            self.data,
            pg * self.page_size,
            pid,
            f if flags is None else flags,
            c if count is None else count,
            o if overflow is None else overflow,
        )

    def pages(self, flags: int) -> list[int]:
        return [pg for pg in range(2, self.hwm) if self.header(pg)[0] == pg and self.header(pg)[1] == flags]

    def branch_children(self, pg: int) -> list[int]:
        _pid, flags, count, _o = self.header(pg)
        assert flags == FLAG_BRANCH
        base = pg * self.page_size + 16
        return [BRANCH_ELEM.unpack_from(self.data, base + 16 * i)[2] for i in range(count)]

    def sub_buckets(self) -> list[SubBucketRef]:
        out = []
        for pg in self.pages(FLAG_LEAF):
            _pid, _f, count, _o = self.header(pg)
            for i in range(count):
                e = pg * self.page_size + 16 + 16 * i
                flags, pos, ksize, _vsize = LEAF_ELEM.unpack_from(self.data, e)
                if flags & LEAF_BUCKET:
                    vs = e + pos + ksize
                    root, _seq = BUCKET_HDR.unpack_from(self.data, vs)
                    if root:
                        out.append(SubBucketRef(pg, i, bytes(self.data[e + pos : vs]), root, vs))
        return out

    def set_u64(self, offset: int, value: int) -> None:
        self.data[offset : offset + 8] = value.to_bytes(8, "little")

    def write_branch(self, pg: int, children: list[tuple[bytes, int]]) -> None:
        """Overwrite page ``pg`` with a branch page of ``(key, child)`` elements."""
        start = pg * self.page_size
        self.data[start : start + self.page_size] = bytes(self.page_size)
        PAGE_HEADER.pack_into(self.data, start, pg, FLAG_BRANCH, len(children), 0)
        key_at = 16 + 16 * len(children)
        for i, (key, child) in enumerate(children):
            e = 16 + 16 * i
            BRANCH_ELEM.pack_into(self.data, start + e, key_at - e, len(key), child)
            self.data[start + key_at : start + key_at + len(key)] = key
            key_at += len(key)

    def pages_owned_under(self, top: bytes) -> list[int]:
        """Pages a clean walk attributes to bucket ``top`` or its descendants, sorted."""
        return sorted(pg for pg, path in self.owner.items() if path[:1] == (top,))
