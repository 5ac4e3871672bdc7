"""PaymentCreationInfo (``payment-creation-info``), spec §2.3."""

from __future__ import annotations

from .errors import DecodeError
from .model import MIN_CUSTOM_RECORDS_TLV_TYPE, PaymentCreationInfo
from .primitives import Reader, parse_tlv_stream, w_tlv_stream, w_time, w_u32, w_u64


def decode_custom_records_tail(r: Reader) -> dict[int, bytes]:
    """lnwire.ParseCustomRecordsFrom: the rest of the value, non-P2P, all types >= 65536."""
    start = r.pos
    records, _ = parse_tlv_stream(r, p2p=False)
    for typ in sorted(records):
        if typ < MIN_CUSTOM_RECORDS_TLV_TYPE:
            raise DecodeError(
                f"custom records entry with TLV type below min: {MIN_CUSTOM_RECORDS_TLV_TYPE} (type {typ})",
                offset=r.base + start,
                code="custom_record_type",
            )
    return records


def decode_creation_info(raw: bytes) -> PaymentCreationInfo:
    r = Reader(raw)
    ident = r.read(32, "payment identifier")
    value = r.u64("value")
    created = r.time("creation time")
    payreq = r.read(r.u32("payment request length"), "payment request")
    return PaymentCreationInfo(
        payment_identifier=ident,
        value=value,
        creation_time=created,
        payment_request=payreq,
        first_hop_custom_records=decode_custom_records_tail(r),
    )


def encode_creation_info(info: PaymentCreationInfo) -> bytes:
    """serializePaymentCreationInfo. Custom-record types are not range-checked
    here, so tests can build the invalid stores the decoder must reject."""
    return b"".join(
        [
            bytes(info.payment_identifier),
            w_u64(info.value),
            w_time(info.creation_time),
            w_u32(len(info.payment_request)),
            bytes(info.payment_request),
            w_tlv_stream(info.first_hop_custom_records),
        ]
    )
