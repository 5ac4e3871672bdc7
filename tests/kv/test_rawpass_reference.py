"""The payment tree's digest (``kv.rawpass.tree_digest``) against the per-record pass it
replaced, kept here verbatim as the reference: the digest is recorded by validation and
re-checked by commit, so a run validated before must still commit. Same digest, same
count, same typed error on damage, on clean, nested, damaged and looping stores."""

from __future__ import annotations

import hashlib
import heapq
import struct

import lmdb
import pytest

from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
from migwizard.core.kv import rawpass
from migwizard.core.kv.lmdb_bucket import TAG_BUCKET, TAG_VALUE
from migwizard.core.kv.lmdb_store import LmdbStore

from tests.engine.conftest import generated  # noqa: F401

_FRAME = struct.Struct(">HI")


def _reference(h, bucket) -> int:
    """``tree_digest`` as of 2026-11-30: one ``update`` per record."""
    txn, db, top = bucket._txn, bucket._store._kv, bucket._prefix
    update, frame = h.update, _FRAME.pack
    update(b"T" + top + bucket.sequence().to_bytes(8, "big"))
    outer, inner = txn.cursor(db=db), txn.cursor(db=db)
    at = None
    direct = 0
    if not outer.set_range(top):
        return 0
    for k, v in outer.iternext():
        if not k.startswith(top):
            break
        update(frame(len(k), len(v)) + k + v)
        tag = v[0] if v else None
        if tag == TAG_BUCKET and len(v) == 17:
            direct += 1
            at = _ref_subtree(update, frame, inner, at, v[1:9], bucket)
        elif tag != TAG_VALUE:
            rawpass._damaged(bucket, k, v)
    return direct


def _ref_subtree(update, frame, cur, at, first, bucket):
    todo, back, last = [first], set(), None
    while todo:
        prefix = heapq.heappop(todo)
        if prefix == last:
            continue
        last = prefix
        if at is None or not at.startswith(prefix):
            if not cur.set_range(prefix):
                at = None
                continue
        at = None
        for k, v in cur.iternext():
            if not k.startswith(prefix):
                at = k
                break
            update(frame(len(k), len(v)) + k + v)
            tag = v[0] if v else None
            if tag == TAG_BUCKET and len(v) == 17:
                child = v[1:9]
                if child > prefix:
                    heapq.heappush(todo, child)
                elif child not in back:
                    back.add(child)
                    heapq.heappush(todo, child)
            elif tag != TAG_VALUE:
                rawpass._damaged(bucket, k, v)
    return at


def _both(kv):
    """``(reference, current)``: each ``(hexdigest, count)`` or the error it raised."""
    out = []
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        for fn in (_reference, rawpass.tree_digest):
            h = hashlib.sha256()
            try:
                n = fn(h, root.bucket(PAYMENTS_ROOT_BUCKET))
                out.append((h.hexdigest(), n))
            except Exception as e:  # noqa: BLE001 -- compared by type and message
                out.append((type(e), str(e)))
    return out


def _raw_put(kv, full: bytes, value: bytes) -> None:
    env = lmdb.open(str(kv), max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(full, value, db=env.open_db(b"kv", txn=txn))
    env.close()


@pytest.mark.parametrize("profile,count", [("edge", 120), ("mixed", 300), ("legacy-zero-ids", 40)])
def test_same_digest_as_the_per_record_pass(generated, profile, count):  # noqa: F811
    ref, cur = _both(generated(profile, count))
    assert ref == cur and isinstance(ref[0], str)


def test_same_digest_across_flushes(generated, monkeypatch):  # noqa: F811
    """A flush every few records (the gathered parts hashed in many pieces): same digest."""
    kv = generated("edge", 60)
    want = _both(kv)[0]
    for parts in (1, 3, 7, 300):
        monkeypatch.setattr(rawpass, "_FLUSH_PARTS", parts)
        assert _both(kv)[1] == want


def _payment_and_attempt_keys(kv):
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        for k, v in rb.items():
            if v is None:
                pb = rb.bucket(k)
                hb = pb.bucket(b"payment-htlcs-bucket")
                if hb is not None:
                    ak = next(x for x, y in hb.items() if y is not None)
                    return rb._full(k), pb._full(b"payment-creation-info"), hb._full(ak), hb._prefix, pb._prefix
    raise AssertionError("no payment with attempts")


@pytest.mark.parametrize("damage", ["root: unknown tag", "root: empty value", "root: short bucket record",
                                    "nested: unknown tag", "nested: empty value", "nested: long bucket record",
                                    "nested: points back at its payment", "nested: points at itself"])
def test_same_outcome_on_a_damaged_store(generated, damage):  # noqa: F811
    kv = generated("mixed", 30)
    root_key, info_key, attempt_key, htlcs_prefix, payment_prefix = _payment_and_attempt_keys(kv)
    where, what = damage.split(": ")
    full = root_key if where == "root" else attempt_key
    value = {"unknown tag": b"\x09junk", "empty value": b"", "short bucket record": b"\x01" + bytes(8),
             "long bucket record": b"\x01" + bytes(20),
             "points back at its payment": b"\x01" + payment_prefix + bytes(8),
             "points at itself": b"\x01" + htlcs_prefix + bytes(8)}[what]
    _raw_put(kv, full, value)
    ref, cur = _both(kv)
    assert ref == cur
    if "points" not in what:
        assert not isinstance(ref[0], str)  # refused, the same way
