"""A payment's status, attempt and hop counts from key presence alone.

Preflight totals every payment of a store before anything is migrated; decoding
every value for that would cost as much as the migration itself. The status
follows decidePaymentStatus through :func:`.status.status_from_flags`, the same
decision the full decode uses, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .attempt import peek_num_hops
from .keys import (
    HTLC_ATTEMPT_INFO_PREFIX,
    HTLC_FAIL_INFO_PREFIX,
    HTLC_SETTLE_INFO_PREFIX,
    PAYMENT_CREATION_INFO_KEY,
    PAYMENT_FAIL_INFO_KEY,
    PAYMENT_HTLCS_BUCKET,
)
from .model import PaymentStatus
from .status import status_from_flags


@dataclass(frozen=True)
class PaymentPeek:
    status: PaymentStatus
    attempts: int
    hops: int
    value_bytes: int  # HTLC keys and values plus the creation info: the space estimate's input


def peek_payment(bucket: Any) -> PaymentPeek:
    """Peek at one payments-root-bucket/<hash> bucket without decoding its values."""
    size = 0
    hops = 0
    kinds: dict[bytes, set[bytes]] = {}  # attempt id (key suffix) -> ai/si/fi present
    hb = bucket.bucket(PAYMENT_HTLCS_BUCKET)
    if hb is not None:
        for k, v in hb.items():
            size += len(k) + (len(v) if v else 0)
            kinds.setdefault(k[-8:], set()).add(k[:2])
            if v and k[:2] == HTLC_ATTEMPT_INFO_PREFIX:
                hops += peek_num_hops(v)
    status = status_from_flags(
        inflight=any(HTLC_SETTLE_INFO_PREFIX not in s and HTLC_FAIL_INFO_PREFIX not in s for s in kinds.values()),
        settled=any(HTLC_SETTLE_INFO_PREFIX in s and HTLC_FAIL_INFO_PREFIX not in s for s in kinds.values()),
        failed=any(HTLC_FAIL_INFO_PREFIX in s for s in kinds.values()),
        has_failure_reason=bucket.get(PAYMENT_FAIL_INFO_KEY) is not None,
    )
    ci = bucket.get(PAYMENT_CREATION_INFO_KEY)
    return PaymentPeek(status, len(kinds), hops, size + (len(ci) if ci else 0))
