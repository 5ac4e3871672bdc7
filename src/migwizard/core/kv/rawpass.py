"""Counting and hashing passes over a bucket's subtree that decode nothing.

Why: migrate, validate and commit need facts about the payment tree (how many
payment buckets there are; whether anything in it changed since validation) but
not its contents. Through :class:`~.lmdb_bucket.LmdbBucket` every sub-bucket
costs a handle and a lookup; on migwizard's LMDB store the same facts come from
reading the ``kv`` sub-DB's records as they are (docs/lmdb-layout.md), about 5x
cheaper (issue 11 item 2). Any other backend takes the bucket interface (same
facts, different digest bytes: a digest is only ever compared with one computed
the same way on the same kind of store).

The record checks the bucket interface makes (a known tag byte; a sub-bucket
value of exactly 17 bytes) are made here too, and a failing record raises the
bucket interface's own :class:`~.errors.CorruptError`, which names its key path.
"""

from __future__ import annotations

import heapq
import struct

from .bucket import BucketBase, walk
from .errors import CorruptError
from .lmdb_bucket import TAG_BUCKET, TAG_VALUE, LmdbBucket, _range_end

__all__ = ["sub_bucket_count", "tree_digest", "tree_digest_steps", "values_digest"]

_FRAME = struct.Struct(">HI")  # key length (<= 511), value length


def sub_bucket_count(bucket: BucketBase) -> int:
    """Sub-buckets directly under ``bucket`` (its values, e.g. a tombstone, not counted)."""
    if not isinstance(bucket, LmdbBucket):
        return sum(1 for _k, v in bucket.items() if v is None)
    txn, db, prefix = bucket._txn, bucket._store._kv, bucket._prefix
    cur = txn.cursor(db=db)
    n = 0
    if cur.set_range(prefix):
        for k, v in cur.iternext():
            if not k.startswith(prefix):
                break
            tag = v[0] if v else None
            if tag == TAG_BUCKET and len(v) == 17:
                n += 1
            elif tag != TAG_VALUE:
                _damaged(bucket, k, v)
    return n


def values_digest(h, bucket: BucketBase) -> int:
    """Feed every value directly under ``bucket`` into ``h`` as ``len(key) key len(value)
    value`` (4-byte big-endian lengths; sub-buckets skipped), in key order; returns how
    many. The same bytes either way: the run's fingerprint of the payment index."""
    update = h.update
    n = 0
    if not isinstance(bucket, LmdbBucket):
        for key, value in bucket.items():
            if value is not None:
                update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
                n += 1
        return n
    txn, db, prefix = bucket._txn, bucket._store._kv, bucket._prefix
    cur = txn.cursor(db=db)
    if cur.set_range(prefix):
        for k, v in cur.iternext():
            if not k.startswith(prefix):
                break
            tag = v[0] if v else None
            if tag == TAG_VALUE:
                update((len(k) - 8).to_bytes(4, "big") + k[8:] + (len(v) - 1).to_bytes(4, "big") + v[1:])
                n += 1
            elif tag != TAG_BUCKET or len(v) != 17:
                _damaged(bucket, k, v)
    return n


def tree_digest(h, bucket: BucketBase) -> int:
    """Feed everything under ``bucket`` (values, sub-buckets with their sequences,
    their contents, at any depth) into the hash ``h``; returns the number of
    sub-buckets directly under ``bucket`` (for the payment root: its payments).

    LMDB: the records of ``bucket`` in key order, each sub-bucket's record followed
    by every record of every bucket id reachable from it (ids in ascending order, one
    cursor range each; usually the cursor is already there), each record's raw key
    (bucket id + key) and raw value (tag + value, or tag + child id + sequence)
    framed by their lengths. A changed, added or removed value or key, or a changed
    sequence, at any depth, changes the digest; so does a bucket re-created with a
    new id (the store rewritten: also worth refusing a commit). Memory stays flat:
    one sub-bucket's pending ids at a time. A damaged store whose buckets point back
    at each other still ends (a pointer to a lower id is followed once)."""
    steps = tree_digest_steps(h, bucket)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def tree_digest_steps(h, bucket: BucketBase):
    """:func:`tree_digest` as a generator that pauses after each sub-bucket directly
    under ``bucket`` (for the payment root: after each payment) and returns the same
    count: validation's comparing process advances it a batch at a time, so the pass
    overlaps the other process's walk instead of lengthening it.

    The framed records are gathered and hashed ``_FLUSH_PARTS`` at a time: the same
    bytes in the same order (so the same digest) for fewer Python operations per
    record than one ``update`` each (most of the pass's CPU is per record)."""
    if not isinstance(bucket, LmdbBucket):
        return _generic_digest(h, bucket)
    txn, db, top = bucket._txn, bucket._store._kv, bucket._prefix
    parts: list[bytes] = []
    add, frame = parts.extend, _FRAME.pack
    h.update(b"T" + top + bucket.sequence().to_bytes(8, "big"))
    outer, inner = txn.cursor(db=db), txn.cursor(db=db)
    at: bytes | None = None  # the key ``inner`` rests on (the first past the last range it read)
    direct = 0
    end = _next_id(top)
    if not outer.set_range(top):
        return 0
    k = v = b""
    try:
        for k, v in outer.iternext():
            if k >= end:
                break
            add((frame(len(k), len(v)), k, v))
            if not v[0]:  # TAG_VALUE; an empty value raises IndexError: damaged
                continue
            if v[0] == TAG_BUCKET and len(v) == 17:
                direct += 1
                at = _subtree(add, frame, inner, at, v[1:9], bucket)
                if len(parts) >= _FLUSH_PARTS:
                    h.update(b"".join(parts))
                    parts.clear()
                yield
            else:
                _damaged(bucket, k, v)
    except IndexError:
        _damaged(bucket, k, v)
    h.update(b"".join(parts))
    return direct


_FLUSH_PARTS = 3 * 2048  # ~2,000 records (a few hundred KB) per hash update
assert TAG_VALUE == 0


def _next_id(prefix: bytes) -> bytes:
    """The first key past every key of bucket ``prefix`` (``k >= end`` is ``not
    k.startswith(prefix)`` for the keys after ``prefix``, one comparison)."""
    return _range_end(int.from_bytes(prefix, "big"))


def _subtree(add, frame, cur, at: bytes | None, first: bytes, bucket: LmdbBucket) -> bytes | None:
    todo, back, last = [first], set(), None
    pop, push = heapq.heappop, heapq.heappush
    k = v = b""
    while todo:
        prefix = pop(todo)
        if prefix == last:
            continue  # two records point at this bucket: read it once
        last = prefix
        end = _next_id(prefix)
        if at is None or not prefix <= at < end:
            if not cur.set_range(prefix):
                at = None
                continue
        at = None
        try:
            for k, v in cur.iternext():
                if k >= end:
                    at = k
                    break
                add((frame(len(k), len(v)), k, v))
                if not v[0]:  # TAG_VALUE; an empty value raises IndexError: damaged
                    continue
                if v[0] == TAG_BUCKET and len(v) == 17:
                    child = v[1:9]
                    if child > prefix:
                        push(todo, child)  # ids grow from parent to child
                    elif child not in back:
                        back.add(child)  # only a damaged store points back: once per target
                        push(todo, child)
                else:
                    _damaged(bucket, k, v)
        except IndexError:
            _damaged(bucket, k, v)
    return at


def _generic_digest(h, bucket: BucketBase) -> int:
    update = h.update
    update(b"T" + bucket.sequence().to_bytes(8, "big"))
    top = len(bucket.path)
    direct = 0
    for e in walk(bucket):
        depth = len(e.path) - top
        key = b"%d:" % depth + e.key
        if e.is_bucket:
            direct += depth == 0
            update(b"B" + _FRAME.pack(len(key), 8) + key + e.sequence.to_bytes(8, "big"))
        else:
            update(b"V" + _FRAME.pack(len(key), len(e.value)) + key + e.value)
    return direct


def _damaged(bucket: LmdbBucket, raw_key: bytes, raw_value: bytes) -> None:
    """Raise the bucket interface's error for a bad record under ``bucket`` (it names
    the key path); a record only a raw pass reaches gets the store id and key."""
    for _entry in walk(bucket):
        pass
    tag = raw_value[0] if raw_value else None
    raise CorruptError(f"{bucket._store.path}: record of bucket id {int.from_bytes(raw_key[:8], 'big')} key "
                       f"{raw_key[8:].hex()} under {bucket!r} is malformed (tag {tag!r}, {len(raw_value)} bytes)")
