"""Derived payment state: status (never stored) and setState's amount check."""

from __future__ import annotations

from .errors import DecodeError
from .model import Payment, PaymentStatus

_U64 = 1 << 64


def decide_status(payment: Payment) -> PaymentStatus:
    """decidePaymentStatus. A failed HTLC is tested before a settled one, so an
    HTLC carrying both counts as failed here (the migration still writes it as
    settled, §4.5)."""
    inflight = settled = failed = False
    for h in payment.htlcs:
        if h.failure is not None:
            failed = True
        elif h.settle is not None:
            settled = True
        else:
            inflight = True
    return status_from_flags(inflight=inflight, settled=settled, failed=failed,
                             has_failure_reason=payment.failure_reason is not None)


def status_from_flags(*, inflight: bool, settled: bool, failed: bool, has_failure_reason: bool) -> PaymentStatus:
    """decidePaymentStatus's order of tests, shared by the full decode and the
    key-presence peek (:mod:`.peek`) so both always agree."""
    if inflight:
        return PaymentStatus.IN_FLIGHT
    if settled:
        return PaymentStatus.SUCCEEDED
    if has_failure_reason:
        return PaymentStatus.FAILED
    if failed:
        return PaymentStatus.IN_FLIGHT
    return PaymentStatus.INITIATED


def sent_amount(payment: Payment) -> int:
    """MPPayment.SentAmt: final-hop amounts of non-failed HTLCs (uint64, wrapping).

    Go indexes ``Hops[len-1]`` for each such HTLC and panics on an empty route;
    that aborts the migration, so we raise DecodeError(code="no_hops").
    """
    sent = 0
    for h in payment.htlcs:
        if h.failure is not None:
            continue
        if not h.route.hops:
            raise DecodeError(
                f"HTLC attempt {h.attempt_id} is not failed but its route has no hops (LND panics)",
                payment=payment.identifier,
                code="no_hops",
            )
        sent = (sent + h.route.hops[-1].amt_to_forward) % _U64
    return sent


def check_sent_not_exceeding_total(payment: Payment) -> None:
    """setState's sanity check (ErrSentExceedsTotal), which fetchPayment runs."""
    sent = sent_amount(payment)
    if sent > payment.info.value:
        raise DecodeError(
            f"total sent exceeds total amount: sent={sent}, total={payment.info.value}",
            payment=payment.identifier,
            code="sent_exceeds_total",
        )
