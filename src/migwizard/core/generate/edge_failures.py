"""Edge cases of failure data: all 25 failure codes, the byte forms LND re-encodes, settle and fail together.

Part of profile ``edge`` (see :mod:`.edge_cases`)."""

from __future__ import annotations

from migwizard.core.codec.model import (
    FailureMessage,
    FailureReason,
    HTLCFailInfo,
    HTLCFailReason,
    Payment,
)
from migwizard.core.codec.onion import FAILURE_CODES, encode_channel_update
from migwizard.core.codec.primitives import w_u16, w_u64

from .builders import (
    MS,
    NS,
    Builder,
    FailSpec,
    Generated,
    sha256,
)

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
