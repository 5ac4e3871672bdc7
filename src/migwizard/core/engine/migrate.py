"""The chunked migration: N payments per SQL transaction, resumable.

Each chunk's rows, the run's checkpoint (last KV index sequence done), its id
counters and its counters are written in one transaction, so a crash loses at
most the open chunk and a resumed run continues after the checkpoint with the
same ids. A chunk the target refuses is replayed payment by payment in a
transaction that is always rolled back, to name the payment it refused.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ... import __version__
from ..codec import DecodeError, decide_status, fetch_payment, render_key
from ..codec.keys import PAYMENTS_ROOT_BUCKET
from ..codec.walk import BadEntry, DuplicateEntry, IndexEntry, MissingBucket, PaymentEntry, walk_payment_index
from ..kv.channeldb import channeldb_version
from ..kv.errors import KVError
from ..fast.rows import FALLBACK, append_rows, decode_payment
from ..fast.rows import tally as fast_tally
from ..fast.timefmt import ts_for
from ..sql import deferred
from ..sql.bulk import BulkWriter, next_id
from ..sql.connect import server_version
from ..sql.schema import SchemaError, apply_migrations
from ..sql.transactions import write_txn
from . import backfill as bf
from . import indexes as deferred_objects
from . import lndside
from .crashpoints import crash_point
from .context import PROGRESS_INTERVAL_S, Context, one_session_at_a_time
from .events import ChunkCommitted, Phase, PhaseFinished, PhaseStarted, Progress
from .markers import KVScan, reconcile, refuse_unfinished_import, scan_kv
from .normalisations import NormalisationCounter
from .rate import RollingRate
from .results import EngineError, ExitCode, MigrationResult, MigrationStats, Outcome, tally
from .rows import ID_TABLES, PAYMENT_TABLES, TABLE_COLUMNS, ChunkRows, IdCounters, SwitchIdAllocator, \
    add_payment_rows, expected_duplicates
from .runs import Run, now_text, record_chunk, record_skipped, stats_from_run, stats_to_run
from .transform import MigrationReject, expected_sql_payment
from .tuning import chunk_rows, fastpath_enabled

log = logging.getLogger("migwizard")

# Pause after each committed chunk (seconds). For crash-and-resume tests and demos
# on tiny stores; never set in normal use.
QUARANTINE_REASON = "quarantined"
THROTTLE_S = float(os.environ.get("MIGWIZ_THROTTLE_CHUNK_S", "0") or 0)


class _Cancelled(Exception):
    pass


class ChunkFailed(Exception):
    """The target refused a chunk; ``payment`` is the first payment it refuses alone."""

    def __init__(self, message: str, payment: bytes | None) -> None:
        super().__init__(message)
        self.payment = payment


@dataclass
class _Pending:
    """One chunk being assembled, plus per-payment row sets for culprit search."""

    rows: ChunkRows = field(default_factory=ChunkRows)
    per_payment: list[tuple[bytes, dict[str, list[tuple]]]] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int = 0
    payments: int = 0
    skipped: list[tuple[int, bytes | None, str, str]] = field(default_factory=list)
    first_pid: int | None = None
    last_pid: int | None = None
    row_count: int = 0  # all tables: a chunk closes at tuning.chunk_rows()
    quarantined: int = 0
    collisions: int = 0


@one_session_at_a_time
def migrate(ctx: Context, *, cancel: threading.Event | None) -> MigrationResult:
    with ctx.open_kv() as store:
        refuse_unfinished_import(store, ctx.kv_path)
    reconcile(ctx)
    db = ctx.db()
    lndside.guard_writes(ctx, step="migration")
    facts = lndside.run_facts(ctx, allow_foreign=ctx.allow_foreign_source)
    with ctx.open_kv() as store, store.read() as root:
        scan = scan_kv(root)
        if scan.tombstone:
            raise EngineError("the KV store is tombstoned: it was migrated already",
                              exit_code=ExitCode.PREFLIGHT_REFUSED, hint="run `migwizard verify` to re-check")
        run = _start_or_resume(ctx, db, store, root, scan, facts)
        run.stats["payments_total"] = scan.counts.payments  # saved with the next checkpoint ("N of M")
        return _Migration(ctx, db, run).run(root, scan.counts.index_entries, cancel)


class _Migration:
    """One migrate() call: the run being advanced and the counters of this pass."""

    def __init__(self, ctx: Context, db, run: Run) -> None:
        self.ctx = ctx
        self.db = db
        self.run_ = run
        self.dialect = ctx.dialect()
        self.stats = stats_from_run(run)
        self.counter = NormalisationCounter(run.normalisations)
        self.ids = IdCounters(dict(run.next_ids))
        self.switch = SwitchIdAllocator(int(run.stats.get("switch_next", run.switch_seq_before or 0)))
        self.since_flush = 0.0
        # Backfill: lnd's own payments by identifier (a KV payment reusing one becomes its duplicate).
        self.taken = (bf.taken_identifiers(db, int(run.stats["start_ids"].get("payments", 1)))
                      if run.stats.get("backfill") else None)
        # core/fast for every payment it accepts (never in a backfill: collisions need the model).
        self.fast = fastpath_enabled() and self.taken is None
        self.ts = ts_for(self.dialect)
        self.max_rows = chunk_rows()

    def run(self, root, total: int, cancel: threading.Event | None) -> MigrationResult:
        ctx, run, stats = self.ctx, self.run_, self.stats
        ctx.emit(PhaseStarted(Phase.MIGRATE, total))
        ctx.log("info", f"Found ~{total} index entries to migrate (includes duplicates); "
                        f"resuming after sequence {run.checkpoint_seq}" if run.checkpoint_seq else
                f"Found ~{total} index entries to migrate (includes duplicates)")
        done = int(run.stats.get("entries_done", 0))
        t0 = ctx.clock()
        self.since_flush = t0  # wall time spent in this run counts from here, chunk by chunk
        rate = RollingRate()
        rate.add(t0, done, stats.attempts)
        last_emit = -1e9
        pending = _Pending()
        outcome = Outcome.COMPLETE
        error = None
        failing = None
        try:
            for entry in walk_payment_index(root, after=run.checkpoint_seq if run.chunks_done else None):
                if pending.first_seq is None:
                    pending.first_seq = entry.seq
                pending.last_seq = entry.seq
                done += 1
                self._add(entry, pending)
                if pending.payments >= ctx.chunk_size or pending.row_count >= self.max_rows:
                    self._flush(pending, done)
                    pending = _Pending()
                    now = ctx.clock()
                    rate.add(now, done, stats.attempts)
                    last_emit = now
                    self._progress(done, total, now - t0, rate)
                    if cancel is not None and cancel.is_set():
                        raise _Cancelled()
                elif ctx.clock() - last_emit >= PROGRESS_INTERVAL_S:
                    now = ctx.clock()
                    last_emit = now
                    rate.add(now, done, stats.attempts)
                    self._progress(done, total, now - t0, rate)
            if pending.first_seq is not None:
                self._flush(pending, done)
            self._finish_migrated()
        except _Cancelled:
            outcome = Outcome.CANCELLED
            ctx.log("warning", f"Cancelled at a chunk boundary: {run.payments_done} payments are committed "
                               f"(checkpoint sequence {run.checkpoint_seq}); the run can be resumed or rolled back.")
        except (DecodeError, MigrationReject, ChunkFailed, KVError, deferred_objects.DeferredViolation) as e:
            outcome = Outcome.FAILED
            error = str(e)
            if isinstance(e, DecodeError) and not ctx.quarantine:
                error += ("; no lnd release can read this payment: --quarantine migrates every other payment "
                          "and saves its bytes beside the report")
            pay = getattr(e, "payment", None)
            failing = pay.hex() if pay else None
            self._mark_failed(error)
            stats = self.stats = stats_from_run(run)  # what is committed, not the refused chunk
            ctx.log("error", f"Migration stopped: {error}")
        now = ctx.clock()
        rate.add(now, done, stats.attempts)
        self._progress(done, total, now - t0, rate)
        stats.seconds = float(run.stats.get("seconds", 0.0))
        stats.normalisations = dict(run.normalisations)
        ctx.emit(PhaseFinished(Phase.MIGRATE, outcome is Outcome.COMPLETE,
                               f"{outcome.value}: {stats.payments} payments, {stats.attempts} attempts, "
                               f"{stats.hops} hops"))
        return MigrationResult(run.run_id, outcome, stats, run.checkpoint_seq, error, failing)

    def _progress(self, done: int, total: int, elapsed: float, rate: RollingRate) -> None:
        pps, aps = rate.rates()
        self.ctx.emit(Progress(Phase.MIGRATE, done, total, self.stats.attempts, self.stats.hops,
                               self.run_.chunks_done, elapsed, pps, aps, rate.eta(max(0, total - done))))

    def _add(self, entry: IndexEntry, pending: _Pending) -> None:
        """One index entry into the open chunk, or skipped the way LND skips it."""
        if isinstance(entry, BadEntry):
            raise entry.error
        if isinstance(entry, MissingBucket):
            phash = entry.payment_hash
            self.ctx.log("warning", f"Missing bucket for payment {phash.hex()} (index sequence {entry.seq}): skipped")
            self.counter.hit("missing_payment_bucket_skipped")
            self.stats.skipped += 1
            pending.skipped.append((entry.seq, phash, "missing_payment_bucket", "index entry without payment bucket"))
            return
        if isinstance(entry, DuplicateEntry):
            if entry.matched:
                self.counter.hit("duplicate_index_entry_skipped")
                return
            phash = entry.payment_hash
            self.ctx.log("warning", f"Index entry {entry.seq} names payment {phash.hex()}, whose own sequence is "
                                    f"{entry.own_sequence} and which has no duplicate {entry.seq}: skipped as LND "
                                    "does, but it is not a duplicate (damaged sequence key or index entry)")
            self.counter.hit("unmatched_index_entry_skipped")
            self.stats.skipped += 1
            pending.skipped.append((entry.seq, phash, "unmatched_index_entry",
                                    f"payment's own sequence is {entry.own_sequence}; no duplicate {entry.seq}"))
            return
        assert isinstance(entry, PaymentEntry)
        phash = entry.payment_hash
        if self.fast:
            fp = decode_payment(entry.bucket)
            if fp is not FALLBACK:  # no normalisation ever applies to an accepted payment
                before = {tb: len(r) for tb, r in pending.rows.rows.items()}
                pid = append_rows(pending.rows, fp, phash, self.ids, self.ts)
                pending.per_payment.append((phash, {tb: r[before[tb]:] for tb, r in pending.rows.rows.items()
                                                    if len(r) > before[tb]}))
                fast_tally(self.stats, fp)
                self._placed(pending, pid)
                return
        try:
            payment = fetch_payment(entry.bucket, payment_id=phash, key_prefix=render_key(PAYMENTS_ROOT_BUCKET))
        except DecodeError as e:
            if not self.ctx.quarantine:
                raise
            # Left behind with the user's consent (--quarantine): listed, counted, bytes saved later.
            self.ctx.log("warning", f"Quarantined payment {phash.hex()} (index sequence {entry.seq}): {e}")
            pending.skipped.append((entry.seq, phash, QUARANTINE_REASON, str(e)))
            pending.quarantined += 1
            pending.payments += 1
            return
        t = expected_sql_payment(payment, phash, allocate_zero_id=self.switch, counter=self.counter, in_place=True)
        dups = expected_duplicates(payment, self.counter)
        lnd_pid = self.taken.get(phash) if self.taken is not None else None
        if lnd_pid is not None:
            d0 = len(pending.rows.rows["payment_duplicates"])
            n = bf.add_collision_rows(pending.rows, t.payment, dups, lnd_pid, self.ids, self.dialect.ts)
            pending.per_payment.append((phash, {"payment_duplicates": pending.rows.rows["payment_duplicates"][d0:]}))
            self.ctx.log("warning", f"Payment {phash.hex()} (index sequence {entry.seq}): lnd reused its identifier "
                                    f"for its payment id {lnd_pid}; kept as {n} duplicate rows of that payment")
            pending.skipped.append((entry.seq, phash, bf.COLLISION_REASON,
                                    f"identifier taken by lnd's payment id {lnd_pid}; kept as {n} rows of "
                                    "payment_duplicates"))
            pending.collisions += 1
            pending.payments += 1
            _count_payment(self.stats, t.payment, len(dups))
            return
        before = {tb: len(r) for tb, r in pending.rows.rows.items()}
        pid = add_payment_rows(pending.rows, t.payment, phash, dups, self.ids, self.dialect.ts)
        pending.per_payment.append((phash, {tb: r[before[tb]:] for tb, r in pending.rows.rows.items()
                                            if len(r) > before[tb]}))
        _count_payment(self.stats, t.payment, len(dups))
        self._placed(pending, pid)

    def _placed(self, pending: _Pending, pid: int) -> None:
        if pending.first_pid is None:
            pending.first_pid = pid
        pending.last_pid = pid
        pending.payments += 1
        pending.row_count = sum(map(len, pending.rows.rows.values()))

    def _flush(self, pending: _Pending, done: int) -> None:
        ctx, db, run, stats = self.ctx, self.db, self.run_, self.stats
        writer = BulkWriter(db, self.dialect)
        chunk_no = run.chunks_done + 1
        wall = now_text(ctx.wall())
        prev = (run.checkpoint_seq, dict(run.next_ids), dict(run.normalisations), dict(run.stats),
                run.chunks_done, run.first_payment_id, run.payments_done, run.attempts_done, run.hops_done,
                run.duplicates_done, run.skipped_done)
        run.checkpoint_seq = pending.last_seq
        run.next_ids = self.ids.to_json()
        run.normalisations = dict(self.counter)
        run.chunks_done = chunk_no
        if run.first_payment_id is None:
            run.first_payment_id = pending.first_pid
        stats_to_run(run, stats)
        run.stats["switch_next"] = self.switch.next
        run.stats["entries_done"] = done
        if pending.quarantined:
            run.stats["quarantined"] = int(run.stats.get("quarantined", 0)) + pending.quarantined
        if pending.collisions:
            run.stats["collisions"] = int(run.stats.get("collisions", 0)) + pending.collisions
        try:
            with write_txn(db):
                crash_point("chunk.begin")
                for table in PAYMENT_TABLES:
                    rows = pending.rows.rows[table]
                    if rows:
                        ts = ctx.clock()
                        writer.insert(table, TABLE_COLUMNS[table], rows)
                        stats.table_seconds[table] = stats.table_seconds.get(table, 0.0) + ctx.clock() - ts
                        stats.rows[table] = stats.rows.get(table, 0) + len(rows)
                crash_point("chunk.rows_written")
                for seq, ident, reason, detail in pending.skipped:
                    record_skipped(db, run, _i64(seq), ident, reason, detail, wall)
                now = ctx.clock()
                run.stats["seconds"] = float(run.stats.get("seconds", 0.0)) + (now - self.since_flush)
                stats_to_run(run, stats)
                run.updated_at = wall
                run.save(db)
                record_chunk(db, run, chunk_no, _i64(pending.first_seq or 0), _i64(pending.last_seq),
                             {"payments": pending.payments, "attempts": pending.rows.attempts,
                              "hops": pending.rows.hops, "duplicates": len(pending.rows.rows["payment_duplicates"]),
                              "skipped": len(pending.skipped)}, pending.first_pid, pending.last_pid, wall)
                crash_point("chunk.checkpoint_written")
        except Exception as e:  # noqa: BLE001 - find which payment the database refused
            (run.checkpoint_seq, run.next_ids, run.normalisations, run.stats, run.chunks_done,
             run.first_payment_id, run.payments_done, run.attempts_done, run.hops_done,
             run.duplicates_done, run.skipped_done) = prev
            culprit, cause = _find_culprit(db, writer, pending)
            msg = ctx.url.scrub(str(cause if cause is not None else e)).strip().splitlines()[0]
            raise ChunkFailed(
                f"the SQL target refused chunk {chunk_no} (KV sequences {pending.first_seq}..{pending.last_seq}): "
                f"{msg}" + (f"; first failing payment {culprit.hex()}" if culprit else ""), culprit) from None
        crash_point("chunk.committed")
        stats.chunks = chunk_no
        self.since_flush = now
        ctx.emit(ChunkCommitted(chunk_no, run.checkpoint_seq, run.payments_done))
        if THROTTLE_S:
            time.sleep(THROTTLE_S)

    def _finish_migrated(self) -> None:
        run, stats = self.run_, self.stats
        run.stats["migrated"] = True
        run.switch_seq_after = self.switch.next
        run.stats["switch_next"] = self.switch.next
        run.updated_at = now_text(self.ctx.wall())
        stats_to_run(run, stats)
        with write_txn(self.db):
            deferred_objects.build_in_txn(self.db, run)  # in the same transaction that records them built
            deferred.analyze(self.db)  # PostgreSQL only: statistics for validation's plans
            run.save(self.db)
            crash_point("migrate.finishing")
        crash_point("migrate.finished")
        self.ctx.log("info", f"All chunks committed: {stats.payments} payments, {stats.attempts} attempts, "
                             f"{stats.hops} hops, {stats.duplicate_entries} duplicates, {stats.skipped} skipped.")

    def _mark_failed(self, error: str) -> None:
        run = self.run_
        run.state = "failed"
        run.error = self.ctx.url.scrub(error)
        run.updated_at = now_text(self.ctx.wall())
        try:
            with write_txn(self.db):
                run.save(self.db)
        except Exception:  # noqa: BLE001
            log.exception("could not record the failed state")


def _start_or_resume(ctx: Context, db, store, root, scan: KVScan, facts: dict) -> Run:
    run = ctx.run()
    if run is not None:
        if run.state == "committed":
            raise EngineError("this target already holds a committed migration",
                              exit_code=ExitCode.PREFLIGHT_REFUSED, hint="run `migwizard verify`")
        if run.source_fingerprint != scan.fingerprint:
            raise EngineError(
                f"the target holds unfinished run {run.run_id[:8]} of a different KV store "
                "(its payment index differs)", exit_code=ExitCode.PREFLIGHT_REFUSED,
                hint="roll it back with the original --kv, or choose another target")
        if run.state in ("failed", "validated") or run.stats.get("migrated"):
            run.state = "running"
            run.error = None
            run.stats["migrated"] = False if run.stats.get("entries_done", 0) < scan.counts.index_entries else \
                run.stats.get("migrated", False)
            with write_txn(db):
                run.save(db)
        ctx.log("info", f"Resuming run {run.run_id[:8]} after KV sequence {run.checkpoint_seq} "
                        f"({run.payments_done} payments already committed)")
        return run
    backfill = bf.start_facts(ctx, db, scan.counts.payments, scan.switch_sequence)
    tables_before = ctx.tables()
    created_schema = "payments" not in tables_before
    crash_point("start.before_schema")
    try:
        apply_migrations(db)
    except SchemaError as e:
        raise EngineError(f"the target's schema cannot be used: {e}", exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint="use an empty target, or let lnd finish its own schema migrations") from None
    n = db.execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0]
    if n and backfill is None:
        raise EngineError(f"the target already holds {n} payment rows not written by migwizard",
                          exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint="use an empty target; LND's own migration refuses a non-empty one too")
    start_ids = {t: next_id(db, t) for t in ID_TABLES}
    # Only on tables this run created: an existing LND table keeps its indexes and constraints.
    late = deferred_objects.plan(db, created_schema)
    wall = ctx.wall()
    run = Run(
        run_id=uuid.uuid4().hex, source_path=str(ctx.kv_path.resolve()), source_fingerprint=scan.fingerprint,
        source_kind="lmdb", kv_layout_version=store.layout_version, channeldb_version=channeldb_version(root),
        tool_version=__version__, target_dialect="sqlite" if ctx.url.is_sqlite else "postgres",
        target_server_version=server_version(db), next_ids=dict(start_ids),
        switch_seq_before=scan.switch_sequence or 0, created_schema=int(created_schema),
        started_at=now_text(wall), updated_at=now_text(wall),
        stats={"start_ids": start_ids, "switch_next": scan.switch_sequence or 0,
               "switch_bucket_existed": scan.switch_sequence is not None,
               "created_file": not bool(ctx.sqlite_existed) if ctx.url.is_sqlite else False,
               "tables_before": sorted(tables_before), "entries_done": 0, "seconds": 0.0,
               "lnd": facts, **late},
    )
    if backfill is not None:
        run.stats["backfill"] = backfill
        run.stats["switch_next"] = backfill["switch_start"]
        ctx.log("info", f"Backfill into lnd's store at migration_tracker {backfill['tracker']}: "
                        f"{backfill['lnd_payments']} lnd payments stay as they are; backfilled ids start at "
                        f"{start_ids['payments']}; remapped attempt IDs from {backfill['switch_start']}")
    crash_point("start.schema_applied")
    with write_txn(db):
        deferred_objects.drop_planned(db, run)  # with the run record that says so, or not at all
        run.insert(db)
    crash_point("start.run_created")
    ctx.log("info", f"Started run {run.run_id[:8]} into {ctx.target} "
                    f"(chunks of up to {ctx.chunk_size} payments or {chunk_rows()} rows)")
    return run


def _find_culprit(db, writer: BulkWriter, pending: _Pending) -> tuple[bytes | None, Exception | None]:
    """Replay the chunk payment by payment in a transaction that is always rolled back."""
    found: list[Any] = [None, None]

    class _Undo(Exception):
        pass

    try:
        with write_txn(db):
            for ident, rows in pending.per_payment:
                try:
                    with write_txn(db):  # a savepoint
                        for table in PAYMENT_TABLES:
                            if rows.get(table):
                                writer.insert(table, TABLE_COLUMNS[table], rows[table])
                except Exception as e:  # noqa: BLE001
                    found[0], found[1] = ident, e
                    break
            raise _Undo()
    except _Undo:
        pass
    except Exception as e:  # noqa: BLE001
        found[1] = found[1] or e
    return found[0], found[1]


def _i64(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u


def _count_payment(stats: MigrationStats, p, dups: int) -> None:
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
