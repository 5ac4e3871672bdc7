"""The KV byte codec: LND's ``payments/db/migration1`` value formats, stdlib only.

Self-contained on purpose: nothing here imports the rest of migwizard, so no
later change elsewhere can alter what the migration reads. Decoders accept and
reject exactly what LND's frozen reader does (deviations are listed in the
module docstrings); encoders write what LND's writer would.
"""

from .attempt import decode_attempt_info, encode_attempt_info
from .creation import decode_creation_info, encode_creation_info
from .duplicate import (
    decode_legacy_attempt_id,
    decode_legacy_creation_info,
    encode_legacy_creation_info,
    parse_duplicate_settle,
)
from .errors import DecodeError, render_key
from .fetch import duplicate_to_kv, fetch_payment, htlcs_to_kv, payment_to_kv
from .index import (
    decode_failure_reason,
    decode_index_entry,
    decode_sequence,
    encode_failure_reason,
    encode_index_entry,
    encode_sequence,
)
from .kvtree import DictBucket
from .onion import (
    FAILURE_CODES,
    ExtraTLVError,
    decode_failure_message,
    encode_channel_update,
    encode_failure_message,
    failure_name,
)
from .primitives import decode_time, encode_time_u64
from .resolution import decode_fail_info, decode_settle_info, encode_fail_info, encode_settle_info
from .route import decode_hop, decode_route, encode_hop, encode_route
from .secp256k1 import normalize_session_key, parse_pubkey
from .status import check_sent_not_exceeding_total, decide_status, sent_amount

__all__ = [
    "DecodeError",
    "DictBucket",
    "ExtraTLVError",
    "FAILURE_CODES",
    "check_sent_not_exceeding_total",
    "decide_status",
    "decode_attempt_info",
    "decode_creation_info",
    "decode_fail_info",
    "decode_failure_message",
    "decode_failure_reason",
    "decode_hop",
    "decode_index_entry",
    "decode_legacy_attempt_id",
    "decode_legacy_creation_info",
    "decode_route",
    "decode_sequence",
    "decode_settle_info",
    "decode_time",
    "duplicate_to_kv",
    "encode_attempt_info",
    "encode_channel_update",
    "encode_creation_info",
    "encode_fail_info",
    "encode_failure_message",
    "encode_failure_reason",
    "encode_hop",
    "encode_index_entry",
    "encode_legacy_creation_info",
    "encode_route",
    "encode_sequence",
    "encode_settle_info",
    "encode_time_u64",
    "failure_name",
    "fetch_payment",
    "htlcs_to_kv",
    "normalize_session_key",
    "parse_duplicate_settle",
    "parse_pubkey",
    "payment_to_kv",
    "render_key",
    "sent_amount",
]
