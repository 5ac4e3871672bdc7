"""KV storage layer: read lnd's bbolt channel.db, keep a bbolt-shaped tree in LMDB.

Everything above this package codes against :class:`~.bucket.BucketBase`
(bbolt semantics) and :func:`open_kv`, never against a backend directly.
"""

from .bbolt import BboltReader
from .bucket import Bucket, BucketBase, Entry, KVStore, walk
from .channeldb import PAYMENT_BUCKETS, channeldb_version
from .errors import (
    BucketExistsError,
    BucketNotFoundError,
    CorruptError,
    IncompatibleError,
    KeyTooLongError,
    KVError,
    LockedError,
    MapFullError,
    ReadOnlyError,
    TargetNotEmptyError,
    UnsupportedError,
    VerifyError,
)
from .importer import ImportResult, format_import_summary, import_bbolt
from .lmdb_store import LmdbStore
from .open import detect_kind, open_kv

__all__ = [
    "BboltReader",
    "Bucket",
    "BucketBase",
    "BucketExistsError",
    "BucketNotFoundError",
    "CorruptError",
    "Entry",
    "ImportResult",
    "IncompatibleError",
    "KVError",
    "KVStore",
    "KeyTooLongError",
    "LmdbStore",
    "LockedError",
    "MapFullError",
    "PAYMENT_BUCKETS",
    "ReadOnlyError",
    "TargetNotEmptyError",
    "UnsupportedError",
    "VerifyError",
    "channeldb_version",
    "detect_kind",
    "format_import_summary",
    "import_bbolt",
    "open_kv",
    "walk",
]
