"""The single bucket interface every KV backend implements.

The migration engine, verification and tests are written against this
interface only, so a bbolt file (read-only, straight from lnd's data dir) and
migwizard's own LMDB store are interchangeable. The semantics are bbolt's
(and therefore walletdb's), because that is what lnd's code and data assume:

* keys are non-empty byte strings ordered by unsigned memcmp (shorter prefix first);
* a key names either a value or a sub-bucket, never both; ``get`` returns
  ``None`` for a sub-bucket key exactly like bbolt's ``Get``;
* iteration interleaves values and sub-buckets in that byte order, reporting
  sub-buckets with a ``None`` value (bbolt ``ForEach``);
* every bucket carries a u64 ``sequence`` (bbolt ``NextSequence``/``SetSequence``),
  which lnd uses as allocators (payment seqs, attempt ids);
* the store's root ("top level") holds only buckets (walletdb).

Mutating a bucket while iterating it is undefined, as in bbolt.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from typing import NamedTuple, Protocol, runtime_checkable

from .errors import ReadOnlyError

__all__ = [
    "Bucket",
    "BucketBase",
    "KVStore",
    "Entry",
    "walk",
]


@runtime_checkable
class Bucket(Protocol):
    """Structural type for a bucket; implementations subclass :class:`BucketBase`."""

    #: Names of the buckets from the root down to this one (root: ``()``).
    path: tuple[bytes, ...]
    #: Whether the write methods are allowed on this handle.
    writable: bool

    def get(self, key: bytes) -> bytes | None: ...
    def bucket(self, key: bytes) -> "Bucket | None": ...
    def is_bucket(self, key: bytes) -> bool: ...
    def items(self) -> Iterator[tuple[bytes, bytes | None]]: ...
    def keys(self) -> Iterator[bytes]: ...
    def entries(self) -> Iterator[tuple[bytes, bytes | None, "Bucket | None"]]: ...
    def sequence(self) -> int: ...

    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def create_bucket(self, key: bytes) -> "Bucket": ...
    def create_bucket_if_not_exists(self, key: bytes) -> "Bucket": ...
    def delete_bucket(self, key: bytes) -> None: ...
    def set_sequence(self, n: int) -> None: ...
    def next_sequence(self) -> int: ...


class BucketBase(ABC):
    """Shared behaviour: derived read helpers and read-only refusals.

    Backends implement :meth:`get`, :meth:`bucket`, :meth:`entries` and
    :meth:`sequence`; writable backends override the write methods. Keeping the
    refusals here means a read-only backend can never silently accept a write.
    """

    path: tuple[bytes, ...] = ()
    writable: bool = False

    # -- reading ---------------------------------------------------------
    @abstractmethod
    def get(self, key: bytes) -> bytes | None:
        """Value stored under ``key``; ``None`` if absent or a sub-bucket."""

    @abstractmethod
    def bucket(self, key: bytes) -> "BucketBase | None":
        """Sub-bucket ``key``; ``None`` if absent or a plain value."""

    @abstractmethod
    def entries(self) -> Iterator[tuple[bytes, bytes | None, "BucketBase | None"]]:
        """``(key, value, None)`` for values and ``(key, None, child)`` for
        sub-buckets, in byte order. Lets a full walk avoid one lookup per
        sub-bucket, which matters for payment trees (>= 2 buckets per payment)."""

    @abstractmethod
    def sequence(self) -> int:
        """The bucket's u64 sequence counter."""

    def is_bucket(self, key: bytes) -> bool:
        return self.bucket(key) is not None

    def items(self) -> Iterator[tuple[bytes, bytes | None]]:
        for key, value, _child in self.entries():
            yield key, value

    def keys(self) -> Iterator[bytes]:
        for key, _value, _child in self.entries():
            yield key

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()

    # -- writing (refused unless overridden) ------------------------------
    def _refuse(self, op: str):
        from migwizard.core.codec.errors import render_key

        where = render_key(*self.path) if self.path else "<root>"
        raise ReadOnlyError(f"cannot {op} in bucket {where}: the store is open read-only")

    def put(self, key: bytes, value: bytes) -> None:
        self._refuse("put a key")

    def delete(self, key: bytes) -> None:
        self._refuse("delete a key")

    def create_bucket(self, key: bytes) -> "BucketBase":
        self._refuse("create a bucket")

    def create_bucket_if_not_exists(self, key: bytes) -> "BucketBase":
        self._refuse("create a bucket")

    def delete_bucket(self, key: bytes) -> None:
        self._refuse("delete a bucket")

    def set_sequence(self, n: int) -> None:
        self._refuse("set the sequence")

    def next_sequence(self) -> int:
        self._refuse("advance the sequence")


class KVStore(Protocol):
    """What ``open_kv`` returns: a store whose transactions yield the root bucket.

    ``read()`` is a consistent snapshot; ``write()`` (LMDB only) commits on
    normal exit and aborts on an exception. Buckets must not be used after
    their transaction ends.
    """

    kind: str  # "bbolt" | "lmdb"
    readonly: bool

    def read(self) -> AbstractContextManager[BucketBase]: ...
    def write(self) -> AbstractContextManager[BucketBase]: ...
    def close(self) -> None: ...
    def __enter__(self) -> "KVStore": ...
    def __exit__(self, *exc: object) -> None: ...


class Entry(NamedTuple):
    """One node of a full tree walk.

    ``sequence`` is the sub-bucket's sequence for bucket entries and 0 for values;
    ``value`` is ``None`` for buckets. This is the unit of comparison between a
    source and its copy, and it mirrors the fixture manifests Go's bbolt wrote.
    """

    path: tuple[bytes, ...]
    key: bytes
    is_bucket: bool
    sequence: int
    value: bytes | None


def walk(root: BucketBase, *, top: Collection[bytes] | None = None) -> Iterator[Entry]:
    """Depth-first walk in bbolt order: each sub-bucket entry is followed by its contents.

    ``top`` restricts the walk to the named keys of ``root`` (still in byte
    order), which is how an import of only the payment buckets is verified.
    Iterative rather than recursive so a pathological nesting depth cannot blow
    Python's recursion limit.
    """
    base = tuple(root.path)
    stack: list[tuple[tuple[bytes, ...], Iterator]] = [(base, iter(root.entries()))]
    while stack:
        path, it = stack[-1]
        at_root = len(stack) == 1
        for key, value, child in it:
            if at_root and top is not None and key not in top:
                continue
            if child is not None:
                yield Entry(path, key, True, child.sequence(), None)
                stack.append((path + (key,), iter(child.entries())))
                break
            yield Entry(path, key, False, 0, value)
        else:
            stack.pop()
