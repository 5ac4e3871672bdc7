"""Golden vectors: real regtest records (spec §8.1-§8.2), LND's migration-13
vectors, and the constructed encodings of §8.3."""

from __future__ import annotations

import json

import pytest

from migwizard.core.codec import (
    DictBucket,
    decide_status,
    decode_attempt_info,
    decode_creation_info,
    decode_fail_info,
    decode_index_entry,
    decode_legacy_creation_info,
    decode_settle_info,
    encode_attempt_info,
    encode_creation_info,
    encode_fail_info,
    encode_hop,
    encode_index_entry,
    encode_legacy_creation_info,
    encode_settle_info,
    fetch_payment,
    payment_to_kv,
)
from migwizard.core.codec.model import AMPRecord, FailureReason, Hop, MPPRecord, PaymentStatus
from migwizard.core.codec.primitives import w_time

from .golden import (
    CAROL_AI_1,
    CAROL_CREATION_INFO,
    CAROL_INDEX_VALUE,
    CAROL_SI_1,
    CAROL_TREE,
    DAVE_TREE,
    HASH,
    PAYREQ,
    bbolt_reader,
    fixture_path,
)


def test_carol_creation_info():
    info = decode_creation_info(CAROL_CREATION_INFO)
    assert info.payment_identifier == HASH
    assert info.value == 123000
    assert info.creation_time == 1722824281891209181
    assert info.payment_request == PAYREQ and len(PAYREQ) == 260
    assert info.first_hop_custom_records == {}
    assert encode_creation_info(info) == CAROL_CREATION_INFO


def test_carol_attempt():
    a = decode_attempt_info(CAROL_AI_1, 1)
    assert a.attempt_id == 1
    assert a.session_key.hex().startswith("4e6774ff") and a.session_key.hex().endswith("b68d")
    assert a.route.total_time_lock == 1373 and a.route.total_amount == 123000
    assert a.route.source_pub_key.hex().startswith("0354187e") and a.route.source_pub_key.hex().endswith("b8ac")
    (hop,) = a.route.hops
    assert hop.pub_key.hex().startswith("02e69c87") and hop.pub_key.hex().endswith("0b62")
    assert hop.channel_id == 234195976781824 == (213 << 40) | (1 << 16)
    assert hop.outgoing_time_lock == 1373 and hop.amt_to_forward == 123000
    assert not hop.legacy_payload
    assert hop.mpp == MPPRecord(bytes.fromhex("55e2ecc3080328280b79f7c8b108d28e147dd0903e01de069d78acb408803e90"), 123000)
    assert hop.custom_records == {} and hop.metadata is None and hop.blinding_point is None
    assert a.attempt_time == 1722824281907038272
    assert a.hash == HASH
    assert a.route.first_hop_amount == 0 and a.route.first_hop_wire_custom_records == {}
    assert encode_attempt_info(a) == CAROL_AI_1  # no TLV after the hash, like the original


def test_carol_settle():
    s = decode_settle_info(CAROL_SI_1)
    assert s.preimage.hex().startswith("9b6ae739") and s.settle_time == 1722824282058851465
    assert encode_settle_info(s) == CAROL_SI_1


def test_carol_index():
    assert decode_index_entry(CAROL_INDEX_VALUE) == HASH
    assert encode_index_entry(HASH) == CAROL_INDEX_VALUE


def test_carol_payment_from_tree():
    p = fetch_payment(DictBucket(CAROL_TREE), payment_id=HASH, key_prefix="payments-root-bucket")
    assert p.sequence_num == 3
    assert decide_status(p) == PaymentStatus.SUCCEEDED
    assert p.failure_reason is None and len(p.htlcs) == 1 and p.htlcs[0].settle is not None
    assert payment_to_kv(p) == CAROL_TREE


def test_dave_payment_from_tree():
    p = fetch_payment(DictBucket(DAVE_TREE), payment_id=HASH, key_prefix="payments-root-bucket")
    assert p.sequence_num == 1
    assert p.info.creation_time == 1722824097987228588
    assert p.info.value == 123000
    assert p.failure_reason == FailureReason.INSUFFICIENT_BALANCE
    assert p.htlcs == [] and not p.has_htlc_bucket
    assert decide_status(p) == PaymentStatus.FAILED
    assert payment_to_kv(p) == DAVE_TREE


@pytest.mark.fixtures
@pytest.mark.parametrize("node,tree", [("carol", CAROL_TREE), ("dave", DAVE_TREE)])
def test_real_bbolt_payment(node, tree):
    path = fixture_path(f"lnd-regtest-{node}-channel.db")
    reader_cls = bbolt_reader()
    with reader_cls(path) as reader, reader.read() as root:
        payments = root.bucket(b"payments-root-bucket")
        (key,) = [k for k, _ in payments.items()]
        assert key == HASH
        p = fetch_payment(payments.bucket(key), payment_id=key, key_prefix="payments-root-bucket")
        assert p == fetch_payment(DictBucket(tree), payment_id=HASH, key_prefix="payments-root-bucket")
        assert payment_to_kv(p) == tree
        index = root.bucket(b"payments-index-bucket")
        for _k, v in index.items():
            assert decode_index_entry(v) == HASH


@pytest.mark.fixtures
def test_real_alice_payments_decode_and_reencode():
    path = fixture_path("lnd-regtest-alice-channel.db")
    reader_cls = bbolt_reader()
    with reader_cls(path) as reader, reader.read() as root:
        payments = root.bucket(b"payments-root-bucket")
        seqs = []
        for key, _ in payments.items():
            sub = payments.bucket(key)
            p = fetch_payment(sub, payment_id=key, key_prefix="payments-root-bucket")
            assert decide_status(p) == PaymentStatus.SUCCEEDED
            seqs.append(p.sequence_num)
            for a in p.htlcs:
                raw = sub.bucket(b"payment-htlcs-bucket").get(b"ai" + a.attempt_id.to_bytes(8, "big"))
                assert encode_attempt_info(a) == raw
        assert sorted(seqs) == [1, 4, 5, 6, 7, 1001, 1002, 2001]


def _migration13_vectors():
    path = fixture_path("lnd-migration13-vectors.json")
    return json.loads(path.read_text())["payments"]


@pytest.mark.fixtures
def test_migration13_vectors_nil_hash():
    statuses = []
    for v in _migration13_vectors():
        h = v["htlcs"]
        aid = int(h["attempt_id"], 16)
        htlcs = {k.encode() + aid.to_bytes(8, "big"): bytes.fromhex(h[k]) for k in ("ai", "si", "fi") if k in h}
        tree = {
            b"payment-sequence-key": bytes.fromhex(v["sequence"]),
            b"payment-creation-info": bytes.fromhex(v["payment-creation-info"]),
            b"payment-htlcs-bucket": htlcs,
        }
        if "payment-fail-info" in v:
            tree[b"payment-fail-info"] = bytes.fromhex(v["payment-fail-info"])
        p = fetch_payment(DictBucket(tree), payment_id=bytes.fromhex(v["hash"]), key_prefix="payments-root-bucket")
        (a,) = p.htlcs
        assert a.attempt_id == aid
        assert a.hash is None and a.ignored_tail == b""  # nil-hash fallback case
        assert a.attempt_time is None
        assert p.info.creation_time is not None and p.info.creation_time > 10**18
        if a.settle is not None:
            assert a.settle.settle_time is None
        if a.failure is not None:
            assert a.failure.fail_time is None and a.failure.message is None
            assert a.failure.reason == 0 and a.failure.failure_source_index == 0
        statuses.append(decide_status(p))
        assert payment_to_kv(p) == tree
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED, PaymentStatus.IN_FLIGHT]


# -- §8.3 constructed encodings ----------------------------------------------

PUB = bytes([2]) + bytes(range(32))


def test_first_hop_tlv_vector():
    a = decode_attempt_info(CAROL_AI_1, 1)
    a.route.first_hop_amount = 1000
    a.route.first_hop_wire_custom_records = {65536: b"ab"}
    enc = encode_attempt_info(a)
    tail = bytes.fromhex("0003fd03e8" "fe00010000" "02" "6162")
    assert enc == CAROL_AI_1 + tail
    b = decode_attempt_info(enc, 1)
    assert b.route.first_hop_amount == 1000 and b.route.first_hop_wire_custom_records == {65536: b"ab"}
    # Today's writer always emits the amount, even when it is 0.
    a.route.first_hop_amount, a.route.first_hop_wire_custom_records, a.tlv_absent = 0, {}, False
    assert encode_attempt_info(a) == CAROL_AI_1 + bytes.fromhex("000100")


def test_migration13_fail_info_vector():
    raw = bytes.fromhex("0000000000000000" "00" "00" "00000000")
    f = decode_fail_info(raw)
    assert (f.fail_time, f.message, f.reason, f.failure_source_index, f.message_dropped) == (None, None, 0, 0, False)
    assert encode_fail_info(f) == raw


def _hop_prefix(flag: int) -> bytes:
    return b"\x21" + PUB + (7).to_bytes(8, "big") + (500).to_bytes(4, "big") + (1000).to_bytes(8, "big") + bytes([flag])


def test_plain_and_legacy_hop_vectors():
    plain = Hop(pub_key=PUB, channel_id=7, outgoing_time_lock=500, amt_to_forward=1000)
    assert encode_hop(plain) == _hop_prefix(0) + bytes(4)
    legacy = Hop(pub_key=PUB, channel_id=7, outgoing_time_lock=500, amt_to_forward=1000, legacy_payload=True,
                 custom_records={70000: b"x"})
    assert encode_hop(legacy) == _hop_prefix(1) + bytes(4)  # the writer drops a legacy hop's records


def test_amp_child_index_vector():
    hop = Hop(pub_key=PUB, channel_id=7, outgoing_time_lock=500, amt_to_forward=1000,
              amp=AMPRecord(root_share=bytes(32), set_id=b"\x11" * 32, child_index=0x80000001))
    enc = encode_hop(hop)
    assert enc.endswith(bytes(32) + b"\x11" * 32 + bytes.fromhex("80000001"))
    assert enc[len(_hop_prefix(0)):].startswith(bytes.fromhex("00000001" "000000000000000e" "44"))


def test_time_vectors():
    ns = 1704110400 * 10**9  # 2024-01-01T12:00:00Z
    assert w_time(ns).hex() == "17a637614a0c8000"
    dup = encode_legacy_creation_info(HASH, 5, ns, b"")
    assert dup[40:48].hex() == "000000006592a940"
    assert decode_legacy_creation_info(dup) == (HASH, 5, ns, b"")
    # 0 seconds is 1970 (0 ns), not the zero time.
    assert decode_legacy_creation_info(HASH + bytes(8) + bytes(8) + bytes(4))[2] == 0
