"""Generated payments with every feature survive payment_to_kv -> fetch_payment."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from migwizard.core.codec import (
    DictBucket,
    decode_attempt_info,
    decode_fail_info,
    decode_hop,
    encode_attempt_info,
    encode_fail_info,
    encode_hop,
    fetch_payment,
    payment_to_kv,
)
from migwizard.core.codec.primitives import Reader

from .strategies import attempts, fail_infos, hops, payments


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payments())
def test_payment_round_trip(p):
    tree = payment_to_kv(p)
    back = fetch_payment(DictBucket(tree), payment_id=p.info.payment_identifier, key_prefix="payments-root-bucket")
    assert back == p
    assert payment_to_kv(back) == tree


@settings(max_examples=150, deadline=None)
@given(hops())
def test_hop_bytes_round_trip_in_stored_order(hop):
    raw = encode_hop(hop)
    r = Reader(raw)
    back = decode_hop(r)
    assert r.at_end()
    assert back == hop
    assert encode_hop(back) == raw


@settings(max_examples=100, deadline=None)
@given(attempts())
def test_attempt_bytes_round_trip(a):
    raw = encode_attempt_info(a)
    back = decode_attempt_info(raw, a.attempt_id)
    assert back.route == a.route and back.hash == a.hash and back.session_key == a.session_key
    assert encode_attempt_info(back) == raw


@settings(max_examples=150, deadline=None)
@given(fail_infos())
def test_fail_info_round_trip(f):
    raw = encode_fail_info(f)
    back = decode_fail_info(raw)
    assert back == f
    assert encode_fail_info(back) == raw
