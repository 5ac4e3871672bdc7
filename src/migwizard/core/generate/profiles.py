"""Payment mixes ("profiles") for the synthetic LND store.

Profile ``mixed`` — what a busy routing/rebalancing node holds
----------------------------------------------------------------
Per 1000 payments (expected shares; a run of >= 2000 payments lands inside the
ranges in :data:`MIXED_STATUS_RANGES`, which the tests assert):

=========================  ====  =======================================================
kind                       per   shape
                           1000
=========================  ====  =======================================================
settled                     420  one HTLC, settled; single-shard MPP record on the final
                                 hop; ~25 % are circular rebalances (last hop = us)
settled after retries       110  1-4 failed HTLCs (onion failures), then one settled
settled multi-shard MPP      50  2-4 settled shards summing to the value, 0-2 failed
                                 shards first
keysend settled              40  no payment request, no MPP; final hop carries the
                                 preimage record 5482373484 (sometimes a 2nd record)
AMP settled                   8  identifier = SetID, 1-3 shards with AMP + MPP
                                 records, per-shard hash = sha256(child preimage)
blinded settled               7  last two hops blinded (encrypted data, blinding
                                 point on the introduction hop, total on the final hop)
failed                      255  1-8 failed HTLCs, each with a failure (mostly
                                 TemporaryChannelFailure, FeeInsufficient,
                                 ChannelDisabled, UnknownNextPeer,
                                 IncorrectOrUnknownPaymentDetails ...; ChannelUpdates
                                 with/without htlc_max, ~12 % with an inbound fee; a
                                 few Unreadable/Internal without message); fail reason
                                 no_route 45 %, timeout 15 %, incorrect_payment_details
                                 15 %, error 10 %, insufficient_balance 8 %, canceled 7 %
failed, no HTLCs             40  no_route / insufficient_balance, no htlc bucket
keysend failed               15  1-3 failed HTLCs
in flight                    35  0-3 failed HTLCs then one unresolved HTLC (sometimes
                                 a settled shard next to an unresolved one)
all HTLCs failed, no reason  10  status in-flight (LND's "retryable")
initiated                    10  creation info only
=========================  ====  =======================================================

Derived statuses: succeeded ~63.5 %, failed ~31 %, in-flight ~4.5 %, initiated ~1 %.
Across all kinds: ~2 % carry first-hop custom records (payment level and the
attempts' wire records plus a non-zero first-hop amount, taproot-assets style);
~0.5 % carry hop metadata; every multi-record hop is written in a shuffled
record order (Go map order). The oldest 35 % of ``mixed`` payments use the
pre-0.18 attempt encoding (hash, no trailing TLV) when that is lossless.
Attempts are sequential per payment (creation < attempt < settle/fail, all in
nanoseconds); a simulated restart every 150-700 payments makes both allocators
jump to their next 1000-block.

Profile ``edge``
----------------
Every case of spec §4-§5 at least once, emitted first (whatever N is), then
``mixed`` fills up to N. See :data:`EDGE_CASES` and :func:`edge_payments`.

Every case carries a label in ``GenerateResult.cases`` (label -> payment
identifiers), e.g. ``dup_settle32``, ``dup_settle40``, ``dup_fail``,
``dup_unresolved_with_attempt``, ``dup_unresolved_no_attempt``,
``dup_epoch_zero``, ``legacy_nil_hash``, ``legacy_zero_id_settled`` /
``_failed`` / ``_unresolved``, ``m13_synthetic_fail_info``, ``inflight``,
``inflight_partial_settle``, ``retryable_all_failed``, ``initiated``,
``initiated_empty_htlc_bucket``, ``failed_no_htlc_bucket``,
``fail_reason_0`` .. ``fail_reason_5``, ``mpp_single_shard``,
``mpp_multi_shard``, ``amp_child0``, ``amp_child_index_high``,
``blinded_final_hop``, ``blinded_path``, ``blinding_point_uncompressed``,
``orphaned_total_nil_ed``, ``orphaned_total_empty_ed``,
``custom_records_payment`` / ``_attempt`` / ``_hop``, ``first_hop_amount``,
``keysend``, ``metadata_empty``, ``metadata_nonempty``, ``legacy_payload``,
``all_features``, ``mpp_custom``, ``amp_blinded``, ``custom_metadata``,
``blinded_metadata``, ``mpp_metadata``, ``failure_codes`` (all 25),
``update_htlc_max``, ``update_no_htlc_max``, ``update_inbound_fee``,
``tempchan_no_update``, ``fail_no_message``,
``incorrect_details_no_amount_height``, ``incorrect_details_amount_only``,
``update_unknown_tlv``, ``update_no_type_prefix``, ``failure_trailing_bytes``,
``update_bad_extra_tlv``, ``settle_and_fail``, ``payreq_present``,
``payreq_short``, ``payreq_empty``, ``pre018_attempt_no_tlv``,
``first_hop_amount_zero_tlv``, ``timelock_int32_wrap``. Labels are for
finding payments; the tests check each case on the decoded store.

Reject profiles
---------------
``reject-<name>`` for each entry of :func:`reject_cases`: one payment that
LND's migration refuses (or, for ``unindexed-payment``, silently skips),
emitted first, then ``mixed`` fill. Not part of ``edge``.

Profile ``legacy-zero-ids``
---------------------------
Spec §5 tests 6/7: only attempts with the legacy id 0 (two settled, one
unresolved), so the switch sequencer may be 0 (default here) or any value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from migwizard.core.codec.attempt import encode_attempt_info
from migwizard.core.codec.model import (
    AMP_ONION_TYPE,
    BLINDING_POINT_ONION_TYPE,
    ENCRYPTED_DATA_ONION_TYPE,
    KEYSEND_PREIMAGE_TYPE,
    METADATA_ONION_TYPE,
    MPP_ONION_TYPE,
    TOTAL_AMT_MSAT_BLINDED_TYPE,
    AMPRecord,
    DuplicatePayment,
    FailureMessage,
    FailureReason,
    HTLCAttempt,
    HTLCFailInfo,
    HTLCFailReason,
    HTLCSettleInfo,
    MPPRecord,
    Payment,
    Route,
)
from migwizard.core.codec.onion import FAILURE_CODES, encode_channel_update
from migwizard.core.codec.primitives import w_u16, w_u64
from migwizard.core.codec.route import encode_route

from .builders import (
    LEGACY_EPOCH_NS,
    MIXED_EPOCH_NS,
    MS,
    NS,
    Builder,
    FailSpec,
    Generated,
    htlc_key,
    sha256,
)

#: Inclusive status-share ranges a ``mixed`` run of >= 2000 payments must hit.
MIXED_STATUS_RANGES: dict[str, tuple[float, float]] = {
    "succeeded": (0.57, 0.70),
    "failed": (0.25, 0.37),
    "in-flight": (0.025, 0.075),
    "initiated": (0.002, 0.025),
}

MIXED_KINDS: tuple[tuple[str, int], ...] = (
    ("settled", 420),
    ("settled_retry", 110),
    ("settled_mpp", 50),
    ("keysend_settled", 40),
    ("amp_settled", 8),
    ("blinded_settled", 7),
    ("failed", 255),
    ("failed_no_htlcs", 40),
    ("keysend_failed", 15),
    ("inflight", 35),
    ("retryable", 10),
    ("initiated", 10),
)
_KIND_NAMES = tuple(k for k, _ in MIXED_KINDS)
_KIND_WEIGHTS = tuple(w for _, w in MIXED_KINDS)

FAIL_REASONS = (
    (FailureReason.NO_ROUTE, 45),
    (FailureReason.TIMEOUT, 15),
    (FailureReason.INCORRECT_PAYMENT_DETAILS, 15),
    (FailureReason.ERROR, 10),
    (FailureReason.INSUFFICIENT_BALANCE, 8),
    (FailureReason.CANCELED, 7),
)

TAPROOT_ASSET_RECORD = 65543  # rfqmsg / taproot-assets style first-hop record type
WHATSAT_RECORD = 34349334  # chat message record seen with keysend


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def hop_record_types(hop) -> list[int]:
    if hop.legacy_payload:
        return []
    t = []
    if hop.mpp is not None:
        t.append(MPP_ONION_TYPE)
    if hop.encrypted_data is not None:
        t.append(ENCRYPTED_DATA_ONION_TYPE)
    if hop.blinding_point is not None:
        t.append(BLINDING_POINT_ONION_TYPE)
    if hop.amp is not None:
        t.append(AMP_ONION_TYPE)
    if hop.metadata is not None:
        t.append(METADATA_ONION_TYPE)
    if hop.total_amt_msat:
        t.append(TOTAL_AMT_MSAT_BLINDED_TYPE)
    t.extend(hop.custom_records)
    return t


def shuffle_record_order(b: Builder, p: Payment) -> None:
    """Give multi-record hops a random (Go map) write order; equality ignores it."""
    for h in p.htlcs:
        for hop in h.route.hops:
            types = hop_record_types(hop)
            if len(types) > 1:
                b.rng.shuffle(types)
                hop.record_order = tuple(types)


def _first_hop_records(b: Builder) -> dict[int, bytes]:
    return {TAPROOT_ASSET_RECORD: b.rng.randbytes(b.rng.randrange(8, 48))}


def _apply_first_hop(b: Builder, p: Payment, records: dict[int, bytes] | None) -> None:
    if not records:
        return
    for h in p.htlcs:
        h.route.first_hop_wire_custom_records = dict(records)
        h.route.first_hop_amount = b.rng.choice((354_000, 1_000_000, 550_000))


def _mark_pre018(p: Payment) -> None:
    """Write attempts the pre-0.18 way (hash, no TLV stream) where that is lossless."""
    for h in p.htlcs:
        if h.hash is not None and h.route.first_hop_amount == 0 and not h.route.first_hop_wire_custom_records:
            h.tlv_absent = True


def _pick_reason(b: Builder) -> FailureReason:
    return b.rng.choices([r for r, _ in FAIL_REASONS], weights=[w for _, w in FAIL_REASONS])[0]


def _n_failures(b: Builder, hi: int = 8) -> int:
    n = 1
    while n < hi and b.rng.random() < 0.45:
        n += 1
    return n


# ---------------------------------------------------------------------------
# mixed
# ---------------------------------------------------------------------------


def mixed_payment(b: Builder, *, pre018: bool = False, kind: str | None = None) -> Generated:
    """One payment of the ``mixed`` profile (kind drawn from :data:`MIXED_KINDS`)."""
    r = b.rng
    if kind is None:
        kind = r.choices(_KIND_NAMES, weights=_KIND_WEIGHTS)[0]
    value = b.random_value()
    fh = _first_hop_records(b) if r.random() < 0.02 else None
    rebalance = r.random() < 0.25
    keysend = kind.startswith("keysend")
    addr = None if keysend else b.bytes32()
    if kind == "amp_settled":
        gen = _amp_payment(b, value, shards=r.randrange(1, 4), fh=fh)
    elif kind == "blinded_settled":
        gen = _blinded_payment(b, value, fh=fh)
    else:
        p, pre = b.new_payment(value, payreq=not keysend, payment_addr=addr, first_hop_records=fh)
        phash = sha256(pre)
        dest = None
        final_records = None
        if keysend:
            rebalance = False
            dest = r.choice(b.node_keys)
            final_records = {KEYSEND_PREIMAGE_TYPE: pre}
            if r.random() < 0.2:
                final_records[WHATSAT_RECORD] = f"gm {r.randrange(1000)}".encode()
        t = p.info.creation_time
        kw = dict(value=value, payment_addr=addr, dest=dest, rebalance=rebalance, final_hop_records=final_records)
        if kind in ("settled", "settled_retry", "keysend_settled"):
            if kind == "settled_retry" or (keysend and r.random() < 0.2):
                t = b.failed_attempts(p, phash, _n_failures(b, 4), start=t, **kw)
            route = b.shard_route(value, value, addr, rebalance=rebalance, dest=dest)
            if final_records:
                route.hops[-1].custom_records = dict(final_records)
            h = b.attempt(route, payment_hash=phash, start_ns=t)
            b.settle(h, pre)
            p.htlcs.append(h)
        elif kind == "settled_mpp":
            if r.random() < 0.5:
                t = b.failed_attempts(p, phash, r.randrange(1, 3), start=t, **kw)
            shards = b.split(value, r.randrange(2, 5))
            for amt in shards:
                route = b.shard_route(amt, value, addr, rebalance=rebalance)
                h = b.attempt(route, payment_hash=phash, start_ns=t + r.randrange(0, 50 * MS))
                b.settle(h, pre)
                p.htlcs.append(h)
        elif kind in ("failed", "keysend_failed"):
            reason = _pick_reason(b)
            if keysend:
                reason = r.choice((FailureReason.NO_ROUTE, FailureReason.TIMEOUT))
            last = None
            if reason == FailureReason.INCORRECT_PAYMENT_DETAILS:
                last = "details"
            n = _n_failures(b, 3 if keysend else 8)
            if last == "details":
                t = b.failed_attempts(p, phash, n - 1, start=t, **kw) if n > 1 else t
                route = b.shard_route(value, value, addr, rebalance=rebalance, dest=dest)
                if final_records:
                    route.hops[-1].custom_records = dict(final_records)
                h = b.attempt(route, payment_hash=phash, start_ns=t)
                b.fail(h, FailSpec(0x400F, len(route.hops)))
                p.htlcs.append(h)
            else:
                b.failed_attempts(p, phash, n, start=t, **kw)
            p.failure_reason = int(reason)
        elif kind == "failed_no_htlcs":
            p.failure_reason = int(r.choice((FailureReason.NO_ROUTE, FailureReason.NO_ROUTE, FailureReason.INSUFFICIENT_BALANCE)))
        elif kind == "inflight":
            if r.random() < 0.6:
                t = b.failed_attempts(p, phash, _n_failures(b, 3), start=t, **kw)
            if addr is not None and r.random() < 0.2 and value >= 2:
                a1, a2 = b.split(value, 2)
                h1 = b.attempt(b.shard_route(a1, value, addr), payment_hash=phash, start_ns=t)
                b.settle(h1, pre)
                h2 = b.attempt(b.shard_route(a2, value, addr), payment_hash=phash, start_ns=t)
                p.htlcs += [h1, h2]
            else:
                route = b.shard_route(value, value, addr, rebalance=rebalance)
                p.htlcs.append(b.attempt(route, payment_hash=phash, start_ns=t))
        elif kind == "retryable":
            b.failed_attempts(p, phash, _n_failures(b, 3), start=t, **kw)
        elif kind == "initiated":
            pass
        else:  # pragma: no cover
            raise AssertionError(kind)
        if p.htlcs and r.random() < 0.005:
            for h in p.htlcs:
                h.route.hops[-1].metadata = r.randbytes(r.randrange(8, 32))
        _apply_first_hop(b, p, fh)
        gen = Generated(p, cases=(f"mixed:{kind}",))
    shuffle_record_order(b, gen.payment)
    if pre018:
        _mark_pre018(gen.payment)
    return gen


def _amp_payment(b: Builder, value: int, *, shards: int, fh=None, child_base: int = 0,
                 payreq: bool = False, settle: bool = True, n_hops: int | None = None) -> Generated:
    r = b.rng
    set_id = b.bytes32()
    root_share = b.bytes32()
    addr = b.bytes32()
    p, _ = b.new_payment(value, identifier=set_id, payreq=payreq, payment_addr=addr, first_hop_records=fh)
    t = p.info.creation_time
    for i, amt in enumerate(b.split(value, shards)):
        child = child_base + i
        child_pre = sha256(root_share + set_id + child.to_bytes(4, "big"))
        route = b.shard_route(amt, value, addr, n_hops=n_hops)
        route.hops[-1].amp = AMPRecord(root_share=root_share, set_id=set_id, child_index=child)
        h = b.attempt(route, payment_hash=sha256(child_pre), start_ns=t + r.randrange(0, 30 * MS))
        if settle:
            b.settle(h, child_pre)
        p.htlcs.append(h)
    _apply_first_hop(b, p, fh)
    return Generated(p, cases=("mixed:amp_settled",))


def _blinded_route(b: Builder, value: int, *, n_hops: int = 4, blinded: int = 2) -> Route:
    r = b.rng
    route = b.route(value, n_hops=n_hops)
    first_blinded = n_hops - blinded
    for i in range(first_blinded, n_hops):
        hop = route.hops[i]
        hop.encrypted_data = r.randbytes(r.randrange(40, 120))
        if i == first_blinded:
            hop.blinding_point = b.blinding_point()
    route.hops[-1].total_amt_msat = value
    return route


def _blinded_payment(b: Builder, value: int, *, fh=None) -> Generated:
    p, pre = b.new_payment(value, payment_addr=None, first_hop_records=fh)
    h = b.attempt(_blinded_route(b, value), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    _apply_first_hop(b, p, fh)
    return Generated(p, cases=("mixed:blinded_settled",))


def mixed_stream(b: Builder, count: int, *, start_index: int = 0, total: int | None = None) -> Iterator[Generated]:
    """``count`` mixed payments, with simulated restarts every 150-700 payments."""
    total = count if total is None else total
    until_restart = b.rng.randrange(150, 700)
    for i in range(count):
        if until_restart <= 0:
            b.restart()
            until_restart = b.rng.randrange(150, 700)
        until_restart -= 1
        yield mixed_payment(b, pre018=(start_index + i) < 0.35 * total)


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
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    h = b.attempt(b.shard_route(value, value, addr, n_hops=2), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
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
                         overrides={(b"payment-htlcs-bucket", htlc_key(b"ai", h.attempt_id)): raw}))
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


#: Groups of failure codes, one failed payment per group (all 25 codes of §2.7).
_CODE_GROUPS = (
    (0x8001, 0x2002, 0x6002, 0x6003, 0xC004),
    (0xC005, 0xC006, 0x1007, 0x4008, 0x4009),
    (0x400A, 0x100B, 0x100C, 0x100D, 0x100E),
    (0x1014, 0x400F, 0x4010, 0x0011, 0x0012),
    (0x0013, 0x0015, 0x4016, 0x0017, 0xC018),
)


def _failed_with_codes(b: Builder, codes, *, reason=FailureReason.NO_ROUTE, msg_kw=None) -> Payment:
    value = 15_000_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    t = p.info.creation_time
    for i, code in enumerate(codes):
        route = b.shard_route(value, value, addr, n_hops=4)
        h = b.attempt(route, payment_hash=sha256(pre), start_ns=t)
        final_codes = (0x400F, 0x4010, 0x0011, 0x0012, 0x0013, 0x0015, 0x0017)
        src = 4 if code in final_codes else 1 + i % 3
        kw = dict(msg_kw[i]) if msg_kw else {}
        t = b.fail(h, FailSpec(code, src), **kw)
        p.htlcs.append(h)
    p.failure_reason = int(reason)
    return p


def case_failure_codes(b: Builder) -> list[Generated]:
    """Every onion failure code of §2.7 at least once, ChannelUpdates with and
    without htlc_max and inbound fee, TemporaryChannelFailure with and without an
    update (§5 test 19), and HTLC failures without a message (reasons 0/1/2)."""
    assert sorted(c for g in _CODE_GROUPS for c in g) == sorted(FAILURE_CODES)
    out = [Generated(_failed_with_codes(b, g), cases=("failure_codes",)) for g in _CODE_GROUPS]
    # ChannelUpdate variants (all via TemporaryChannelFailure / FeeInsufficient)
    p = _failed_with_codes(
        b, (0x1007, 0x1007, 0x100C, 0x100C, 0x1007),
        msg_kw=[dict(htlc_max=True, inbound=False), dict(htlc_max=False, inbound=False),
                dict(htlc_max=True, inbound=True), dict(htlc_max=False, inbound=True), dict(update=False)],
    )
    out.append(Generated(p, cases=("update_htlc_max", "update_no_htlc_max", "update_inbound_fee",
                                   "tempchan_no_update")))
    # §5 test 19: one failed attempt, TemporaryChannelFailure without update, source 1
    p = _failed_with_codes(b, (0x1007,), msg_kw=[dict(update=False)])
    p.htlcs[0].failure.failure_source_index = 1
    out.append(Generated(p, cases=("tempchan_no_update",)))
    # failures without a message
    value = 1_500_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    t = p.info.creation_time
    for reason in (HTLCFailReason.UNKNOWN, HTLCFailReason.UNREADABLE, HTLCFailReason.INTERNAL):
        h = b.attempt(b.shard_route(value, value, addr), payment_hash=sha256(pre), start_ns=t)
        t = b.fail(h, FailSpec(None, 0 if reason == HTLCFailReason.INTERNAL else 2, reason))
        p.htlcs.append(h)
    p.failure_reason = int(FailureReason.ERROR)
    out.append(Generated(p, cases=("fail_no_message",)))
    return out


def case_noncanonical_failures(b: Builder) -> list[Generated]:
    """Stored failure bytes that decode but re-encode differently (§4.5):
    IncorrectOrUnknownPaymentDetails without amount/height and with only an
    amount; a ChannelUpdate with an unknown extra TLV (dropped); one without the
    0x0102 prefix; trailing bytes after a fixed payload; and a ChannelUpdate
    whose extra TLV does not parse (LND keeps the fail info, Message = nil)."""
    value = 9_900_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    t = p.info.creation_time
    raws: dict[int, bytes] = {}

    def add(msg: FailureMessage | None, raw: bytes, src: int, dropped: bool = False):
        nonlocal t
        h = b.attempt(b.shard_route(value, value, addr, n_hops=3), payment_hash=sha256(pre), start_ns=t)
        t = h.attempt_time + b.rng.randrange(30 * MS, 2 * NS)
        h.failure = HTLCFailInfo(fail_time=t, message=msg, reason=int(HTLCFailReason.MESSAGE),
                                 failure_source_index=src, raw_message=raw, message_dropped=dropped)
        p.htlcs.append(h)
        raws[h.attempt_id] = raw

    add(FailureMessage(code=0x400F), w_u16(0x400F), 3)
    add(FailureMessage(code=0x400F, amount_msat=value), w_u16(0x400F) + w_u64(value), 3)
    upd = b.channel_update(b.rng.choice(b.graph_channels), t, code=0x1007, htlc_max=True, inbound=True)
    body = encode_channel_update(upd)[2:]  # 0x0102 ‖ fields ‖ inbound TLV
    fee_tlv_at = len(body) - 12  # 55555 record: fd d903 08 <8 bytes>
    unknown = b"\x01\x02\xab\xcd"  # type 1, length 2 (sorts before 55555)
    body_unknown = body[:fee_tlv_at] + unknown + body[fee_tlv_at:]
    add(FailureMessage(code=0x1007, update=upd), w_u16(0x1007) + w_u16(len(body_unknown)) + body_unknown, 1)
    upd2 = b.channel_update(b.rng.choice(b.graph_channels), t, code=0x100C, htlc_max=False, inbound=False)
    body2 = encode_channel_update(upd2)[4:]  # without the 0x0102 prefix
    add(FailureMessage(code=0x100C, htlc_msat=value, update=upd2), w_u16(0x100C) + w_u64(value) + w_u16(len(body2)) + body2, 2)
    add(FailureMessage(code=0x400A), w_u16(0x400A) + b"\xde\xad", 1)
    upd3 = b.channel_update(b.rng.choice(b.graph_channels), t, code=0x1007, htlc_max=True, inbound=False)
    body3 = encode_channel_update(upd3)[2:] + b"\xfd\x00"  # truncated BigSize: bad extra TLV
    add(None, w_u16(0x1007) + w_u16(len(body3)) + body3, 1, dropped=True)
    p.failure_reason = int(FailureReason.INCORRECT_PAYMENT_DETAILS)
    return [Generated(p, cases=("incorrect_details_no_amount_height", "incorrect_details_amount_only",
                                "update_unknown_tlv", "update_no_type_prefix", "failure_trailing_bytes",
                                "update_bad_extra_tlv"),
                      raw_fail_messages=raws)]


def case_settle_and_fail(b: Builder) -> list[Generated]:
    """An HTLC that has both si and fi (LND's status calls it failed, the migration
    writes it settled), next to a plainly settled shard."""
    value = 4_000_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    h1 = b.attempt(b.shard_route(1_500_000, value, addr), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h1, pre)
    b.fail(h1, FailSpec(0x1007, 1))
    h2 = b.attempt(b.shard_route(value, value, addr), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h2, pre)
    p.htlcs += [h1, h2]
    return [Generated(p, cases=("settle_and_fail",))]


def case_payreq_and_encodings(b: Builder) -> list[Generated]:
    """Payment-request and attempt-encoding shapes: a realistic BOLT-11, the
    acceptance tests' short ``lnbc1test``, the pre-0.18 attempt without TLV, a
    first-hop amount of 0 written explicitly (``00 01 00``), and time locks above
    2^31 (stored as negative int32 in SQL)."""
    out = []
    value = 1_000_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    h = b.attempt(b.shard_route(value, value, addr, n_hops=2), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
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


# ---------------------------------------------------------------------------
# cases LND's migration rejects (never part of ``edge``)
# ---------------------------------------------------------------------------


def _settled_simple(b: Builder, value: int = 3_000_000, n_hops: int = 3) -> tuple[Payment, bytes, HTLCAttempt]:
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    h = b.attempt(b.shard_route(value, value, addr, n_hops=n_hops), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    return p, pre, h


def reject_blinding(b: Builder) -> list[Generated]:
    """§5 test 15: blinding point without encrypted data; the attempt hash differs
    from the payment hash (the error must name the parent hash)."""
    p, _pre = b.new_payment(119_400)
    route = b.route(119_400, n_hops=2)
    route.hops[0].blinding_point = b.blinding_point()
    shard_pre = b.bytes32()
    h = b.attempt(route, payment_hash=sha256(shard_pre), start_ns=p.info.creation_time)
    b.settle(h, shard_pre)
    p.htlcs.append(h)
    return [Generated(p, cases=("reject:blinding_point_without_encrypted_data",))]


def reject_sent_exceeds(b: Builder) -> list[Generated]:
    """Two settled shards whose final-hop amounts exceed the payment value."""
    value = 1_000_000
    addr = b.bytes32()
    p, pre = b.new_payment(value, payment_addr=addr)
    for amt in (600_000, 600_000):
        h = b.attempt(b.shard_route(amt, value, addr), payment_hash=sha256(pre), start_ns=p.info.creation_time)
        b.settle(h, pre)
        p.htlcs.append(h)
    return [Generated(p, cases=("reject:sent_exceeds_total",))]


def reject_undecodable_failure(b: Builder) -> list[Generated]:
    """A fail info whose message has an unknown failure code (0x9999)."""
    p, pre, h = _settled_simple(b)
    h.settle = None
    b.fail(h, FailSpec(None, 1, HTLCFailReason.MESSAGE))
    p.failure_reason = int(FailureReason.NO_ROUTE)
    return [Generated(p, cases=("reject:unknown_failure_code",), raw_fail_messages={h.attempt_id: b"\x99\x99\x00\x00"})]


def reject_truncated_failure(b: Builder) -> list[Generated]:
    """FeeInsufficient whose payload stops inside the htlc amount."""
    p, pre, h = _settled_simple(b)
    h.settle = None
    b.fail(h, FailSpec(None, 1, HTLCFailReason.MESSAGE))
    p.failure_reason = int(FailureReason.NO_ROUTE)
    return [Generated(p, cases=("reject:truncated_failure",), raw_fail_messages={h.attempt_id: b"\x10\x0c\x00\x00\x01"})]


def reject_zero_hops(b: Builder) -> list[Generated]:
    """A settled HTLC whose route has no hops (Go panics reading Hops[len-1])."""
    p, pre, h = _settled_simple(b)
    h.route.hops = []
    return [Generated(p, cases=("reject:non_failed_htlc_without_hops",))]


def reject_hop_custom_below_min(b: Builder) -> list[Generated]:
    """A per-hop record of unknown type < 65536: decodes into custom records, then
    violates SQL ``CHECK (key >= 65536)``."""
    p, pre, h = _settled_simple(b)
    h.route.hops[-1].custom_records = {65535: b"x"}
    return [Generated(p, cases=("reject:hop_custom_record_below_min",))]


def reject_duplicate_settle_and_fail(b: Builder) -> list[Generated]:
    p, pre, h = _settled_simple(b)
    p.duplicates = [_dup(b, p, value=p.info.value + 1, secs=p.info.creation_time // NS - 10,
                         settle=pre, fail=bytes([FailureReason.NO_ROUTE]))]
    return [Generated(p, cases=("reject:duplicate_settle_and_fail",))]


def reject_missing_sequence(b: Builder) -> list[Generated]:
    p, pre, h = _settled_simple(b)
    return [Generated(p, cases=("reject:missing_sequence",), overrides={(b"payment-sequence-key",): None})]


def reject_settle_without_attempt(b: Builder) -> list[Generated]:
    p, pre, h = _settled_simple(b)
    return [Generated(p, cases=("reject:settle_without_attempt_info",),
                      overrides={(b"payment-htlcs-bucket", htlc_key(b"ai", h.attempt_id)): None})]


def reject_duplicate_missing_creation(b: Builder) -> list[Generated]:
    p, pre, h = _settled_simple(b)
    d = _dup(b, p, value=p.info.value + 1, secs=p.info.creation_time // NS - 10, settle=pre)
    p.duplicates = [d]
    key = (b"payment-duplicate-bucket", d.sequence_num.to_bytes(8, "big"), b"payment-creation-info")
    return [Generated(p, cases=("reject:duplicate_missing_creation_info",), overrides={key: None})]


def reject_custom_record_below_min_creation(b: Builder) -> list[Generated]:
    """Payment-level first-hop custom record with a type below 65536."""
    p, pre, h = _settled_simple(b)
    p.info.first_hop_custom_records = {100: b"x"}
    return [Generated(p, cases=("reject:creation_custom_record_below_min",))]


def unindexed_payment(b: Builder) -> list[Generated]:
    """A valid payment bucket without its index entry. LND does not abort: it
    reaches payments only through the index, so this one is silently never
    migrated (and the count check cannot notice, spec §4.3)."""
    p, pre, h = _settled_simple(b)
    return [Generated(p, cases=("reject:unindexed_payment",), skip_index=True)]


def corrupt_cases() -> dict[str, Callable[[Builder], list[Generated]]]:
    """name -> builder of the payment(s) LND's migration refuses. Each is also a
    generate_store profile named ``reject-<name>``."""
    return {
        "blinding": reject_blinding,
        "sent-exceeds": reject_sent_exceeds,
        "unknown-failure-code": reject_undecodable_failure,
        "truncated-failure": reject_truncated_failure,
        "zero-hops": reject_zero_hops,
        "hop-custom-below-min": reject_hop_custom_below_min,
        "duplicate-settle-and-fail": reject_duplicate_settle_and_fail,
        "missing-sequence": reject_missing_sequence,
        "settle-without-attempt": reject_settle_without_attempt,
        "duplicate-missing-creation": reject_duplicate_missing_creation,
        "creation-custom-below-min": reject_custom_record_below_min_creation,
        "unindexed-payment": unindexed_payment,
    }


reject_cases = corrupt_cases

PROFILES = ("mixed", "edge", "legacy-zero-ids") + tuple(f"reject-{n}" for n in corrupt_cases())
