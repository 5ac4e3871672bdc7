"""Payments LND's migration refuses (profiles ``reject-<name>``; never part of ``edge``)."""

from __future__ import annotations

from collections.abc import Callable

from migwizard.core.codec.keys import (
    HTLC_ATTEMPT_INFO_PREFIX,
    PAYMENT_CREATION_INFO_KEY,
    PAYMENT_DUPLICATE_BUCKET,
    PAYMENT_HTLCS_BUCKET,
    PAYMENT_SEQUENCE_KEY,
)
from migwizard.core.codec.model import (
    FailureReason,
    HTLCFailReason,
)

from .builders import (
    NS,
    Builder,
    FailSpec,
    Generated,
    htlc_key,
    sha256,
)
from .edge_cases import _dup

# ---------------------------------------------------------------------------
# cases LND's migration rejects (never part of ``edge``)
# ---------------------------------------------------------------------------


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


def _failed_with_raw_message(b: Builder, case: str, raw: bytes) -> list[Generated]:
    """A failed payment whose one fail info stores ``raw`` as its failure message."""
    p, _pre, h = b.settled_mpp_payment()
    h.settle = None
    b.fail(h, FailSpec(None, 1, HTLCFailReason.MESSAGE))
    p.failure_reason = int(FailureReason.NO_ROUTE)
    return [Generated(p, cases=(case,), raw_fail_messages={h.attempt_id: raw})]


def reject_undecodable_failure(b: Builder) -> list[Generated]:
    """A fail info whose message has an unknown failure code (0x9999)."""
    return _failed_with_raw_message(b, "reject:unknown_failure_code", b"\x99\x99\x00\x00")


def reject_truncated_failure(b: Builder) -> list[Generated]:
    """FeeInsufficient whose payload stops inside the htlc amount."""
    return _failed_with_raw_message(b, "reject:truncated_failure", b"\x10\x0c\x00\x00\x01")


def reject_zero_hops(b: Builder) -> list[Generated]:
    """A settled HTLC whose route has no hops (Go panics reading Hops[len-1])."""
    p, pre, h = b.settled_mpp_payment()
    h.route.hops = []
    return [Generated(p, cases=("reject:non_failed_htlc_without_hops",))]


def reject_hop_custom_below_min(b: Builder) -> list[Generated]:
    """A per-hop record of unknown type < 65536: decodes into custom records, then
    violates SQL ``CHECK (key >= 65536)``."""
    p, pre, h = b.settled_mpp_payment()
    h.route.hops[-1].custom_records = {65535: b"x"}
    return [Generated(p, cases=("reject:hop_custom_record_below_min",))]


def reject_duplicate_settle_and_fail(b: Builder) -> list[Generated]:
    p, pre, h = b.settled_mpp_payment()
    p.duplicates = [_dup(b, p, value=p.info.value + 1, secs=p.info.creation_time // NS - 10,
                         settle=pre, fail=bytes([FailureReason.NO_ROUTE]))]
    return [Generated(p, cases=("reject:duplicate_settle_and_fail",))]


def reject_missing_sequence(b: Builder) -> list[Generated]:
    p, pre, h = b.settled_mpp_payment()
    return [Generated(p, cases=("reject:missing_sequence",), overrides={(PAYMENT_SEQUENCE_KEY,): None})]


def reject_settle_without_attempt(b: Builder) -> list[Generated]:
    p, pre, h = b.settled_mpp_payment()
    return [Generated(p, cases=("reject:settle_without_attempt_info",),
                      overrides={(PAYMENT_HTLCS_BUCKET, htlc_key(HTLC_ATTEMPT_INFO_PREFIX, h.attempt_id)): None})]


def reject_duplicate_missing_creation(b: Builder) -> list[Generated]:
    p, pre, h = b.settled_mpp_payment()
    d = _dup(b, p, value=p.info.value + 1, secs=p.info.creation_time // NS - 10, settle=pre)
    p.duplicates = [d]
    key = (PAYMENT_DUPLICATE_BUCKET, d.sequence_num.to_bytes(8, "big"), PAYMENT_CREATION_INFO_KEY)
    return [Generated(p, cases=("reject:duplicate_missing_creation_info",), overrides={key: None})]


def reject_custom_record_below_min_creation(b: Builder) -> list[Generated]:
    """Payment-level first-hop custom record with a type below 65536."""
    p, pre, h = b.settled_mpp_payment()
    p.info.first_hop_custom_records = {100: b"x"}
    return [Generated(p, cases=("reject:creation_custom_record_below_min",))]


def unindexed_payment(b: Builder) -> list[Generated]:
    """A valid payment bucket without its index entry. LND does not abort: it
    reaches payments only through the index, so this one is silently never
    migrated (and the count check cannot notice, spec §4.3)."""
    p, pre, h = b.settled_mpp_payment()
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
