"""The chunked migration: N payments per SQL transaction, resumable.

Each chunk's rows, the run's checkpoint (last KV index sequence done), its id
counters and its counters are written in one transaction, so a crash loses at
most the open chunk and a resumed run continues after the checkpoint with the
same ids. A chunk the target refuses is rebuilt from the KV store payment by
payment and replayed in a transaction that is always rolled back, to name the
payment it refused (no per-payment copy of the rows is kept).

This module is the SQL half; the KV half (:mod:`.migrate_kv`) runs in a second
process when two cores are free and the store is big enough to pay for the
spawn, else here, and either way hands over the same items.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager

from ... import __version__
from ..codec import DecodeError
from ..kv.channeldb import channeldb_version
from ..kv.errors import KVError
from ..sql import deferred
from ..sql.bulk import BulkWriter, next_id
from ..sql.connect import load_cache, load_synchronous, server_version
from ..sql.schema import SchemaError, apply_migrations
from ..sql.transactions import write_txn
from . import backfill as bf
from . import indexes as deferred_objects
from . import lndside, migrate_kv, workers
from .crashpoints import crash_point
from .culprit import find_culprit
from .context import PROGRESS_INTERVAL_S, Context, one_session_at_a_time
from .events import ChunkCommitted, Phase, PhaseFinished, PhaseStarted, Progress
from .markers import KVScan, index_payment_count, migration_facts, reconcile, refuse_unfinished_import
from .migrate_kv import QUARANTINE_REASON  # noqa: F401 - validation lists these skips by this reason
from .rate import RollingRate
from .results import EngineError, ExitCode, MigrationResult, Outcome
from .rows import ID_TABLES, PAYMENT_TABLES, TABLE_COLUMNS, pg_times_to_datetimes
from .runs import Run, now_text, record_chunk, record_skipped, stats_from_run, stats_to_run
from .transform import MigrationReject
from .tuning import chunk_rows, fastpath_enabled, txn_min_chunk_rows, txn_rows

log = logging.getLogger("migwizard")

# Pause after each committed chunk (seconds). For crash-and-resume tests and demos
# on tiny stores; never set in normal use.
THROTTLE_S = float(os.environ.get("MIGWIZ_THROTTLE_CHUNK_S", "0") or 0)


# Items the child may run ahead of this process (100k mixed, load ~7, interleaved: migrate wall
# 29.4/30.2 s with 3, 27.8/28.7 s with 6; the child's peak RSS +4 MB).
LOOKAHEAD = 6


class _Cancelled(Exception):
    pass


class ChunkFailed(Exception):
    """The target refused a chunk; ``payment`` is the first payment it refuses alone."""

    def __init__(self, message: str, payment: bytes | None) -> None:
        super().__init__(message)
        self.payment = payment


@one_session_at_a_time
def migrate(ctx: Context, *, cancel: threading.Event | None) -> MigrationResult:
    with ctx.open_kv() as store:
        refuse_unfinished_import(store, ctx.kv_path)
    reconcile(ctx)
    db = ctx.db()
    lndside.guard_writes(ctx, step="migration")
    facts = lndside.run_facts(ctx, allow_foreign=ctx.allow_foreign_source)
    with ctx.open_kv() as store, store.read() as root:
        scan = migration_facts(root)  # no payment decoded: preflight alone counts by status
        if scan.tombstone:
            raise EngineError("the KV store is tombstoned: it was migrated already",
                              exit_code=ExitCode.PREFLIGHT_REFUSED, hint="run `migwizard verify` to re-check")
        run = _start_or_resume(ctx, db, store, root, scan, facts)
        run.stats["payments_total"] = scan.root_payments  # saved with the next checkpoint ("N of M")
        return _Migration(ctx, db, run).run(root, scan.root_payments, cancel)


class _Migration:
    """One migrate() call: the SQL half (chunks written with their checkpoint) of the run being
    advanced; the KV half is :mod:`.migrate_kv`, here or in a second process."""

    def __init__(self, ctx: Context, db, run: Run) -> None:
        self.ctx = ctx
        self.db = db
        self.run_ = run
        self.dialect = ctx.dialect()
        self.stats = stats_from_run(run)
        self.switch_next = int(run.stats.get("switch_next", run.switch_seq_before or 0))
        self.since_flush = 0.0
        # Backfill: lnd's own payments by identifier (a KV payment reusing one becomes its duplicate).
        self.taken = (bf.taken_identifiers(db, int(run.stats["start_ids"].get("payments", 1)))
                      if run.stats.get("backfill") else None)
        # core/fast for every payment it accepts (never in a backfill: collisions need the model).
        self.fast = fastpath_enabled() and self.taken is None
        self.max_rows = chunk_rows()
        # The open transaction (SQLite may carry several chunks in one, see _keep_open): its
        # ExitStack, the committed state before its first chunk, (chunk_no, checkpoint_seq,
        # payments_done) of each chunk in it, its rows, and its first chunk number.
        self._txn: ExitStack | None = None
        self._base: tuple = ()
        self._pending: list[tuple[int, int, int]] = []
        self._txn_rows = 0
        self._txn_first = 0
        self._last: migrate_kv.Chunk | None = None
        self._txn_cap = txn_rows() if self.dialect.name == "sqlite" else 1
        self._txn_min_chunk = txn_min_chunk_rows()

    def _args(self, *, chunk_size: int, max_rows: int, until: int | None = None) -> dict:
        """The KV half's arguments from the run as saved: its checkpoint, ids and counters."""
        run = self.run_
        counts = stats_from_run(run)
        return migrate_kv.producer_args(
            kv_path=str(self.ctx.kv_path.absolute()), after=run.checkpoint_seq if run.chunks_done else None,
            chunk_size=chunk_size, max_rows=max_rows, dialect=self.dialect.name, fast=self.fast,
            quarantine=self.ctx.quarantine, taken=self.taken, done=int(run.stats.get("entries_done", 0)),
            next_ids=run.next_ids, switch_next=int(run.stats.get("switch_next", run.switch_seq_before or 0)),
            normalisations=run.normalisations, counts={k: getattr(counts, k) for k in migrate_kv.COUNT_FIELDS},
            progress_s=PROGRESS_INTERVAL_S, until=until, quarantined=int(run.stats.get("quarantined", 0)))

    def _items(self, root, remaining: int, cancel: threading.Event | None) -> workers.ItemStream:
        args = self._args(chunk_size=self.ctx.chunk_size, max_rows=self.max_rows)
        if migrate_kv.child_pays_off(remaining):
            # Progress ticks (every 0.25 s, ~one per chunk) share the bounded queue: 6 items keep 2
            # chunks of lookahead (workers.BIG_IN_FLIGHT), so a slow commit or a slow decode does not
            # stall the other side. A chunk waits in the child as its ~6 MB marshal blob, not as its
            # rows' objects; never more than two of them, even when this side is the slower one.
            s = workers.stream(migrate_kv.TARGET, args, cancel=cancel, workers=2, lookahead=LOOKAHEAD,
                               wire=migrate_kv.WIRE)
            if s.in_child:
                self.ctx.log("info", "migration: KV decoding in a second process")
                return s
            s.close()  # could not start one (logged): the same generator here
        self.ctx.log("info", "migration: KV decoding in one process")
        return workers.stream(migrate_kv.TARGET, {**args, "root": root, "clock": self.ctx.clock}, workers=1)

    def run(self, root, total: int, cancel: threading.Event | None) -> MigrationResult:
        ctx, run = self.ctx, self.run_
        ctx.emit(PhaseStarted(Phase.MIGRATE, total))
        ctx.log("info", f"Found {total} payments to migrate; resuming after sequence {run.checkpoint_seq}"
                if run.checkpoint_seq else f"Found {total} payments to migrate")
        t0 = ctx.clock()
        self.since_flush = t0  # wall time spent in this run counts from here, chunk by chunk
        rate = RollingRate()
        seen = self._payments_seen()  # the Progress numerator: payments, never index entries
        rate.add(t0, seen, self.stats.attempts)
        outcome = Outcome.COMPLETE
        error = None
        failing = None
        try:
            with load_synchronous(self.db), load_cache(self.db), \
                    self._items(root, max(0, total - seen), cancel) as items, self._settled():
                it = iter(items)
                first = next(it, None)
                if first is None and cancel is not None and cancel.is_set():
                    raise _Cancelled()  # stopped before the child sent anything
                self._same_snapshot(root, first)
                end = None
                for item in it:
                    for level, msg in item.logs:
                        ctx.log(level, msg)
                    if isinstance(item, migrate_kv.Tick):
                        seen = item.payments
                        now = ctx.clock()
                        rate.add(now, seen, item.attempts)
                        self._progress(seen, total, now - t0, rate, item.attempts, item.hops)
                    elif isinstance(item, migrate_kv.Chunk):
                        self._flush(item, root)
                        seen = self._payments_seen()
                        now = ctx.clock()
                        rate.add(now, seen, self.stats.attempts)
                        self._progress(seen, total, now - t0, rate)
                        if cancel is not None and cancel.is_set():
                            self._commit(root)
                            raise _Cancelled()
                    else:
                        end = item
                    item = None  # not alive while the next chunk is received and decoded
                if end is None:  # the stream stopped early: only a cancel does that
                    if cancel is not None and cancel.is_set():
                        raise _Cancelled()
                    raise workers.WorkerDied("the KV half of the migration ended before the end of the index")
                self._commit(root)
            self.switch_next = end.state.switch_next
            self._finish_migrated()
        except _Cancelled:
            outcome = Outcome.CANCELLED
            ctx.log("warning", f"Cancelled at a chunk boundary: {run.payments_done} payments are committed "
                               f"(checkpoint sequence {run.checkpoint_seq}); the run can be resumed or rolled back.")
        except (DecodeError, MigrationReject, ChunkFailed, KVError, deferred_objects.DeferredViolation,
                workers.WorkerDied, workers.WorkerFailed) as e:
            outcome = Outcome.FAILED
            error = str(e)
            if isinstance(e, DecodeError) and not ctx.quarantine:
                error += ("; no lnd release can read this payment: --quarantine migrates every other payment "
                          "and saves its bytes beside the report")
            pay = getattr(e, "payment", None)
            failing = pay.hex() if pay else None
            self._mark_failed(error)
            self.stats = stats_from_run(run)  # what is committed, not the refused chunk
            ctx.log("error", f"Migration stopped: {error}")
        stats = self.stats
        now = ctx.clock()
        seen = self._payments_seen()  # what is counted now is committed (the last chunk flushed, or none)
        rate.add(now, seen, stats.attempts)
        # Complete: every payment the index owns is done; the root bucket may hold more that no
        # index entry lists (LND skips them too; validation names them), so the last line says 100%.
        self._progress(seen, total if outcome is not Outcome.COMPLETE else seen, now - t0, rate)
        stats.seconds = float(run.stats.get("seconds", 0.0))
        stats.normalisations = dict(run.normalisations)
        ctx.emit(PhaseFinished(Phase.MIGRATE, outcome is Outcome.COMPLETE,
                               f"{outcome.value}: {stats.payments} payments, {stats.attempts} attempts, "
                               f"{stats.hops} hops"))
        return MigrationResult(run.run_id, outcome, stats, run.checkpoint_seq, error, failing)

    def _payments_seen(self) -> int:
        """Payments committed so far, resumed ones included (quarantined too: the progress
        total counts payment buckets); never duplicates' or skipped index entries."""
        return self.stats.payments + int(self.run_.stats.get("quarantined", 0))

    def _same_snapshot(self, root, first) -> None:
        """The child must read the very snapshot this process checked (fingerprint, run start)."""
        mine = migrate_kv.txn_id(root)
        if not isinstance(first, migrate_kv.Snapshot) or first.txn_id != mine:
            theirs = getattr(first, "txn_id", None)
            raise EngineError(
                f"the KV store changed while the migration started (LMDB transaction {theirs} in the second "
                f"process, {mine} in this one): nothing of this pass was written",
                exit_code=ExitCode.INTERRUPTED_RESUMABLE,
                hint="stop whatever writes the KV store, then run the same command again to resume")

    def _progress(self, done: int, total: int, elapsed: float, rate: RollingRate, attempts: int | None = None,
                  hops: int | None = None) -> None:
        pps, aps = rate.rates()
        self.ctx.emit(Progress(Phase.MIGRATE, done, total, self.stats.attempts if attempts is None else attempts,
                               self.stats.hops if hops is None else hops, self.run_.chunks_done, elapsed, pps, aps,
                               rate.eta(max(0, total - done))))

    def _flush(self, chunk: migrate_kv.Chunk, root) -> None:
        """Write the chunk, its checkpoint and state into the open transaction (opened here if
        none is), then commit unless :meth:`_keep_open` says the next chunk may join it."""
        ctx, db, run, stats = self.ctx, self.db, self.run_, self.stats
        chunk_no = run.chunks_done + 1
        wall = now_text(ctx.wall())
        opening = self._txn is None
        if opening:  # what a rollback of the transaction returns to
            self._base = (run.checkpoint_seq, dict(run.next_ids), dict(run.normalisations), dict(run.stats),
                          run.chunks_done, run.first_payment_id, run.payments_done, run.attempts_done,
                          run.hops_done, run.duplicates_done, run.skipped_done)
            self._txn_first = chunk_no
        self._last = chunk
        state = chunk.state
        for k, v in state.counts.items():
            setattr(stats, k, v)
        run.checkpoint_seq = chunk.last_seq
        run.next_ids = dict(state.next_ids)
        run.normalisations = dict(state.normalisations)
        run.chunks_done = chunk_no
        if run.first_payment_id is None:
            run.first_payment_id = chunk.first_pid
        stats_to_run(run, stats)
        run.stats["switch_next"] = state.switch_next
        run.stats["entries_done"] = state.done
        if chunk.quarantined:
            run.stats["quarantined"] = int(run.stats.get("quarantined", 0)) + chunk.quarantined
        if chunk.collisions:
            run.stats["collisions"] = int(run.stats.get("collisions", 0)) + chunk.collisions
        rows = chunk.rows
        if self.dialect.is_postgres:
            pg_times_to_datetimes(rows.rows)  # the producer's time ints (they cross marshalled)
        writer = BulkWriter(db, self.dialect)
        n = 0
        try:
            if opening:
                txn = ExitStack()
                txn.enter_context(write_txn(db))
                self._txn = txn
            crash_point("chunk.begin")
            for table in PAYMENT_TABLES:
                trows = rows.rows[table]
                if trows:
                    ts = ctx.clock()
                    writer.insert(table, TABLE_COLUMNS[table], trows)
                    stats.table_seconds[table] = stats.table_seconds.get(table, 0.0) + ctx.clock() - ts
                    stats.rows[table] = stats.rows.get(table, 0) + len(trows)
                    n += len(trows)
            crash_point("chunk.rows_written")
            for seq, ident, reason, detail in chunk.skipped:
                record_skipped(db, run, _i64(seq), ident, reason, detail, wall)
            now = ctx.clock()
            run.stats["seconds"] = float(run.stats.get("seconds", 0.0)) + (now - self.since_flush)
            stats_to_run(run, stats)
            run.updated_at = wall
            run.save(db)
            record_chunk(db, run, chunk_no, _i64(chunk.first_seq), _i64(chunk.last_seq),
                         {"payments": chunk.payments, "attempts": rows.attempts, "hops": rows.hops,
                          "duplicates": len(rows.rows["payment_duplicates"]), "skipped": len(chunk.skipped)},
                         chunk.first_pid, chunk.last_pid, wall)
            crash_point("chunk.checkpoint_written")
        except Exception as e:  # noqa: BLE001 - find which payment the database refused
            self._refused(root, chunk, e)
        except BaseException as e:  # a half-written chunk is never committed: back to the last commit
            self._abandon(e)
            raise
        self.since_flush = now
        self._pending.append((chunk_no, run.checkpoint_seq, run.payments_done))
        self._txn_rows += n
        if not self._keep_open(n):
            self._commit(root)

    def _keep_open(self, chunk_rows_: int) -> bool:
        """Whether the next chunk joins this one's transaction: SQLite, chunks of at least
        MIGWIZ_TXN_MIN_CHUNK_ROWS rows, up to MIGWIZ_TXN_ROWS rows (why: tuning.py). A kill loses
        the open transaction's chunks with their checkpoints; a resume redoes exactly those."""
        return not THROTTLE_S and chunk_rows_ >= self._txn_min_chunk and self._txn_rows < self._txn_cap

    def _commit(self, root) -> None:
        """Commit the open transaction (if any), then report each of its chunks committed."""
        txn, self._txn = self._txn, None
        if txn is None:
            return
        try:
            txn.close()
        except Exception as e:  # noqa: BLE001 - COMMIT failed: rolled back; find which payment
            self._refused(root, self._last if root is not None else None, e, rolled_back=True)
        except BaseException as e:
            self._abandon(e)
            raise
        pending, self._pending, self._txn_rows = self._pending, [], 0
        for chunk_no, seq, done in pending:
            crash_point("chunk.committed")
            self.stats.chunks = chunk_no
            self.ctx.emit(ChunkCommitted(chunk_no, seq, done))
        if THROTTLE_S:
            time.sleep(THROTTLE_S)

    def _refused(self, root, chunk: migrate_kv.Chunk | None, e: Exception, rolled_back: bool = False) -> None:
        """The target refused a write (or its COMMIT): roll the open transaction back, return to the
        state committed before it, name the first payment refused, raise :class:`ChunkFailed`."""
        first, chunk_no = self._txn_first, self.run_.chunks_done
        self._abandon(None if rolled_back else e)
        culprit, cause = (self._find_culprit(root, BulkWriter(self.db, self.dialect), chunk) if chunk is not None
                          else (None, None))
        msg = self.ctx.url.scrub(str(cause if cause is not None else e)).strip().splitlines()[0]
        which = f"chunk {chunk_no}" if first >= chunk_no else f"chunks {first}..{chunk_no}"
        seqs = f" (KV sequences {chunk.first_seq}..{chunk.last_seq})" if chunk is not None else ""
        raise ChunkFailed(f"the SQL target refused {which}{seqs}: {msg}"
                          + (f"; first failing payment {culprit.hex()}" if culprit else ""), culprit) from None

    def _abandon(self, e: BaseException | None) -> None:
        """Roll the open transaction back (unless ``e`` is None: it is already) and return the run
        to the state committed before its first chunk."""
        run = self.run_
        txn, self._txn = self._txn, None
        if txn is not None and e is not None:
            txn.__exit__(type(e), e, e.__traceback__)  # ROLLBACK (write_txn keeps e as the error)
        self._pending, self._txn_rows = [], 0
        (run.checkpoint_seq, run.next_ids, run.normalisations, run.stats, run.chunks_done,
         run.first_payment_id, run.payments_done, run.attempts_done, run.hops_done,
         run.duplicates_done, run.skipped_done) = self._base
        self.stats = stats_from_run(run)

    @contextmanager
    def _settled(self):
        """Whatever stops the load with a transaction open (a decode error, a dead child, a cancel
        seen in the KV half) commits the whole chunks it holds, as a commit per chunk would have."""
        try:
            yield
        except BaseException as stop:
            if self._txn is not None:
                try:
                    self._commit(None)
                except Exception as e:  # noqa: BLE001 - rolled back to the last commit; stop's error stands
                    stop.add_note(f"(the chunks written before it could not be committed: {e})")
            raise

    def _find_culprit(self, root, writer: BulkWriter, chunk: migrate_kv.Chunk) -> tuple[bytes | None,
                                                                                         Exception | None]:
        """Walk again from the state committed last to the refused chunk's end (:mod:`.culprit`)."""
        args = self._args(chunk_size=1, max_rows=1 << 62, until=chunk.last_seq)
        return find_culprit(self.db, writer, {**args, "root": root})

    def _finish_migrated(self) -> None:
        run, stats = self.run_, self.stats
        run.stats["migrated"] = True
        run.switch_seq_after = self.switch_next
        run.stats["switch_next"] = self.switch_next
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
    backfill = bf.start_facts(ctx, db, lambda: index_payment_count(root), scan.switch_sequence)
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


def _i64(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u
