"""The current path, one payment at a time, as the engine runs it (``_migrate_entry``):
``fetch_payment`` -> ``expected_sql_payment`` -> ``expected_duplicates`` ->
``add_payment_rows``. The fast path must give the same rows, ids and counters."""

from __future__ import annotations

from collections.abc import Iterator

from migwizard.core.codec import DecodeError, decide_status, decode_index_entry, decode_sequence, fetch_payment, render_key
from migwizard.core.engine.normalisations import NormalisationCounter
from migwizard.core.engine.results import MigrationStats
from migwizard.core.engine.rows import ChunkRows, IdCounters, SwitchIdAllocator, add_payment_rows, expected_duplicates
from migwizard.core.engine.transform import MigrationReject, expected_sql_payment
from migwizard.core.fast import FALLBACK, append_rows, decode_payment, tally
from migwizard.core.fast.timefmt import ts_for
from migwizard.core.kv.open import open_kv

ROOT = b"payments-root-bucket"
INDEX = b"payments-index-bucket"


def count_reference(stats: MigrationStats, p, dups: int) -> None:
    """The engine's ``_count_payment`` (kept here so the engine's split cannot move it away)."""
    stats.payments += 1
    label = {1: "initiated", 2: "in_flight", 3: "succeeded", 4: "failed"}[int(decide_status(p))]
    setattr(stats, label, getattr(stats, label) + 1)
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


class Side:
    """One pipeline's output: rows, ids, counter, stats, allocator."""

    def __init__(self, switch_start: int = 0) -> None:
        self.chunk = ChunkRows()
        self.ids = IdCounters({})
        self.counter = NormalisationCounter()
        self.stats = MigrationStats()
        self.alloc = SwitchIdAllocator(switch_start)  # the engine's sequencer replay

    def full(self, pb, phash: bytes, ts) -> None:
        payment = fetch_payment(pb, payment_id=phash, key_prefix=render_key(ROOT))
        t = expected_sql_payment(payment, phash, allocate_zero_id=self.alloc, counter=self.counter, in_place=True)
        dups = expected_duplicates(payment, self.counter)
        add_payment_rows(self.chunk, t.payment, phash, dups, self.ids, ts)
        count_reference(self.stats, t.payment, len(dups))

    def fast(self, pb, phash: bytes, dialect) -> bool:
        """True when the fast path took the payment (with its own time formatter)."""
        fp = decode_payment(pb)
        if fp is FALLBACK:
            self.full(pb, phash, dialect.ts)
            return False
        append_rows(self.chunk, fp, phash, self.ids, ts_for(dialect))
        tally(self.stats, fp)
        return True


def main_payments(root) -> Iterator[tuple[bytes, object]]:
    """(index hash, payment bucket) for every main payment, in index order."""
    rb, ib = root.bucket(ROOT), root.bucket(INDEX)
    if ib is None or rb is None:
        return
    for key, value in ib.items():
        phash = decode_index_entry(value)
        pb = rb.bucket(phash)
        if pb is None or decode_sequence(pb.get(b"payment-sequence-key")) != int.from_bytes(key, "big"):
            continue
        yield phash, pb


def assert_same(ref: Side, fast: Side) -> None:
    for table, rows in ref.chunk.rows.items():
        got = fast.chunk.rows[table]
        assert len(got) == len(rows), table
        for i, (a, b) in enumerate(zip(rows, got)):
            assert a == b and [type(x) for x in a] == [type(x) for x in b], (table, i, a, b)
    assert (ref.chunk.attempts, ref.chunk.hops) == (fast.chunk.attempts, fast.chunk.hops)
    assert ref.ids.next == fast.ids.next, (ref.ids.next, fast.ids.next)
    assert dict(ref.counter) == dict(fast.counter)
    assert ref.stats == fast.stats


def compare_store(kv_dir, dialect, switch_start: int = 0) -> tuple[int, int]:
    """Run both pipelines over a store; returns (payments, taken by the fast path)."""
    ref, fast = Side(switch_start), Side(switch_start)
    n = taken = 0
    with open_kv(kv_dir) as store, store.read() as root:  # LMDB, or lnd's bbolt channel.db read in place
        for phash, pb in main_payments(root):
            try:
                ref.full(pb, phash, dialect.ts)
            except (DecodeError, MigrationReject):
                assert decode_payment(pb) is FALLBACK, phash.hex()
                continue
            n += 1
            taken += fast.fast(pb, phash, dialect)
    assert_same(ref, fast)
    return n, taken
