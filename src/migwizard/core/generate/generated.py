"""What the generators hand to the writer: a payment plus the raw bytes the codec cannot produce.

Separate from the builder so the writer depends on this small record, not on
the whole random factory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migwizard.core.codec.model import Payment


@dataclass
class Generated:
    """One payment to write, plus what the writer needs beyond the model.

    ``overrides`` maps a key path inside the payment's bucket (e.g.
    ``(b"payment-htlcs-bucket", b"fi" + id8)``) to the exact bytes to store
    instead of the codec's canonical encoding (``None``: leave the key out). ``cases`` names the edge cases
    this payment was built for (informational; tests check the decoded data).
    """

    payment: Payment
    cases: tuple[str, ...] = ()
    overrides: dict[tuple[bytes, ...], bytes | None] = field(default_factory=dict)
    #: attempt id -> the exact failure-message bytes to store in its ``fi`` value
    #: (non-canonical encodings that decode to ``failure.message``).
    raw_fail_messages: dict[int, bytes] = field(default_factory=dict)
    #: Write the payment bucket but not its index entries (reject cases only).
    skip_index: bool = False


def htlc_key(prefix: bytes, attempt_id: int) -> bytes:
    return prefix + attempt_id.to_bytes(8, "big")
