"""Names from lnd's channel.db that the KV layer itself needs to know.

The names are defined once in :mod:`migwizard.core.codec.keys`; this module
says which of them the KV layer needs before any payment decoding happens: the
importer decides which top-level buckets to copy, and the UI shows the
channeldb schema version to tell the user which lnd wrote the file.
"""

from __future__ import annotations

from ..codec.keys import (
    DB_VERSION_KEY,
    METADATA_BUCKET,
    NEXT_PAYMENT_ID_KEY,
    PAYMENTS_INDEX_BUCKET,
    PAYMENTS_ROOT_BUCKET,
)
from .bucket import BucketBase
from .errors import CorruptError

#: Top-level buckets the payments migration reads (lnd-payments.md §1.2), in byte order.
PAYMENT_BUCKETS: tuple[bytes, ...] = (
    METADATA_BUCKET,
    NEXT_PAYMENT_ID_KEY,
    PAYMENTS_INDEX_BUCKET,
    PAYMENTS_ROOT_BUCKET,
)


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
