"""The in-memory shape of an LND payment, as LND's frozen ``migration1`` package sees it.

Field names follow the Go structs (``payments/db/migration1``) so a reviewer can
hold the two side by side. Two deliberate representation choices:

* **Times are integer nanoseconds** (Go ``UnixNano``), because Python ``datetime``
  drops nanoseconds. ``None`` is Go's *zero* ``time.Time`` (year 1), which KV
  stores as ``0``; it is **not** the Unix epoch. Legacy duplicate creation times
  are seconds in KV and ``0`` there means 1970, so they decode to ``0`` ns, not
  ``None``.
* **Byte-exact round trips.** Where LND's writer has freedom (per-hop records
  written in Go map order) the decoder remembers what it saw in fields marked
  ``compare=False`` so ``encode(decode(b)) == b`` for every canonical record,
  while equality still means "same payment".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# A Go time.Time as int nanoseconds since the Unix epoch; None is Go's zero time.
Nanos = int | None

# TLV / hop record types (record/hop.go, record/mpp.go, record/amp.go).
MPP_ONION_TYPE = 8
ENCRYPTED_DATA_ONION_TYPE = 10
BLINDING_POINT_ONION_TYPE = 12
AMP_ONION_TYPE = 14
METADATA_ONION_TYPE = 16
TOTAL_AMT_MSAT_BLINDED_TYPE = 18
MIN_CUSTOM_RECORDS_TLV_TYPE = 65536
KEYSEND_PREIMAGE_TYPE = 5482373484


class PaymentStatus(enum.IntEnum):
    """payment_status.go; 0 (unknown) is deprecated and never derived."""

    INITIATED = 1
    IN_FLIGHT = 2
    SUCCEEDED = 3
    FAILED = 4

    @property
    def label(self) -> str:
        return {1: "initiated", 2: "in-flight", 3: "succeeded", 4: "failed"}[int(self)]


class FailureReason(enum.IntEnum):
    """Payment-level fail reason (payment.go). 0 is a real reason (timeout), not 'none'."""

    TIMEOUT = 0
    NO_ROUTE = 1
    ERROR = 2
    INCORRECT_PAYMENT_DETAILS = 3
    INSUFFICIENT_BALANCE = 4
    CANCELED = 5

    @property
    def label(self) -> str:
        return {
            0: "timeout",
            1: "no_route",
            2: "error",
            3: "incorrect_payment_details",
            4: "insufficient_balance",
            5: "canceled",
        }[int(self)]


class HTLCFailReason(enum.IntEnum):
    """Per-attempt fail reason (payment.go:182-202)."""

    UNKNOWN = 0
    UNREADABLE = 1
    INTERNAL = 2
    MESSAGE = 3


@dataclass
class MPPRecord:
    payment_addr: bytes  # 32 bytes
    total_msat: int


@dataclass
class AMPRecord:
    root_share: bytes  # 32 bytes
    set_id: bytes  # 32 bytes
    child_index: int  # uint32


@dataclass
class Hop:
    pub_key: bytes  # 33 bytes (route.Vertex)
    channel_id: int  # u64 short channel id
    outgoing_time_lock: int  # u32
    amt_to_forward: int  # u64 msat
    legacy_payload: bool = False
    mpp: MPPRecord | None = None
    amp: AMPRecord | None = None
    encrypted_data: bytes | None = None  # None = absent; b"" = present but empty
    blinding_point: bytes | None = None  # as stored (33 or 65 bytes); None = absent
    metadata: bytes | None = None  # None = absent; b"" = present but empty
    total_amt_msat: int = 0  # blinded total; 0 = absent
    custom_records: dict[int, bytes] = field(default_factory=dict)
    # Order in which the record types appeared in KV (Go map order). Only used to
    # re-encode byte-exactly; None means "write in ascending type order".
    record_order: tuple[int, ...] | None = field(default=None, compare=False, repr=False)


@dataclass
class Route:
    total_time_lock: int  # u32
    total_amount: int  # u64 msat
    source_pub_key: bytes  # 33 bytes
    hops: list[Hop] = field(default_factory=list)
    # These two live in the attempt's trailing TLV, not in the route bytes (§2.4).
    first_hop_amount: int = 0
    first_hop_wire_custom_records: dict[int, bytes] = field(default_factory=dict)


@dataclass
class ChannelUpdate:
    """lnwire.ChannelUpdate1 as carried inside an onion failure (§2.7)."""

    signature: bytes  # 64
    chain_hash: bytes  # 32
    short_channel_id: int  # u64
    timestamp: int  # u32
    message_flags: int  # u8
    channel_flags: int  # u8
    time_lock_delta: int  # u16
    htlc_minimum_msat: int  # u64
    base_fee: int  # u32
    fee_rate: int  # u32
    htlc_maximum_msat: int = 0  # only on the wire when message_flags & 1
    # Inbound fee (TLV 55555): (base, rate) as int32, or None when absent.
    inbound_fee: tuple[int, int] | None = None


@dataclass
class FailureMessage:
    """A decoded onion failure: the 2-byte code plus whichever payload fields it has.

    One generic shape instead of 25 classes: the code decides which fields are
    meaningful (see ``onion.FAILURE_CODES``). Fields not used by a code stay None.
    """

    code: int
    onion_sha256: bytes | None = None  # 0xC004/5/6, 0xC018 (32 bytes)
    htlc_msat: int | None = None  # AmountBelowMinimum, FeeInsufficient, FinalIncorrectHtlcAmount
    cltv_expiry: int | None = None  # IncorrectCltvExpiry, FinalIncorrectCltvExpiry
    flags: int | None = None  # ChannelDisabled
    update: ChannelUpdate | None = None  # the ChannelUpdate-carrying codes (may be None for len 0)
    amount_msat: int | None = None  # IncorrectOrUnknownPaymentDetails
    height: int | None = None  # IncorrectOrUnknownPaymentDetails
    tlv_type: int | None = None  # InvalidOnionPayload
    tlv_offset: int | None = None  # InvalidOnionPayload (u16)
    # IncorrectOrUnknownPaymentDetails: whatever followed the height. LND keeps it
    # (ExtraOpaqueData) and writes it back verbatim, so it is part of the message.
    extra_opaque_data: bytes = b""


@dataclass
class HTLCSettleInfo:
    preimage: bytes  # 32
    settle_time: Nanos


@dataclass
class HTLCFailInfo:
    fail_time: Nanos
    message: FailureMessage | None  # None: no message, or undecodable extra TLV (tolerated)
    reason: int  # HTLCFailReason (u8; kept as int so unknown values survive)
    failure_source_index: int  # u32
    # The failure-message bytes exactly as stored in KV (b"" = no message). The SQL
    # side stores the *re-encoding* of ``message`` instead (§4.5).
    raw_message: bytes = field(default=b"", compare=False, repr=False)
    # True when the message bytes were kept as Message=nil because only the
    # ChannelUpdate's extra TLV failed to parse (LND's ErrParsingExtraTLVBytes).
    message_dropped: bool = False


@dataclass
class HTLCAttempt:
    attempt_id: int  # from the KV key, not the value
    session_key: bytes  # 32 raw bytes
    route: Route
    attempt_time: Nanos
    hash: bytes | None  # None for legacy attempts written without a hash
    settle: HTLCSettleInfo | None = None
    failure: HTLCFailInfo | None = None
    # 1-31 stray bytes after the attempt time that LND ignores (non-canonical).
    ignored_tail: bytes = field(default=b"", compare=False, repr=False)
    # True when the stored value ends right after the hash, with no TLV at all
    # (LND before the first-hop TLV, e.g. 2024 regtest data). Today's writer
    # always emits the TLV (``00 01 00`` at least); only used to re-encode
    # such values byte-exactly.
    tlv_absent: bool = field(default=False, compare=False, repr=False)


@dataclass
class PaymentCreationInfo:
    payment_identifier: bytes  # 32
    value: int  # u64 msat
    creation_time: Nanos
    payment_request: bytes = b""
    first_hop_custom_records: dict[int, bytes] = field(default_factory=dict)


@dataclass
class DuplicatePayment:
    """A legacy duplicate (channeldb migration 9) under payment-duplicate-bucket/<seq>."""

    sequence_num: int  # the sub-bucket key
    payment_hash: bytes
    value: int
    creation_time: int  # ns, from *seconds* in KV: 0 means 1970, never the zero time
    payment_request: bytes = b""
    settle_raw: bytes | None = None  # payment-settle-info as stored (None = absent)
    fail_raw: bytes | None = None  # payment-fail-info as stored (None = absent)
    attempt_raw: bytes | None = None  # payment-attempt-info (never migrated)
    stored_sequence: bytes | None = None  # payment-sequence-key inside the sub-bucket


@dataclass
class Payment:
    """One entry of payments-root-bucket, as fetchPayment returns it."""

    sequence_num: int
    info: PaymentCreationInfo
    htlcs: list[HTLCAttempt] = field(default_factory=list)
    failure_reason: int | None = None  # FailureReason value, None when absent
    duplicates: list[DuplicatePayment] = field(default_factory=list)
    has_htlc_bucket: bool = field(default=False, compare=False)

    @property
    def identifier(self) -> bytes:
        return self.info.payment_identifier
