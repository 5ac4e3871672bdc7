"""Names from lnd's channel.db that the KV layer itself needs to know.

Kept here (not in the codec) because both the bbolt reader's callers and the
importer need them before any payment decoding happens: the importer decides
which top-level buckets to copy, and the UI shows the channeldb schema version
to tell the user which lnd wrote the file.
"""

from __future__ import annotations

from .bucket import BucketBase
from .errors import CorruptError

#: Top-level buckets the payments migration reads (lnd-payments.md §1.2), in byte order.
PAYMENT_BUCKETS: tuple[bytes, ...] = (
    b"metadata",
    b"next-payment-id-key",
    b"payments-index-bucket",
    b"payments-root-bucket",
)

METADATA_BUCKET = b"metadata"
DB_VERSION_KEY = b"dbp"


def channeldb_version(root: BucketBase) -> int | None:
    """channeldb schema version (``metadata``/``dbp``, u32 big-endian), or None if absent.

    A present but malformed value is an error rather than None: guessing would
    hide a damaged or non-lnd file from the user.
    """
    meta = root.bucket(METADATA_BUCKET)
    if meta is None:
        return None
    raw = meta.get(DB_VERSION_KEY)
    if raw is None:
        return None
    if len(raw) != 4:
        raise CorruptError(f"metadata/dbp holds {len(raw)} bytes, expected a 4-byte big-endian version")
    return int.from_bytes(raw, "big")
