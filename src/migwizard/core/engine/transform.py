"""LND's migration-time changes to a payment, applied to the model before writing.

``expected_sql_payment`` turns a payment as decoded from KV into the payment that
LND's SQL store would hand back after ``payments/db/migration1`` migrated it
(§4.4-§4.7). Rows are written from its result, and validation compares what SQL
really holds against it. Each change is a named normalisation (``NORMALISATIONS``),
counted once per occurrence, so a report can say exactly what was altered and why.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

from ..codec import (
    DecodeError,
    decide_status,
    decode_failure_message,
    encode_failure_message,
    normalize_session_key,
    parse_pubkey,
)
from ..codec.model import (
    FailureReason,
    HTLCFailInfo,
    HTLCFailReason,
    Payment,
    PaymentStatus,
)
from .normalisations import NormalisationCounter

MAX_INT64 = (1 << 63) - 1


class MigrationReject(Exception):
    """LND's migration would abort on this payment; we fail closed with the same reason."""

    def __init__(self, message: str, *, payment: bytes, key: str | None = None, offset: int | None = None) -> None:
        self.payment = payment
        self.key = key
        self.offset = offset
        where = f"payment {payment.hex()}"
        if key:
            where += f", key {key}"
        if offset is not None:
            where += f", byte offset {offset}"
        super().__init__(f"{message} ({where})")


@dataclass
class Transformed:
    payment: Payment  # the expected SQL view
    names: list[str] = field(default_factory=list)  # normalisations applied, in order
    remapped: dict[int, int] = field(default_factory=dict)  # attempt index -> original id (0)


def _hit(out: Transformed, counter: NormalisationCounter | None, name: str) -> None:
    out.names.append(name)
    if counter is not None:
        counter.hit(name)


def terminalise_legacy_zero_attempts(p: Payment, out: Transformed, counter: NormalisationCounter | None) -> None:
    """terminalizeUnresolvedLegacyZeroAttempts (§4.6), only for in-flight payments."""
    if decide_status(p) is not PaymentStatus.IN_FLIGHT:
        return
    has_settled = False
    has_nonzero_inflight = False
    terminalised = 0
    for h in p.htlcs:
        if h.settle is not None:
            has_settled = True
        elif h.failure is not None:
            continue
        elif h.attempt_id == 0:
            h.failure = HTLCFailInfo(
                fail_time=None, message=None, reason=int(HTLCFailReason.UNKNOWN), failure_source_index=0
            )
            terminalised += 1
            _hit(out, counter, "legacy_zero_attempt_terminalised")
        else:
            has_nonzero_inflight = True
    if terminalised and not has_settled and not has_nonzero_inflight and p.failure_reason is None:
        p.failure_reason = int(FailureReason.ERROR)
        _hit(out, counter, "legacy_zero_payment_failed")


def expected_sql_payment(
    kv_payment: Payment,
    index_hash: bytes,
    *,
    allocate_zero_id: Callable[[], int] | None,
    zero_id_by_session_key: dict[bytes, int] | None = None,
    counter: NormalisationCounter | None = None,
    truncate_us: bool = False,
    in_place: bool = False,
    sort_remapped: bool = False,
) -> Transformed:
    """The payment LND's SQL store returns after migrating ``kv_payment``.

    Exactly one of ``allocate_zero_id`` (migration: hand out fresh IDs) and
    ``zero_id_by_session_key`` (validation: match by session key, as LND's
    ``normalizeLegacyZeroAttemptIDsForCompare``) is used for legacy ID-0 attempts.
    Raises MigrationReject where LND's migration aborts. Duplicates are left alone
    (``rows.expected_duplicates`` maps them).
    """
    # in_place: the caller decoded this payment for this call alone (the hot paths);
    # copying it would cost half the migration's time.
    p = kv_payment if in_place else copy.deepcopy(kv_payment)
    out = Transformed(payment=p)
    pid = index_hash

    terminalise_legacy_zero_attempts(p, out, counter)
    _check_record_keys(p.info.first_hop_custom_records, "payment_first_hop_custom_records", pid, "payment level")

    p.htlcs.sort(key=lambda h: h.attempt_id)
    for h in p.htlcs:
        if h.attempt_id == 0:
            if allocate_zero_id is not None:
                new_id = allocate_zero_id()
            else:
                new_id = (zero_id_by_session_key or {}).get(normalize_session_key(h.session_key), 0)
            out.remapped[new_id] = 0
            h.attempt_id = new_id
            _hit(out, counter, "legacy_zero_attempt_id_remapped")
        if h.attempt_id > MAX_INT64:
            raise MigrationReject(
                f"unable to convert HTLC attempt ID {h.attempt_id} to SQL attempt index", payment=pid
            )
        key = normalize_session_key(h.session_key)
        if key != h.session_key:
            h.session_key = key
            _hit(out, counter, "session_key_reduced")
        if h.hash is None:
            h.hash = pid
            _hit(out, counter, "nil_hash_from_payment")
        route = h.route
        _check_record_keys(route.first_hop_wire_custom_records, "payment_attempt_first_hop_custom_records", pid,
                           f"attempt {h.attempt_id}")
        if len(route.source_pub_key) != 33:
            route.source_pub_key = route.source_pub_key[:33].ljust(33, b"\x00")
            _hit(out, counter, "route_key_resized")
        for i, hop in enumerate(route.hops):
            if len(hop.pub_key) != 33:
                hop.pub_key = hop.pub_key[:33].ljust(33, b"\x00")
                _hit(out, counter, "route_key_resized")
            if hop.legacy_payload:
                hop.legacy_payload = False
                _hit(out, counter, "legacy_payload_dropped")
            has_ed = bool(hop.encrypted_data)
            if not has_ed:
                if hop.blinding_point is not None:
                    raise MigrationReject(
                        f"invalid blinded hop: payment_hash={pid[:8].hex()}, attempt_index={h.attempt_id}, "
                        f"hop={i}: blinding point requires encrypted recipient data",
                        payment=pid,
                    )
                if hop.total_amt_msat != 0:
                    hop.total_amt_msat = 0
                    _hit(out, counter, "orphaned_blinded_total_dropped")
                hop.encrypted_data = None
            if hop.blinding_point is not None and len(hop.blinding_point) != 33:
                hop.blinding_point = parse_pubkey(hop.blinding_point)
                _hit(out, counter, "blinding_point_recompressed")
            _check_record_keys(hop.custom_records, "payment_hop_custom_records", pid,
                               f"attempt {h.attempt_id}, hop {i}")
            hop.record_order = None
        if h.settle is not None and h.failure is not None:
            h.failure = None
            _hit(out, counter, "settle_and_fail_settle_wins")
        if h.failure is not None:
            f = h.failure
            if f.message is not None:
                wire = encode_failure_message(f.message)
                if wire != f.raw_message:
                    _hit(out, counter, "failure_message_reencoded")
                try:
                    f.message = decode_failure_message(wire)
                except DecodeError as e:  # our encoder produced something LND could not read back
                    raise MigrationReject(f"failure message does not re-encode readably: {e.reason}", payment=pid)
                f.raw_message = wire
            elif f.message_dropped:
                _hit(out, counter, "failure_message_dropped")
                f.message_dropped = False
                f.raw_message = b""
            else:
                f.raw_message = b""
    if sort_remapped and out.remapped:
        # For comparisons only: SQL hands attempts back by attempt_index, and a remapped
        # legacy attempt may now sort after the others. The writer keeps LND's insert order.
        p.htlcs.sort(key=lambda h: h.attempt_id)
    if truncate_us:
        _truncate_times(p)
        # Counted once per payment: the precision loss is systematic, not per value.
        _hit(out, counter, "timestamps_truncated_to_microseconds")
    p.has_htlc_bucket = False
    return out


def _check_record_keys(records: dict[int, bytes], table: str, pid: bytes, where: str) -> None:
    """LND stores custom-record types as int64 under CHECK (key >= 65536): a type below 65536,
    or one >= 2^63 (negative after the cast), aborts its migration; we refuse it by name first."""
    for rtype in records:
        if rtype < 65536 or rtype > MAX_INT64:
            why = "below 65536" if rtype < 65536 else ">= 2^63, negative as int64,"
            raise MigrationReject(
                f"custom record type {rtype} {why} would violate CHECK (key >= 65536) in {table} ({where})",
                payment=pid,
            )


def truncate_ns_to_us(ns: int | None) -> int | None:
    if ns is None:
        return None
    return ns - (ns % 1000)


def _truncate_times(p: Payment) -> None:
    p.info.creation_time = truncate_ns_to_us(p.info.creation_time)
    for h in p.htlcs:
        h.attempt_time = truncate_ns_to_us(h.attempt_time)
        if h.settle is not None:
            h.settle.settle_time = truncate_ns_to_us(h.settle.settle_time)
        if h.failure is not None:
            h.failure.fail_time = truncate_ns_to_us(h.failure.fail_time)
