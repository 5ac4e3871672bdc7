"""migwizard's writable KV store: lnd's bucket tree inside LMDB ("layout A").

Why LMDB and why this layout (storage-notes §5.3, docs/lmdb-layout.md):

* LMDB gives crash-safe transactions, MVCC readers and fast ordered cursors
  from a maintained C library, unlike bbolt which we can only read.
* Each bbolt bucket becomes a numeric id. An entry of bucket ``P`` is stored in
  the ``kv`` sub-DB under ``P (u64 BE) ‖ key``; its value is ``0x00 ‖ value``
  or, for a sub-bucket, ``0x01 ‖ child id (u64 BE) ‖ sequence (u64 BE)``. All
  children of a bucket are therefore one contiguous key range, sorted by
  memcmp on ``key`` exactly as bbolt sorts them, with sub-buckets interleaved
  — the walk order of a copy equals the walk order of the source.
* Keys stay bounded (8 + key ≤ LMDB's 511) no matter how deep the tree is,
  and only two named DBs exist, so ``max_dbs`` is a constant.

Everything about the store itself (layout version, id counter, provenance)
lives in the ``meta`` sub-DB; other layers keep their own records there via
:meth:`LmdbStore.meta_get` / :meth:`LmdbStore.meta_put`.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import lmdb

from .inprocess import keep, turn
from .errors import (
    CorruptError,
    KeyTooLongError,
    KVError,
    LockedError,
    MapFullError,
    ReadOnlyError,
    TargetNotEmptyError,
    UnsupportedError,
)

__all__ = ["LmdbStore", "LmdbBucket", "LAYOUT_VERSION", "LOCK_FILE", "DEFAULT_MAP_SIZE"]

T = TypeVar("T")

LAYOUT_VERSION = 1
MAX_DBS = 2  # "kv" and "meta"; fixed at open, never grows
DB_KV = b"kv"
DB_META = b"meta"
LOCK_FILE = "migwizard.lock"
DATA_FILE = "data.mdb"
LMDB_LOCK_FILE = "lock.mdb"
DEFAULT_MAP_SIZE = 1 << 30  # virtual reservation only; grows by doubling
MAX_MAP_SIZE = 1 << 44

from .lmdb_bucket import (  # noqa: F401 - shared with the bucket module, re-exported
    META_CREATED_AT,
    META_CREATED_BY,
    META_LAYOUT,
    META_NEXT_ID,
    META_ROOT_SEQ,
    RESERVED_META,
    ROOT_ID,
    TAG_BUCKET,
    TAG_VALUE,
    U64_MAX,
    LmdbBucket,
    _bucket_value,
    _check_key,
    _u64,
)


class LmdbStore:
    """An LMDB environment holding one bbolt-shaped bucket tree.

    Open with :meth:`open`. ``read()`` yields the root bucket in a read
    snapshot; ``write()`` / ``update(fn)`` yield it in a write transaction.
    At most one writer exists at a time, enforced across processes by an
    exclusive ``flock`` on ``migwizard.lock`` (readers take it shared).
    """

    kind = "lmdb"

    def __init__(self, path: Path, env: lmdb.Environment, lock_fd: int | None, readonly: bool):
        self.path = path
        self._env = env
        self._lock_fd = lock_fd
        self._turn = None  # this process's turn on the path (kv/inprocess.py)
        self.readonly = readonly
        self._readers = 0
        self._in_write = False
        self._kv = env.open_db(DB_KV, create=False)
        self._meta = env.open_db(DB_META, create=False)
        self.max_key_size = env.max_key_size()

    # -- opening -------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        create: bool = False,
        lock: bool = True,
        map_size: int = DEFAULT_MAP_SIZE,
        sync: bool = True,
    ) -> "LmdbStore":
        """Open (or with ``create=True`` create) the store in directory ``path``.

        ``readonly=True, lock=False`` writes nothing at all (no ``lock.mdb``, no
        ``migwizard.lock``): for snapshots and read-only media. It still refuses
        when an existing ``migwizard.lock`` is held exclusively by a writer.
        """
        p = Path(path)
        if readonly and create:
            raise ValueError("create=True needs a writable store")
        if not lock and not readonly:
            raise ValueError("lock=False is only safe read-only")
        if p.exists() and not p.is_dir():
            raise KVError(f"{p}: not a directory (an LMDB store is a directory holding data.mdb)")
        fresh = not (p / DATA_FILE).exists()
        if fresh:
            if not create:
                raise KVError(f"{p}: no migwizard KV store here (no {DATA_FILE})")
            if p.exists():
                foreign = sorted(x.name for x in p.iterdir() if x.name not in (LOCK_FILE, LMDB_LOCK_FILE))
                if foreign:
                    raise TargetNotEmptyError(
                        f"{p}: directory is not empty ({', '.join(foreign[:5])}{'…' if len(foreign) > 5 else ''}); "
                        "choose a new or empty directory for the KV store"
                    )
            _make_private_dir(p)

        # Another thread of this process may hold the store for a moment: wait (kv/inprocess.py).
        with turn(p) as turned:
            lock_fd = _take_lock(p, exclusive=not readonly, may_create=lock)
            try:
                try:
                    env = lmdb.open(
                        os.fsencode(p),  # bytes: py-lmdb encodes str strictly as UTF-8
                        map_size=map_size,
                        subdir=True,
                        readonly=readonly,
                        lock=lock,
                        max_dbs=MAX_DBS,
                        create=create,
                        sync=sync,
                        metasync=sync,
                        mode=0o600,
                    )
                except lmdb.Error as e:
                    if "already open" in str(e):
                        raise KVError(f"{p}: this store is already open in this process; close it first") from None
                    hint = " (for a read-only copy open with lock=False)" if readonly and lock else ""
                    raise KVError(f"{p}: cannot open the LMDB environment: {e}{hint}") from None
                if fresh:
                    _make_private_files(p)
                try:
                    _prepare(env, p, readonly=readonly, create=create)
                    store = cls(p, env, lock_fd, readonly)
                    store._turn = keep(store, p) if turned else None
                    return store
                except lmdb.Error as e:
                    env.close()
                    raise typed_lmdb_error(p, e, "open") from None
                except BaseException:
                    env.close()
                    raise
            except BaseException:
                if lock_fd is not None:
                    os.close(lock_fd)
                raise

    def close(self) -> None:
        """Close the environment and release the migwizard lock."""
        if self._env is not None:
            self._env.close()
            self._env = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self._turn is not None:
            self._turn()  # once: the next opener of this process may go

    @property
    def closed(self) -> bool:
        return self._env is None

    def __enter__(self) -> "LmdbStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _env_or_raise(self) -> lmdb.Environment:
        if self._env is None:
            raise KVError(f"{self.path}: store is closed")
        return self._env

    # -- transactions ----------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator["LmdbBucket"]:
        env = self._env_or_raise()
        try:
            txn = env.begin(write=False)
        except lmdb.Error as e:
            raise typed_lmdb_error(self.path, e, "start a read transaction") from None
        self._readers += 1
        try:
            yield LmdbBucket(self, txn, ROOT_ID, None, (), writable=False)
        except lmdb.Error as e:
            # Raised by a get or cursor on damaged pages while the caller reads.
            raise typed_lmdb_error(self.path, e, "read") from None
        finally:
            self._readers -= 1
            txn.abort()

    def _begin_write(self) -> lmdb.Transaction:
        env = self._env_or_raise()
        if self.readonly:
            raise ReadOnlyError(f"{self.path}: the store is open read-only")
        if self._in_write:
            raise KVError(f"{self.path}: a write transaction is already open on this store")
        try:
            self._ensure_headroom()
            return env.begin(write=True)
        except lmdb.Error as e:
            raise typed_lmdb_error(self.path, e, "start a write transaction") from None

    @contextmanager
    def write(self) -> Iterator["LmdbBucket"]:
        """One write transaction: commits on normal exit, aborts on an exception.

        If the map fills up, the transaction is aborted, the map doubled, and
        :class:`~.errors.MapFullError` raised: nothing was written and the
        same block can simply be run again. Prefer :meth:`update` which retries
        for you.
        """
        txn = self._begin_write()
        self._in_write = True
        try:
            try:
                yield LmdbBucket(self, txn, ROOT_ID, None, (), writable=True)
                txn.commit()
            except lmdb.MapFullError:
                txn.abort()
                self._in_write = False
                new = self._grow()
                raise MapFullError(
                    f"{self.path}: the LMDB map filled up; it is now {new:,} bytes — run the transaction again"
                ) from None
            except lmdb.Error as e:
                txn.abort()
                raise typed_lmdb_error(self.path, e, "write") from None
            except BaseException:
                txn.abort()
                raise
        finally:
            self._in_write = False

    def update(self, fn: Callable[["LmdbBucket"], T], *, max_attempts: int = 32) -> T:
        """Run ``fn(root)`` in a write transaction, growing the map and retrying on MapFull.

        ``fn`` may run more than once, so it must not have side effects outside
        the transaction (or must tolerate repeating them).
        """
        for _ in range(max_attempts):
            try:
                with self.write() as root:
                    return fn(root)
            except MapFullError:
                continue
        raise KVError(f"{self.path}: the write still did not fit after {max_attempts} map growths")

    def _grow(self, minimum: int = 0) -> int:
        env = self._env_or_raise()
        if self._readers:
            raise KVError(
                f"{self.path}: the LMDB map must grow but a read transaction is open in this process; "
                "finish reading before writing more"
            )
        size = env.info()["map_size"]
        new = max(size * 2, minimum)
        while new < minimum:
            new *= 2
        if new > MAX_MAP_SIZE:
            raise KVError(f"{self.path}: refusing to grow the LMDB map beyond {MAX_MAP_SIZE:,} bytes")
        env.set_mapsize(new)
        return new

    def _ensure_headroom(self) -> None:
        """Double the map before a write when more than half is in use.

        Cheap (the map is only a virtual reservation) and it makes the
        ``write()`` retry path rare for callers that cannot easily replay.
        """
        if self._readers:
            return
        env = self._env_or_raise()
        info = env.info()
        used = (info["last_pgno"] + 1) * env.stat()["psize"]
        if used * 2 > info["map_size"]:
            self._grow(used * 2)

    # -- store metadata ----------------------------------------------------------
    def meta_get(self, key: bytes, *, within: "LmdbBucket | None" = None) -> bytes | None:
        """Read a ``meta`` key, in ``within``'s transaction if given, else a fresh snapshot."""
        key = _check_key(key)
        if within is not None:
            return within._txn.get(key, db=self._meta)
        with self.read() as root:
            return root._txn.get(key, db=self._meta)

    def meta_put(self, key: bytes, value: bytes, *, within: "LmdbBucket | None" = None) -> None:
        """Write a ``meta`` key, atomically with ``within``'s write transaction if given."""
        key = _check_key(key)
        if key in RESERVED_META:
            raise KVError(f"meta key {key.decode()} is managed by the store itself")
        if len(key) > self.max_key_size:
            raise KeyTooLongError(f"meta key of {len(key)} bytes exceeds LMDB's {self.max_key_size}")
        value = bytes(value)
        if within is not None:
            within._require_writable("write store metadata")
            within._txn.put(key, value, db=self._meta)
        else:
            self.update(lambda root: root._txn.put(key, value, db=self._meta))

    def meta_delete(self, key: bytes, *, within: "LmdbBucket | None" = None) -> None:
        key = _check_key(key)
        if key in RESERVED_META:
            raise KVError(f"meta key {key.decode()} is managed by the store itself")
        if within is not None:
            within._require_writable("write store metadata")
            within._txn.delete(key, db=self._meta)
        else:
            self.update(lambda root: root._txn.delete(key, db=self._meta))

    def meta_items(self) -> dict[bytes, bytes]:
        """All ``meta`` entries, including the reserved ones (for inspection/tests)."""
        with self.read() as root:
            return dict(root._txn.cursor(db=self._meta))

    @property
    def layout_version(self) -> int:
        return int(self.meta_get(META_LAYOUT))

    def map_size(self) -> int:
        return self._env_or_raise().info()["map_size"]

    def sync(self) -> None:
        self._env_or_raise().sync(True)


_DAMAGE = tuple(
    getattr(lmdb, n)
    for n in ("CorruptedError", "PageNotFoundError", "InvalidError", "VersionMismatchError",
              "BadValsizeError", "PageFullError", "BadTxnError", "PanicError", "IncompatibleError")
    if hasattr(lmdb, n)
)


def typed_lmdb_error(path: Path, e: "lmdb.Error", doing: str) -> KVError:
    """A KV-layer error for a raw ``lmdb.Error``: damage becomes :class:`CorruptError`.

    Callers catch :class:`KVError` only; a raw ``lmdb.Error`` would escape them
    as a traceback. LMDB's own text is kept: it names the failing operation.
    """
    text = str(e).strip() or type(e).__name__
    if isinstance(e, lmdb.ReadonlyError):
        return ReadOnlyError(f"{path}: cannot {doing}: the store or its filesystem is read-only ({text})")
    if isinstance(e, _DAMAGE):
        return CorruptError(f"{path}: cannot {doing}: the LMDB file is damaged ({text})", path=str(path))
    if isinstance(e, lmdb.DiskError) or "No space left" in text:
        return KVError(f"{path}: cannot {doing}: disk error ({text}); nothing of this transaction was written")
    return KVError(f"{path}: cannot {doing}: LMDB error ({text})")


def _make_private_dir(p: Path) -> None:
    """Create the store directory 0700 whatever the umask (it will hold
    session keys and preimages); an existing empty one is narrowed to 0700."""
    if p.is_symlink():
        raise KVError(f"{p}: is a symbolic link; give the real directory for the new KV store")
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        p.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise KVError(f"{p}: cannot create the KV store directory: {e.strerror}") from None
    try:
        os.chmod(p, 0o700, follow_symlinks=False)
    except OSError as e:
        raise KVError(f"{p}: cannot make the KV store directory private: {e.strerror}") from None


def _make_private_files(p: Path) -> None:
    """data.mdb and lock.mdb 0600 whatever the umask (LMDB applies it to ``mode``)."""
    for name in (DATA_FILE, LMDB_LOCK_FILE):
        f = p / name
        if f.is_symlink():
            raise KVError(f"{f}: is a symbolic link; refusing to use it in a new KV store")
        if f.exists():
            os.chmod(f, 0o600, follow_symlinks=False)


def _take_lock(path: Path, *, exclusive: bool, may_create: bool) -> int | None:
    """Hold ``flock`` on ``path/migwizard.lock``: EX for writers, SH for readers.

    LMDB's own lock file only coordinates LMDB readers and writers; a second
    migwizard writer (or a reader racing an import) must be refused with a
    message, not queued. When ``may_create`` is False we only lock a lock file
    that already exists, so a read-only open writes nothing.
    """
    lock_path = path / LOCK_FILE
    fd = None
    if may_create:
        try:
            fd = os.open(
                lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600
            )
        except OSError as e:
            if exclusive:
                why = "it is a symbolic link" if e.errno == errno.ELOOP else (e.strerror or str(e))
                ro = " (read-only filesystem? copy the store to writable storage)" if e.errno == errno.EROFS else ""
                raise KVError(f"{lock_path}: cannot create the store's lock file: {why}{ro}") from None
    if fd is None:
        try:
            fd = os.open(lock_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None  # nothing to coordinate with (read-only medium without a lock file)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockedError(
            f"{path}: the KV store is in use by another migwizard process ({lock_path} is locked"
            f"{'' if exclusive else ' by a writer'}); wait for it to finish or close it first"
        ) from None
    return fd


def _prepare(env: lmdb.Environment, path: Path, *, readonly: bool, create: bool) -> None:
    """Create the sub-DBs and meta on a fresh store; check the layout on an existing one."""
    if readonly:
        try:
            with env.begin() as txn:
                meta = env.open_db(DB_META, txn=txn, create=False)
                env.open_db(DB_KV, txn=txn, create=False)
                raw = txn.get(META_LAYOUT, db=meta)
        except lmdb.NotFoundError:
            raise KVError(f"{path}: an LMDB environment, but not a migwizard KV store (no kv/meta databases)") from None
        _check_layout(path, raw)
        return
    with env.begin(write=True) as txn:
        names = [k for k, _ in txn.cursor()]
        if not names:
            if not create:
                raise KVError(f"{path}: an empty LMDB environment, not a migwizard KV store")
            meta = env.open_db(DB_META, txn=txn, create=True)
            env.open_db(DB_KV, txn=txn, create=True)
            from migwizard import __version__

            txn.put(META_LAYOUT, str(LAYOUT_VERSION).encode(), db=meta)
            txn.put(META_NEXT_ID, _u64(ROOT_ID + 1), db=meta)
            txn.put(META_ROOT_SEQ, _u64(0), db=meta)
            txn.put(META_CREATED_BY, f"migwizard {__version__}".encode(), db=meta)
            txn.put(
                META_CREATED_AT,
                _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").encode(),
                db=meta,
            )
            return
        if DB_META not in names or DB_KV not in names:
            raise KVError(f"{path}: an LMDB environment, but not a migwizard KV store (no kv/meta databases)")
        meta = env.open_db(DB_META, txn=txn, create=False)
        env.open_db(DB_KV, txn=txn, create=False)
        _check_layout(path, txn.get(META_LAYOUT, db=meta))


def _check_layout(path: Path, raw: bytes | None) -> None:
    if raw is None:
        raise KVError(f"{path}: not a migwizard KV store (no layout-version in meta)")
    try:
        version = int(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise UnsupportedError(f"{path}: unknown KV layout version {raw!r}") from None
    if version > LAYOUT_VERSION:
        raise UnsupportedError(
            f"{path}: KV layout version {version} was written by a newer migwizard "
            f"(this one understands up to {LAYOUT_VERSION}); upgrade migwizard"
        )
    if version < 1:
        raise UnsupportedError(f"{path}: unknown KV layout version {version}")
