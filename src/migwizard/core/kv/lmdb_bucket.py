"""A bucket handle of the LMDB store, and the entry encoding it reads and writes.

Kept apart from :mod:`.lmdb_store` (environment, transactions, locking) so each
module holds one concern. Layout: docs/lmdb-layout.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import lmdb

from migwizard.core.codec.errors import render_key

from .bucket import BucketBase
from .errors import (
    BucketExistsError,
    BucketNotFoundError,
    CorruptError,
    IncompatibleError,
    KeyTooLongError,
    KVError,
    ReadOnlyError,
)

if TYPE_CHECKING:
    from .lmdb_store import LmdbStore

ROOT_ID = 0
U64_MAX = (1 << 64) - 1

TAG_VALUE = 0x00
TAG_BUCKET = 0x01

# meta keys owned by this module; meta_put refuses to touch them
META_LAYOUT = b"layout-version"
META_NEXT_ID = b"next-bucket-id"
META_ROOT_SEQ = b"root-sequence"
META_CREATED_BY = b"created-by"
META_CREATED_AT = b"created-at"
RESERVED_META = frozenset({META_LAYOUT, META_NEXT_ID, META_ROOT_SEQ})


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _range_items(store_path, cur: lmdb.Cursor, prefix: bytes, path: tuple,
                 here: bool) -> Iterator[tuple[bytes, bytes | None]]:
    """``items()`` of the bucket whose id is ``prefix`` and whose key path is ``path``,
    read on ``cur`` (``here``: the cursor stands on its first entry already). A bad tag
    or a bucket entry that is not 17 bytes raises :class:`CorruptError` naming the key."""
    if not here and not cur.set_range(prefix):
        return
    end = _range_end(int.from_bytes(prefix, "big"))
    for full, raw in cur.iternext():
        if full >= end:
            break
        tag = raw[0] if raw else None
        if tag == TAG_VALUE:
            yield full[8:], raw[1:]
        elif tag == TAG_BUCKET:
            if len(raw) != 17:
                raise CorruptError(f"{store_path}: bucket entry {render_key(*path, full[8:])} is {len(raw)} "
                                   "bytes, expected 17")
            yield full[8:], None
        else:
            raise CorruptError(f"{store_path}: entry {render_key(*path, full[8:])} has unknown tag {tag!r}")


def _range_end(bucket_id: int) -> bytes:
    """A bound above every key of bucket ``bucket_id`` and below every key of the next
    one: ``full < end`` tests the prefix without slicing. The last id's bound is
    longer than any LMDB key (511 bytes), so it sorts above all of its keys."""
    if bucket_id < U64_MAX:
        return _u64(bucket_id + 1)
    return b"\xff" * 600


def _bucket_value(child_id: int, seq: int) -> bytes:
    return b"\x01" + _u64(child_id) + _u64(seq)


def _check_key(key: object) -> bytes:
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise TypeError(f"keys are bytes, got {type(key).__name__}")
    key = bytes(key)
    if not key:
        raise KVError("empty keys are not allowed (bbolt/lnd reject them too)")
    return key


class LmdbBucket(BucketBase):
    """A bucket handle bound to one LMDB transaction.

    Holds only ids, never cached contents, so several handles on the same
    bucket within a transaction always agree (the sequence lives in the
    parent's entry and is re-read each time).
    """

    __slots__ = ("_store", "_txn", "_id", "_prefix", "_parent", "_name", "path", "writable", "_cur")

    def __init__(
        self,
        store: LmdbStore,
        txn: lmdb.Transaction,
        bucket_id: int,
        parent: int | None,
        path: tuple[bytes, ...],
        *,
        writable: bool,
    ):
        self._store = store
        self._txn = txn
        self._id = bucket_id
        self._prefix = _u64(bucket_id)
        self._parent = parent
        self._name = path[-1] if path else None
        self.path = path
        self.writable = writable
        self._cur: lmdb.Cursor | None = None  # child_get's own cursor, made on first use

    def __repr__(self) -> str:
        return f"<LmdbBucket {render_key(*self.path) or '<root>'} id={self._id}>"

    # -- helpers ---------------------------------------------------------------
    def _where(self, key: bytes | None = None) -> str:
        parts = self.path + ((key,) if key is not None else ())
        return render_key(*parts) if parts else "<root>"

    def _full(self, key: bytes) -> bytes:
        key = _check_key(key)
        if len(key) + 8 > self._store.max_key_size:
            raise KeyTooLongError(
                f"key {self._where(key[:32])}… is {len(key)} bytes; this store holds keys of at most "
                f"{self._store.max_key_size - 8} bytes (LMDB's {self._store.max_key_size} minus the 8-byte bucket id)"
            )
        return self._prefix + key

    def _raw(self, key: bytes) -> bytes | None:
        try:
            full = self._full(key)
        except KeyTooLongError:
            return None  # cannot exist
        return self._txn.get(full, db=self._store._kv)

    def _decode_child(self, key: bytes, raw: bytes) -> "LmdbBucket":
        if len(raw) != 17:
            raise CorruptError(f"{self._store.path}: bucket entry {self._where(key)} is {len(raw)} bytes, expected 17")
        return LmdbBucket(
            self._store,
            self._txn,
            int.from_bytes(raw[1:9], "big"),
            self._id,
            self.path + (key,),
            writable=self.writable,
        )

    def _bad_tag(self, key: bytes, raw: bytes) -> CorruptError:
        tag = raw[0] if raw else None
        return CorruptError(f"{self._store.path}: entry {self._where(key)} has unknown tag {tag!r}")

    def _require_writable(self, op: str) -> None:
        if not self.writable:
            if self._store.readonly:
                self._refuse(op)
            raise ReadOnlyError(
                f"cannot {op} in bucket {self._where()}: this is a read transaction; use store.write() or store.update()"
            )

    # -- reading -----------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        raw = self._raw(key)
        if raw is None:
            return None
        tag = raw[:1]
        if tag == b"\x00":
            return raw[1:]
        if tag == b"\x01":
            return None
        raise self._bad_tag(key, raw)

    def bucket(self, key: bytes) -> "LmdbBucket | None":
        raw = self._raw(key)
        if raw is None or not raw or raw[0] != TAG_BUCKET:
            return None
        return self._decode_child(bytes(key), raw)

    def is_bucket(self, key: bytes) -> bool:
        raw = self._raw(key)
        return bool(raw) and raw[0] == TAG_BUCKET

    def entries(self) -> Iterator[tuple[bytes, bytes | None, "LmdbBucket | None"]]:
        prefix = self._prefix
        cur = self._txn.cursor(db=self._store._kv)
        if not cur.set_range(prefix):
            return
        for full, raw in cur.iternext():
            if full[:8] != prefix:
                break
            key = full[8:]
            tag = raw[0] if raw else None
            if tag == TAG_VALUE:
                yield key, raw[1:], None
            elif tag == TAG_BUCKET:
                yield key, None, self._decode_child(key, raw)
            else:
                raise self._bad_tag(key, raw)

    def items(self) -> Iterator[tuple[bytes, bytes | None]]:
        """``(key, value)``, or ``(key, None)`` for a sub-bucket, in byte order: what
        :meth:`entries` yields without building a handle per sub-bucket (the payment
        index walk reads a million entries through it). Same :class:`CorruptError` for a
        bad tag or a malformed bucket entry, at the same entry."""
        cur = self._txn.cursor(db=self._store._kv)
        return _range_items(self._store.path, cur, self._prefix, self.path, False)

    def child_get(self, key: bytes, sub: bytes) -> tuple["LmdbBucket | None", bytes | None]:
        """``(self.bucket(key), that bucket's get(sub))`` in two reads, ``(None, None)`` when
        ``key`` is no bucket here; the same values and errors as those two calls.

        Why: the payment index walk looks every payment's bucket up by its hash and reads
        its sequence number, a million times. The second read goes through one cursor kept
        on this handle: payment buckets get their ids in creation order, so the next
        payment's sequence key usually sits on the page that cursor already stands on, and
        LMDB then finds it without descending the tree again."""
        if not key or len(key) + 8 > self._store.max_key_size or not isinstance(key, bytes):
            child = self.bucket(key)
            return child, (child.get(sub) if child is not None else None)
        raw = self._txn.get(self._prefix + key, db=self._store._kv)
        if not raw or raw[0] != TAG_BUCKET:
            return None, None
        child = self._decode_child(key, raw)
        if not sub or len(sub) + 8 > self._store.max_key_size:
            return child, child.get(sub)
        cur = self._cur
        if cur is None:
            cur = self._cur = self._txn.cursor(db=self._store._kv)
        child._cur = cur  # its scan() starts from there too; the next child_get moves it on
        raw = cur.get(child._prefix + sub)
        if raw is None:
            return child, None
        tag = raw[:1]
        if tag == b"\x00":
            return child, raw[1:]
        if tag == b"\x01":
            return child, None
        raise child._bad_tag(sub, raw)

    def scan(self, sub: bytes) -> tuple[dict[bytes, bytes | None], Iterator[tuple[bytes, bytes | None]] | None]:
        """This bucket's entries as ``{key: value, or None for a sub-bucket}``, plus
        ``items()`` of its sub-bucket ``sub`` (None when ``sub`` is absent or a value).

        Why: the fast payment decoder reads one small bucket and one sub-bucket per
        payment, a million times; :meth:`entries` + :meth:`items` build a handle, a
        cursor and two generator layers per level. Here one cursor serves both levels
        and no handle is built. Same entries, same :class:`CorruptError` for a bad
        tag or bucket entry (this level eagerly, ``sub`` lazily, as ``items()``).
        On a bucket :meth:`child_get` returned, the sub-bucket's items run on the parent
        handle's cursor: consume them before the parent's next ``child_get`` (the fast
        decoder does, at once).
        """
        cur = self._cur  # a bucket from child_get: the walk's cursor, standing on this bucket already
        if cur is None:
            cur = self._txn.cursor(db=self._store._kv)
        bid = self._id
        end = (bid + 1).to_bytes(8, "big") if bid < U64_MAX else _range_end(bid)
        out: dict[bytes, bytes | None] = {}
        child = None
        full = None
        if cur.set_range(self._prefix):
            for full, raw in cur.iternext():
                if full >= end:
                    break
                key = full[8:]
                tag = raw[0] if raw else None
                if tag == TAG_VALUE:
                    out[key] = raw[1:]
                elif tag == TAG_BUCKET:
                    if len(raw) != 17:
                        raise CorruptError(
                            f"{self._store.path}: bucket entry {self._where(key)} is {len(raw)} bytes, expected 17")
                    out[key] = None
                    if key == sub:
                        child = raw[1:9]
                else:
                    raise self._bad_tag(key, raw)
                full = None
        if child is None:
            return out, None
        # Ids are handed out in creation order, so the sub-bucket usually follows this
        # bucket directly: the cursor already stands on its first entry (``full``).
        here = full is not None and full[:8] == child
        return out, self._sub_items(cur, child, bytes(sub), here)

    def _sub_items(self, cur: lmdb.Cursor, prefix: bytes, name: bytes,
                   here: bool) -> Iterator[tuple[bytes, bytes | None]]:
        """``items()`` of the sub-bucket ``name`` whose id is ``prefix``, on ``cur``
        (``here``: the cursor stands on its first entry already)."""
        return _range_items(self._store.path, cur, prefix, self.path + (name,), here)

    def sequence(self) -> int:
        kv = self._store._kv
        if self._parent is None:
            raw = self._txn.get(META_ROOT_SEQ, db=self._store._meta)
            return int.from_bytes(raw, "big") if raw else 0
        raw = self._txn.get(_u64(self._parent) + self._name, db=kv)
        if raw is None or raw[:1] != b"\x01":
            raise KVError(f"{self._store.path}: bucket {self._where()} no longer exists")
        if len(raw) != 17:
            raise CorruptError(f"{self._store.path}: bucket entry {self._where()} is {len(raw)} bytes, expected 17")
        return int.from_bytes(raw[9:17], "big")

    # -- writing -----------------------------------------------------------------
    def put(self, key: bytes, value: bytes) -> None:
        self._require_writable("put a key")
        if self._parent is None:
            raise KVError(
                f"cannot put value {render_key(bytes(key))} at the top level: it holds only buckets (walletdb)"
            )
        if value is None or not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"values are bytes, got {type(value).__name__}")
        full = self._full(key)
        old = self._txn.get(full, db=self._store._kv)
        if old and old[0] == TAG_BUCKET:
            raise IncompatibleError(f"{self._where(bytes(key))} is a bucket, cannot put a value there")
        self._txn.put(full, b"\x00" + bytes(value), db=self._store._kv)

    def delete(self, key: bytes) -> None:
        self._require_writable("delete a key")
        raw = self._raw(key)
        if raw is None:
            return  # bbolt: deleting a missing key is not an error
        if raw[:1] == b"\x01":
            raise IncompatibleError(f"{self._where(bytes(key))} is a bucket; use delete_bucket")
        self._txn.delete(self._full(key), db=self._store._kv)

    def _alloc_id(self) -> int:
        meta = self._store._meta
        raw = self._txn.get(META_NEXT_ID, db=meta)
        if raw is None or len(raw) != 8:
            raise CorruptError(f"{self._store.path}: store metadata next-bucket-id is missing or malformed")
        nxt = int.from_bytes(raw, "big")
        self._txn.put(META_NEXT_ID, _u64(nxt + 1), db=meta)
        return nxt

    def create_bucket(self, key: bytes) -> "LmdbBucket":
        self._require_writable("create a bucket")
        full = self._full(key)
        key = bytes(key)
        old = self._txn.get(full, db=self._store._kv)
        if old is not None:
            if old[:1] == b"\x01":
                raise BucketExistsError(f"bucket {self._where(key)} already exists")
            raise IncompatibleError(f"{self._where(key)} is a value, cannot create a bucket there")
        child = self._alloc_id()
        self._txn.put(full, _bucket_value(child, 0), db=self._store._kv)
        return LmdbBucket(self._store, self._txn, child, self._id, self.path + (key,), writable=True)

    def create_bucket_if_not_exists(self, key: bytes) -> "LmdbBucket":
        self._require_writable("create a bucket")
        raw = self._raw(key)
        if raw is not None and raw[:1] == b"\x01":
            return self._decode_child(bytes(key), raw)
        return self.create_bucket(key)

    def delete_bucket(self, key: bytes) -> None:
        """Delete a sub-bucket and everything below it (bbolt semantics)."""
        self._require_writable("delete a bucket")
        full = self._full(key)
        kv = self._store._kv
        raw = self._txn.get(full, db=kv)
        if raw is None:
            raise BucketNotFoundError(f"bucket {self._where(bytes(key))} does not exist")
        if raw[:1] != b"\x01":
            raise IncompatibleError(f"{self._where(bytes(key))} is a value; use delete")
        self._txn.delete(full, db=kv)
        pending = [int.from_bytes(raw[1:9], "big")]
        cur = self._txn.cursor(db=kv)
        while pending:
            prefix = _u64(pending.pop())
            if not cur.set_range(prefix):
                continue
            while True:
                k = cur.key()
                if k[:8] != prefix:
                    break
                v = cur.value()
                if v[:1] == b"\x01":
                    pending.append(int.from_bytes(v[1:9], "big"))
                if not cur.delete():
                    break

    def set_sequence(self, n: int) -> None:
        self._require_writable("set the sequence")
        if not 0 <= n <= U64_MAX:
            raise ValueError(f"sequence {n} outside u64")
        if self._parent is None:
            self._txn.put(META_ROOT_SEQ, _u64(n), db=self._store._meta)
            return
        full = _u64(self._parent) + self._name
        raw = self._txn.get(full, db=self._store._kv)
        if raw is None or raw[:1] != b"\x01":
            raise KVError(f"{self._store.path}: bucket {self._where()} no longer exists")
        self._txn.put(full, raw[:9] + _u64(n), db=self._store._kv)

    def next_sequence(self) -> int:
        self._require_writable("advance the sequence")
        n = self.sequence() + 1
        self.set_sequence(n)
        return n

