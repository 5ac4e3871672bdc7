"""Payment models -> SQL row tuples, with every id assigned here, client-side.

Ids are not left to the database: PostgreSQL sequences do not roll back, so a
chunk that failed and was retried would otherwise get different ids than an
uninterrupted run. The counters live in the run record and advance in the same
transaction as the rows, which makes a resumed run row-for-row identical.
Hot path: plain tuples, no ORM objects (storage-notes §6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..codec import encode_failure_message, parse_duplicate_settle
from ..codec.model import DuplicatePayment, FailureReason, Payment
from ..sql.values import int32, int64, pg_timestamp_us
from .normalisations import NormalisationCounter
from .transform import MigrationReject

# Insert order respects the foreign keys.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "payments": ("id", "amount_msat", "created_at", "payment_identifier", "fail_reason"),
    "payment_intents": ("id", "payment_id", "intent_type", "intent_payload"),
    "payment_first_hop_custom_records": ("id", "payment_id", "key", "value"),
    "payment_htlc_attempts": (
        "id", "attempt_index", "payment_id", "session_key", "attempt_time", "payment_hash",
        "first_hop_amount_msat", "route_total_time_lock", "route_total_amount", "route_source_key",
    ),
    "payment_attempt_first_hop_custom_records": ("id", "htlc_attempt_index", "key", "value"),
    "payment_route_hops": (
        "id", "htlc_attempt_index", "hop_index", "pub_key", "scid", "outgoing_time_lock", "amt_to_forward",
        "meta_data",
    ),
    "payment_route_hop_mpp": ("hop_id", "payment_addr", "total_msat"),
    "payment_route_hop_amp": ("hop_id", "root_share", "set_id", "child_index"),
    "payment_route_hop_blinded": ("hop_id", "encrypted_data", "blinding_point", "blinded_path_total_amt"),
    "payment_hop_custom_records": ("id", "hop_id", "key", "value"),
    "payment_htlc_attempt_resolutions": (
        "attempt_index", "resolution_time", "resolution_type", "settle_preimage", "failure_source_index",
        "htlc_fail_reason", "failure_msg",
    ),
    "payment_duplicates": (
        "id", "payment_id", "amount_msat", "created_at", "fail_reason", "settle_preimage", "settle_time",
    ),
}
PAYMENT_TABLES = tuple(TABLE_COLUMNS)

# Tables whose own "id" column we allocate (the others key on a parent's id).
ID_TABLES = tuple(t for t, cols in TABLE_COLUMNS.items() if cols[0] == "id")

# The TIMESTAMP columns (lnd's 000010/000011 schema), by position in TABLE_COLUMNS.
TIME_COLUMNS: dict[str, tuple[int, ...]] = {
    "payments": (2,),  # created_at
    "payment_htlc_attempts": (4,),  # attempt_time
    "payment_htlc_attempt_resolutions": (1,),  # resolution_time
    "payment_duplicates": (3, 6),  # created_at, settle_time (NULL allowed)
}


def pg_times_to_datetimes(rows: dict[str, list]) -> None:
    """Turn a PostgreSQL chunk's time ints (``sql.values.pg_time_us``, which the KV producer puts
    there so the chunk crosses marshalled) into the datetimes psycopg binds, in place. Every
    writer of a PostgreSQL chunk's rows calls this once, just before writing them (the loop,
    the refused-chunk replay); SQLite rows hold their time text already and never come here.
    One unpacking per table rather than a generic column loop: this runs on ~70k values per
    100k payments in the parent, whose CPU is the other half of the migration."""
    f = pg_timestamp_us
    t = rows["payments"]
    if t:
        rows["payments"] = [(a, b, f(c), d, e) for a, b, c, d, e in t]
    t = rows["payment_htlc_attempts"]
    if t:
        rows["payment_htlc_attempts"] = [(a, b, c, d, f(e), g, h, i, j, k) for a, b, c, d, e, g, h, i, j, k in t]
    t = rows["payment_htlc_attempt_resolutions"]
    if t:
        rows["payment_htlc_attempt_resolutions"] = [(a, f(b), c, d, e, g, h) for a, b, c, d, e, g, h in t]
    t = rows["payment_duplicates"]
    if t:
        rows["payment_duplicates"] = [(a, b, c, f(d), e, g, None if h is None else f(h))
                                      for a, b, c, d, e, g, h in t]


@dataclass
class DuplicateRow:
    amount_msat: int
    created_ns: int
    fail_reason: int | None
    settle_preimage: bytes | None
    settle_time: int | None  # ns; None = NULL


def expected_duplicates(p: Payment, counter: NormalisationCounter | None = None) -> list[DuplicateRow]:
    """migrateSingleDuplicatePayment's mapping (§4.8), in key (sequence) order."""
    out = []
    for d in sorted(p.duplicates, key=lambda d: d.sequence_num):
        out.append(duplicate_row(d, counter))
    return out


def raw_duplicates(p: Payment) -> list[DuplicateRow]:
    """The legacy duplicates as stored (no failed-marking, no time wrapping): the drill-down's
    raw side, so each normalised duplicate field shows its stored value beside the migrated one."""
    out = []
    for d in sorted(p.duplicates, key=lambda d: d.sequence_num):
        preimage = settle_time = fail_reason = None
        if d.settle_raw is not None:
            preimage, settle_time = parse_duplicate_settle(d.settle_raw)
        elif d.fail_raw:
            fail_reason = d.fail_raw[0]
        out.append(DuplicateRow(d.value, d.creation_time, fail_reason, preimage, settle_time))
    return out


def duplicate_row(d: DuplicatePayment, counter: NormalisationCounter | None = None) -> DuplicateRow:
    preimage = None
    settle_time = None
    fail_reason = None
    if d.settle_raw is not None:
        preimage, settle_time = parse_duplicate_settle(d.settle_raw)
    elif d.fail_raw:
        fail_reason = d.fail_raw[0]
    else:
        fail_reason = int(FailureReason.ERROR)
        if counter is not None:
            counter.hit("duplicate_unresolved_marked_failed")
    created = go_unix_nano(d.creation_time)
    if created != d.creation_time and counter is not None:
        counter.hit("legacy_time_wrapped")
    return DuplicateRow(d.value, created, fail_reason, preimage, settle_time)


def go_unix_nano(ns: int) -> int:
    """Go's ``t.UnixNano()`` for a time outside int64 nanoseconds: the int64 product wraps.

    Only legacy duplicate creation times (stored in seconds) can get there; LND's
    ``normalizeTimeForSQL`` goes through UnixNano, so the stored value is the wrapped one.
    """
    return int64(ns & 0xFFFFFFFFFFFFFFFF)


@dataclass
class IdCounters:
    """Next id per table; persisted in the run record between chunks."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, table: str) -> int:
        n = self.next.get(table, 1)
        self.next[table] = n + 1
        return n

    def to_json(self) -> dict[str, int]:
        return dict(self.next)


class SwitchIdAllocator:
    """The htlcswitch sequencer as the migration replays it: hands out the ids
    that legacy attempt-ID-0 HTLCs are remapped to (LND §4.6). Migration and
    validation use this one class so a remapped attempt carries the same id in
    both; ``next`` is persisted with each chunk and becomes the sequencer's
    horizon at commit."""

    def __init__(self, next_id: int) -> None:
        self.next = next_id

    def __call__(self) -> int:
        if self.next == 0:
            self.next = 1  # the sequencer never hands out 0
        if self.next >= (1 << 64) - 1:
            raise MigrationReject("switch payment ID sequence exhausted", payment=b"")
        v = self.next
        self.next += 1
        return v


@dataclass
class ChunkRows:
    rows: dict[str, list[tuple]] = field(default_factory=lambda: {t: [] for t in TABLE_COLUMNS})
    attempts: int = 0
    hops: int = 0


def add_payment_rows(
    chunk: ChunkRows,
    p: Payment,
    identifier: bytes,
    duplicates: list[DuplicateRow],
    ids: IdCounters,
    ts: Callable[[int | None], Any],
) -> int:
    """Append one (already transformed) payment's rows; returns its payments.id."""
    r = chunk.rows
    pid = ids.take("payments")
    r["payments"].append(
        (pid, int64(p.info.value), ts(p.info.creation_time), identifier, p.failure_reason)
    )
    if p.info.payment_request:
        r["payment_intents"].append((ids.take("payment_intents"), pid, 0, p.info.payment_request))
    for k in sorted(p.info.first_hop_custom_records):
        r["payment_first_hop_custom_records"].append(
            (ids.take("payment_first_hop_custom_records"), pid, int64(k), p.info.first_hop_custom_records[k])
        )
    for h in p.htlcs:
        route = h.route
        aidx = h.attempt_id
        r["payment_htlc_attempts"].append(
            (
                ids.take("payment_htlc_attempts"), aidx, pid, h.session_key, ts(h.attempt_time), h.hash,
                int64(route.first_hop_amount), int32(route.total_time_lock), int64(route.total_amount),
                route.source_pub_key,
            )
        )
        chunk.attempts += 1
        for k in sorted(route.first_hop_wire_custom_records):
            r["payment_attempt_first_hop_custom_records"].append(
                (ids.take("payment_attempt_first_hop_custom_records"), aidx, int64(k),
                 route.first_hop_wire_custom_records[k])
            )
        for i, hop in enumerate(route.hops):
            hid = ids.take("payment_route_hops")
            r["payment_route_hops"].append(
                (hid, aidx, i, hop.pub_key, str(hop.channel_id), int32(hop.outgoing_time_lock),
                 int64(hop.amt_to_forward), hop.metadata)
            )
            chunk.hops += 1
            if hop.encrypted_data:
                r["payment_route_hop_blinded"].append(
                    (hid, hop.encrypted_data, hop.blinding_point,
                     int64(hop.total_amt_msat) if hop.total_amt_msat else None)
                )
            if hop.mpp is not None:
                r["payment_route_hop_mpp"].append((hid, hop.mpp.payment_addr, int64(hop.mpp.total_msat)))
            if hop.amp is not None:
                r["payment_route_hop_amp"].append(
                    (hid, hop.amp.root_share, hop.amp.set_id, int32(hop.amp.child_index))
                )
            for k in sorted(hop.custom_records):
                r["payment_hop_custom_records"].append(
                    (ids.take("payment_hop_custom_records"), hid, int64(k), hop.custom_records[k])
                )
        if h.settle is not None:
            r["payment_htlc_attempt_resolutions"].append(
                (aidx, ts(h.settle.settle_time), 1, h.settle.preimage, None, None, None)
            )
        elif h.failure is not None:
            f = h.failure
            msg = encode_failure_message(f.message) if f.message is not None else None
            r["payment_htlc_attempt_resolutions"].append(
                (aidx, ts(f.fail_time), 2, None, int32(f.failure_source_index), f.reason, msg)
            )
    for d in duplicates:
        r["payment_duplicates"].append(
            (ids.take("payment_duplicates"), pid, int64(d.amount_msat), ts(d.created_ns), d.fail_reason,
             d.settle_preimage, ts(d.settle_time) if d.settle_time is not None else None)
        )
    return pid
