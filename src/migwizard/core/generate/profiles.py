"""Payment mixes ("profiles") for the synthetic LND store.

Profile ``mixed`` — what a busy routing/rebalancing node holds
----------------------------------------------------------------
Per 1000 payments (expected shares; a run of >= 2000 payments lands inside the
ranges in :data:`MIXED_STATUS_RANGES`, which the tests assert):

=========================  ====  =======================================================
kind                       per   shape
                           1000
=========================  ====  =======================================================
settled                     420  one HTLC, settled; single-shard MPP record on the final
                                 hop; ~25 % are circular rebalances (last hop = us)
settled after retries       110  1-4 failed HTLCs (onion failures), then one settled
settled multi-shard MPP      50  2-4 settled shards summing to the value, 0-2 failed
                                 shards first
keysend settled              40  no payment request, no MPP; final hop carries the
                                 preimage record 5482373484 (sometimes a 2nd record)
AMP settled                   8  identifier = SetID, 1-3 shards with AMP + MPP
                                 records, per-shard hash = sha256(child preimage)
blinded settled               7  last two hops blinded (encrypted data, blinding
                                 point on the introduction hop, total on the final hop)
failed                      255  1-8 failed HTLCs, each with a failure (mostly
                                 TemporaryChannelFailure, FeeInsufficient,
                                 ChannelDisabled, UnknownNextPeer,
                                 IncorrectOrUnknownPaymentDetails ...; ChannelUpdates
                                 with/without htlc_max, ~12 % with an inbound fee; a
                                 few Unreadable/Internal without message); fail reason
                                 no_route 45 %, timeout 15 %, incorrect_payment_details
                                 15 %, error 10 %, insufficient_balance 8 %, canceled 7 %
failed, no HTLCs             40  no_route / insufficient_balance, no htlc bucket
keysend failed               15  1-3 failed HTLCs
in flight                    35  0-3 failed HTLCs then one unresolved HTLC (sometimes
                                 a settled shard next to an unresolved one)
all HTLCs failed, no reason  10  status in-flight (LND's "retryable")
initiated                    10  creation info only
=========================  ====  =======================================================

Derived statuses: succeeded ~63.5 %, failed ~31 %, in-flight ~4.5 %, initiated ~1 %.
Across all kinds: ~2 % carry first-hop custom records (payment level and the
attempts' wire records plus a non-zero first-hop amount, taproot-assets style);
~0.5 % carry hop metadata; every multi-record hop is written in a shuffled
record order (Go map order). The oldest 35 % of ``mixed`` payments use the
pre-0.18 attempt encoding (hash, no trailing TLV) when that is lossless.
Attempts are sequential per payment (creation < attempt < settle/fail, all in
nanoseconds); a simulated restart every 150-700 payments makes both allocators
jump to their next 1000-block.

Profile ``edge``
----------------
Every case of spec §4-§5 at least once, emitted first (whatever N is), then
``mixed`` fills up to N. See :data:`EDGE_CASES` and :func:`edge_payments`.

Every case carries a label in ``GenerateResult.cases`` (label -> payment
identifiers), e.g. ``dup_settle32``, ``dup_settle40``, ``dup_fail``,
``dup_unresolved_with_attempt``, ``dup_unresolved_no_attempt``,
``dup_epoch_zero``, ``legacy_nil_hash``, ``legacy_zero_id_settled`` /
``_failed`` / ``_unresolved``, ``m13_synthetic_fail_info``, ``inflight``,
``inflight_partial_settle``, ``retryable_all_failed``, ``initiated``,
``initiated_empty_htlc_bucket``, ``failed_no_htlc_bucket``,
``fail_reason_0`` .. ``fail_reason_5``, ``mpp_single_shard``,
``mpp_multi_shard``, ``amp_child0``, ``amp_child_index_high``,
``blinded_final_hop``, ``blinded_path``, ``blinding_point_uncompressed``,
``orphaned_total_nil_ed``, ``orphaned_total_empty_ed``,
``custom_records_payment`` / ``_attempt`` / ``_hop``, ``first_hop_amount``,
``keysend``, ``metadata_empty``, ``metadata_nonempty``, ``legacy_payload``,
``all_features``, ``mpp_custom``, ``amp_blinded``, ``custom_metadata``,
``blinded_metadata``, ``mpp_metadata``, ``failure_codes`` (all 25),
``update_htlc_max``, ``update_no_htlc_max``, ``update_inbound_fee``,
``tempchan_no_update``, ``fail_no_message``,
``incorrect_details_no_amount_height``, ``incorrect_details_amount_only``,
``update_unknown_tlv``, ``update_no_type_prefix``, ``failure_trailing_bytes``,
``update_bad_extra_tlv``, ``settle_and_fail``, ``payreq_present``,
``payreq_short``, ``payreq_empty``, ``pre018_attempt_no_tlv``,
``first_hop_amount_zero_tlv``, ``timelock_int32_wrap``. Labels are for
finding payments; the tests check each case on the decoded store.

Reject profiles
---------------
``reject-<name>`` for each entry of :func:`reject_cases`: one payment that
LND's migration refuses (or, for ``unindexed-payment``, silently skips),
emitted first, then ``mixed`` fill. Not part of ``edge``.

Profile ``legacy-zero-ids``
---------------------------
Spec §5 tests 6/7: only attempts with the legacy id 0 (two settled, one
unresolved), so the switch sequencer may be 0 (default here) or any value.
"""

from __future__ import annotations

from .edge_cases import EDGE_CASES, LEGACY_EDGE_CASES, MODERN_EDGE_CASES, edge_payments, legacy_zero_id_payments
from .mixed import (
    FAIL_REASONS,
    MIXED_KINDS,
    MIXED_STATUS_RANGES,
    TAPROOT_ASSET_RECORD,
    WHATSAT_RECORD,
    hop_record_types,
    mixed_payment,
    mixed_stream,
    shuffle_record_order,
)
from .rejections import corrupt_cases, reject_cases

PROFILES = ("mixed", "edge", "legacy-zero-ids") + tuple(f"reject-{n}" for n in corrupt_cases())

__all__ = [
    "EDGE_CASES", "FAIL_REASONS", "LEGACY_EDGE_CASES", "MIXED_KINDS", "MIXED_STATUS_RANGES", "MODERN_EDGE_CASES",
    "PROFILES", "TAPROOT_ASSET_RECORD", "WHATSAT_RECORD", "corrupt_cases", "edge_payments", "hop_record_types",
    "legacy_zero_id_payments", "mixed_payment", "mixed_stream", "reject_cases", "shuffle_record_order",
]
