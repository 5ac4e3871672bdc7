"""Onion failure messages: every code both ways, and each lnwire leniency."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migwizard.core.codec import (
    FAILURE_CODES,
    DecodeError,
    ExtraTLVError,
    decode_fail_info,
    decode_failure_message,
    encode_channel_update,
    encode_fail_info,
    encode_failure_message,
    failure_name,
)
from migwizard.core.codec.model import ChannelUpdate, FailureMessage, HTLCFailInfo
from migwizard.core.codec.primitives import w_tlv_record, w_var_bytes

from .strategies import failure_messages

UPD = ChannelUpdate(
    signature=b"\x30" * 64, chain_hash=b"\x06" * 32, short_channel_id=(700000 << 40) | (3 << 16) | 1,
    timestamp=1700000000, message_flags=1, channel_flags=1, time_lock_delta=40, htlc_minimum_msat=1000,
    base_fee=1000, fee_rate=1, htlc_maximum_msat=99_000_000, inbound_fee=(-5, -100),
)


def _update_body(u: ChannelUpdate) -> bytes:
    """ChannelUpdate bytes without the u16 length and 0x0102 prefix."""
    return encode_channel_update(u)[4:]


def test_table_has_every_code():
    assert len(FAILURE_CODES) == 25
    assert failure_name(0x400F) == "IncorrectOrUnknownPaymentDetails"
    assert failure_name(0x1234) == "<unknown>"


@settings(max_examples=300, deadline=None)
@given(msg=st.sampled_from(sorted(FAILURE_CODES)).flatmap(failure_messages))
def test_every_code_round_trips(msg):
    raw = encode_failure_message(msg)
    assert raw[:2] == msg.code.to_bytes(2, "big")
    back = decode_failure_message(raw)
    assert back == msg
    assert encode_failure_message(back) == raw


@pytest.mark.parametrize("code", sorted(FAILURE_CODES))
def test_every_code_decodes_minimal_example(code):
    raw = encode_failure_message(FailureMessage(code=code))
    back = decode_failure_message(raw)
    assert back.code == code
    assert encode_failure_message(back) == raw


def test_unknown_code_is_an_error():
    with pytest.raises(DecodeError) as e:
        decode_failure_message(b"\x12\x34")
    assert e.value.code == "unknown_failure_code" and not isinstance(e.value, ExtraTLVError)
    with pytest.raises(DecodeError):
        decode_failure_message(b"\x40")  # not even a code
    # The fail-info decoder does not tolerate it either.
    with pytest.raises(DecodeError):
        decode_fail_info(bytes(8) + w_var_bytes(b"\x12\x34") + bytes(5))


def test_incorrect_details_without_amount_is_zero_filled():
    m = decode_failure_message(b"\x40\x0f")
    assert (m.amount_msat, m.height) == (None, None)
    assert encode_failure_message(m) == b"\x40\x0f" + bytes(12)
    m = decode_failure_message(b"\x40\x0f" + (5000).to_bytes(8, "big"))
    assert (m.amount_msat, m.height) == (5000, None)
    assert encode_failure_message(m) == b"\x40\x0f" + (5000).to_bytes(8, "big") + bytes(4)


def test_incorrect_details_partial_fields_are_errors():
    with pytest.raises(DecodeError):
        decode_failure_message(b"\x40\x0f" + bytes(5))
    with pytest.raises(DecodeError):
        decode_failure_message(b"\x40\x0f" + bytes(8) + bytes(2))


def test_incorrect_details_keeps_extra_opaque_data():
    raw = b"\x40\x0f" + (7).to_bytes(8, "big") + (800).to_bytes(4, "big") + b"\x01\x02\x03"
    m = decode_failure_message(raw)
    assert m.extra_opaque_data == b"\x01\x02\x03"
    assert encode_failure_message(m) == raw


@pytest.mark.parametrize("raw,expect", [
    (b"\x20\x02" + b"junk", b"\x20\x02"),
    (b"\x00\x12" + (9).to_bytes(4, "big") + b"\xff", b"\x00\x12" + (9).to_bytes(4, "big")),
    (b"\xc0\x05" + bytes(32) + b"\x00\x00", b"\xc0\x05" + bytes(32)),
    (b"\x40\x16" + b"\xfd\x01\x00" + b"\x00\x05" + b"zz", b"\x40\x16" + b"\xfd\x01\x00" + b"\x00\x05"),
])
def test_trailing_bytes_after_fixed_payload_are_dropped(raw, expect):
    assert encode_failure_message(decode_failure_message(raw)) == expect


def test_temporary_channel_failure_without_update():
    m = decode_failure_message(b"\x10\x07\x00\x00")
    assert m.update is None
    assert encode_failure_message(m) == b"\x10\x07\x00\x00"
    assert encode_failure_message(FailureMessage(code=0x1007)) == b"\x10\x07\x00\x00"


def test_mandatory_update_with_zero_length_is_an_error():
    with pytest.raises(DecodeError) as e:
        decode_failure_message(b"\x10\x0e\x00\x00")
    assert not isinstance(e.value, ExtraTLVError)


def test_update_without_type_prefix_gets_it_on_reencode():
    body = _update_body(UPD)
    raw = b"\x10\x0e" + len(body).to_bytes(2, "big") + body
    m = decode_failure_message(raw)
    assert m.update == UPD
    assert encode_failure_message(m) == b"\x10\x0e" + (len(body) + 2).to_bytes(2, "big") + b"\x01\x02" + body


def test_update_length_window_and_trailing_bytes():
    body = b"\x01\x02" + _update_body(UPD)
    # Bytes after the length window are ignored.
    raw = b"\x10\x0e" + len(body).to_bytes(2, "big") + body + b"tail"
    assert decode_failure_message(raw).update == UPD
    # A length beyond the end is tolerated (Go's LimitReader just stops).
    raw = b"\x10\x0e" + (len(body) + 50).to_bytes(2, "big") + body
    assert decode_failure_message(raw).update == UPD


def test_htlc_max_only_when_flagged():
    u = ChannelUpdate(**{**UPD.__dict__, "message_flags": 0, "htlc_maximum_msat": 0, "inbound_fee": None})
    enc = encode_channel_update(u)
    assert len(enc) == 2 + 2 + 64 + 32 + 8 + 4 + 1 + 1 + 2 + 8 + 4 + 4
    assert decode_failure_message(b"\x10\x07" + enc).update == u
    enc_max = encode_channel_update(UPD)
    assert len(enc_max) == len(enc) + 8 + 3 + 1 + 8  # htlc_max + TLV 55555 (fdd903, 08, 8 bytes)


def test_unknown_update_tlvs_are_dropped():
    u = ChannelUpdate(**{**UPD.__dict__, "inbound_fee": None})
    body = b"\x01\x02" + _update_body(u) + w_tlv_record(1, b"x") + w_tlv_record(55555, (7).to_bytes(4, "big") + (9).to_bytes(4, "big")) + w_tlv_record(70000, b"yy")
    raw = b"\x10\x07" + len(body).to_bytes(2, "big") + body
    m = decode_failure_message(raw)
    assert m.update.inbound_fee == (7, 9)
    assert encode_failure_message(m) == b"\x10\x07" + encode_channel_update(m.update)
    assert encode_failure_message(m) != raw


@pytest.mark.parametrize("bad_tlv", [
    w_tlv_record(5, b"a") + w_tlv_record(3, b"b"),  # out of order
    w_tlv_record(5, b"a") + w_tlv_record(5, b"b"),  # duplicate
    b"\x05\x09abc",  # truncated value
    b"\x05",  # type without length
    b"\xfd\x00\x05\x00",  # non-minimal BigSize
    b"\xfd\xd9\x03\x08\x00\x00",  # inbound fee cut short
    b"\x07\xfe\x00\x01\x00\x00",  # record > 65535 (P2P cap)
])
def test_invalid_update_tlv_is_the_tolerated_error(bad_tlv):
    u = ChannelUpdate(**{**UPD.__dict__, "inbound_fee": None})
    body = b"\x01\x02" + _update_body(u) + bad_tlv
    raw = b"\x10\x0c" + (1234).to_bytes(8, "big") + len(body).to_bytes(2, "big") + body
    with pytest.raises(ExtraTLVError) as e:
        decode_failure_message(raw)
    assert e.value.code == "extra_tlv"
    fi = bytes(8) + w_var_bytes(raw) + b"\x03" + (2).to_bytes(4, "big")
    info = decode_fail_info(fi)
    assert info.message is None and info.message_dropped
    assert info.raw_message == raw
    assert (info.reason, info.failure_source_index) == (3, 2)
    assert encode_fail_info(info) == fi


def test_fail_info_with_message_reencodes():
    msg = FailureMessage(code=0x100C, htlc_msat=1234, update=UPD)
    info = HTLCFailInfo(fail_time=10**18, message=msg, reason=3, failure_source_index=1)
    raw = encode_fail_info(info)
    back = decode_fail_info(raw)
    assert back == info and back.raw_message == encode_failure_message(msg)
    assert encode_fail_info(back) == raw


def test_fail_info_message_offsets_point_into_the_value():
    raw = bytes(8) + w_var_bytes(b"\x10\x0b" + bytes(3)) + bytes(5)
    with pytest.raises(DecodeError) as e:
        decode_fail_info(raw)
    assert e.value.offset == 8 + 1 + 2  # the u64 htlc_msat that is cut short


def test_fail_info_message_too_long_is_rejected():
    raw = bytes(8) + b"\xfe" + (65536).to_bytes(4, "little") + bytes(65536) + bytes(5)
    with pytest.raises(DecodeError) as e:
        decode_fail_info(raw)
    assert e.value.code == "too_large"


def test_inbound_fee_decoder_reads_eight_bytes_whatever_the_length():
    # lnwire.feeDecoder ignores the declared length (as LND does).
    u = ChannelUpdate(**{**UPD.__dict__, "inbound_fee": None})
    body = b"\x01\x02" + _update_body(u) + b"\xfd\xd9\x03\x00" + (3).to_bytes(4, "big") + (4).to_bytes(4, "big")
    m = decode_failure_message(b"\x10\x07" + len(body).to_bytes(2, "big") + body)
    assert m.update.inbound_fee == (3, 4)
