"""fetchPayment: one payment sub-bucket -> :class:`Payment` (and back).

Works on any object with ``get``/``bucket``/``items``/``sequence`` (the core.kv
bucket interface, or :class:`kvtree.DictBucket`), so it is independent of the
store. Every DecodeError leaving here names the payment and the full key path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .attempt import decode_attempt_info, encode_attempt_info
from .creation import decode_creation_info, encode_creation_info
from .duplicate import decode_legacy_creation_info, encode_legacy_creation_info, parse_duplicate_settle
from .errors import DecodeError, render_key
from .index import decode_failure_reason, decode_sequence, encode_failure_reason, encode_sequence
from .keys import (
    DUPLICATE_ATTEMPT_INFO_KEY,
    DUPLICATE_FAIL_INFO_KEY,
    DUPLICATE_SETTLE_INFO_KEY,
    HTLC_ATTEMPT_INFO_PREFIX,
    HTLC_FAIL_INFO_PREFIX,
    HTLC_SETTLE_INFO_PREFIX,
    PAYMENT_CREATION_INFO_KEY,
    PAYMENT_DUPLICATE_BUCKET,
    PAYMENT_FAIL_INFO_KEY,
    PAYMENT_HTLCS_BUCKET,
    PAYMENT_SEQUENCE_KEY,
    htlc_key,
)
from .model import DuplicatePayment, HTLCAttempt, HTLCFailInfo, HTLCSettleInfo, Payment
from .resolution import decode_fail_info, decode_settle_info, encode_fail_info, encode_settle_info
from .status import check_sent_not_exceeding_total

T = TypeVar("T")


class Bucket(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def bucket(self, key: bytes) -> "Bucket | None": ...
    def items(self) -> Any: ...
    def sequence(self) -> int: ...


class _Where:
    """Builds key paths and attaches them to errors for one payment."""

    def __init__(self, payment_id: bytes, key_prefix: str) -> None:
        self.payment_id = bytes(payment_id)
        self.prefix = key_prefix

    def key(self, *parts: bytes | str) -> str:
        return render_key(*([self.prefix] if self.prefix else []), self.payment_id, *parts)

    def decode(self, fn: Callable[[bytes], T], raw: bytes, *parts: bytes | str) -> T:
        try:
            return fn(raw)
        except DecodeError as e:
            raise e.with_context(payment=self.payment_id, key=self.key(*parts)) from None

    def error(self, reason: str, code: str, *parts: bytes | str) -> DecodeError:
        return DecodeError(reason, payment=self.payment_id, key=self.key(*parts), code=code)


def fetch_payment(bucket: Bucket, *, payment_id: bytes, key_prefix: str = "payments-root-bucket") -> Payment:
    """Read one ``payments-root-bucket/<id>`` sub-bucket the way LND does."""
    where = _Where(payment_id, key_prefix)

    seq_raw = bucket.get(PAYMENT_SEQUENCE_KEY)
    if seq_raw is None:
        raise where.error("sequence number not found", "no_sequence", PAYMENT_SEQUENCE_KEY)
    sequence_num = where.decode(decode_sequence, seq_raw, PAYMENT_SEQUENCE_KEY)

    ci_raw = bucket.get(PAYMENT_CREATION_INFO_KEY)
    if ci_raw is None:
        raise where.error("creation info not found", "no_creation_info", PAYMENT_CREATION_INFO_KEY)
    info = where.decode(decode_creation_info, ci_raw, PAYMENT_CREATION_INFO_KEY)

    htlcs_bucket = bucket.bucket(PAYMENT_HTLCS_BUCKET)
    htlcs = _fetch_htlc_attempts(htlcs_bucket, where) if htlcs_bucket is not None else []

    failure_reason = None
    fail_raw = bucket.get(PAYMENT_FAIL_INFO_KEY)
    if fail_raw is not None:
        failure_reason = where.decode(decode_failure_reason, fail_raw, PAYMENT_FAIL_INFO_KEY)

    payment = Payment(
        sequence_num=sequence_num,
        info=info,
        htlcs=htlcs,
        failure_reason=failure_reason,
        has_htlc_bucket=htlcs_bucket is not None,
    )
    try:
        check_sent_not_exceeding_total(payment)
    except DecodeError as e:
        raise e.with_context(payment=where.payment_id, key=where.key()) from None

    dup_bucket = bucket.bucket(PAYMENT_DUPLICATE_BUCKET)
    if dup_bucket is not None:
        payment.duplicates = _fetch_duplicates(dup_bucket, where)
    return payment


def _fetch_htlc_attempts(bucket: Bucket, where: _Where) -> list[HTLCAttempt]:
    attempts: dict[int, HTLCAttempt] = {}
    settles: dict[int, HTLCSettleInfo] = {}
    fails: dict[int, HTLCFailInfo] = {}
    seen: set[int] = set()
    attempt_info_count = 0
    for key, value in bucket.items():
        key = bytes(key)
        if len(key) < 8:
            # Go slices k[len(k)-8:] and panics.
            raise where.error(f"htlc key {key.hex()} shorter than 8 bytes", "bad_htlc_key", PAYMENT_HTLCS_BUCKET, key)
        aid = int.from_bytes(key[-8:], "big")
        seen.add(aid)
        raw = value if value is not None else b""  # a sub-bucket reads as a nil value
        if key.startswith(HTLC_ATTEMPT_INFO_PREFIX):
            attempts[aid] = where.decode(lambda b, a=aid: decode_attempt_info(b, a), raw, PAYMENT_HTLCS_BUCKET, key)
            attempt_info_count += 1
        elif key.startswith(HTLC_SETTLE_INFO_PREFIX):
            settles[aid] = where.decode(decode_settle_info, raw, PAYMENT_HTLCS_BUCKET, key)
        elif key.startswith(HTLC_FAIL_INFO_PREFIX):
            fails[aid] = where.decode(decode_fail_info, raw, PAYMENT_HTLCS_BUCKET, key)
        else:
            raise where.error("unknown htlc attempt key", "unknown_htlc_key", PAYMENT_HTLCS_BUCKET, key)
    # LND compares the number of ai keys with the number of distinct ids.
    if attempt_info_count != len(seen):
        missing = sorted(seen - attempts.keys())
        detail = f" (attempt {missing[0]})" if missing else ""
        raise where.error(
            f"unable to find attempt info for inflight payment{detail}", "no_attempt_info", PAYMENT_HTLCS_BUCKET
        )
    out = []
    for aid in sorted(attempts):
        a = attempts[aid]
        a.settle = settles.get(aid)
        a.failure = fails.get(aid)
        out.append(a)
    return out


def _fetch_duplicates(bucket: Bucket, where: _Where) -> list[DuplicatePayment]:
    out = []
    for key, value in bucket.items():
        key = bytes(key)
        if len(key) != 8 or value is not None:
            continue  # LND skips (and warns about) odd keys and plain values
        sub = bucket.bucket(key)
        if sub is None:
            continue
        seq = int.from_bytes(key, "big")
        parts = (PAYMENT_DUPLICATE_BUCKET, key)
        ci_raw = sub.get(PAYMENT_CREATION_INFO_KEY)
        if ci_raw is None:
            raise where.error(f"duplicate payment seq={seq} missing creation info", "no_creation_info", *parts)
        phash, value_msat, created, payreq = where.decode(
            decode_legacy_creation_info, ci_raw, *parts, PAYMENT_CREATION_INFO_KEY
        )
        settle = sub.get(DUPLICATE_SETTLE_INFO_KEY)
        fail = sub.get(DUPLICATE_FAIL_INFO_KEY)
        if settle is not None and fail:
            raise where.error(
                f"duplicate payment seq={seq} has both settle and fail info", "duplicate_settle_and_fail", *parts
            )
        if settle is not None:
            where.decode(parse_duplicate_settle, settle, *parts, DUPLICATE_SETTLE_INFO_KEY)
        out.append(
            DuplicatePayment(
                sequence_num=seq,
                payment_hash=phash,
                value=value_msat,
                creation_time=created,
                payment_request=payreq,
                settle_raw=settle,
                fail_raw=fail,
                attempt_raw=sub.get(DUPLICATE_ATTEMPT_INFO_KEY),
                stored_sequence=sub.get(PAYMENT_SEQUENCE_KEY),
            )
        )
    return out


# -- writing ------------------------------------------------------------------


def htlcs_to_kv(htlcs: list[HTLCAttempt]) -> dict[bytes, bytes]:
    tree: dict[bytes, bytes] = {}
    for a in htlcs:
        tree[htlc_key(HTLC_ATTEMPT_INFO_PREFIX, a.attempt_id)] = encode_attempt_info(a)
        if a.settle is not None:
            tree[htlc_key(HTLC_SETTLE_INFO_PREFIX, a.attempt_id)] = encode_settle_info(a.settle)
        if a.failure is not None:
            tree[htlc_key(HTLC_FAIL_INFO_PREFIX, a.attempt_id)] = encode_fail_info(a.failure)
    return tree


def duplicate_to_kv(d: DuplicatePayment) -> dict[bytes, bytes]:
    tree: dict[bytes, bytes] = {
        PAYMENT_CREATION_INFO_KEY: encode_legacy_creation_info(d.payment_hash, d.value, d.creation_time, d.payment_request)
    }
    for k, v in (
        (PAYMENT_SEQUENCE_KEY, d.stored_sequence),
        (DUPLICATE_SETTLE_INFO_KEY, d.settle_raw),
        (DUPLICATE_FAIL_INFO_KEY, d.fail_raw),
        (DUPLICATE_ATTEMPT_INFO_KEY, d.attempt_raw),
    ):
        if v is not None:
            tree[k] = bytes(v)
    return tree


def payment_to_kv(payment: Payment) -> dict[bytes, Any]:
    """The payment's sub-bucket as ``{key: bytes | dict}`` (dict = sub-bucket).

    The htlcs bucket is written when there are attempts or ``has_htlc_bucket``
    is set; the duplicates bucket when there are duplicates.
    """
    tree: dict[bytes, Any] = {
        PAYMENT_SEQUENCE_KEY: encode_sequence(payment.sequence_num),
        PAYMENT_CREATION_INFO_KEY: encode_creation_info(payment.info),
    }
    if payment.failure_reason is not None:
        tree[PAYMENT_FAIL_INFO_KEY] = encode_failure_reason(payment.failure_reason)
    if payment.htlcs or payment.has_htlc_bucket:
        tree[PAYMENT_HTLCS_BUCKET] = htlcs_to_kv(payment.htlcs)
    if payment.duplicates:
        tree[PAYMENT_DUPLICATE_BUCKET] = {d.sequence_num.to_bytes(8, "big"): duplicate_to_kv(d) for d in payment.duplicates}
    return tree
