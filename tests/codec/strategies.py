"""Hypothesis strategies for codec models that round-trip through KV bytes.

Importable by other test suites (``from tests.codec.strategies import payments``).
Everything generated here is *canonical*: ``decode(encode(x)) == x`` and
``encode(decode(encode(x))) == encode(x)``. Constraints that follow from that:

* an attempt without a hash has first_hop_amount 0 and no wire records (not
  representable in KV);
* legacy-payload hops carry no records (the writer drops them);
* IncorrectOrUnknownPaymentDetails always has amount and height (absent ones
  re-decode as 0);
* custom-record types are >= 65536 (stray lower types are tested separately);
* blinding points are valid 33-byte compressed keys (multiples of G);
* the payment value covers what non-failed HTLCs send (setState).
"""

from __future__ import annotations

from hypothesis import strategies as st

from migwizard.core.codec import onion
from migwizard.core.codec.model import (
    AMPRecord,
    ChannelUpdate,
    DuplicatePayment,
    FailureMessage,
    HTLCAttempt,
    HTLCFailInfo,
    HTLCSettleInfo,
    Hop,
    MPPRecord,
    Payment,
    PaymentCreationInfo,
    Route,
)
from migwizard.core.codec.primitives import w_time
from migwizard.core.codec.secp256k1 import N, compressed, point_mul

U16 = st.integers(0, 2**16 - 1)
U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
I32 = st.integers(-(2**31), 2**31 - 1)
AMOUNT = st.integers(0, 2**50)  # keeps sums far from uint64 wrap-around
B32 = st.binary(min_size=32, max_size=32)
B33 = st.binary(min_size=33, max_size=33)

# Go times as ns: None is the zero time, never 0.
nanos = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1).filter(lambda t: t != 0),
    st.integers(1_500_000_000 * 10**9, 1_900_000_000 * 10**9),
)

custom_types = st.integers(65536, 2**64 - 1)
custom_records = st.dictionaries(custom_types, st.binary(max_size=40), max_size=3)

_G_MULTIPLES = [compressed(point_mul(k)) for k in (1, 2, 3, 7, 0xDEADBEEF, N - 1, N - 2, 2**200 + 5)]
blinding_points = st.one_of(
    st.sampled_from(_G_MULTIPLES),
    st.integers(1, 2**24).map(lambda k: compressed(point_mul(k))),
)


@st.composite
def hops(draw, *, legacy: bool | None = None) -> Hop:
    is_legacy = draw(st.booleans()) if legacy is None else legacy
    hop = Hop(
        pub_key=draw(B33),
        channel_id=draw(U64),
        outgoing_time_lock=draw(U32),
        amt_to_forward=draw(AMOUNT),
        legacy_payload=is_legacy,
    )
    if is_legacy:
        return hop
    if draw(st.booleans()):
        hop.mpp = MPPRecord(payment_addr=draw(B32), total_msat=draw(U64))
    if draw(st.booleans()):
        hop.amp = AMPRecord(
            root_share=draw(B32),
            set_id=draw(B32),
            child_index=draw(st.one_of(U32, st.integers(2**31, 2**32 - 1))),
        )
    hop.encrypted_data = draw(st.one_of(st.none(), st.binary(max_size=64)))
    hop.blinding_point = draw(st.one_of(st.none(), blinding_points))
    hop.metadata = draw(st.one_of(st.none(), st.just(b""), st.binary(max_size=32)))
    hop.total_amt_msat = draw(st.one_of(st.just(0), U64))
    hop.custom_records = draw(custom_records)
    types = [t for t, present in (
        (8, hop.mpp is not None), (10, hop.encrypted_data is not None), (12, hop.blinding_point is not None),
        (14, hop.amp is not None), (16, hop.metadata is not None), (18, hop.total_amt_msat != 0),
    ) if present] + list(hop.custom_records)
    # Go map order: any permutation is a valid stored order.
    hop.record_order = tuple(draw(st.permutations(types))) if types else None
    return hop


@st.composite
def routes(draw, *, min_hops: int = 1, with_tlv: bool = True) -> Route:
    return Route(
        total_time_lock=draw(U32),
        total_amount=draw(U64),
        source_pub_key=draw(B33),
        hops=draw(st.lists(hops(), min_size=min_hops, max_size=3)),
        first_hop_amount=draw(U64) if with_tlv else 0,
        first_hop_wire_custom_records=draw(custom_records) if with_tlv else {},
    )


@st.composite
def channel_updates(draw) -> ChannelUpdate:
    flags = draw(st.integers(0, 255))
    return ChannelUpdate(
        signature=draw(st.binary(min_size=64, max_size=64)),
        chain_hash=draw(B32),
        short_channel_id=draw(U64),
        timestamp=draw(U32),
        message_flags=flags,
        channel_flags=draw(st.integers(0, 255)),
        time_lock_delta=draw(U16),
        htlc_minimum_msat=draw(U64),
        base_fee=draw(U32),
        fee_rate=draw(U32),
        htlc_maximum_msat=draw(U64) if flags & 1 else 0,
        inbound_fee=draw(st.one_of(st.none(), st.tuples(I32, I32))),
    )


@st.composite
def failure_messages(draw, code: int | None = None) -> FailureMessage:
    if code is None:
        code = draw(st.sampled_from(sorted(onion.FAILURE_CODES)))
    m = FailureMessage(code=code)
    if code in onion.ONION_HASH_CODES:
        m.onion_sha256 = draw(B32)
    if code in onion.HTLC_MSAT_CODES:
        m.htlc_msat = draw(U64)
    if code in onion.CLTV_CODES:
        m.cltv_expiry = draw(U32)
    if code == onion.CHANNEL_DISABLED:
        m.flags = draw(U16)
    if code in onion.UPDATE_CODES:
        m.update = draw(channel_updates())
    if code == onion.TEMPORARY_CHANNEL_FAILURE:
        m.update = draw(st.one_of(st.none(), channel_updates()))
    if code == onion.INCORRECT_DETAILS:
        m.amount_msat = draw(U64)
        m.height = draw(U32)
        m.extra_opaque_data = draw(st.one_of(st.just(b""), st.binary(max_size=20)))
    if code == onion.INVALID_ONION_PAYLOAD:
        m.tlv_type = draw(U64)
        m.tlv_offset = draw(U16)
    return m


@st.composite
def fail_infos(draw) -> HTLCFailInfo:
    msg = draw(st.one_of(st.none(), failure_messages()))
    return HTLCFailInfo(
        fail_time=draw(nanos),
        message=msg,
        reason=draw(st.one_of(st.integers(0, 3), st.integers(0, 255))),
        failure_source_index=draw(U32),
        raw_message=onion.encode_failure_message(msg) if msg is not None else b"",
    )


settle_infos = st.builds(HTLCSettleInfo, preimage=B32, settle_time=nanos)


@st.composite
def attempts(draw, attempt_id: int | None = None) -> HTLCAttempt:
    h = draw(st.one_of(st.none(), B32))
    failure = draw(st.one_of(st.none(), fail_infos()))
    return HTLCAttempt(
        attempt_id=draw(U64) if attempt_id is None else attempt_id,
        session_key=draw(B32),
        # A non-failed HTLC needs a final hop (setState); failed ones may have none.
        route=draw(routes(min_hops=0 if failure is not None else 1, with_tlv=h is not None)),
        attempt_time=draw(nanos),
        hash=h,
        settle=draw(st.one_of(st.none(), settle_infos)),
        failure=failure,
    )


@st.composite
def duplicates(draw, seq: int) -> DuplicatePayment:
    settle_kind = draw(st.sampled_from(["none", "legacy", "modern"]))
    settle_raw = None
    if settle_kind == "legacy":
        settle_raw = draw(B32)
    elif settle_kind == "modern":
        settle_raw = draw(B32) + w_time(draw(nanos))
    fail_raw = draw(st.one_of(st.none(), st.just(b""), st.binary(min_size=1, max_size=2)))
    if settle_raw is not None and fail_raw:
        fail_raw = None
    return DuplicatePayment(
        sequence_num=seq,
        payment_hash=draw(B32),
        value=draw(U64),
        creation_time=draw(st.one_of(st.just(0), st.integers(-(2**40), 2**40))) * 10**9,
        payment_request=draw(st.binary(max_size=40)),
        settle_raw=settle_raw,
        fail_raw=fail_raw,
        attempt_raw=draw(st.one_of(st.none(), st.binary(max_size=60))),
        stored_sequence=draw(st.one_of(st.none(), st.just(seq.to_bytes(8, "big")))),
    )


@st.composite
def creation_infos(draw) -> PaymentCreationInfo:
    return PaymentCreationInfo(
        payment_identifier=draw(B32),
        value=draw(U64),
        creation_time=draw(nanos),
        payment_request=draw(st.one_of(st.just(b""), st.binary(max_size=300))),
        first_hop_custom_records=draw(custom_records),
    )


@st.composite
def payments(draw, max_htlcs: int = 4) -> Payment:
    info = draw(creation_infos())
    ids = draw(st.lists(st.one_of(st.integers(0, 5000), U64), unique=True, max_size=max_htlcs))
    htlcs = sorted((draw(attempts(attempt_id=i)) for i in ids), key=lambda a: a.attempt_id)
    sent = sum(a.route.hops[-1].amt_to_forward for a in htlcs if a.failure is None)
    info.value = min(2**64 - 1, sent + draw(st.integers(0, 2**50)))
    dup_seqs = draw(st.lists(U64, unique=True, max_size=2))
    return Payment(
        sequence_num=draw(U64),
        info=info,
        htlcs=htlcs,
        failure_reason=draw(st.one_of(st.none(), st.integers(0, 5))),
        duplicates=[draw(duplicates(s)) for s in sorted(dup_seqs)],
        has_htlc_bucket=bool(htlcs) or draw(st.booleans()),
    )
