"""Pure builder behaviour: allocators, keys, invoices, the mixed status mix."""

from __future__ import annotations

import hashlib
from collections import Counter

from migwizard.core.codec import check_sent_not_exceeding_total, decide_status
from migwizard.core.generate import (
    MIXED_STATUS_RANGES,
    AttemptIdAllocator,
    Builder,
    PaymentSeqAllocator,
    iter_profile,
    scid,
    scid_parts,
)
from migwizard.core.generate import _secp, bolt11


def test_payment_seq_allocator_matches_alice_fixture():
    # alice: 1, 4..7 in the first block, then 1001, 1002 and 2001 after restarts.
    a = PaymentSeqAllocator()
    first = [a.next() for _ in range(7)]
    assert first == [1, 2, 3, 4, 5, 6, 7]
    assert a.horizon == 1000
    a.restart()
    assert [a.next(), a.next()] == [1001, 1002]
    assert a.horizon == 2000
    a.restart()
    assert a.next() == 2001 and a.horizon == 3000


def test_payment_seq_allocator_block_exhaustion_without_restart():
    a = PaymentSeqAllocator()
    seqs = [a.next() for _ in range(1001)]
    assert seqs[-2:] == [1000, 1001]
    assert a.horizon == 2000


def test_attempt_id_allocator_matches_alice_fixture():
    # alice: attempt ids 1-5, 1000, 1001, 2000 (never 0; horizon = raw + 1000).
    a = AttemptIdAllocator()
    assert [a.next() for _ in range(5)] == [1, 2, 3, 4, 5]
    assert a.horizon == 1000
    a.restart()
    assert [a.next(), a.next()] == [1000, 1001]
    a.restart()
    assert a.next() == 2000 and a.horizon == 3000
    # an unused block after a restart does not move the horizon
    a.restart()
    assert a.horizon == 3000


def test_secp_pool_points_are_valid_and_compressed():
    for k, pt in _secp.key_pool(b"nodes", 8):
        assert 0 < k < _secp.N
        pub = _secp.compress(pt)
        assert _secp.is_valid_compressed(pub)
    # k=1 is the generator
    assert _secp.compress(_secp.point_mul(1)).hex() == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    assert not _secp.is_valid_compressed(b"\x02" + b"\x00" * 31 + b"\x05")  # x=5 is not on the curve


def test_scid_layout():
    c = scid(700_123, 1234, 3)
    assert c == (700_123 << 40) | (1234 << 16) | 3
    assert scid_parts(c) == (700_123, 1234, 3)
    assert scid(213, 1, 0) == 234195976781824  # carol's channel (spec §8.1)


def test_bolt11_shape_and_checksum():
    inv = bolt11.encode_invoice(
        value_msat=123_000, timestamp=1_722_824_281, payment_hash=bytes(32), payment_secret=b"\x01" * 32,
        description="coffee", expiry=3600, min_final_cltv=80, signature=b"\x02" * 65,
    )
    s = inv.decode("ascii")
    assert s.startswith("lnbc1230n1")
    assert set(s[s.rfind("1") + 1 :]) <= set(bolt11.CHARSET)
    assert bolt11.verify_checksum(inv)
    assert bolt11.amount_hrp(100_000_000) == "1m"
    assert bolt11.amount_hrp(1_234) == "12340p"


def _mixed(n, seed=5):
    return [g.payment for g in iter_profile(Builder(seed), "mixed", n)]


def test_mixed_status_mix_in_documented_ranges():
    payments = _mixed(3000)
    counts = Counter(decide_status(p).label for p in payments)
    for label, (lo, hi) in MIXED_STATUS_RANGES.items():
        share = counts[label] / len(payments)
        assert lo <= share <= hi, (label, share)


def test_mixed_payments_are_lnd_consistent():
    payments = _mixed(1500, seed=9)
    session_keys = set()
    attempt_ids = set()
    for p in payments:
        check_sent_not_exceeding_total(p)  # never ErrSentExceedsTotal
        t_created = p.info.creation_time
        assert t_created is not None
        status = decide_status(p).label
        if status == "failed":
            assert p.failure_reason is not None
            assert all(h.failure is not None for h in p.htlcs)
        if p.info.payment_request:
            assert p.info.payment_request.startswith(b"lnbc")
            assert bolt11.verify_checksum(p.info.payment_request)
        for h in p.htlcs:
            assert h.attempt_id > 0 and h.attempt_id not in attempt_ids
            attempt_ids.add(h.attempt_id)
            assert h.session_key not in session_keys
            assert 0 < int.from_bytes(h.session_key, "big") < _secp.N
            session_keys.add(h.session_key)
            assert h.route.hops, "every generated HTLC has hops"
            assert t_created < h.attempt_time
            for res in (h.settle and h.settle.settle_time, h.failure and h.failure.fail_time):
                if res:
                    assert h.attempt_time < res
            assert _secp.is_valid_compressed(h.route.source_pub_key)
            for hop in h.route.hops:
                assert _secp.is_valid_compressed(hop.pub_key)
                block, tx, out = scid_parts(hop.channel_id)
                assert 400_000 <= block < 700_000 and tx < 3000 and out < 4
                if hop.blinding_point is not None:
                    assert _secp.is_valid_compressed(hop.blinding_point)
            assert h.route.total_amount >= h.route.hops[0].amt_to_forward >= h.route.hops[-1].amt_to_forward
            assert h.hash is not None
            if h.settle is not None:
                assert hashlib.sha256(h.settle.preimage).digest() == h.hash
            if h.route.hops[-1].amp is None:
                assert h.hash == p.identifier
    # nanosecond precision actually used
    assert any(p.info.creation_time % 1000 for p in payments)


def test_mixed_contains_the_documented_kinds():
    payments = _mixed(3000, seed=2)
    kinds = Counter()
    for p in payments:
        if not p.info.payment_request and any(5482373484 in h.route.hops[-1].custom_records for h in p.htlcs):
            kinds["keysend"] += 1
        if sum(1 for h in p.htlcs if h.settle) > 1:
            kinds["multi_shard"] += 1
        if any(h.route.hops[-1].amp for h in p.htlcs):
            kinds["amp"] += 1
        if p.info.first_hop_custom_records:
            kinds["first_hop_records"] += 1
        if any(h.failure and h.failure.message and h.failure.message.update for h in p.htlcs):
            kinds["update"] += 1
        if any(
            h.failure and h.failure.message and h.failure.message.update and h.failure.message.update.inbound_fee
            for h in p.htlcs
        ):
            kinds["inbound_fee"] += 1
        if any(h.route.hops[-1].pub_key == h.route.source_pub_key for h in p.htlcs):
            kinds["rebalance"] += 1
        if p.htlcs and all(h.route.hops[-1].mpp for h in p.htlcs if not h.route.hops[-1].amp) and p.info.payment_request:
            kinds["mpp_record"] += 1
    for k in ("keysend", "multi_shard", "amp", "first_hop_records", "update", "inbound_fee", "rebalance", "mpp_record"):
        assert kinds[k] > 0, k
    assert kinds["rebalance"] > 0.1 * len(payments)
