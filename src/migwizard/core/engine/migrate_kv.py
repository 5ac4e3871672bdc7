"""The KV half of the migration: the payment index walked into chunks of SQL rows.

Everything that needs the KV store and no SQL lives here -- the index walk, the
fast decoder and the full decoder with its transform, LND's skips, quarantine,
backfill collisions, the client-side ids and the switch-id allocator, the
normalisation counter and the payment counts -- so that the SQL half in
:mod:`.migrate` can consume the same items whether this generator runs in a
second process (:mod:`.workers`, two cores) or in the same one. Every item is
picklable and carries the *cumulative* state after it, which is what the parent
saves with the chunk's checkpoint: the child keeps no state the parent must trust
beyond what it sent.

The same generator, replayed in-process from a chunk's start state one payment
per item, rebuilds a refused chunk payment by payment to name the culprit; that
is why no per-payment copy of the rows is kept (issue 11 item 3).
"""

from __future__ import annotations

import marshal
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..codec import DecodeError, decide_status, fetch_payment, render_key
from ..codec.keys import PAYMENTS_ROOT_BUCKET
from ..codec.walk import BadEntry, DuplicateEntry, MissingBucket, PaymentEntry, walk_payment_index
from ..fast.rows import FALLBACK, append_rows, decode_payment
from ..fast.rows import tally as fast_tally
from ..fast.timefmt import chunk_ts_for
from ..kv.lmdb_store import LmdbStore
from ..sql.values import POSTGRES, SQLITE
from . import backfill as bf
from . import workers
from .normalisations import NormalisationCounter
from .results import MigrationStats, tally
from .rows import ChunkRows, IdCounters, SwitchIdAllocator, add_payment_rows, expected_duplicates
from .transform import expected_sql_payment

TARGET = "migwizard.core.engine.migrate_kv:produce"
WIRE = "migwizard.core.engine.migrate_kv"  # to_wire/from_wire below: chunks cross as one marshal blob
QUARANTINE_REASON = "quarantined"
# The counters the KV half keeps (MigrationStats fields); rows, table seconds and chunks are the SQL half's.
COUNT_FIELDS = ("payments", "succeeded", "failed", "in_flight", "initiated", "attempts", "attempts_settled",
                "attempts_failed", "attempts_in_flight", "hops", "skipped", "duplicate_payments",
                "duplicate_entries")


@dataclass
class Snapshot:
    """The first item: the LMDB transaction id the walk reads, to compare with the parent's."""

    txn_id: int


@dataclass
class KVState:
    """Where the walk stands after an item: saved by the parent with the chunk's checkpoint."""

    done: int  # index entries walked (the Progress numerator)
    next_ids: dict[str, int]
    switch_next: int
    normalisations: dict[str, int]
    counts: dict[str, int]  # COUNT_FIELDS


@dataclass
class Tick:
    """Time-batched progress between chunks, with the log lines due before it."""

    done: int
    payments: int  # payments handled (quarantined included), resumed ones too: the Progress numerator
    attempts: int
    hops: int
    logs: list[tuple[str, str]]


@dataclass
class Chunk:
    """One closed chunk: its rows, its skipped entries and the state after it. On PostgreSQL the
    rows' times are ``pg_time_us`` ints until ``rows.pg_times_to_datetimes`` (before writing)."""

    rows: ChunkRows
    skipped: list[tuple[int, bytes | None, str, str]]
    first_seq: int
    last_seq: int
    payments: int
    first_pid: int | None
    last_pid: int | None
    quarantined: int
    collisions: int
    last_payment: bytes | None  # the identifier of its last payment (a replay names it)
    logs: list[tuple[str, str]]
    state: KVState


@dataclass
class End:
    """The walk reached the end of the index."""

    logs: list[tuple[str, str]]
    state: KVState


@dataclass
class _Open:
    rows: ChunkRows = field(default_factory=ChunkRows)
    skipped: list = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int = 0
    payments: int = 0
    first_pid: int | None = None
    last_pid: int | None = None
    row_count: int = 0
    quarantined: int = 0
    collisions: int = 0
    last_payment: bytes | None = None


def to_wire(item: Any) -> bytes | None:
    """A :class:`Chunk` as one ``marshal`` blob (its rows are tuples of int/bytes/str/None; on
    PostgreSQL the times are ``pg_time_us`` ints too), or None: the item crosses pickled.
    ``marshal`` keeps every type it accepts exactly (tuple vs list, bytes vs str, dict order) and
    refuses the rest (a datetime, an int subclass), so a chunk it cannot carry as it is simply
    goes the pickled way. (A buffer
    such as a memoryview would arrive as bytes, which SQLite stores alike; the rows hold none.)"""
    if type(item) is not Chunk:
        return None
    r, st = item.rows, item.state
    try:
        return marshal.dumps((r.rows, r.attempts, r.hops, item.skipped, item.first_seq, item.last_seq,
                              item.payments, item.first_pid, item.last_pid, item.quarantined, item.collisions,
                              item.last_payment, item.logs, st.done, st.next_ids, st.switch_next,
                              st.normalisations, st.counts))
    except ValueError:
        return None


def from_wire(blob: bytes) -> Chunk:
    """The :class:`Chunk` :func:`to_wire` encoded, equal to the one it was made from."""
    (rows, attempts, hops, skipped, first_seq, last_seq, payments, first_pid, last_pid, quarantined, collisions,
     last_payment, logs, done, next_ids, switch_next, normalisations, counts) = marshal.loads(blob)
    return Chunk(ChunkRows(rows, attempts, hops), skipped, first_seq, last_seq, payments, first_pid, last_pid,
                 quarantined, collisions, last_payment, logs, KVState(done, next_ids, switch_next, normalisations,
                                                                      counts))


def producer_args(*, kv_path: str, after: int | None, chunk_size: int, max_rows: int, dialect: str, fast: bool,
                  quarantine: bool, taken: dict[bytes, int] | None, done: int, next_ids: dict[str, int],
                  switch_next: int, normalisations: dict[str, int], counts: dict[str, int],
                  progress_s: float, until: int | None = None, quarantined: int = 0) -> dict:
    """The generator's arguments (picklable); ``until``: stop after this index sequence."""
    return {"kv_path": kv_path, "after": after, "chunk_size": chunk_size, "max_rows": max_rows, "dialect": dialect,
            "fast": fast, "quarantine": quarantine, "taken": taken, "done": done, "next_ids": dict(next_ids),
            "switch_next": switch_next, "normalisations": dict(normalisations), "counts": dict(counts),
            "progress_s": progress_s, "until": until, "quarantined": quarantined}


def txn_id(root) -> int:
    """The LMDB transaction id of ``root``'s read snapshot (the last committed write it sees)."""
    return int(root._txn.id())


def produce(args: dict) -> Iterator[Any]:
    """Snapshot, then Tick/Chunk items, then End. ``args["root"]`` (in-process only) reuses the
    caller's read snapshot; otherwise the store is opened read-only here, by path."""
    root = args.get("root")
    if root is not None:
        yield Snapshot(txn_id(root))
        yield from _Walk(args).items(root)
        return
    with LmdbStore.open(args["kv_path"], readonly=True) as store, store.read() as root:
        yield Snapshot(txn_id(root))
        yield from _Walk(args).items(root)


class _Walk:
    def __init__(self, args: dict) -> None:
        self.a = args
        self.dialect = POSTGRES if args["dialect"] == "postgres" else SQLITE
        self.ts = chunk_ts_for(self.dialect)  # PostgreSQL: ints, see pg_times_to_datetimes
        # The full decoder's time form: the same ints on PostgreSQL; SQLite keeps Dialect.ts's text.
        self.slow_ts = self.ts if self.dialect.is_postgres else self.dialect.ts
        self.ids = IdCounters(dict(args["next_ids"]))
        self.switch = SwitchIdAllocator(int(args["switch_next"]))
        self.counter = NormalisationCounter(args["normalisations"])
        self.stats = MigrationStats()
        for k, v in args["counts"].items():
            setattr(self.stats, k, v)
        self.taken = args["taken"]
        self.fast = bool(args["fast"]) and self.taken is None
        self.quarantine = bool(args["quarantine"])
        self.clock: Callable[[], float] = args.get("clock") or time.monotonic
        self.logs: list[tuple[str, str]] = []
        self.done = int(args["done"])
        self.quarantined = int(args.get("quarantined", 0))  # cumulative, resumed runs' included

    def state(self) -> KVState:
        s = self.stats
        return KVState(self.done, self.ids.to_json(), self.switch.next, dict(self.counter),
                       {k: getattr(s, k) for k in COUNT_FIELDS})

    def _take_logs(self) -> list[tuple[str, str]]:
        logs, self.logs = self.logs, []
        return logs

    def _chunk(self, o: _Open) -> Chunk:
        return Chunk(o.rows, o.skipped, o.first_seq or 0, o.last_seq, o.payments, o.first_pid, o.last_pid,
                     o.quarantined, o.collisions, o.last_payment, self._take_logs(), self.state())

    def items(self, root) -> Iterator[Any]:
        a = self.a
        chunk_size, max_rows, until, interval = a["chunk_size"], a["max_rows"], a["until"], a["progress_s"]
        clock = self.clock
        last_emit = -1e9  # the first entry reports at once
        o = _Open()
        try:
            for entry in walk_payment_index(root, after=a["after"]):
                if until is not None and entry.seq > until:
                    break
                if o.first_seq is None:
                    o.first_seq = entry.seq
                o.last_seq = entry.seq
                self.done += 1
                self._add(entry, o)
                if o.payments >= chunk_size or o.row_count >= max_rows:
                    self.quarantined += o.quarantined
                    yield self._chunk(o)
                    o = _Open()
                    last_emit = clock()
                elif clock() - last_emit >= interval:
                    last_emit = clock()
                    yield Tick(self.done, self.stats.payments + self.quarantined + o.quarantined, self.stats.attempts,
                               self.stats.hops, self._take_logs())
            if o.first_seq is not None:
                self.quarantined += o.quarantined
                yield self._chunk(o)
        except Exception:
            if self.logs:  # the warnings before the failure, as one process would have logged them
                yield Tick(self.done, self.stats.payments + self.quarantined + o.quarantined, self.stats.attempts,
                               self.stats.hops, self._take_logs())
            raise
        yield End(self._take_logs(), self.state())

    def _add(self, entry, o: _Open) -> None:
        """One index entry into the open chunk, or skipped the way LND skips it."""
        if isinstance(entry, BadEntry):
            raise entry.error
        if isinstance(entry, MissingBucket):
            phash = entry.payment_hash
            self.logs.append(("warning", f"Missing bucket for payment {phash.hex()} (index sequence {entry.seq}): "
                                         "skipped"))
            self.counter.hit("missing_payment_bucket_skipped")
            self.stats.skipped += 1
            o.skipped.append((entry.seq, phash, "missing_payment_bucket", "index entry without payment bucket"))
            return
        if isinstance(entry, DuplicateEntry):
            if entry.matched:
                self.counter.hit("duplicate_index_entry_skipped")
                return
            phash = entry.payment_hash
            self.logs.append(("warning", f"Index entry {entry.seq} names payment {phash.hex()}, whose own sequence "
                                         f"is {entry.own_sequence} and which has no duplicate {entry.seq}: skipped "
                                         "as LND does, but it is not a duplicate (damaged sequence key or index "
                                         "entry)"))
            self.counter.hit("unmatched_index_entry_skipped")
            self.stats.skipped += 1
            o.skipped.append((entry.seq, phash, "unmatched_index_entry",
                              f"payment's own sequence is {entry.own_sequence}; no duplicate {entry.seq}"))
            return
        assert isinstance(entry, PaymentEntry)
        phash = entry.payment_hash
        o.last_payment = phash
        if self.fast:
            fp = decode_payment(entry.bucket)
            if fp is not FALLBACK:  # no normalisation ever applies to an accepted payment
                pid = append_rows(o.rows, fp, phash, self.ids, self.ts)
                fast_tally(self.stats, fp)
                self._placed(o, pid)
                return
        try:
            payment = fetch_payment(entry.bucket, payment_id=phash, key_prefix=render_key(PAYMENTS_ROOT_BUCKET))
        except DecodeError as e:
            if not self.quarantine:
                raise
            # Left behind with the user's consent (--quarantine): listed, counted, bytes saved later.
            self.logs.append(("warning", f"Quarantined payment {phash.hex()} (index sequence {entry.seq}): {e}"))
            o.skipped.append((entry.seq, phash, QUARANTINE_REASON, str(e)))
            o.quarantined += 1
            o.payments += 1
            return
        t = expected_sql_payment(payment, phash, allocate_zero_id=self.switch, counter=self.counter, in_place=True)
        dups = expected_duplicates(payment, self.counter)
        lnd_pid = self.taken.get(phash) if self.taken is not None else None
        if lnd_pid is not None:
            n = bf.add_collision_rows(o.rows, t.payment, dups, lnd_pid, self.ids, self.slow_ts)
            self.logs.append(("warning", f"Payment {phash.hex()} (index sequence {entry.seq}): lnd reused its "
                                         f"identifier for its payment id {lnd_pid}; kept as {n} duplicate rows of "
                                         "that payment"))
            o.skipped.append((entry.seq, phash, bf.COLLISION_REASON,
                              f"identifier taken by lnd's payment id {lnd_pid}; kept as {n} rows of "
                              "payment_duplicates"))
            o.collisions += 1
            o.payments += 1
            count_payment(self.stats, t.payment, len(dups))
            return
        pid = add_payment_rows(o.rows, t.payment, phash, dups, self.ids, self.slow_ts)
        count_payment(self.stats, t.payment, len(dups))
        self._placed(o, pid)

    @staticmethod
    def _placed(o: _Open, pid: int) -> None:
        if o.first_pid is None:
            o.first_pid = pid
        o.last_pid = pid
        o.payments += 1
        o.row_count = sum(map(len, o.rows.rows.values()))


def count_payment(stats: MigrationStats, p, dups: int) -> None:
    stats.payments += 1
    tally(stats, decide_status(p))
    for h in p.htlcs:
        stats.attempts += 1
        stats.hops += len(h.route.hops)
        if h.settle is not None:
            stats.attempts_settled += 1
        elif h.failure is not None:
            stats.attempts_failed += 1
        else:
            stats.attempts_in_flight += 1
    if dups:
        stats.duplicate_payments += 1
        stats.duplicate_entries += dups


# Below this many index entries a second process costs more than it saves. Measured on
# `mixed` (SQLite, 2 cores): the child's spawn and imports (~0.5 s) plus its first chunk
# (~0.4 s) pass before the parent writes anything, and both processes together spend ~1-1.5 s
# more CPU than one (imports, pickling the rows). The parent's CPU, the critical path, drops
# 3.4 -> 2.3 s at 20k (about break-even on two free cores) and 15.5 -> 9.3 s at 100k.
CHILD_MIN_ENTRIES = 50_000


def child_pays_off(entries: int) -> bool:
    """Whether to decode in a second process: ``MIGWIZ_WORKERS=2`` forces it, ``=1`` forbids it;
    otherwise two free cores and at least :data:`CHILD_MIN_ENTRIES` entries left to walk."""
    raw = os.environ.get(workers.WORKERS_ENV, "").strip()
    if raw in ("1", "2"):
        return raw == "2"
    return workers.worker_count() >= 2 and entries >= CHILD_MIN_ENTRIES
