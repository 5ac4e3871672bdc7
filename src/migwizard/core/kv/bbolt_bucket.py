"""A bucket of a bbolt file: walking its page tree (or inline page) with every element bounds-checked.

Apart from :mod:`.bbolt` (which opens the file, validates the metas and hands
out pages) because this is the part that interprets keys, values and sub-bucket
headers; errors come from the reader so they name file, page and offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .bbolt_format import (
    BRANCH_ELEM,
    BUCKET_HDR,
    ELEM_SIZE,
    FLAG_BRANCH,
    FLAG_LEAF,
    HEADER_SIZE,
    LEAF_BUCKET,
    LEAF_ELEM,
    MAX_TREE_DEPTH,
    PAGE_HEADER,
)
from .bucket import BucketBase
from .errors import KVError

if TYPE_CHECKING:
    from .bbolt import BboltReader

__all__ = ["BboltBucket"]


class BboltBucket(BucketBase):
    """A bucket in a :class:`BboltReader`: either a page tree or an inline page image."""

    writable = False
    __slots__ = ("_r", "_root", "_seq", "_inline", "path")

    def __init__(self, reader: BboltReader, root: int, seq: int, inline: bytes | None, path: tuple[bytes, ...]):
        self._r = reader
        self._root = root
        self._seq = seq
        self._inline = inline
        self.path = path

    def __repr__(self) -> str:
        from migwizard.core.codec.errors import render_key

        return f"<BboltBucket {render_key(*self.path) or '<root>'} root={self._root} seq={self._seq}>"

    def sequence(self) -> int:
        return self._seq

    # -- page access -------------------------------------------------------
    def _where(self, pgid: int | None) -> str:
        from migwizard.core.codec.errors import render_key

        b = render_key(*self.path) if self.path else "<root>"
        return f"bucket {b}" + ("" if pgid else " (inline)")

    def _load(self, pgid: int | None):
        """Page tuple for ``pgid``, or the inline page when ``pgid`` is None."""
        if pgid is None:
            buf = self._inline
            if len(buf) < BUCKET_HDR.size + HEADER_SIZE:
                raise self._r._err(f"{self._where(None)}: inline bucket value of {len(buf)} bytes is too short")
            _pid, flags, count, _ov = PAGE_HEADER.unpack_from(buf, BUCKET_HDR.size)
            if HEADER_SIZE + ELEM_SIZE * count > len(buf) - BUCKET_HDR.size:
                raise self._r._err(
                    f"{self._where(None)}: element count {count} does not fit in the inline bucket "
                    f"of {len(buf)} bytes"
                )
            return buf, BUCKET_HDR.size, len(buf), flags, count, None
        r = self._r
        buf, off, end, flags, count = r._page(pgid)
        r._claim(pgid, pgid + (end - off) // r.page_size - 1, self.path, self._where(pgid))
        return buf, off, end, flags, count, pgid

    def _start(self):
        if self._r.closed:
            raise KVError(f"{self._r._name}: reader is closed")
        return None if self._inline is not None else self._root

    def _leaf_elem(self, buf, off, end, i, pgid):
        e = off + HEADER_SIZE + ELEM_SIZE * i
        if e + ELEM_SIZE > end:
            raise self._r._err(f"{self._where(pgid)}: leaf element {i} lies outside the page", pgid, e)
        flags, pos, ksize, vsize = LEAF_ELEM.unpack_from(buf, e)
        ks = e + pos
        ve = ks + ksize + vsize
        if ksize == 0:
            raise self._r._err(f"{self._where(pgid)}: leaf element {i} has an empty key", pgid, e)
        if ve > end:
            raise self._r._err(
                f"{self._where(pgid)}: leaf element {i} (key {ksize} B, value {vsize} B at +{pos}) "
                "does not fit in its page",
                pgid,
                e,
            )
        return flags, ks, ks + ksize, ve

    def _branch_elem(self, buf, off, end, i, pgid):
        e = off + HEADER_SIZE + ELEM_SIZE * i
        if e + ELEM_SIZE > end:
            raise self._r._err(f"{self._where(pgid)}: branch element {i} lies outside the page", pgid, e)
        pos, ksize, child = BRANCH_ELEM.unpack_from(buf, e)
        if e + pos + ksize > end:
            raise self._r._err(f"{self._where(pgid)}: branch element {i} key does not fit in its page", pgid, e)
        return e + pos, e + pos + ksize, child

    def _child(self, buf, key: bytes, vs: int, ve: int, pgid) -> "BboltBucket":
        if ve - vs < BUCKET_HDR.size:
            raise self._r._err(
                f"{self._where(pgid)}: sub-bucket header of {key!r} is {ve - vs} bytes, expected >= 16", pgid, vs
            )
        root, seq = BUCKET_HDR.unpack_from(buf, vs)
        inline = bytes(buf[vs:ve]) if root == 0 else None
        if inline is not None and len(inline) >= BUCKET_HDR.size + HEADER_SIZE:
            pflags = PAGE_HEADER.unpack_from(inline, BUCKET_HDR.size)[1]
            if pflags != FLAG_LEAF:
                raise self._r._err(
                    f"{self._where(pgid)}: inline sub-bucket {key!r} page has flags 0x{pflags:x}, expected leaf", pgid, vs
                )
        return BboltBucket(self._r, root, seq, inline, self.path + (key,))

    # -- reading -----------------------------------------------------------
    def entries(self) -> Iterator[tuple[bytes, bytes | None, "BboltBucket | None"]]:
        start = self._start()
        prev: bytes | None = None
        # Explicit stack of (page tuple, next element index): no recursion, depth-bounded.
        # Every page at most once: a page reached twice means the branch pages
        # form a cycle or a DAG, which would make this walk endless or exponential.
        seen: set[int] = set()
        stack = [(self._load(start), 0)]
        if start is not None:
            seen.add(start)
        while stack:
            page, i = stack.pop()
            buf, off, end, flags, count, pgid = page
            if flags == FLAG_BRANCH:
                if i < count:
                    _ks, _ke, child = self._branch_elem(buf, off, end, i, pgid)
                    stack.append((page, i + 1))
                    if len(stack) >= MAX_TREE_DEPTH:
                        raise self._r._err(
                            f"{self._where(pgid)}: page tree deeper than {MAX_TREE_DEPTH} (cycle?)", pgid
                        )
                    if child in seen:
                        raise self._r._err(
                            f"{self._where(pgid)}: branch element {i} of page {pgid} points at page {child}, "
                            "already reached in this bucket (page tree loops or is shared)",
                            child,
                        )
                    seen.add(child)
                    stack.append((self._load(child), 0))
                continue
            if flags != FLAG_LEAF:
                raise self._r._err(
                    f"{self._where(pgid)}: expected a branch or leaf page, found flags 0x{flags:x}", pgid, off
                )
            for j in range(count):
                eflags, ks, vs, ve = self._leaf_elem(buf, off, end, j, pgid)
                key = bytes(buf[ks:vs])
                if prev is not None and key <= prev:
                    raise self._r._err(f"{self._where(pgid)}: keys out of order at leaf element {j}", pgid, ks)
                prev = key
                if eflags & LEAF_BUCKET:
                    yield key, None, self._child(buf, key, vs, ve, pgid)
                else:
                    yield key, bytes(buf[vs:ve]), None

    def _seek(self, key: bytes):
        """Leaf element for exactly ``key``: (buf, flags, vs, ve, pgid) or None."""
        if not key:
            return None
        page = self._load(self._start())
        for _depth in range(MAX_TREE_DEPTH):
            buf, off, end, flags, count, pgid = page
            if flags == FLAG_BRANCH:
                # Last element whose key <= target (bbolt cursor.search).
                lo, hi = 0, count
                while lo < hi:
                    mid = (lo + hi) // 2
                    ks, ke, _c = self._branch_elem(buf, off, end, mid, pgid)
                    if bytes(buf[ks:ke]) <= key:
                        lo = mid + 1
                    else:
                        hi = mid
                if count == 0:
                    return None
                _ks, _ke, child = self._branch_elem(buf, off, end, max(lo - 1, 0), pgid)
                page = self._load(child)
                continue
            if flags != FLAG_LEAF:
                raise self._r._err(
                    f"{self._where(pgid)}: expected a branch or leaf page, found flags 0x{flags:x}", pgid, off
                )
            lo, hi = 0, count
            while lo < hi:
                mid = (lo + hi) // 2
                eflags, ks, vs, ve = self._leaf_elem(buf, off, end, mid, pgid)
                k = bytes(buf[ks:vs])
                if k == key:
                    return buf, eflags, vs, ve, pgid
                if k < key:
                    lo = mid + 1
                else:
                    hi = mid
            return None
        raise self._r._err(f"{self._where(None)}: page tree deeper than {MAX_TREE_DEPTH} (cycle?)")

    def get(self, key: bytes) -> bytes | None:
        hit = self._seek(key)
        if hit is None or hit[1] & LEAF_BUCKET:
            return None
        buf, _f, vs, ve, _p = hit
        return bytes(buf[vs:ve])

    def bucket(self, key: bytes) -> "BboltBucket | None":
        hit = self._seek(key)
        if hit is None or not hit[1] & LEAF_BUCKET:
            return None
        buf, flags, vs, ve, pgid = hit
        return self._child(buf, key, vs, ve, pgid)

    def is_bucket(self, key: bytes) -> bool:
        hit = self._seek(key)
        return hit is not None and bool(hit[1] & LEAF_BUCKET)
