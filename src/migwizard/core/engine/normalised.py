"""Which fields of one payment LND's normalisations changed, and which normalisation did.

The drill-down shows the KV record as validation compares it, i.e. after the
normalisations; a node runner who runs ``inspect`` sees the stored bytes
(``attempt_id: 0``, ``hash: None``, ``legacy_payload: True``). This module lines
the two up field by field, so every normalised value is shown beside its raw one
and named (``0 -> 6000 (legacy attempt ID remapped)``).
"""

from __future__ import annotations

from typing import Any

from .results import NormalisedField
from .tree import diff_trees

__all__ = ["normalised_fields", "name_for"]

# The last path component -> the normalisations that may change it, most specific first.
_BY_FIELD: dict[str, tuple[str, ...]] = {
    "attempt_id": ("legacy_zero_attempt_id_remapped",),
    "hash": ("nil_hash_from_payment",),
    "legacy_payload": ("legacy_payload_dropped",),
    "total_amt_msat": ("orphaned_blinded_total_dropped",),
    "blinding_point": ("blinding_point_recompressed",),
    "pub_key": ("route_key_resized",),
    "source_pub_key": ("route_key_resized",),
    "session_key": ("session_key_reduced",),
    "failure_msg": ("failure_message_dropped", "failure_message_reencoded"),
    "message": ("failure_message_dropped", "failure_message_reencoded"),
    "failure": ("settle_and_fail_settle_wins", "legacy_zero_attempt_terminalised"),
    "settle": ("settle_and_fail_settle_wins",),
    "status": ("legacy_zero_payment_failed", "legacy_zero_attempt_terminalised"),
    "fail_reason": ("legacy_zero_payment_failed", "duplicate_unresolved_marked_failed"),
    "created": ("legacy_time_wrapped", "timestamps_truncated_to_microseconds"),
    "settle_time": ("timestamps_truncated_to_microseconds",),
    "fail_time": ("timestamps_truncated_to_microseconds", "legacy_zero_attempt_terminalised"),
    "attempt_time": ("timestamps_truncated_to_microseconds",),
}


def _last(path: str) -> str:
    return path.rsplit(".", 1)[-1].split("[", 1)[0]


def name_for(path: str, applied: list[str], value: Any = 0) -> str:
    """The normalisation that explains a change at ``path`` to ``value``, among those ``applied``."""
    parts = [p.split("[", 1)[0] for p in path.split(".")]
    if parts and parts[0] == "duplicates":  # duplicates are normalised outside the payment's own names
        return "legacy_time_wrapped" if parts[-1] == "created" else "duplicate_unresolved_marked_failed"
    if ("failure" in parts or "message" in parts) and parts[-1] != "failure":
        if value is None and "failure_message_dropped" in applied:
            return "failure_message_dropped"
        if "failure_message_reencoded" in applied:
            return "failure_message_reencoded"
    for part in reversed(parts):
        for n in _BY_FIELD.get(part, ()):
            if n in applied:
                return n
    if "failure" in parts or "message" in parts:
        for n in ("failure_message_reencoded", "failure_message_dropped"):
            if n in applied:
                return n
    real = [n for n in applied if n != "timestamps_truncated_to_microseconds"]
    return real[0] if len(real) == 1 else (applied[0] if len(applied) == 1 else "normalised")


def normalised_fields(raw: Any, normalised: Any, applied: list[str]) -> list[NormalisedField]:
    """Every leaf where the raw KV decode and its normalised form differ, each named."""
    out = []
    for d in diff_trees(raw, normalised, "", mask_secrets=False):
        out.append(NormalisedField(d.path, d.kv, d.sql, name_for(d.path, applied, d.sql)))
    return out
