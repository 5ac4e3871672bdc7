"""Profile ``edge``: every case of spec §4-§5 at least once, and profile ``legacy-zero-ids``.

Case labels are listed in :mod:`.profiles`."""

from __future__ import annotations

from collections.abc import Callable

from migwizard.core.codec.attempt import encode_attempt_info
from migwizard.core.codec.keys import (
    HTLC_ATTEMPT_INFO_PREFIX,
    PAYMENT_HTLCS_BUCKET,
)
from migwizard.core.codec.model import (
    BLINDING_POINT_ONION_TYPE,
    AMPRecord,
    DuplicatePayment,
    FailureReason,
    HTLCAttempt,
    HTLCFailInfo,
    HTLCSettleInfo,
    MPPRecord,
    Payment,
    Route,
)
from migwizard.core.codec.primitives import w_u64
from migwizard.core.codec.route import encode_route

from .builders import (
    LEGACY_EPOCH_NS,
    MIXED_EPOCH_NS,
    NS,
    Builder,
    FailSpec,
    Generated,
    htlc_key,
    sha256,
)
from .edge_failures import case_failure_codes, case_noncanonical_failures, case_settle_and_fail
from .mixed import _amp_payment, _blinded_route, shuffle_record_order

# ---------------------------------------------------------------------------
# edge cases (spec §4-§5)
# ---------------------------------------------------------------------------


def _legacy_hops(route: Route) -> Route:
    for hop in route.hops:
        hop.legacy_payload = True
    return route


def _legacy_attempt_raw(attempt_id: int, session_key: bytes, route: Route) -> bytes:
    """payment-attempt-info of a migration-9 duplicate: u64 id ‖ session key ‖ route."""
    return w_u64(attempt_id) + session_key + encode_route(route)


def _m13_attempt(b: Builder, route: Route, session_key: bytes | None = None) -> HTLCAttempt:
    """A migration-13 attempt: id 0, no hash, zero attempt time."""
    return HTLCAttempt(attempt_id=0, session_key=session_key or b.session_key(), route=route,
                       attempt_time=None, hash=None)


def _dup(b: Builder, main: Payment, *, value: int, secs: int, settle=None, fail=None, attempt=False,
         payreq: bytes = b"") -> DuplicatePayment:
    seq = b.seq.next()
    attempt_raw = None
    if attempt:
        route = _legacy_hops(b.route(value, n_hops=2))
        attempt_raw = _legacy_attempt_raw(0, b.session_key(), route)
    return DuplicatePayment(
        sequence_num=seq,
        payment_hash=main.info.payment_identifier,
        value=value,
        creation_time=secs * NS,
        payment_request=payreq,
        settle_raw=settle,
        fail_raw=fail,
        attempt_raw=attempt_raw,
        stored_sequence=seq.to_bytes(8, "big"),
    )


def case_legacy_m13_settled_with_duplicates(b: Builder) -> list[Generated]:
    """Pre-MPP payment as channeldb migrations 9/13/23 left it (attempt id 0, no hash,
    legacy payload, zero attempt and settle times) with three migration-9 duplicates
    that carry legacy attempt info: 32-byte settle, fail info, no resolution."""
    value = 150_000_000
    p, pre = b.new_payment(value, payment_addr=b.bytes32())
    h = _m13_attempt(b, _legacy_hops(b.route(value, n_hops=3)))
    h.settle = HTLCSettleInfo(preimage=pre, settle_time=None)
    p.htlcs.append(h)
    base = p.info.creation_time // NS
    p.duplicates = [
        _dup(b, p, value=value + 1000, secs=base + 60, settle=pre, attempt=True, payreq=p.info.payment_request),
        _dup(b, p, value=value + 2000, secs=base + 120, fail=bytes([FailureReason.NO_ROUTE]), attempt=True),
        _dup(b, p, value=value + 3000, secs=base + 180, attempt=True),
    ]
    return [Generated(p, cases=("legacy_zero_id_settled", "legacy_nil_hash", "legacy_payload", "zero_attempt_time",
                                 "zero_settle_time", "dup_settle32", "dup_fail", "dup_unresolved_with_attempt",
                                 "dup_with_attempt_info", "dup_legacy_seconds"))]


def case_legacy_m13_failed(b: Builder) -> list[Generated]:
    """Failed legacy payment: id 0, migration 13's synthetic fail info (zero time, no
    message, reason 0, source 0) and fail reason no_route."""
    value = 20_000_000
    p, _ = b.new_payment(value, payment_addr=None)
    h = _m13_attempt(b, _legacy_hops(b.route(value, n_hops=2)))
    h.failure = HTLCFailInfo(fail_time=None, message=None, reason=0, failure_source_index=0)
    p.htlcs.append(h)
    p.failure_reason = int(FailureReason.NO_ROUTE)
    return [Generated(p, cases=("legacy_zero_id_failed", "m13_synthetic_fail_info"))]


def case_legacy_zero_unresolved(b: Builder) -> list[Generated]:
    """In-flight payment whose only attempt has the legacy id 0 (spec §5 test 7)."""
    value = 5_000_000
    p, _ = b.new_payment(value, payment_addr=None)
    p.htlcs.append(_m13_attempt(b, _legacy_hops(b.route(value, n_hops=2))))
    return [Generated(p, cases=("legacy_zero_id_unresolved", "inflight"))]


def case_nil_hash_modern(b: Builder) -> list[Generated]:
    """LND 0.10-0.11 era: real attempt id, MPP record, but no hash in the attempt (§5 test 20)."""
    value = 42_000_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    h = b.attempt(b.shard_route(value, value, addr), payment_hash=None, start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    return [Generated(p, cases=("legacy_nil_hash",))]


def case_duplicates_modern(b: Builder) -> list[Generated]:
    """§5 tests 5/8: modern main payment; duplicates with a 40-byte settle info, a fail
    info, no resolution, all without attempt info, plus one created at Unix 0."""
    value = 2_000_000
    p, pre, h = b.settled_mpp_payment(value, n_hops=2)
    base = p.info.creation_time // NS
    settle40 = pre + (base * NS + 5 * NS + 123).to_bytes(8, "big")
    p.duplicates = [
        _dup(b, p, value=2_001_000, secs=base - 3600, settle=settle40),
        _dup(b, p, value=2_002_000, secs=base - 3000),
        _dup(b, p, value=2_003_000, secs=base - 2400, fail=bytes([FailureReason.NO_ROUTE])),
        _dup(b, p, value=2_004_000, secs=0, fail=bytes([FailureReason.TIMEOUT])),
    ]
    return [Generated(p, cases=("dup_settle40", "dup_unresolved_no_attempt", "dup_fail_no_attempt", "dup_epoch_zero",
                                 "dup_legacy_seconds"))]


def case_inflight(b: Builder) -> list[Generated]:
    out = []
    value = 3_000_000
    addr = b.bytes32()
    # §5 test 21: one unresolved attempt.
    p, pre = b.new_payment(value, payment_addr=addr)
    p.htlcs.append(b.attempt(b.shard_route(value, value, addr), payment_hash=sha256(pre), start_ns=p.info.creation_time))
    out.append(Generated(p, cases=("inflight",)))
    # failed attempts, then an unresolved one
    p, pre = b.new_payment(value, payment_addr=addr)
    t = b.failed_attempts(p, sha256(pre), 2, value=value, payment_addr=addr, dest=None, rebalance=False,
                          start=p.info.creation_time)
    p.htlcs.append(b.attempt(b.shard_route(value, value, addr), payment_hash=sha256(pre), start_ns=t))
    out.append(Generated(p, cases=("inflight_after_failures",)))
    # one shard settled, one in flight
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    h1 = b.attempt(b.shard_route(1_000_000, value, addr), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h1, pre)
    h2 = b.attempt(b.shard_route(2_000_000, value, addr), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    p.htlcs += [h1, h2]
    out.append(Generated(p, cases=("inflight_partial_settle",)))
    # all attempts failed, no fail reason yet: LND calls it in flight
    p, pre = b.new_payment(value, payment_addr=addr)
    b.failed_attempts(p, sha256(pre), 2, value=value, payment_addr=addr, dest=None, rebalance=False,
                      start=p.info.creation_time)
    out.append(Generated(p, cases=("retryable_all_failed",)))
    return out


def case_initiated_and_no_htlcs(b: Builder) -> list[Generated]:
    out = []
    p, _ = b.new_payment(7_000_000, payment_addr=b.bytes32())
    out.append(Generated(p, cases=("initiated",)))
    # dave (§8.2): failed with insufficient_balance and no htlc bucket at all
    p, _ = b.new_payment(123_000, payment_addr=b.bytes32())
    p.failure_reason = int(FailureReason.INSUFFICIENT_BALANCE)
    out.append(Generated(p, cases=("failed_no_htlc_bucket",)))
    # an htlc bucket that exists but is empty (no attempts): initiated
    p, _ = b.new_payment(8_000_000, payment_addr=b.bytes32())
    p.has_htlc_bucket = True
    out.append(Generated(p, cases=("initiated_empty_htlc_bucket",)))
    return out


def case_every_fail_reason(b: Builder) -> list[Generated]:
    """One failed payment per payment-level FailureReason 0..5 (0 = timeout)."""
    out = []
    for reason in FailureReason:
        value = 10_000_000 + int(reason) * 1000
        addr = b.bytes32()
        p, pre = b.new_payment(value, payment_addr=addr)
        last = FailSpec(0x400F, 2) if reason == FailureReason.INCORRECT_PAYMENT_DETAILS else None
        if reason != FailureReason.INSUFFICIENT_BALANCE:
            b.failed_attempts(p, sha256(pre), 1 if reason else 2, value=value, payment_addr=addr, dest=None,
                              rebalance=False, start=p.info.creation_time, last_spec=last)
        p.failure_reason = int(reason)
        out.append(Generated(p, cases=(f"fail_reason_{int(reason)}",)))
    return out


def case_mpp_acceptance(b: Builder) -> list[Generated]:
    """§5 test 9: 3 hops, MPP addr "test_mpp_payment_address_32" zero-padded, total 50000;
    plus a multi-shard MPP with a failed shard."""
    out = []
    addr = b"test_mpp_payment_address_32".ljust(32, b"\x00")
    p, pre = b.new_payment(50_000, payment_addr=addr)
    h = b.attempt(b.shard_route(50_000, 50_000, addr, n_hops=3), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    out.append(Generated(p, cases=("mpp_single_shard",)))
    value = 90_000_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    t = b.failed_attempts(p, sha256(pre), 1, value=value, payment_addr=addr, dest=None, rebalance=False,
                          start=p.info.creation_time, last_spec=FailSpec(0x0017, 3))  # MPPTimeout
    for amt in (30_000_000, 25_000_000, 35_000_000):
        h = b.attempt(b.shard_route(amt, value, addr, n_hops=3), payment_hash=sha256(pre), start_ns=t)
        b.settle(h, pre)
        p.htlcs.append(h)
    out.append(Generated(p, cases=("mpp_multi_shard",)))
    return out


def case_amp(b: Builder) -> list[Generated]:
    """§5 tests 10/11: AMP child 0 (2 hops) and AMP shards with child_index >= 2^31."""
    g1 = _amp_payment(b, 4_000_000, shards=1, n_hops=2)
    g1.cases = ("amp_child0",)
    g2 = _amp_payment(b, 9_000_000, shards=3, child_base=0x80000001, payreq=True)
    g2.cases = ("amp_child_index_high", "amp_with_payreq")
    return [g1, g2]


def case_custom_records_all_levels(b: Builder) -> list[Generated]:
    """§5 test 12: payment-level 65536/65537, attempt wire records 65541/65542 (+ a
    first-hop amount), per-hop 65538+i; and a keysend (empty payment request)."""
    value = 12_000_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr, first_hop_records={65536: b"ab", 65537: b"\x00\x01\x02"})
    route = b.shard_route(value, value, addr, n_hops=3)
    route.first_hop_amount = 12_345_000
    route.first_hop_wire_custom_records = {65541: b"wire-1", 65542: b""}
    for i, hop in enumerate(route.hops):
        hop.custom_records = {65538 + i: f"hop{i}".encode()}
    h = b.attempt(route, payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    out = [Generated(p, cases=("custom_records_payment", "custom_records_attempt", "custom_records_hop",
                                "first_hop_amount"))]
    # keysend
    p, pre = b.new_payment(1_000_000, payreq=False)
    route = b.route(1_000_000, n_hops=2)
    route.hops[-1].custom_records = {5482373484: pre, 34349334: b"hello"}
    h = b.attempt(route, payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    out.append(Generated(p, cases=("keysend", "payreq_empty")))
    return out


def case_blinded(b: Builder) -> list[Generated]:
    """§5 tests 13/14 plus a 65-byte (uncompressed) blinding point, which LND's
    ParsePubKey accepts and SQL stores recompressed."""
    out = []
    # test 13: 4 hops, final hop with blinding point, encrypted data, total 119400
    p, pre = b.new_payment(119_400)
    route = b.route(119_400, n_hops=4)
    fin = route.hops[-1]
    fin.blinding_point = b.blinding_point()
    fin.encrypted_data = b.rng.randbytes(64)
    fin.total_amt_msat = 119_400
    h = b.attempt(route, payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    out.append(Generated(p, cases=("blinded_final_hop",)))
    # a realistic blinded path: intro hop with blinding point, 3 blinded hops
    p, pre = b.new_payment(5_500_000)
    h = b.attempt(_blinded_route(b, 5_500_000, n_hops=5, blinded=3), payment_hash=sha256(pre),
                  start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    out.append(Generated(p, cases=("blinded_path",)))
    # test 14: orphaned totals (nil and empty encrypted data), in two payments
    for ed, name in ((None, "orphaned_total_nil_ed"), (b"", "orphaned_total_empty_ed")):
        p, pre = b.new_payment(119_400)
        route = b.route(119_400, n_hops=3)
        route.hops[-1].encrypted_data = ed
        route.hops[-1].total_amt_msat = 119_400
        h = b.attempt(route, payment_hash=sha256(pre), start_ns=p.info.creation_time)
        b.settle(h, pre)
        p.htlcs.append(h)
        out.append(Generated(p, cases=(name,)))
    # uncompressed blinding point: the codec writes points compressed, so the
    # attempt value is overridden with the 65-byte form LND would also accept.
    p, pre = b.new_payment(77_000)
    route = b.route(77_000, n_hops=3)
    bp = b.blinding_point(uncompressed=True)
    route.hops[1].blinding_point = bp
    route.hops[1].encrypted_data = b.rng.randbytes(50)
    route.hops[2].encrypted_data = b.rng.randbytes(50)
    route.hops[2].total_amt_msat = 77_000
    h = b.attempt(route, payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    from migwizard.core.codec.secp256k1 import parse_pubkey

    canonical = encode_attempt_info(h)
    needle = w_u64(BLINDING_POINT_ONION_TYPE) + b"\x21" + parse_pubkey(bp)
    assert canonical.count(needle) == 1
    raw = canonical.replace(needle, w_u64(BLINDING_POINT_ONION_TYPE) + b"\x41" + bp)
    out.append(Generated(p, cases=("blinding_point_uncompressed",),
                         overrides={(PAYMENT_HTLCS_BUCKET, htlc_key(HTLC_ATTEMPT_INFO_PREFIX, h.attempt_id)): raw}))
    return out


def case_metadata_and_legacy_payload(b: Builder) -> list[Generated]:
    """§5 tests 16 and 4: metadata on every hop (one hop empty-but-present), and a
    modern payment whose hops use LegacyPayload."""
    out = []
    value = 6_000_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    route = b.shard_route(value, value, addr, n_hops=3)
    route.hops[0].metadata = b""
    route.hops[1].metadata = b"\x01\x02\x03"
    route.hops[2].metadata = b"invoice-metadata"
    h = b.attempt(route, payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    out.append(Generated(p, cases=("metadata_nonempty", "metadata_empty")))
    p, pre = b.new_payment(value)
    route = _legacy_hops(b.route(value, n_hops=2))
    h = b.attempt(route, payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    out.append(Generated(p, cases=("legacy_payload",)))
    return out


def case_feature_combinations(b: Builder) -> list[Generated]:
    """§5 tests 17/18: all features, and mpp_custom, amp_blinded, custom_metadata,
    blinded_metadata, mpp_metadata."""
    out = []
    r = b.rng

    def one(name, *, mpp=False, amp=False, blinded=False, custom=False, metadata=False, fh=False):
        value = 2_500_000
        addr = b.bytes32() if (mpp or amp) else None
        set_id = b.bytes32() if amp else None
        p, pre = b.new_payment(value, payment_addr=addr, identifier=set_id, payreq=not amp,
                               first_hop_records={65536: b"fh"} if fh else None)
        route = b.route(value, n_hops=3)
        fin = route.hops[-1]
        if mpp or amp:
            fin.mpp = MPPRecord(payment_addr=addr, total_msat=value)
        hash_ = sha256(pre)
        if amp:
            root = b.bytes32()
            fin.amp = AMPRecord(root_share=root, set_id=set_id, child_index=1)
            pre = sha256(root + set_id + (1).to_bytes(4, "big"))
            hash_ = sha256(pre)
        if blinded:
            fin.encrypted_data = r.randbytes(48)
            fin.blinding_point = b.blinding_point()
            fin.total_amt_msat = value
        if custom:
            for i, hop in enumerate(route.hops):
                hop.custom_records = {65600 + i: b"c" * (i + 1)}
        if metadata:
            for hop in route.hops:
                hop.metadata = r.randbytes(8)
        if fh:
            route.first_hop_amount = value
            route.first_hop_wire_custom_records = {65541: b"w"}
        h = b.attempt(route, payment_hash=hash_, start_ns=p.info.creation_time)
        b.settle(h, pre)
        p.htlcs.append(h)
        out.append(Generated(p, cases=(name,)))

    one("all_features", mpp=True, blinded=True, custom=True, metadata=True, fh=True)
    one("mpp_custom", mpp=True, custom=True)
    one("amp_blinded", amp=True, blinded=True)
    one("custom_metadata", custom=True, metadata=True)
    one("blinded_metadata", blinded=True, metadata=True)
    one("mpp_metadata", mpp=True, metadata=True)
    return out




def case_payreq_and_encodings(b: Builder) -> list[Generated]:
    """Payment-request and attempt-encoding shapes: a realistic BOLT-11, the
    acceptance tests' short ``lnbc1test``, the pre-0.18 attempt without TLV, a
    first-hop amount of 0 written explicitly (``00 01 00``), and time locks above
    2^31 (stored as negative int32 in SQL)."""
    out = []
    value = 1_000_000
    addr = b.bytes32()
    p, pre, h = b.settled_mpp_payment(value, n_hops=2, payment_addr=addr)
    h.tlv_absent = True  # codec writes hash and no TLV stream (LND < 0.18)
    out.append(Generated(p, cases=("payreq_present", "pre018_attempt_no_tlv")))
    p, pre = b.new_payment(1_001_000, payment_addr=addr)
    p.info.payment_request = b"lnbc1test"
    h = b.attempt(b.shard_route(1_001_000, 1_001_000, addr, n_hops=2), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    out.append(Generated(p, cases=("payreq_short", "first_hop_amount_zero_tlv")))
    p, pre = b.new_payment(2_000_000)
    route = b.route(2_000_000, n_hops=2, final_cltv=0x80000010)
    h = b.attempt(route, payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    out.append(Generated(p, cases=("timelock_int32_wrap",)))
    return out


#: (name, builder) in emission order. Legacy (2018) cases first, then a restart
#: and the modern ones.
LEGACY_EDGE_CASES: tuple[tuple[str, Callable[[Builder], list[Generated]]], ...] = (
    ("legacy_m13_settled_with_duplicates", case_legacy_m13_settled_with_duplicates),
    ("legacy_m13_failed", case_legacy_m13_failed),
    ("legacy_zero_unresolved", case_legacy_zero_unresolved),
)
MODERN_EDGE_CASES: tuple[tuple[str, Callable[[Builder], list[Generated]]], ...] = (
    ("nil_hash_modern", case_nil_hash_modern),
    ("duplicates_modern", case_duplicates_modern),
    ("inflight", case_inflight),
    ("initiated_and_no_htlcs", case_initiated_and_no_htlcs),
    ("every_fail_reason", case_every_fail_reason),
    ("mpp", case_mpp_acceptance),
    ("amp", case_amp),
    ("custom_records", case_custom_records_all_levels),
    ("blinded", case_blinded),
    ("metadata_legacy_payload", case_metadata_and_legacy_payload),
    ("feature_combinations", case_feature_combinations),
    ("failure_codes", case_failure_codes),
    ("noncanonical_failures", case_noncanonical_failures),
    ("settle_and_fail", case_settle_and_fail),
    ("payreq_and_encodings", case_payreq_and_encodings),
)
EDGE_CASES = LEGACY_EDGE_CASES + MODERN_EDGE_CASES


def edge_payments(b: Builder) -> list[Generated]:
    """The full edge set, in order (legacy era first, then a restart, then modern)."""
    out: list[Generated] = []
    b.clock = LEGACY_EPOCH_NS + b.rng.randrange(0, 86_400 * NS)
    for _name, fn in LEGACY_EDGE_CASES:
        out += fn(b)
    b.restart()
    b.clock = max(b.clock, MIXED_EPOCH_NS - 86_400 * NS)
    for _name, fn in MODERN_EDGE_CASES:
        out += fn(b)
    b.restart()
    for g in out:
        shuffle_record_order(b, g.payment)
    return out


def legacy_zero_id_payments(b: Builder) -> list[Generated]:
    """§5 tests 6 and 7: two settled payments and one in-flight payment whose only
    attempt has id 0 (no attempt id is ever taken from the switch sequencer)."""
    b.clock = LEGACY_EPOCH_NS + b.rng.randrange(0, 86_400 * NS)
    out = []
    for _ in range(2):
        value = 1_000_000
        p, pre = b.new_payment(value, payment_addr=None)
        h = _m13_attempt(b, _legacy_hops(b.route(value, n_hops=2)))
        h.settle = HTLCSettleInfo(preimage=pre, settle_time=None)
        p.htlcs.append(h)
        out.append(Generated(p, cases=("legacy_zero_id_settled",)))
    out += case_legacy_zero_unresolved(b)
    return out
