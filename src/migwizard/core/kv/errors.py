"""Exceptions raised by the KV layer.

Everything the KV layer rejects surfaces as a :class:`KVError` subclass so that
callers (CLI, TUI screens, the migration engine) can catch exactly one type and
show its message verbatim: messages name the file, and where relevant the page,
byte offset and key path, because the person reading them may need to open the
file in a hex editor or decide whether lnd is still running.
"""

from __future__ import annotations


class KVError(Exception):
    """Base class: a KV store could not be opened, read or written as asked."""


class ReadOnlyError(KVError):
    """A write was attempted on a store or bucket that was opened read-only."""


class LockedError(KVError):
    """Another process (usually a running lnd, or another migwizard) holds the store."""


class CorruptError(KVError):
    """The on-disk bytes do not form a valid store (bad meta, page, element...).

    ``path``, ``page`` and ``offset`` are kept as attributes for tooling that
    wants to point at the bytes; the message already contains them.
    """

    def __init__(self, message: str, *, path: str | None = None, page: int | None = None, offset: int | None = None):
        self.path = path
        self.page = page
        self.offset = offset
        super().__init__(message)


class UnsupportedError(KVError):
    """A well-formed store we deliberately refuse (big-endian bbolt, newer layout...)."""


class IncompatibleError(KVError):
    """bbolt-style misuse: value op on a bucket key or bucket op on a value key."""


class BucketExistsError(IncompatibleError):
    """create_bucket() on a key that already names a bucket."""


class BucketNotFoundError(KVError):
    """delete_bucket() on a key that is absent."""


class KeyTooLongError(KVError):
    """A key does not fit LMDB's key limit once the parent-id prefix is added."""


class TargetNotEmptyError(KVError):
    """An import was pointed at a directory that already holds data."""


class VerifyError(KVError):
    """The post-import comparison found the copy differs from the source."""


class MapFullError(KVError):
    """A ``write()`` block ran out of LMDB map space; the map has been grown.

    Raised only from the ``write()`` context manager, which cannot re-run its
    body by itself: the transaction was aborted, nothing was written, and simply
    running the same block again will use the larger map. ``update(fn)`` does
    this retry automatically.
    """
