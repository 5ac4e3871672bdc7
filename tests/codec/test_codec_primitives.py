"""Varints, TLV streams, time, secp256k1 and the strictness rules of §2.11."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migwizard.core.codec import (
    DecodeError,
    decode_attempt_info,
    decode_creation_info,
    decode_failure_reason,
    decode_hop,
    decode_index_entry,
    decode_sequence,
    encode_attempt_info,
    encode_creation_info,
    normalize_session_key,
    parse_pubkey,
)
from migwizard.core.codec.model import PaymentCreationInfo
from migwizard.core.codec.primitives import (
    Reader,
    decode_time,
    parse_tlv_stream,
    w_bigsize,
    w_compact_size,
    w_time,
    w_tlv_record,
    w_tuint,
)
from migwizard.core.codec.route import MAX_ONION_PAYLOAD_SIZE
from migwizard.core.codec.secp256k1 import GX, GY, N, P, compressed, point_mul, uncompressed

from .golden import CAROL_AI_1, HASH


@settings(max_examples=200)
@given(st.integers(0, 2**64 - 1))
def test_varints_round_trip(n):
    assert Reader(w_compact_size(n)).compact_size() == n
    assert Reader(w_bigsize(n)).bigsize() == n
    t = w_tuint(n)
    assert Reader(t).tuint(len(t), 8) == n


@pytest.mark.parametrize("raw", ["fdfc00", "fe ffff0000", "ff ffffffff00000000", "fd0000"])
def test_non_minimal_compact_size_rejected(raw):
    with pytest.raises(DecodeError) as e:
        Reader(bytes.fromhex(raw.replace(" ", ""))).compact_size()
    assert e.value.code == "varint_not_canonical"


def test_compact_size_is_little_endian():
    assert Reader(bytes.fromhex("fd0001")).compact_size() == 256
    assert w_compact_size(300) == bytes.fromhex("fd2c01")


@pytest.mark.parametrize("raw", ["fd00fc", "fe0000ffff", "ff00000000ffffffff"])
def test_non_minimal_bigsize_rejected(raw):
    with pytest.raises(DecodeError) as e:
        Reader(bytes.fromhex(raw)).bigsize()
    assert e.value.code == "varint_not_canonical"


def test_bigsize_is_big_endian():
    assert Reader(bytes.fromhex("fd0100")).bigsize() == 256


def test_non_minimal_tu64_rejected():
    with pytest.raises(DecodeError) as e:
        Reader(b"\x00\x01").tuint(2, 8)
    assert e.value.code == "tu_not_minimal"
    with pytest.raises(DecodeError):
        Reader(bytes(9)).tuint(9, 8)
    assert Reader(b"").tuint(0, 8) == 0


def test_tlv_stream_order_rules():
    good = w_tlv_record(1, b"a") + w_tlv_record(3, b"") + w_tlv_record(2**64 - 1, b"z")
    raw, _ = parse_tlv_stream(Reader(good))
    assert raw == {1: b"a", 3: b"", 2**64 - 1: b"z"}
    for bad in (w_tlv_record(3, b"") + w_tlv_record(1, b""), w_tlv_record(3, b"") + w_tlv_record(3, b"")):
        with pytest.raises(DecodeError) as e:
            parse_tlv_stream(Reader(bad))
        assert e.value.code == "tlv_not_canonical"
    with pytest.raises(DecodeError):
        parse_tlv_stream(Reader(w_tlv_record(2**64 - 1, b"") + w_tlv_record(0, b"")))


def test_tlv_p2p_cap():
    big = w_tlv_record(70000, bytes(65536))
    raw, _ = parse_tlv_stream(Reader(big))  # plain decode: no cap
    assert len(raw[70000]) == 65536
    with pytest.raises(DecodeError) as e:
        parse_tlv_stream(Reader(big), p2p=True)
    assert e.value.code == "tlv_record_too_large"


def test_time():
    assert decode_time(0) is None and w_time(None) == bytes(8)
    assert decode_time(2**64 - 1) == -1 and w_time(-1) == b"\xff" * 8
    assert decode_time(5) == 5


def _info(records):
    return PaymentCreationInfo(payment_identifier=HASH, value=1, creation_time=None, first_hop_custom_records=records)


def test_creation_info_custom_records():
    ok = encode_creation_info(_info({65536: b"x", 2**64 - 1: b""}))
    assert decode_creation_info(ok).first_hop_custom_records == {65536: b"x", 2**64 - 1: b""}
    with pytest.raises(DecodeError) as e:
        decode_creation_info(encode_creation_info(_info({65535: b"x"})))
    assert e.value.code == "custom_record_type"
    base = encode_creation_info(_info({}))
    with pytest.raises(DecodeError):
        decode_creation_info(base + w_tlv_record(70001, b"") + w_tlv_record(70000, b""))


def test_creation_info_huge_payreq_length_does_not_allocate():
    raw = HASH + bytes(16) + b"\xff\xff\xff\xff"
    with pytest.raises(DecodeError) as e:
        decode_creation_info(raw)
    assert e.value.code == "truncated" and e.value.offset == 52


def _hop(records: bytes, count: int) -> bytes:
    return b"\x21" + bytes(33) + bytes(8 + 4 + 8) + b"\x00" + count.to_bytes(4, "big") + records


def test_hop_record_value_limit():
    ok = (70000).to_bytes(8, "big") + w_compact_size(MAX_ONION_PAYLOAD_SIZE) + bytes(MAX_ONION_PAYLOAD_SIZE)
    assert decode_hop(Reader(_hop(ok, 1))).custom_records == {70000: bytes(1300)}
    bad = (70000).to_bytes(8, "big") + w_compact_size(1301) + bytes(1301)
    with pytest.raises(DecodeError) as e:
        decode_hop(Reader(_hop(bad, 1)))
    assert e.value.code == "too_large"


def test_hop_records_any_order_last_wins_and_stray_types_kept():
    recs = b"".join(t.to_bytes(8, "big") + w_compact_size(len(v)) + v for t, v in [(70000, b"a"), (16, b""), (5, b"s"), (70000, b"b")])
    hop = decode_hop(Reader(_hop(recs, 4)))
    assert hop.custom_records == {70000: b"b", 5: b"s"}
    assert hop.metadata == b""
    assert hop.record_order == (70000, 16, 5)


@pytest.mark.parametrize("typ,value", [
    (8, bytes(31)), (8, bytes(32) + b"\x00\x01"), (8, bytes(41)),
    (14, bytes(63)), (14, bytes(64) + b"\x00"), (14, bytes(69)),
    (18, b"\x00\x05"), (18, bytes(9)),
    (12, bytes(33)), (12, b"\x02" + P.to_bytes(32, "big")),
])
def test_bad_known_hop_records(typ, value):
    recs = typ.to_bytes(8, "big") + w_compact_size(len(value)) + value
    with pytest.raises(DecodeError):
        decode_hop(Reader(_hop(recs, 1)))


def test_hop_pubkey_padded_and_truncated():
    short = b"\x02\x07" + bytes(20) + bytes(5) + b"\x00" + bytes(4)
    assert decode_hop(Reader(short)).pub_key == b"\x07" + bytes(32)
    long_ = b"\x22" + b"\x01" * 34 + bytes(20) + b"\x00" + bytes(4)
    assert decode_hop(Reader(long_)).pub_key == b"\x01" * 33


def test_hop_legacy_flag_any_nonzero():
    raw = b"\x21" + bytes(33) + bytes(20) + b"\x07" + bytes(4)
    assert decode_hop(Reader(raw)).legacy_payload is True


def test_attempt_hash_leftover_rule():
    no_hash = CAROL_AI_1[:-32]
    for extra in (0, 1, 31):
        a = decode_attempt_info(no_hash + b"\xaa" * extra, 9)
        assert a.hash is None and a.ignored_tail == b"\xaa" * extra
        assert encode_attempt_info(a) == no_hash + b"\xaa" * extra


def test_attempt_tlv_rules():
    base = CAROL_AI_1
    a = decode_attempt_info(base + w_tlv_record(0, w_bigsize(5)) + w_tlv_record(3, b"drop") + w_tlv_record(65536, b"k"), 1)
    assert a.route.first_hop_amount == 5 and a.route.first_hop_wire_custom_records == {65536: b"k"}
    with pytest.raises(DecodeError):
        decode_attempt_info(base + w_tlv_record(0, b"\xfd\x00\x01"), 1)  # non-minimal BigSize amount
    with pytest.raises(DecodeError):
        decode_attempt_info(base + w_tlv_record(70000, b"") + w_tlv_record(0, b"\x01"), 1)
    with pytest.raises(DecodeError) as e:
        decode_attempt_info(base + w_tlv_record(70000, bytes(65536)), 1)
    assert e.value.code == "tlv_record_too_large"


def test_index_sequence_failreason():
    with pytest.raises(DecodeError):
        decode_index_entry(b"\x01\x20" + HASH)
    with pytest.raises(DecodeError):
        decode_index_entry(b"\x00\x1f" + HASH[:31])
    with pytest.raises(DecodeError):
        decode_sequence(bytes(7))
    assert decode_sequence(bytes(7) + b"\x05" + b"extra") == 5
    with pytest.raises(DecodeError):
        decode_failure_reason(b"")
    assert decode_failure_reason(b"\x02\xff") == 2


def test_secp256k1():
    g = compressed((GX, GY))
    assert parse_pubkey(g) == g
    assert point_mul(1) == (GX, GY)
    p2 = point_mul(2)
    assert parse_pubkey(uncompressed(p2)) == compressed(p2)
    assert parse_pubkey(uncompressed(p2, hybrid=True)) == compressed(p2)
    bad_hybrid = bytes([uncompressed(p2, hybrid=True)[0] ^ 1]) + uncompressed(p2)[1:]
    for bad in (bad_hybrid, b"\x04" + bytes(64), b"\x02" + (5).to_bytes(32, "big"), b"\x05" + bytes(32), g[:32], b""):
        with pytest.raises(DecodeError) as e:
            parse_pubkey(bad)
        assert e.value.code == "invalid_pubkey"
    assert normalize_session_key((N + 1).to_bytes(32, "big")) == (1).to_bytes(32, "big")
    assert normalize_session_key(b"\x11" * 32) == b"\x11" * 32


def test_uncompressed_blinding_point_is_accepted_and_written_compressed():
    from migwizard.core.codec import encode_hop

    pt = point_mul(12345)
    value = uncompressed(pt)
    recs = (12).to_bytes(8, "big") + w_compact_size(65) + value + (10).to_bytes(8, "big") + w_compact_size(1) + b"e"
    hop = decode_hop(Reader(_hop(recs, 2)))
    assert hop.blinding_point == value  # as stored; SQL gets parse_pubkey(value)
    assert parse_pubkey(hop.blinding_point) == compressed(pt)
    again = decode_hop(Reader(encode_hop(hop)))
    assert again.blinding_point == compressed(pt)  # LND's writer re-serialises compressed


def test_known_tlv_decoders_ignore_declared_length_like_lnd():
    # tlv.DBigSize reads a BigSize from the stream whatever the record length
    # says, so a length of 0 followed by the value still decodes in LND.
    base = CAROL_AI_1
    a = decode_attempt_info(base + b"\x00\x00" + b"\x05", 1)
    assert a.route.first_hop_amount == 5
