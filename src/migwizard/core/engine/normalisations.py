"""Every way a migrated payment may legitimately differ from its KV bytes.

LND's migration changes some data on purpose (spec §4.5-§4.8). Each change has a
name here, an explanation a node runner can read in the drill-down, and a counter
in the report, so nothing is altered silently. Validation applies exactly these
(and only these) before comparing KV with SQL.
"""

from __future__ import annotations

from collections import Counter

NORMALISATIONS: dict[str, str] = {
    "duplicate_index_entry_skipped": (
        "An index entry pointing at a payment whose own sequence differs: it belongs to a legacy "
        "duplicate, migrated with its main payment into payment_duplicates (LND §4.3 step 4)."
    ),
    "unmatched_index_entry_skipped": (
        "An index entry whose sequence matches neither its payment's own sequence nor any of its legacy "
        "duplicates: LND skips it like a duplicate's entry (§4.3), but it is not one - the payment's "
        "sequence key or the index entry is damaged. Named, listed and counted apart; validation then "
        "reports the payment that nothing migrated."
    ),
    "missing_payment_bucket_skipped": (
        "An index entry whose payment bucket does not exist: counted as skipped, as LND does (§4.3)."
    ),
    "legacy_payload_dropped": (
        "Hop used the legacy (pre-TLV) onion payload; SQL has no column for the flag, LND reads it back "
        "as false (§4.5)."
    ),
    "orphaned_blinded_total_dropped": (
        "Hop carried a blinded-path total amount without encrypted recipient data; LND >= 0.21.2 drops "
        "the total instead of failing (#10979, §4.5)."
    ),
    "nil_hash_from_payment": (
        "Legacy attempt stored without an HTLC hash; the payment hash is used (LND commit 89685de16)."
    ),
    "legacy_zero_attempt_id_remapped": (
        "Very old attempt with attempt ID 0 got a fresh ID from the switch sequencer horizon, which is "
        "advanced at commit (LND #10799, §4.6)."
    ),
    "legacy_zero_attempt_terminalised": (
        "Unresolved attempt with legacy ID 0 was marked failed (reason unknown) so it cannot be resumed "
        "against live switch state (§4.6)."
    ),
    "legacy_zero_payment_failed": (
        "Payment left with only terminalised legacy attempts was marked failed with reason 'error' (§4.6)."
    ),
    "settle_and_fail_settle_wins": (
        "Attempt had both settle and fail info; the settle is migrated, as LND does (§4.5)."
    ),
    "failure_message_reencoded": (
        "The stored onion failure decodes to the same message but LND re-encodes it (zero-filled "
        "optional fields, 0x0102 ChannelUpdate prefix, unknown extra TLVs dropped, trailing bytes cut)."
    ),
    "failure_message_dropped": (
        "The ChannelUpdate inside the failure had unparsable extra TLV bytes; LND keeps the failure "
        "with no message (ErrParsingExtraTLVBytes), so failure_msg is NULL."
    ),
    "duplicate_unresolved_marked_failed": (
        "Legacy duplicate payment with neither settle nor fail info is stored as failed with reason "
        "'error' (§4.8)."
    ),
    "blinding_point_recompressed": (
        "Blinding point stored uncompressed (65 bytes); SQL stores the 33-byte compressed form."
    ),
    "route_key_resized": (
        "A public key was stored with a length other than 33 bytes; LND copies it into 33 bytes "
        "(zero-padded or truncated)."
    ),
    "session_key_reduced": (
        "Session key at or above the curve order; LND stores it reduced modulo N."
    ),
    "legacy_time_wrapped": (
        "A legacy duplicate's creation time (stored in seconds) lies outside what Go's UnixNano can "
        "represent; LND's normalizeTimeForSQL wraps it (int64 overflow), and so do we."
    ),
    "timestamps_truncated_to_microseconds": (
        "PostgreSQL keeps microseconds; nanoseconds are truncated (LND validates at µs too)."
    ),
}


class NormalisationCounter(Counter):
    """Counts normalisation names; refuses unknown names so a typo cannot hide a change."""

    def hit(self, name: str, n: int = 1) -> None:
        if name not in NORMALISATIONS:
            raise KeyError(f"unknown normalisation {name!r}")
        self[name] += n
