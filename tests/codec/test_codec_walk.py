"""The one payment-index walk, the hash lookup and the key-presence peek."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from migwizard.core.codec import DictBucket, decide_status, encode_index_entry, payment_to_kv
from migwizard.core.codec.keys import PAYMENTS_INDEX_BUCKET, PAYMENTS_ROOT_BUCKET, PAYMENT_SEQUENCE_KEY
from migwizard.core.codec.peek import peek_payment
from migwizard.core.codec.walk import (
    BadEntry,
    DuplicateEntry,
    MissingBucket,
    PaymentEntry,
    find_payments,
    walk_payment_index,
)

from .strategies import payments


def _k(seq: int) -> bytes:
    return seq.to_bytes(8, "big")


def _h(n: int) -> bytes:
    return bytes([n]) * 32


def _store() -> DictBucket:
    """Index 1..7: a payment, a duplicate's entry, a missing bucket, a sub-bucket in
    the index, an undecodable entry, a payment without a sequence key, a short one."""
    root = {
        _h(1): {PAYMENT_SEQUENCE_KEY: _k(1)},
        _h(2): {},
        _h(3): {PAYMENT_SEQUENCE_KEY: b"\x00\x01"},
    }
    index = {
        _k(1): encode_index_entry(_h(1)),
        _k(2): encode_index_entry(_h(1)),  # names payment 1, whose own sequence is 1
        _k(3): encode_index_entry(_h(9)),  # no such bucket
        _k(4): {},
        _k(5): b"\x07",
        _k(6): encode_index_entry(_h(2)),
        _k(7): encode_index_entry(_h(3)),
    }
    return DictBucket({PAYMENTS_ROOT_BUCKET: root, PAYMENTS_INDEX_BUCKET: index})


def test_walk_yields_each_kind_of_entry_typed_and_located():
    entries = list(walk_payment_index(_store()))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6, 7]
    kinds = [type(e) for e in entries]
    assert kinds == [PaymentEntry, DuplicateEntry, MissingBucket, BadEntry, BadEntry, BadEntry, BadEntry]
    assert entries[0].payment_hash == _h(1) and entries[0].bucket.get(PAYMENT_SEQUENCE_KEY) == _k(1)
    assert entries[1].own_sequence == 1
    assert entries[2].payment_hash == _h(9)
    bucket_in_index, undecodable, no_seq, short_seq = entries[3:]
    assert bucket_in_index.stage == "index" and bucket_in_index.value is None
    assert "is a bucket" in str(bucket_in_index.error)
    assert undecodable.stage == "index" and undecodable.error.key == "payments-index-bucket/0000000000000005"
    assert no_seq.stage == "sequence" and no_seq.sequence_raw is None and no_seq.error.code == "no_sequence"
    assert no_seq.error.payment == _h(2)
    assert short_seq.stage == "sequence" and short_seq.sequence_raw == b"\x00\x01"
    assert short_seq.error.key.endswith("/payment-sequence-key")


def test_walk_after_a_checkpoint_skips_up_to_and_including_it():
    assert [e.seq for e in walk_payment_index(_store(), after=0)] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.seq for e in walk_payment_index(_store(), after=5)] == [6, 7]
    assert list(walk_payment_index(DictBucket({}))) == []


class _CountingBucket(DictBucket):
    """Counts how many keys a lookup reads: a full hash must read none."""

    def __init__(self, tree):
        super().__init__(tree)
        self.read = 0

    def items(self):
        for kv in super().items():
            self.read += 1
            yield kv


def test_find_payments_full_hash_is_a_direct_lookup():
    rb = _CountingBucket({_h(n): {} for n in range(1, 200)} | {b"payments-tombstone": b"1"})
    assert find_payments(rb, _h(150).hex()) == [_h(150)]
    assert find_payments(rb, _h(150).hex().upper()) == [_h(150)]
    assert find_payments(rb, _h(250).hex()) == []
    assert rb.read == 0


def test_find_payments_prefix_stops_past_its_range_and_at_two_matches():
    rb = _CountingBucket({_h(n): {} for n in range(1, 200)})
    assert find_payments(rb, "0a0a") == [_h(10)]
    assert rb.read == 11  # keys 01..0a, then 0b ends the range
    rb.read = 0
    tree = {bytes([0x42, n]) + bytes(30): {} for n in range(50)}
    rb = _CountingBucket(tree)
    assert len(find_payments(rb, "42")) == 2
    assert rb.read == 2
    assert find_payments(None, "42") == []
    # a value (not a bucket) under the root never matches
    assert find_payments(DictBucket({b"\x42" * 32: b"1"}), "42") == []


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payments())
def test_peek_agrees_with_the_full_decode(p):
    peek = peek_payment(DictBucket(payment_to_kv(p)))
    assert peek.status == decide_status(p)
    assert peek.attempts == len(p.htlcs)
    assert peek.hops == sum(len(h.route.hops) for h in p.htlcs)
    assert peek.value_bytes > 0
