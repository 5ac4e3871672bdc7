"""The edge profile holds every case of spec §4-§5, checked on the *decoded* store
(and on raw bytes where the case is about the encoding), never on builder flags."""

from __future__ import annotations

import hashlib

import pytest

from migwizard.core.codec import (
    FAILURE_CODES,
    DecodeError,
    decide_status,
    encode_failure_message,
    fetch_payment,
)
from migwizard.core.codec.keys import PAYMENT_HTLCS_BUCKET, PAYMENTS_INDEX_BUCKET, PAYMENTS_ROOT_BUCKET
from migwizard.core.codec.model import KEYSEND_PREIMAGE_TYPE, MIN_CUSTOM_RECORDS_TLV_TYPE, PaymentStatus
from migwizard.core.generate import Builder, corrupt_cases, generate_store, iter_profile
from migwizard.core.kv import LmdbStore


@pytest.fixture(scope="module")
def edge(edge_store, read_all):
    path, result = edge_store
    payments = read_all(path)
    raw_ai = {}
    with LmdbStore.open(path, readonly=True) as store, store.read() as root:
        pr = root.bucket(PAYMENTS_ROOT_BUCKET)
        for p in payments:
            hb = pr.bucket(p.identifier).bucket(PAYMENT_HTLCS_BUCKET)
            if hb is not None:
                for k, v in hb.items():
                    if k.startswith(b"ai"):
                        raw_ai[(p.identifier, int.from_bytes(k[-8:], "big"))] = v
        index = dict(root.bucket(PAYMENTS_INDEX_BUCKET).items())
    return payments, raw_ai, index, result


def _htlcs(payments):
    return [(p, h) for p in payments for h in p.htlcs]


def _hops(payments):
    return [hop for p in payments for h in p.htlcs for hop in h.route.hops]


def _fails(payments):
    return [h.failure for p in payments for h in p.htlcs if h.failure is not None]


def _dups(payments):
    return [d for p in payments for d in p.duplicates]


CASES = {
    # duplicates (§1.5, §4.8, §5 tests 2/5/8)
    "dup_settle32": lambda P, A: any(d.settle_raw is not None and len(d.settle_raw) == 32 for d in _dups(P)),
    "dup_settle40": lambda P, A: any(d.settle_raw is not None and len(d.settle_raw) == 40 for d in _dups(P)),
    "dup_fail": lambda P, A: any(d.fail_raw for d in _dups(P)),
    "dup_unresolved_with_attempt": lambda P, A: any(
        d.settle_raw is None and not d.fail_raw and d.attempt_raw for d in _dups(P)
    ),
    "dup_unresolved_without_attempt": lambda P, A: any(
        d.settle_raw is None and not d.fail_raw and d.attempt_raw is None for d in _dups(P)
    ),
    "dup_settled_without_attempt": lambda P, A: any(d.settle_raw and d.attempt_raw is None for d in _dups(P)),
    "dup_seconds": lambda P, A: _dups(P) and all(d.creation_time % 1_000_000_000 == 0 for d in _dups(P)),
    "dup_epoch_zero": lambda P, A: any(d.creation_time == 0 for d in _dups(P)),
    "dup_preimage_matches_hash": lambda P, A: all(
        hashlib.sha256(d.settle_raw[:32]).digest() == d.payment_hash for d in _dups(P) if d.settle_raw
    ),
    # legacy attempts (§4.6, §5 tests 6/7/20)
    "nil_hash_zero_id": lambda P, A: any(h.hash is None and h.attempt_id == 0 for _, h in _htlcs(P)),
    "nil_hash_real_id": lambda P, A: any(h.hash is None and h.attempt_id != 0 for _, h in _htlcs(P)),
    "zero_id_settled": lambda P, A: any(h.attempt_id == 0 and h.settle for _, h in _htlcs(P)),
    "zero_id_failed": lambda P, A: any(h.attempt_id == 0 and h.failure for _, h in _htlcs(P)),
    "zero_id_unresolved": lambda P, A: any(
        h.attempt_id == 0 and not h.settle and not h.failure for _, h in _htlcs(P)
    ),
    "zero_attempt_time": lambda P, A: any(h.attempt_time is None for _, h in _htlcs(P)),
    "zero_settle_time": lambda P, A: any(h.settle and h.settle.settle_time is None for _, h in _htlcs(P)),
    "m13_synthetic_fail": lambda P, A: any(
        f.fail_time is None and f.message is None and f.reason == 0 and f.failure_source_index == 0 for f in _fails(P)
    ),
    "legacy_payload": lambda P, A: any(hop.legacy_payload for hop in _hops(P)),
    # statuses (§2.10)
    "inflight": lambda P, A: any(
        decide_status(p) == PaymentStatus.IN_FLIGHT and any(h.attempt_id and not h.settle and not h.failure for h in p.htlcs)
        for p in P
    ),
    "inflight_partial_settle": lambda P, A: any(
        decide_status(p) == PaymentStatus.IN_FLIGHT and any(h.settle for h in p.htlcs) for p in P
    ),
    "retryable_all_failed": lambda P, A: any(
        p.htlcs and all(h.failure for h in p.htlcs) and p.failure_reason is None for p in P
    ),
    "initiated_no_bucket": lambda P, A: any(decide_status(p) == PaymentStatus.INITIATED and not p.has_htlc_bucket for p in P),
    "initiated_empty_bucket": lambda P, A: any(not p.htlcs and p.has_htlc_bucket and p.failure_reason is None for p in P),
    "failed_no_htlc_bucket": lambda P, A: any(p.failure_reason is not None and not p.has_htlc_bucket for p in P),
    "fail_reason_0_timeout": lambda P, A: any(p.failure_reason == 0 for p in P),
    "every_fail_reason": lambda P, A: {p.failure_reason for p in P} >= {0, 1, 2, 3, 4, 5},
    "settle_and_fail": lambda P, A: any(h.settle and h.failure for _, h in _htlcs(P)),
    # hop records (§2.5, §5 tests 9-18)
    "mpp_acceptance_addr": lambda P, A: any(
        hop.mpp and hop.mpp.payment_addr == b"test_mpp_payment_address_32".ljust(32, b"\0") and hop.mpp.total_msat == 50000
        for hop in _hops(P)
    ),
    "mpp_multi_shard": lambda P, A: any(sum(1 for h in p.htlcs if h.settle and h.route.hops[-1].mpp) > 1 for p in P),
    "amp_child0": lambda P, A: any(hop.amp and hop.amp.child_index == 0 for hop in _hops(P)),
    "amp_child_high": lambda P, A: any(hop.amp and hop.amp.child_index >= 2**31 for hop in _hops(P)),
    "amp_identifier_is_set_id": lambda P, A: any(
        h.route.hops[-1].amp and h.route.hops[-1].amp.set_id == p.identifier and h.hash != p.identifier
        for p, h in _htlcs(P)
    ),
    "blinded": lambda P, A: any(hop.encrypted_data and hop.blinding_point and hop.total_amt_msat for hop in _hops(P)),
    "blinded_path_multi": lambda P, A: any(
        sum(1 for hop in h.route.hops if hop.encrypted_data) >= 3 for _, h in _htlcs(P)
    ),
    "blinding_point_65": lambda P, A: any(hop.blinding_point and len(hop.blinding_point) == 65 for hop in _hops(P)),
    "orphaned_total_nil_ed": lambda P, A: any(
        hop.total_amt_msat and hop.encrypted_data is None and hop.blinding_point is None for hop in _hops(P)
    ),
    "orphaned_total_empty_ed": lambda P, A: any(
        hop.total_amt_msat and hop.encrypted_data == b"" and hop.blinding_point is None for hop in _hops(P)
    ),
    "custom_payment_level": lambda P, A: any(p.info.first_hop_custom_records for p in P),
    "custom_attempt_level": lambda P, A: any(h.route.first_hop_wire_custom_records for _, h in _htlcs(P)),
    "custom_hop_level": lambda P, A: any(
        any(t >= MIN_CUSTOM_RECORDS_TLV_TYPE for t in hop.custom_records) for hop in _hops(P)
    ),
    "first_hop_amount": lambda P, A: any(h.route.first_hop_amount for _, h in _htlcs(P)),
    "metadata_empty": lambda P, A: any(hop.metadata == b"" for hop in _hops(P)),
    "metadata_nonempty": lambda P, A: any(hop.metadata for hop in _hops(P)),
    "keysend": lambda P, A: any(
        not p.info.payment_request
        and hashlib.sha256(h.route.hops[-1].custom_records.get(KEYSEND_PREIMAGE_TYPE, b"")).digest() == p.identifier
        for p, h in _htlcs(P)
    ),
    "payreq_empty": lambda P, A: any(not p.info.payment_request for p in P),
    "payreq_bolt11": lambda P, A: any(p.info.payment_request.startswith(b"lnbc") and len(p.info.payment_request) > 100 for p in P),
    "timelock_int32_wrap": lambda P, A: any(h.route.total_time_lock >= 2**31 for _, h in _htlcs(P)),
    # failures (§2.7, §4.5)
    "every_failure_code": lambda P, A: {f.message.code for f in _fails(P) if f.message} >= set(FAILURE_CODES),
    "fail_without_message": lambda P, A: {f.reason for f in _fails(P) if f.message is None and not f.message_dropped} >= {0, 1, 2},
    "tempchan_no_update": lambda P, A: any(f.message and f.message.code == 0x1007 and f.message.update is None for f in _fails(P)),
    "update_htlc_max": lambda P, A: any(f.message and f.message.update and f.message.update.message_flags & 1 for f in _fails(P)),
    "update_no_htlc_max": lambda P, A: any(
        f.message and f.message.update and not f.message.update.message_flags & 1 for f in _fails(P)
    ),
    "update_inbound_fee": lambda P, A: any(
        f.message and f.message.update and f.message.update.inbound_fee is not None for f in _fails(P)
    ),
    "incorrect_details_no_amount_height": lambda P, A: any(
        f.message and f.message.code == 0x400F and f.message.amount_msat is None and f.message.height is None
        and encode_failure_message(f.message) != f.raw_message
        for f in _fails(P)
    ),
    "update_unknown_tlv_dropped": lambda P, A: any(
        f.message and f.message.update and len(encode_failure_message(f.message)) < len(f.raw_message)
        and f.raw_message[4:6] == b"\x01\x02"
        for f in _fails(P)
    ),
    "update_without_type_prefix": lambda P, A: any(
        f.message and f.message.update and len(encode_failure_message(f.message)) == len(f.raw_message) + 2
        for f in _fails(P)
    ),
    "update_bad_extra_tlv_tolerated": lambda P, A: any(f.message is None and f.message_dropped for f in _fails(P)),
    "failure_trailing_bytes": lambda P, A: any(
        f.message and f.message.code == 0x400A and len(f.raw_message) > 2 for f in _fails(P)
    ),
    # attempt encodings (§2.4)
    "ai_without_tlv": lambda P, A: any(
        h.hash is not None and A[(p.identifier, h.attempt_id)].endswith(h.hash) for p, h in _htlcs(P)
    ),
    "ai_first_hop_amount_zero_tlv": lambda P, A: any(
        h.hash is not None and A[(p.identifier, h.attempt_id)].endswith(h.hash + b"\x00\x01\x00") for p, h in _htlcs(P)
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_edge_case_present(edge, case):
    payments, raw_ai, _index, _result = edge
    assert CASES[case](payments, raw_ai), case


def test_edge_statuses_and_index(edge):
    payments, _raw, index, result = edge
    assert {decide_status(p) for p in payments} == set(PaymentStatus)
    # every payment and every duplicate has an index entry pointing at the main hash
    seqs = {p.sequence_num: p.identifier for p in payments}
    for p in payments:
        for d in p.duplicates:
            seqs[d.sequence_num] = p.identifier
    assert {int.from_bytes(k, "big"): v[2:] for k, v in index.items()} == seqs
    assert result.index_entries == len(index) > result.payments
    # N=80 is more than the edge set: mixed fills up to N
    assert result.payments == 80


def test_edge_readback_equals_generated(edge):
    payments, _raw, _index, result = edge
    expected = {g.payment.identifier: g.payment for g in iter_profile(Builder(11), "edge", 80)}
    assert {p.identifier: p for p in payments} == expected


def test_edge_set_is_emitted_whatever_n(tmp_path):
    r = generate_store(tmp_path / "e", payments=1, profile="edge")
    assert r.payments > 40


REJECT_EXPECT = {
    # decode-level: fetch_payment itself refuses (code of the DecodeError)
    "sent-exceeds": "sent_exceeds_total",
    "unknown-failure-code": "unknown_failure_code",
    "truncated-failure": "truncated",
    "zero-hops": "no_hops",
    "duplicate-settle-and-fail": "duplicate_settle_and_fail",
    "missing-sequence": "no_sequence",
    "settle-without-attempt": "no_attempt_info",
    "duplicate-missing-creation": "no_creation_info",
    "creation-custom-below-min": "custom_record_type",
}


@pytest.mark.parametrize("name", sorted(corrupt_cases()))
def test_reject_profiles(tmp_path, name):
    path = tmp_path / name
    r = generate_store(path, payments=3, profile=f"reject-{name}")
    assert r.payments == 3
    bad = r.cases  # the reject case's identifier, then check the decoded store ourselves
    (label,) = [k for k in bad if k.startswith("reject:")]
    (ident,) = bad[label]
    with LmdbStore.open(path, readonly=True) as store, store.read() as root:
        pr = root.bucket(PAYMENTS_ROOT_BUCKET)
        others = [k for k, _ in pr.items() if k != ident]
        for k in others:  # the fill is valid
            fetch_payment(pr.bucket(k), payment_id=k)
        if name in REJECT_EXPECT:
            with pytest.raises(DecodeError) as ei:
                fetch_payment(pr.bucket(ident), payment_id=ident)
            assert ei.value.code == REJECT_EXPECT[name], ei.value
            assert ei.value.payment == ident
        else:
            # migration-level rejections: decodes, but the data breaks LND's rules
            p = fetch_payment(pr.bucket(ident), payment_id=ident)
            hops = [hop for h in p.htlcs for hop in h.route.hops]
            if name == "blinding":
                assert any(hop.blinding_point and not hop.encrypted_data for hop in hops)
                assert all(h.hash != p.identifier for h in p.htlcs)
            elif name == "hop-custom-below-min":
                assert any(t < MIN_CUSTOM_RECORDS_TLV_TYPE for hop in hops for t in hop.custom_records)
            elif name == "unindexed-payment":
                index = root.bucket(PAYMENTS_INDEX_BUCKET)
                assert p.sequence_num.to_bytes(8, "big") not in dict(index.items())
                assert r.index_entries == 2
            else:  # pragma: no cover
                raise AssertionError(f"no expectation for {name}")
