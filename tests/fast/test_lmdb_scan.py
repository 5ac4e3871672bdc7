"""``LmdbBucket.scan`` (the fast decoder's one-cursor read of a payment bucket and its
htlcs bucket) against the bucket API it replaces (``entries`` / ``items``), and the
fast decoder through ``scan`` against the same decoder through that API: same
entries, same answers, same typed errors raised at the same entry, on the edge and
mixed profiles, the real fixtures, property-generated payments and planted damage."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migwizard.core.codec import DictBucket, payment_to_kv
from migwizard.core.codec.keys import PAYMENT_HTLCS_BUCKET
from migwizard.core.fast import FALLBACK, FastPayment, decode_payment
from migwizard.core.kv.errors import CorruptError, KVError
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.kv.open import open_kv

from tests.codec.strategies import payments

from .reference import main_payments

ROOT = b"payments-root-bucket"


class EntriesOnly:
    """A bucket without ``scan``: the decoder takes its ``entries``/``items`` path."""

    def __init__(self, b) -> None:
        self._b = b

    def entries(self):
        return self._b.entries()

    def items(self):
        return self._b.items()

    def get(self, key):
        return self._b.get(key)

    def bucket(self, key):
        b = self._b.bucket(key)
        return None if b is None else EntriesOnly(b)


def _outcome(fn):
    """What a read returns, or the error type and message it raises."""
    try:
        return ("ok", fn())
    except KVError as e:
        return ("error", type(e), str(e))


def _via_api(b, sub: bytes):
    ents, child = {}, None
    for key, value, c in b.entries():
        ents[key] = value
        if key == sub and c is not None:
            child = c
    return ents, None if child is None else list(_drain(child.items()))


def _via_scan(b, sub: bytes):
    ents, items = b.scan(sub)
    return ents, None if items is None else list(_drain(items))


def _drain(it):
    """Items up to an error, then the error (as an item), as a caller meets them."""
    try:
        yield from it
    except KVError as e:
        yield ("raised", type(e), str(e))


def same_answer(a, b) -> bool:
    if a is FALLBACK or b is FALLBACK:
        return a is b
    return isinstance(a, FastPayment) and isinstance(b, FastPayment) and all(
        getattr(a, f) == getattr(b, f) for f in FastPayment.__slots__)


def check_bucket(pb) -> bool:
    """scan == entries/items for this bucket, and the decoder answers alike both ways."""
    assert _outcome(lambda: _via_scan(pb, PAYMENT_HTLCS_BUCKET)) == _outcome(
        lambda: _via_api(pb, PAYMENT_HTLCS_BUCKET))
    fast, ref = decode_payment(pb), decode_payment(EntriesOnly(pb))
    assert same_answer(fast, ref), (fast, ref)
    return fast is not FALLBACK


def check_store(kv_dir) -> tuple[int, int]:
    """Every payment bucket of the store (not only the index's main ones); returns
    (buckets, accepted by the fast decoder)."""
    n = taken = 0
    with open_kv(kv_dir) as store, store.read() as root:
        rb = root.bucket(ROOT)
        for key, _value, pb in rb.entries():
            if pb is None:
                continue
            n += 1
            taken += check_bucket(pb)
        assert sum(1 for _ in main_payments(root)) <= n
    return n, taken


def test_edge_profile(generated_ro):
    n, taken = check_store(generated_ro("edge", 400))
    assert n > 300 and 0 < taken < n


def test_mixed_profile(generated_ro):
    n, taken = check_store(generated_ro("mixed", 3000, seed=7))
    assert n >= 3000 and taken > 0.9 * n


@pytest.mark.parametrize("name", ["alice", "carol", "dave"])
def test_real_fixtures(import_fixture, name):
    n, _taken = check_store(import_fixture(name))
    assert n > 0


# -- planted shapes and damage in a store of our own ------------------------------


@pytest.fixture
def store(tmp_path):
    with LmdbStore.open(tmp_path / "kv", create=True) as s:
        yield s


def _write_tree(bucket, tree) -> None:
    for k, v in tree.items():
        if isinstance(v, dict):
            _write_tree(bucket.create_bucket(k), v)
        else:
            bucket.put(k, v)


def _plain_tree(generated_ro) -> dict:
    """One mixed-profile payment the fast decoder accepts, with attempts."""
    with LmdbStore.open(generated_ro("mixed", 3000, seed=7), readonly=True) as s, s.read() as root:
        for _phash, pb in main_payments(root):
            hb = pb.bucket(PAYMENT_HTLCS_BUCKET)
            if hb is not None and len(list(hb.items())) >= 3 and decode_payment(pb) is not FALLBACK:
                return _to_tree(pb)
    raise AssertionError("no plain payment with attempts")


def _to_tree(b) -> dict:
    return {bytes(k): _to_tree(c) if c is not None else bytes(v) for k, v, c in b.entries()}


def test_sub_bucket_not_adjacent(store, generated_ro):
    """The htlcs bucket's id does not follow the payment's (created later): scan seeks."""
    tree = _plain_tree(generated_ro)
    htlcs = tree.pop(PAYMENT_HTLCS_BUCKET)
    with store.write() as root:
        rb = root.create_bucket(ROOT)
        pb = rb.create_bucket(b"\x01" * 32)
        _write_tree(pb, tree)
        _write_tree(rb.create_bucket(b"\x02" * 32), {b"other": b"x", b"zz": {b"k": b"v"}})
        _write_tree(pb.create_bucket(PAYMENT_HTLCS_BUCKET), htlcs)
    with store.read() as root:
        pb = root.bucket(ROOT).bucket(b"\x01" * 32)
        raw = pb._raw(PAYMENT_HTLCS_BUCKET)
        assert int.from_bytes(raw[1:9], "big") > pb._id + 1
        assert check_bucket(pb)
        other = root.bucket(ROOT).bucket(b"\x02" * 32)
        assert _via_scan(other, b"zz") == _via_api(other, b"zz")


def test_last_bucket_of_the_store(store, generated_ro):
    """Nothing after the htlcs bucket: the cursor runs off the end of the data."""
    tree = _plain_tree(generated_ro)
    with store.write() as root:
        _write_tree(root.create_bucket(ROOT).create_bucket(b"\x03" * 32), tree)
    with store.read() as root:
        assert check_bucket(root.bucket(ROOT).bucket(b"\x03" * 32))


def _raw_put(store, bucket, key: bytes, raw: bytes) -> None:
    """Write a raw (tagged) entry under ``bucket``, bypassing the bucket API's checks."""
    with store.write() as root:
        root._txn.put(bucket._prefix + key, raw, db=store._kv)


DAMAGE = [
    pytest.param(b"", id="empty-raw"),
    pytest.param(b"\x07abc", id="unknown-tag"),
    pytest.param(b"\x01" + b"\x00" * 7, id="short-bucket-entry"),
    pytest.param(b"\x01" + b"\x00" * 20, id="long-bucket-entry"),
]


@pytest.mark.parametrize("raw", DAMAGE)
@pytest.mark.parametrize("where", ["payment-first", "payment-last", "htlcs-first", "htlcs-middle", "htlcs-last"])
def test_damaged_entries(store, generated_ro, raw, where):
    """A bad entry: scan raises the same CorruptError as entries()/items(), at once for
    the payment level and only when iterated up to it for the htlcs level; the decoder
    falls back both ways (the full decoder then names it)."""
    tree = _plain_tree(generated_ro)
    with store.write() as root:
        _write_tree(root.create_bucket(ROOT).create_bucket(b"\x04" * 32), tree)
    with store.read() as root:
        pb = root.bucket(ROOT).bucket(b"\x04" * 32)
        hb = pb.bucket(PAYMENT_HTLCS_BUCKET)
        hkeys = [k for k, _v in hb.items()]
    target, key = {
        "payment-first": (pb, b"a"),
        "payment-last": (pb, b"zzz"),
        "htlcs-first": (hb, b"a"),
        "htlcs-middle": (hb, hkeys[1] + b"\x00"),
        "htlcs-last": (hb, b"zzz"),
    }[where]
    _raw_put(store, target, key, raw)
    with store.read() as root:
        pb = root.bucket(ROOT).bucket(b"\x04" * 32)
        got = _outcome(lambda: _via_scan(pb, PAYMENT_HTLCS_BUCKET))
        assert got == _outcome(lambda: _via_api(pb, PAYMENT_HTLCS_BUCKET))
        flat = repr(got)
        assert "CorruptError" in flat and "payments-root-bucket" in flat
        assert decode_payment(pb) is FALLBACK and decode_payment(EntriesOnly(pb)) is FALLBACK


def test_nested_bucket_in_htlcs(store, generated_ro):
    """A well-formed sub-bucket inside the htlcs bucket comes back as (key, None)."""
    tree = _plain_tree(generated_ro)
    tree[PAYMENT_HTLCS_BUCKET][b"ai\x00\x00\x00\x00\x00\x00\x00\x00\xff"] = {b"k": b"v"}
    with store.write() as root:
        _write_tree(root.create_bucket(ROOT).create_bucket(b"\x05" * 32), tree)
    with store.read() as root:
        pb = root.bucket(ROOT).bucket(b"\x05" * 32)
        ents, items = pb.scan(PAYMENT_HTLCS_BUCKET)
        assert (b"ai\x00\x00\x00\x00\x00\x00\x00\x00\xff", None) in list(items)
        check_bucket(pb)


def test_htlcs_is_a_value(store, generated_ro):
    tree = _plain_tree(generated_ro)
    tree[PAYMENT_HTLCS_BUCKET] = b"not a bucket"
    with store.write() as root:
        _write_tree(root.create_bucket(ROOT).create_bucket(b"\x06" * 32), tree)
    with store.read() as root:
        pb = root.bucket(ROOT).bucket(b"\x06" * 32)
        ents, items = pb.scan(PAYMENT_HTLCS_BUCKET)
        assert items is None and ents[PAYMENT_HTLCS_BUCKET] == b"not a bucket"
        check_bucket(pb)


# -- property payments, written to LMDB -------------------------------------------


@pytest.fixture(scope="module")
def prop_store(tmp_path_factory):
    with LmdbStore.open(tmp_path_factory.mktemp("prop") / "kv", create=True) as s:
        with s.write() as root:
            root.create_bucket(ROOT)
        yield s


_counter = iter(range(1, 1 << 62))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(payments(max_htlcs=3), st.booleans())
def test_property_payments(prop_store, p, spacer):
    """A generated payment read back through scan decodes as from its dict tree and as
    through entries/items; ``spacer`` puts another bucket between the payment's and its
    htlcs bucket's ids."""
    tree = payment_to_kv(p)
    name = next(_counter).to_bytes(32, "big")
    with prop_store.write() as root:
        pb = root.bucket(ROOT).create_bucket(name)
        htlcs = tree.get(PAYMENT_HTLCS_BUCKET)
        if spacer:
            pb.create_bucket(b"\x00spacer").put(b"k", b"v")
        _write_tree(pb, {k: v for k, v in tree.items() if k != PAYMENT_HTLCS_BUCKET})
        if isinstance(htlcs, dict):
            _write_tree(pb.create_bucket(PAYMENT_HTLCS_BUCKET), htlcs)
        elif htlcs is not None:
            pb.put(PAYMENT_HTLCS_BUCKET, htlcs)
    with prop_store.read() as root:
        pb = root.bucket(ROOT).bucket(name)
        check_bucket(pb)
        assert same_answer(decode_payment(pb), decode_payment(DictBucket(tree)))


# -- planted record shapes on the whole-route read ----------------------------------


def _with_padded_mpp_total(v: bytes) -> bytes | None:
    """The attempt value with its last hop's MPP total re-encoded with a leading zero
    byte (a non-minimal truncated u64), or None when that hop has no lone MPP record."""
    nhops = int.from_bytes(v[78:82], "big")
    if not nhops:
        return None
    last = 82 + 59 * (nhops - 1)
    if v[last + 55:last + 59] != b"\x00\x00\x00\x01":
        return None
    rec = 82 + 59 * nhops
    if int.from_bytes(v[rec:rec + 8], "big") != 8 or v[rec + 8] >= 40:
        return None
    ln = v[rec + 8]
    val = v[rec + 9:rec + 9 + ln]
    return v[:rec + 8] + bytes([ln + 1]) + val[:32] + b"\x00" + val[32:] + v[rec + 9 + ln:]


def test_padded_mpp_total_matches_full_path(generated_ro):
    """Whatever the full decoder makes of an MPP total with a leading zero byte, the
    fast decoder gives exactly that (here: it must fall back, the full path counts a
    normalisation)."""
    from migwizard.core.sql.values import SQLITE

    from .reference import Side, assert_same

    done = 0
    with LmdbStore.open(generated_ro("mixed", 3000, seed=7), readonly=True) as s, s.read() as root:
        for phash, pb in main_payments(root):
            if decode_payment(pb) is FALLBACK:
                continue
            tree = _to_tree(pb)
            htlcs = tree.get(PAYMENT_HTLCS_BUCKET) or {}
            for k, v in htlcs.items():
                new = _with_padded_mpp_total(v) if k[:2] == b"ai" else None
                if new is None:
                    continue
                mutated = dict(tree)
                mutated[PAYMENT_HTLCS_BUCKET] = dict(htlcs)
                mutated[PAYMENT_HTLCS_BUCKET][k] = new
                bucket = DictBucket(mutated)
                ref, fast = Side(7), Side(7)
                try:
                    ref.full(bucket, phash, SQLITE.ts)
                except Exception:  # noqa: BLE001 - refused by the full path: the fast one must not take it
                    assert decode_payment(bucket) is FALLBACK
                else:
                    fast.fast(bucket, phash, SQLITE)
                    assert_same(ref, fast)
                done += 1
                break
            if done >= 40:
                break
    assert done >= 40
