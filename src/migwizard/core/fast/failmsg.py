"""Is a stored onion failure message already in the form LND re-encodes it to?

SQL ``failure_msg`` holds ``EncodeFailureMessage(DecodeFailureMessage(kv))``. When
the stored bytes are exactly that encoding, the fast path can copy them without
building a FailureMessage. This answers only "certainly canonical"; anything else
(unknown code, short IncorrectOrUnknownPaymentDetails, a ChannelUpdate window
without the 0x0102 prefix, extra TLVs other than one inbound fee, trailing bytes,
InvalidOnionPayload) is left to the full decoder, which re-encodes and counts the
normalisation.
"""

from __future__ import annotations

from ..codec.onion import (
    CHANNEL_DISABLED,
    CLTV_CODES,
    HTLC_MSAT_CODES,
    INCORRECT_DETAILS,
    NO_PAYLOAD_CODES,
    ONION_HASH_CODES,
    TEMPORARY_CHANNEL_FAILURE,
    UPDATE_CODES,
)

_UPDATE_PREFIX = b"\x01\x02"  # lnwire.MsgChannelUpdate, always written by LND
_FIXED_UPDATE = 2 + 64 + 32 + 8 + 4 + 1 + 1 + 2 + 8 + 4 + 4  # prefix + ChannelUpdate1 fixed fields
_MSG_FLAGS_AT = 2 + 64 + 32 + 8 + 4  # offset of message_flags inside the window
# Inbound fee record exactly as encode_channel_update writes it: BigSize(55555), BigSize(8).
_INBOUND_FEE_HEAD = b"\xfd\xd9\x03\x08"
_INBOUND_FEE_LEN = len(_INBOUND_FEE_HEAD) + 8

_PAYLOAD_BEFORE_UPDATE = {c: 8 for c in HTLC_MSAT_CODES & UPDATE_CODES}
_PAYLOAD_BEFORE_UPDATE.update({c: 4 for c in CLTV_CODES & UPDATE_CODES})
_PAYLOAD_BEFORE_UPDATE[CHANNEL_DISABLED] = 2
for _c in UPDATE_CODES:
    _PAYLOAD_BEFORE_UPDATE.setdefault(_c, 0)

_FIXED_LEN = {c: 2 for c in NO_PAYLOAD_CODES}
_FIXED_LEN.update({c: 34 for c in ONION_HASH_CODES})
_FIXED_LEN[0x0012] = 6  # FinalIncorrectCltvExpiry: u32
_FIXED_LEN[0x0013] = 10  # FinalIncorrectHtlcAmount: u64


def _update_is_canonical(msg: bytes, at: int) -> bool:
    """The u16-length ChannelUpdate at ``at`` runs exactly to the end in LND's own form."""
    if len(msg) < at + 2:
        return False
    n = (msg[at] << 8) | msg[at + 1]
    window = msg[at + 2:]
    if n != len(window) or n < _FIXED_UPDATE or window[:2] != _UPDATE_PREFIX:
        return False
    fixed = _FIXED_UPDATE + (8 if window[_MSG_FLAGS_AT] & 1 else 0)
    if n == fixed:
        return True
    return n == fixed + _INBOUND_FEE_LEN and window[fixed:fixed + 4] == _INBOUND_FEE_HEAD


def is_canonical(msg: bytes) -> bool:
    """True only when ``encode(decode(msg)) == msg`` is certain (and decode cannot fail)."""
    if len(msg) < 2:
        return False
    code = (msg[0] << 8) | msg[1]
    fixed = _FIXED_LEN.get(code)
    if fixed is not None:
        return len(msg) == fixed
    if code == TEMPORARY_CHANNEL_FAILURE:
        if msg[2:] == b"\x00\x00":
            return True
        return _update_is_canonical(msg, 2)
    before = _PAYLOAD_BEFORE_UPDATE.get(code)
    if before is not None:
        return _update_is_canonical(msg, 2 + before)
    if code == INCORRECT_DETAILS:
        # amount u64 + height u32, then extra opaque bytes LND keeps verbatim.
        return len(msg) >= 14
    return False
