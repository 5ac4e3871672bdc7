"""Read-only reader for bbolt files (lnd's ``channel.db``).

Why our own reader: the only PyPI bolt reader opens files read-write even in
"read-only" mode, locks with ``lockf`` (which does not exclude lnd's ``flock``),
skips checksum validation and crashes on NoFreelistSync files (storage-notes
§2.1). This reader:

* never opens the file for writing (``O_RDONLY`` + ``mmap`` ``ACCESS_READ``), so
  it works on a read-only copy and cannot damage the user's node;
* takes ``flock(LOCK_SH|LOCK_NB)`` and keeps it while open: a running lnd holds
  ``LOCK_EX``, and reading a live file is unsafe because the writer may recycle
  pages under an unregistered reader (storage-notes §1.8);
* validates both meta pages the way bbolt does and falls back to the older one;
* bounds-checks every page and element, reporting file, page and offset, so a
  damaged file yields a precise :class:`CorruptError` rather than garbage;
* treats the file as hostile: in a real bbolt file every page belongs to
  exactly one bucket tree and is reached once, so a page reached twice (a
  sub-bucket root pointing at its own page or an ancestor's, branch pages
  forming a cycle or a DAG) is corruption, named by page. That keeps every walk
  linear in the file size — a crafted file cannot make it loop, go exponential,
  recurse or grow memory beyond one entry per page.

Format reference: storage-notes.md §1 (line numbers into etcd-io/bbolt there).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .bbolt_bucket import BboltBucket
from .errors import CorruptError, KVError, LockedError, ReadOnlyError, UnsupportedError

__all__ = ["BboltReader", "BboltBucket", "BboltMeta", "BBOLT_MAGIC", "is_bbolt_header"]

from .bbolt_format import (  # noqa: F401 - re-exported for callers and tests
    BBOLT_MAGIC,
    BBOLT_VERSION,
    PGID_NO_FREELIST,
    PAGE_HEADER,
    META,
    BRANCH_ELEM,
    LEAF_ELEM,
    BUCKET_HDR,
    U64,
    FLAG_BRANCH,
    FLAG_LEAF,
    FLAG_META,
    FLAG_FREELIST,
    LEAF_BUCKET,
    HEADER_SIZE,
    ELEM_SIZE,
    META_CHECKSUM_SPAN,
    MAX_TREE_DEPTH,
    fnv1a64,
    is_bbolt_header,
    BboltMeta,
    _decode_meta,
)


class BboltReader:
    """A bbolt file opened read-only, with the shared flock held until :meth:`close`.

    Use as a context manager; ``read()`` yields the root bucket. The whole file
    is one immutable snapshot (we exclude writers by the lock), so ``read()``
    can be entered any number of times.
    """

    kind = "bbolt"
    readonly = True

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._name = str(self.path)
        self._fd: int | None = None
        self._mm: mmap.mmap | None = None
        try:
            fd = os.open(self._name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise KVError(f"{self._name}: no such file") from None
        except IsADirectoryError:
            raise KVError(f"{self._name}: is a directory, expected a bbolt file such as channel.db") from None
        except OSError as e:
            raise KVError(f"{self._name}: cannot open for reading: {e.strerror}") from None
        self._fd = fd
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise KVError(f"{self._name}: not a regular file, expected a bbolt file such as channel.db")
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockedError(
                    f"{self._name} is held by another process — is lnd running? stop it first"
                ) from None
            self.size = st.st_size
            #: page id -> path of the bucket whose tree holds it (see :meth:`_claim`).
            self._owner: dict[int, tuple[bytes, ...]] = {}
            if self.size < 1024:
                raise CorruptError(
                    f"{self._name}: {self.size} bytes is too small to be a bbolt file", path=self._name
                )
            self._mm = mmap.mmap(fd, self.size, access=mmap.ACCESS_READ)
            self._load_meta()
            self._check_freelist()
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        """Unmap and drop the lock (closing the fd releases the flock)."""
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:  # a memoryview still alive; the GC will unmap
                pass
            self._mm = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def closed(self) -> bool:
        return self._mm is None

    def __enter__(self) -> "BboltReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self):  # pragma: no cover - safety net only
        try:
            self.close()
        except Exception:
            pass

    @contextmanager
    def read(self) -> Iterator["BboltBucket"]:
        yield self.root()

    @contextmanager
    def write(self):
        raise ReadOnlyError(
            f"{self._name}: bbolt files are only ever read; import into an LMDB store to write"
        )
        yield  # pragma: no cover

    def root(self) -> "BboltBucket":
        m = self.meta
        return BboltBucket(self, m.root, m.root_sequence, None, ())

    # -- meta ---------------------------------------------------------------
    def _err(self, msg: str, page: int | None = None, offset: int | None = None) -> CorruptError:
        where = [self._name]
        if page is not None:
            where.append(f"page {page}")
        if offset is not None:
            where.append(f"offset {offset} (0x{offset:x})")
        return CorruptError(f"{', '.join(where)}: {msg}", path=self._name, page=page, offset=offset)

    def _load_meta(self) -> None:
        mm = self._mm
        be_magic = BBOLT_MAGIC.to_bytes(4, "big")
        le_magic = BBOLT_MAGIC.to_bytes(4, "little")
        # Byte order first: a big-endian file would otherwise read as "bad magic".
        probes = [16] + [(1024 << i) + 16 for i in range(15)]
        magics = {mm[p : p + 4] for p in probes if p + 4 <= self.size}
        if le_magic not in magics and be_magic in magics:
            raise UnsupportedError(
                f"{self._name}: big-endian bbolt file (written on a big-endian machine such as s390x); "
                "bbolt files are not portable across byte orders — copy the data on the machine that wrote it"
            )

        m0 = _decode_meta(mm, 16, 0)
        page_size = None
        if m0 is not None and m0.valid:
            page_size = m0.page_size
        else:
            # bbolt db.go getPageSize: meta 0 damaged, look for meta 1 at 1024<<i.
            for i in range(15):
                pos = 1024 << i
                if pos + HEADER_SIZE + META.size > self.size:
                    break
                m = _decode_meta(mm, pos + 16, 1)
                if m is not None and m.valid and m.page_size == pos:
                    page_size = pos
                    break
        if page_size is None:
            if le_magic not in magics:
                raise self._err("not a bbolt file (no bbolt meta page magic found)")
            raise self._err(
                f"both meta pages are invalid (meta 0: {m0.problem if m0 else 'truncated'}; "
                "no valid meta 1 found)"
            )
        if page_size < 1024 or page_size & (page_size - 1):
            raise self._err(f"implausible page size {page_size}", page=0, offset=24)
        self.page_size = page_size

        m1 = _decode_meta(mm, page_size + 16, 1)
        metas = [m for m in (m0, m1) if m is not None]
        self.metas: tuple[BboltMeta | None, BboltMeta | None] = (m0, m1)
        chosen = None
        for m in sorted(metas, key=lambda m: m.txid, reverse=True):
            if m.valid and m.page_size != page_size:
                continue
            if m.valid:
                chosen = m
                break
        if chosen is None:
            probs = "; ".join(
                f"meta {i}: {m.problem or f'page size {m.page_size} != {page_size}' if m else 'truncated'}"
                for i, m in enumerate((m0, m1))
            )
            raise self._err(f"both meta pages are invalid ({probs})")
        self.meta: BboltMeta = chosen
        newest = max(metas, key=lambda m: m.txid)
        #: True when the newest meta was damaged and the previous transaction is being read.
        self.meta_fallback = newest is not chosen and newest.txid != chosen.txid
        if chosen.hwm * page_size > self.size:
            # bbolt grows the file before writing pages, so this is a truncated copy.
            raise self._err(
                f"file is truncated: meta {chosen.page} says {chosen.hwm} pages of {page_size} bytes "
                f"({chosen.hwm * page_size} bytes) but the file has {self.size}"
            )
        if not 2 <= chosen.root < chosen.hwm:
            raise self._err(f"root bucket page {chosen.root} outside 2..{chosen.hwm - 1}", page=chosen.page)

    def _check_freelist(self) -> None:
        """Validate the persisted freelist if there is one; never needed to read.

        A damaged freelist does not make the data unreadable (bbolt itself
        rebuilds it by scanning), so problems are recorded, not raised.
        """
        m = self.meta
        self.freelist_count: int | None = None
        self.freelist_problem: str | None = None
        if not m.has_freelist:
            return
        try:
            buf, off, end, flags, count = self._page(m.freelist)
            if flags != FLAG_FREELIST:
                raise self._err(f"expected a freelist page, found flags 0x{flags:x}", m.freelist, off)
            body = off + HEADER_SIZE
            if count == 0xFFFF:
                if body + 8 > end:
                    raise self._err("freelist count overflows the page", m.freelist, body)
                count = U64.unpack_from(buf, body)[0]
                body += 8
            if body + 8 * count > end:
                raise self._err(f"freelist of {count} ids overflows the page", m.freelist, body)
            self.freelist_count = count
        except CorruptError as e:
            self.freelist_problem = str(e)

    # -- pages ----------------------------------------------------------------
    def _page(self, pgid: int):
        """(buffer, page start, page end, flags, count) of a file page, all bounds-checked."""
        mm = self._mm
        if mm is None:
            raise KVError(f"{self._name}: reader is closed")
        if not 2 <= pgid < self.meta.hwm:
            raise self._err(f"page reference {pgid} outside 2..{self.meta.hwm - 1}")
        off = pgid * self.page_size
        if off + HEADER_SIZE > self.size:
            raise self._err("page lies beyond the end of the file", pgid, off)
        pid, flags, count, overflow = PAGE_HEADER.unpack_from(mm, off)
        if pid != pgid:
            raise self._err(f"page header says id {pid}", pgid, off)
        if pgid + overflow >= self.meta.hwm:
            raise self._err(
                f"page with {overflow} overflow pages runs past the last page {self.meta.hwm - 1} of the file",
                pgid,
                off,
            )
        end = off + (overflow + 1) * self.page_size
        if end > self.size:
            raise self._err(f"page with {overflow} overflow pages runs past the end of the file", pgid, off)
        if flags in (FLAG_BRANCH, FLAG_LEAF) and HEADER_SIZE + ELEM_SIZE * count > end - off:
            raise self._err(f"element count {count} does not fit in the page", pgid, off + 10)
        return mm, off, end, flags, count

    def _claim(self, pgid: int, overflow_end: int, path: tuple[bytes, ...], where: str) -> None:
        """Record that pages ``pgid`` .. ``overflow_end`` belong to bucket ``path``.

        bbolt is a copy-on-write B+tree: each live page belongs to one bucket
        tree. A page claimed by two buckets (a sub-bucket root pointing at its
        own page or an ancestor's, two buckets sharing a root) can only come
        from damage or a crafted file, and following it would revisit pages
        without end, so it is refused here, naming the page.
        """
        owner = self._owner.get(pgid)
        if owner is not None:
            if owner != path:
                from migwizard.core.codec.errors import render_key

                other = render_key(*owner) if owner else "<root>"
                raise self._err(f"{where}: page also belongs to bucket {other} (page tree loops or is shared)", pgid)
            return
        for p in range(pgid, overflow_end + 1):
            if self._owner.setdefault(p, path) != path:
                raise self._err(f"{where}: overflow page {p} also belongs to another bucket", pgid)
