"""fetch_payment over a bucket: structure rules, error context, status, duplicates."""

from __future__ import annotations

import copy

import pytest

from migwizard.core.codec import (
    DecodeError,
    DictBucket,
    decide_status,
    encode_attempt_info,
    encode_fail_info,
    encode_settle_info,
    fetch_payment,
    parse_duplicate_settle,
    payment_to_kv,
)
from migwizard.core.codec.model import (
    DuplicatePayment,
    HTLCFailInfo,
    HTLCSettleInfo,
    PaymentStatus,
)
from migwizard.core.codec.primitives import w_time

from .golden import CAROL_AI_1, CAROL_SI_1, CAROL_TREE, HASH


def fetch(tree):
    return fetch_payment(DictBucket(tree), payment_id=HASH, key_prefix="payments-root-bucket")


def carol():
    return copy.deepcopy(CAROL_TREE)


def K(prefix: bytes, aid: int) -> bytes:
    return prefix + aid.to_bytes(8, "big")


def test_missing_sequence():
    t = carol()
    del t[b"payment-sequence-key"]
    with pytest.raises(DecodeError) as e:
        fetch(t)
    assert e.value.code == "no_sequence" and e.value.payment == HASH
    assert e.value.key == f"payments-root-bucket/{HASH.hex()}/payment-sequence-key"


def test_missing_creation_info():
    t = carol()
    del t[b"payment-creation-info"]
    with pytest.raises(DecodeError) as e:
        fetch(t)
    assert e.value.code == "no_creation_info"


def test_truncated_attempt_error_names_key_and_offset():
    t = carol()
    t[b"payment-htlcs-bucket"][K(b"ai", 1)] = CAROL_AI_1[:100]
    with pytest.raises(DecodeError) as e:
        fetch(t)
    err = e.value
    assert err.payment == HASH
    assert err.key == f"payments-root-bucket/{HASH.hex()}/payment-htlcs-bucket/ai" + "0000000000000001"
    assert 0 < err.offset <= 100
    assert HASH.hex() in str(err) and "byte offset" in str(err)


def test_unknown_htlc_key_prefix():
    t = carol()
    t[b"payment-htlcs-bucket"][K(b"zz", 1)] = b""
    with pytest.raises(DecodeError) as e:
        fetch(t)
    assert e.value.code == "unknown_htlc_key"


def test_short_htlc_key():
    t = carol()
    t[b"payment-htlcs-bucket"][b"ai1"] = CAROL_AI_1
    with pytest.raises(DecodeError) as e:
        fetch(t)
    assert e.value.code == "bad_htlc_key"


@pytest.mark.parametrize("prefix", [b"si", b"fi"])
def test_resolution_without_attempt(prefix):
    t = carol()
    value = CAROL_SI_1 if prefix == b"si" else bytes(14)
    t[b"payment-htlcs-bucket"][K(prefix, 2)] = value
    with pytest.raises(DecodeError) as e:
        fetch(t)
    assert e.value.code == "no_attempt_info"


def test_attempts_sorted_by_id_and_sub_bucket_value_rejected():
    t = carol()
    hb = t[b"payment-htlcs-bucket"]
    del hb[K(b"si", 1)]
    hb[K(b"ai", 300)] = CAROL_AI_1
    hb[K(b"fi", 300)] = bytes(14)
    hb[K(b"fi", 1)] = bytes(14)
    p = fetch(t)
    assert [a.attempt_id for a in p.htlcs] == [1, 300]
    hb[K(b"si", 5)] = {}  # a sub-bucket where a value belongs reads as nil
    with pytest.raises(DecodeError):
        fetch(t)


def test_empty_fail_reason_rejected():
    t = carol()
    t[b"payment-fail-info"] = b""
    with pytest.raises(DecodeError):
        fetch(t)


def test_sent_exceeds_total():
    t = carol()
    # creation value 123000 == final hop amount; lower the value by one.
    ci = bytearray(t[b"payment-creation-info"])
    ci[32:40] = (122999).to_bytes(8, "big")
    t[b"payment-creation-info"] = bytes(ci)
    with pytest.raises(DecodeError) as e:
        fetch(t)
    assert e.value.code == "sent_exceeds_total" and e.value.payment == HASH
    # A failed HTLC does not count.
    t[b"payment-htlcs-bucket"][K(b"fi", 1)] = bytes(14)
    assert decide_status(fetch(t)) == PaymentStatus.IN_FLIGHT


def test_zero_hop_attempts():
    p = fetch(carol())
    a = p.htlcs[0]
    a.route.hops = []
    a.settle = None
    t = payment_to_kv(p)
    with pytest.raises(DecodeError) as e:
        fetch(t)
    assert e.value.code == "no_hops"
    a.failure = HTLCFailInfo(fail_time=None, message=None, reason=0, failure_source_index=0)
    assert fetch(payment_to_kv(p)).htlcs[0].route.hops == []


def test_status_order():
    p = fetch(carol())
    assert decide_status(p) == PaymentStatus.SUCCEEDED
    a = p.htlcs[0]
    a.failure = HTLCFailInfo(fail_time=1, message=None, reason=1, failure_source_index=0)
    assert decide_status(p) == PaymentStatus.IN_FLIGHT  # settled+failed counts as failed
    p.failure_reason = 0
    assert decide_status(p) == PaymentStatus.FAILED  # timeout (0) is a real reason
    a.failure = None
    a.settle = None
    assert decide_status(p) == PaymentStatus.IN_FLIGHT
    p.htlcs = []
    assert decide_status(p) == PaymentStatus.FAILED
    p.failure_reason = None
    assert decide_status(p) == PaymentStatus.INITIATED


def _dup_tree(extra=None):
    ci = HASH + (5).to_bytes(8, "big") + (1_600_000_000).to_bytes(8, "big") + (3).to_bytes(4, "big") + b"abc"
    d = {b"payment-creation-info": ci, b"payment-sequence-key": (42).to_bytes(8, "big")}
    d.update(extra or {})
    return d


def test_duplicates():
    t = carol()
    t[b"payment-duplicate-bucket"] = {
        (42).to_bytes(8, "big"): _dup_tree({b"payment-settle-info": b"\x01" * 32}),
        (43).to_bytes(8, "big"): _dup_tree({b"payment-settle-info": CAROL_SI_1}),
        (44).to_bytes(8, "big"): _dup_tree({b"payment-fail-info": b"\x01", b"payment-attempt-info": b"zz"}),
        b"short": _dup_tree(),  # wrong key length: skipped
        (45).to_bytes(8, "big"): b"not a bucket",  # skipped
    }
    p = fetch(t)
    assert [d.sequence_num for d in p.duplicates] == [42, 43, 44]
    d0 = p.duplicates[0]
    assert d0 == DuplicatePayment(
        sequence_num=42, payment_hash=HASH, value=5, creation_time=1_600_000_000 * 10**9, payment_request=b"abc",
        settle_raw=b"\x01" * 32, stored_sequence=(42).to_bytes(8, "big"),
    )
    assert parse_duplicate_settle(d0.settle_raw) == (b"\x01" * 32, None)
    assert parse_duplicate_settle(p.duplicates[1].settle_raw) == (CAROL_SI_1[:32], 1722824282058851465)
    assert p.duplicates[2].fail_raw == b"\x01" and p.duplicates[2].attempt_raw == b"zz"


@pytest.mark.parametrize("extra,code", [
    ({b"payment-settle-info": b"\x01" * 32, b"payment-fail-info": b"\x02"}, "duplicate_settle_and_fail"),
    ({b"payment-settle-info": b"\x01" * 35}, "truncated"),
])
def test_bad_duplicates(extra, code):
    t = carol()
    t[b"payment-duplicate-bucket"] = {(42).to_bytes(8, "big"): _dup_tree(extra)}
    with pytest.raises(DecodeError) as e:
        fetch(t)
    assert e.value.code == code
    assert "payment-duplicate-bucket/000000000000002a" in e.value.key


def test_duplicate_settle_with_empty_fail_is_fine_and_missing_creation_info_is_not():
    t = carol()
    t[b"payment-duplicate-bucket"] = {(42).to_bytes(8, "big"): _dup_tree({b"payment-settle-info": bytes(32), b"payment-fail-info": b""})}
    assert len(fetch(t).duplicates) == 1
    t[b"payment-duplicate-bucket"] = {(42).to_bytes(8, "big"): {b"payment-settle-info": bytes(32)}}
    with pytest.raises(DecodeError) as e:
        fetch(t)
    assert e.value.code == "no_creation_info"


def test_round_trip_with_resolutions():
    p = fetch(carol())
    a = p.htlcs[0]
    a.failure = HTLCFailInfo(fail_time=5, message=None, reason=2, failure_source_index=1)
    t = payment_to_kv(p)
    assert t[b"payment-htlcs-bucket"][K(b"fi", 1)] == encode_fail_info(a.failure)
    assert t[b"payment-htlcs-bucket"][K(b"si", 1)] == encode_settle_info(a.settle)
    assert t[b"payment-htlcs-bucket"][K(b"ai", 1)] == encode_attempt_info(a)
    assert fetch(t) == p
    assert isinstance(a.settle, HTLCSettleInfo) and w_time(a.settle.settle_time) == CAROL_SI_1[32:]
