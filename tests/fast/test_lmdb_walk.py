"""The LMDB reads behind the payment index walk, against the bucket API they shortcut:
``LmdbBucket.items`` against ``entries``, ``LmdbBucket.child_get`` against ``bucket`` +
``get``, and the whole walk (with the cursor ``child_get`` shares with the payment
buckets' ``scan``) against the same walk through a store that offers neither: same
entries, same decoder answers, same typed errors at the same entry."""

from __future__ import annotations

import pytest

from migwizard.core.codec.keys import PAYMENT_HTLCS_BUCKET, PAYMENT_SEQUENCE_KEY
from migwizard.core.codec.walk import BadEntry, DuplicateEntry, MissingBucket, PaymentEntry, walk_payment_index
from migwizard.core.fast import decode_payment
from migwizard.core.kv.errors import KVError
from migwizard.core.kv.lmdb_store import LmdbStore

from .test_lmdb_scan import DAMAGE, _outcome, _plain_tree, _raw_put, _write_tree, same_answer

ROOT = b"payments-root-bucket"
INDEX = b"payments-index-bucket"


class Plain:
    """A bucket offering only the abstract API (no ``scan``, ``child_get``, own ``items``)."""

    def __init__(self, b) -> None:
        self._b = b

    def entries(self):
        for k, v, c in self._b.entries():
            yield k, v, None if c is None else Plain(c)

    def items(self):  # BucketBase.items: entries() without the handles
        for k, v, _c in self._b.entries():
            yield k, v

    def get(self, key):
        return self._b.get(key)

    def bucket(self, key):
        b = self._b.bucket(key)
        return None if b is None else Plain(b)


def _drained(it) -> list:
    out = []
    try:
        for x in it:
            out.append(x)
    except KVError as e:
        out.append(("raised", type(e), str(e)))
    return out


def _entry_view(e) -> tuple:
    """An entry without its bucket handle (compared by what the decoder makes of it)."""
    fields = {k: v for k, v in vars(e).items() if k != "bucket"}
    if isinstance(e, BadEntry):
        fields["error"] = str(e.error)
    return type(e).__name__, tuple(sorted(fields.items()))


def _walks_agree(root) -> int:
    """The walk on ``root`` and on ``Plain(root)`` give the same entries; every payment
    bucket decodes alike both ways (the fast walk's scan runs on the shared cursor).
    Returns the payment entries seen."""
    fast = _drained(walk_payment_index(root))
    plain = _drained(walk_payment_index(Plain(root)))
    assert [_entry_view(e) if not isinstance(e, tuple) else e for e in fast] == \
        [_entry_view(e) if not isinstance(e, tuple) else e for e in plain]
    n = 0
    # Decoded in step with the walk, as the children do (the cursor moves on after each entry).
    for e, p in zip(walk_payment_index(root), walk_payment_index(Plain(root))):
        if isinstance(e, PaymentEntry):
            n += 1
            assert same_answer(decode_payment(e.bucket), decode_payment(p.bucket)), e.payment_hash.hex()
    return n


@pytest.mark.parametrize("profile,count,seed", [("edge", 400, 1), ("mixed", 3000, 7)])
def test_walk_same_entries_and_decodes(generated_ro, profile, count, seed):
    with LmdbStore.open(generated_ro(profile, count, seed=seed), readonly=True) as s, s.read() as root:
        assert _walks_agree(root) > 0.5 * count


def test_items_equal_entries(generated_ro):
    with LmdbStore.open(generated_ro("edge", 400), readonly=True) as s, s.read() as root:
        for b in (root, root.bucket(ROOT), root.bucket(INDEX)):
            assert list(b.items()) == [(k, v) for k, v, _c in b.entries()]
        for _k, _v, pb in list(root.bucket(ROOT).entries())[:50]:
            for _k2, _v2, sub in pb.entries():
                if sub is not None:
                    assert list(sub.items()) == [(k, v) for k, v, _c in sub.entries()]


@pytest.fixture
def store(tmp_path):
    with LmdbStore.open(tmp_path / "kv", create=True) as s:
        yield s


def _two_payments(store, generated_ro) -> tuple:
    tree = _plain_tree(generated_ro)
    with store.write() as root:
        rb = root.create_bucket(ROOT)
        _write_tree(rb.create_bucket(b"\x01" * 32), tree)
        _write_tree(rb.create_bucket(b"\x02" * 32), tree)
        rb.put(b"\x03" * 32, b"a value, not a bucket")
    with store.read() as root:
        return root.bucket(ROOT), root.bucket(ROOT).bucket(b"\x01" * 32)


@pytest.mark.parametrize("raw", DAMAGE)
@pytest.mark.parametrize("where", ["bucket-entry", "sub-value", "items"])
def test_damage_same_errors(store, generated_ro, raw, where):
    """A damaged root entry, sequence value or entry met by items(): the same outcome
    (value or CorruptError with its message) as bucket() + get() / entries()."""
    rb, pb = _two_payments(store, generated_ro)
    if where == "bucket-entry":
        _raw_put(store, rb, b"\x01" * 32, raw)
    elif where == "sub-value":
        _raw_put(store, pb, PAYMENT_SEQUENCE_KEY, raw)
    else:
        _raw_put(store, rb, b"\x01" * 32 + b"\x00", raw)
    with store.read() as root:
        rb = root.bucket(ROOT)
        for key in (b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32):
            got = _outcome(lambda: _view(rb.child_get(key, PAYMENT_SEQUENCE_KEY)))
            ref = _outcome(lambda: _view(_bucket_then_get(rb, key, PAYMENT_SEQUENCE_KEY)))
            assert got == ref
        assert _drained(rb.items()) == _drained((k, v) for k, v, _c in rb.entries())


def _bucket_then_get(rb, key, sub):
    b = rb.bucket(key)
    return b, (b.get(sub) if b is not None else None)


def _view(pair) -> tuple:
    b, v = pair
    return (None if b is None else (b._id, b.path), v)


@pytest.mark.parametrize("key,sub", [(b"\x01" * 32, PAYMENT_HTLCS_BUCKET), (b"\x01" * 32, b"no such key"),
                                     (b"\x01" * 32, b""), (b"\x01" * 32, b"k" * 600), (b"", b"x"),
                                     (b"k" * 600, PAYMENT_SEQUENCE_KEY)])
def test_child_get_odd_keys(store, generated_ro, key, sub):
    """A sub-bucket at ``sub``, absent, empty or over-long keys: as bucket() + get()."""
    _two_payments(store, generated_ro)
    with store.read() as root:
        rb = root.bucket(ROOT)
        assert _outcome(lambda: _view(rb.child_get(key, sub))) == \
            _outcome(lambda: _view(_bucket_then_get(rb, key, sub)))


def test_walk_with_planted_damage(store, generated_ro):
    """Missing buckets, a missing and a damaged sequence, a duplicate's entry, an htlcs
    bucket created after the other payments: the walk's
    entries and the decoders' answers as through the plain API."""
    tree = _plain_tree(generated_ro)
    seq = int.from_bytes(tree[PAYMENT_SEQUENCE_KEY][:8], "big")
    with store.write() as root:
        rb = root.create_bucket(ROOT)
        ib = root.create_bucket(INDEX)
        for i in range(1, 9):
            name = bytes([i]) * 32
            t = dict(tree)
            t[PAYMENT_SEQUENCE_KEY] = (seq + i).to_bytes(8, "big")
            if i == 3:
                del t[PAYMENT_SEQUENCE_KEY]
            if i == 4:
                t[PAYMENT_SEQUENCE_KEY] = b"\x01\x02"
            if i == 6:  # its htlcs bucket made last: its id follows no payment's (scan seeks)
                late = t.pop(PAYMENT_HTLCS_BUCKET)
            if i != 5:
                _write_tree(rb.create_bucket(name), t)
            ib.put((seq + i).to_bytes(8, "big"), b"\x00\x20" + name)
        _write_tree(rb.bucket(bytes([6]) * 32).create_bucket(PAYMENT_HTLCS_BUCKET), late)
        ib.put((seq + 20).to_bytes(8, "big"), b"\x00\x20" + b"\x02" * 32)  # names payment 2, another sequence
    with store.read() as root:
        _walks_agree(root)
        kinds = [type(e) for e in walk_payment_index(root)]
        assert kinds.count(PaymentEntry) == 5 and MissingBucket in kinds and DuplicateEntry in kinds
        assert kinds.count(BadEntry) == 2
