"""The payment-index walk: LND's one loop over ``payments-index-bucket``.

migration1 iterates the index in sequence order, resolves each entry to its
payment bucket and skips an entry whose payment carries another sequence number
(a legacy duplicate's index entry). Scan, migration, validation and ``inspect``
all need exactly that loop; they differ only in what they do with each kind of
entry, so the walk yields typed entries and never decides policy itself: a
malformed entry comes back as :class:`BadEntry` carrying a located DecodeError,
which the migration raises and the preflight scan merely counts.

Also here: finding a payment bucket by full hash (direct lookup) or by hex
prefix (an early-stopping scan in key order).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import DecodeError, render_key
from .index import decode_index_entry, decode_sequence
from .keys import PAYMENT_DUPLICATE_BUCKET, PAYMENT_SEQUENCE_KEY, PAYMENTS_INDEX_BUCKET, PAYMENTS_ROOT_BUCKET


@dataclass(frozen=True)
class IndexEntry:
    key: bytes  # u64 BE sequence number
    value: bytes | None  # the raw index value (None: a sub-bucket sits there)

    @property
    def seq(self) -> int:
        return int.from_bytes(self.key, "big")


@dataclass(frozen=True)
class PaymentEntry(IndexEntry):
    """The index entry that owns its payment: migrate it."""

    payment_hash: bytes
    bucket: Any  # payments-root-bucket/<hash>


@dataclass(frozen=True)
class DuplicateEntry(IndexEntry):
    """An entry whose payment carries another sequence (LND skips it). ``matched``: the
    sequence is one of the payment's legacy duplicates (a true duplicate's entry); when
    False it matches nothing the payment holds - a damaged sequence key or index
    entry, not a duplicate, and the engine names and counts it apart."""

    payment_hash: bytes
    own_sequence: int
    matched: bool = True


@dataclass(frozen=True)
class MissingBucket(IndexEntry):
    """The entry names a payment with no bucket under payments-root-bucket (LND skips it)."""

    payment_hash: bytes


@dataclass(frozen=True)
class BadEntry(IndexEntry):
    """An entry LND's migration aborts on. ``stage`` says where: "index" (the
    index value itself: a sub-bucket or undecodable) or "sequence" (the payment's
    own sequence key missing or undecodable; ``payment_hash`` is then known)."""

    error: DecodeError
    stage: str
    payment_hash: bytes | None = None
    sequence_raw: bytes | None = None


def walk_payment_index(root: Any, *, after: int | None = None) -> Iterator[IndexEntry]:
    """Every entry of payments-index-bucket, typed, in key (sequence) order.

    ``after``: skip entries with a sequence <= after (a resumed migration's
    checkpoint); None walks from the start (LND's own tests use sequence 0).
    """
    ib = root.bucket(PAYMENTS_INDEX_BUCKET)
    if ib is None:
        return
    rb = root.bucket(PAYMENTS_ROOT_BUCKET)
    # The LMDB store reads a payment's bucket and its sequence in one call (``child_get``).
    lookup = getattr(rb, "child_get", None)
    for key, value in ib.items():
        seq = int.from_bytes(key, "big")
        if after is not None and seq <= after:
            continue
        # Key paths are rendered only for an error: on a million entries the text costs seconds.
        if value is None:
            yield BadEntry(key, None, DecodeError("index entry is a bucket, not a value",
                                                  key=render_key(PAYMENTS_INDEX_BUCKET, key)), "index")
            continue
        try:
            phash = decode_index_entry(value)
        except DecodeError as e:
            yield BadEntry(key, value, e.with_context(key=render_key(PAYMENTS_INDEX_BUCKET, key)), "index")
            continue
        if lookup is not None:
            pb, raw_seq = lookup(phash, PAYMENT_SEQUENCE_KEY)
        else:
            pb = rb.bucket(phash) if rb is not None else None
            raw_seq = pb.get(PAYMENT_SEQUENCE_KEY) if pb is not None else None
        if pb is None:
            yield MissingBucket(key, value, phash)
            continue
        if raw_seq is None:
            pkey = render_key(PAYMENTS_ROOT_BUCKET, phash, PAYMENT_SEQUENCE_KEY)
            yield BadEntry(key, value, DecodeError("sequence number not found", payment=phash, key=pkey,
                                                   code="no_sequence"), "sequence", phash)
            continue
        try:
            own = decode_sequence(raw_seq)
        except DecodeError as e:
            pkey = render_key(PAYMENTS_ROOT_BUCKET, phash, PAYMENT_SEQUENCE_KEY)
            yield BadEntry(key, value, e.with_context(payment=phash, key=pkey), "sequence", phash, raw_seq)
            continue
        if own != seq:
            dups = pb.bucket(PAYMENT_DUPLICATE_BUCKET)
            yield DuplicateEntry(key, value, phash, own, dups is not None and dups.bucket(key) is not None)
        else:
            yield PaymentEntry(key, value, phash, pb)


def find_payments(root_bucket: Any, hex_prefix: str, *, limit: int = 2) -> list[bytes]:
    """Payment hashes under payments-root-bucket whose hex starts with ``hex_prefix``.

    A full 64-digit hash is one direct lookup (no scan). A shorter prefix walks
    the keys in byte order and stops past the prefix's range or after ``limit``
    matches (two are enough to call a prefix ambiguous).
    """
    if root_bucket is None:
        return []
    prefix = hex_prefix.lower().strip()
    if len(prefix) == 64:
        try:
            full = bytes.fromhex(prefix)
        except ValueError:
            return []
        return [full] if root_bucket.bucket(full) is not None else []
    n = len(prefix)
    out: list[bytes] = []
    for k, v in root_bucket.items():
        head = k.hex()[:n]
        if head < prefix:
            continue
        if head > prefix:
            break  # keys are in byte order, so is their hex: nothing further can match
        if v is None:
            out.append(k)
            if len(out) >= limit:
                break
    return out
