"""Validation: every migrated payment read back from SQL and compared, field by
field, with a fresh decode of its KV original after LND's named normalisations.

Batched so memory stays flat on a million payments: only the first
MAX_REPORTED_DIFFS differences and a bounded listing of payments are kept, the
total is counted. Only a clean validation marks the run ``validated``.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import replace

from ..codec import DecodeError, decide_status, fetch_payment, render_key
from ..codec.keys import PAYMENTS_INDEX_BUCKET, PAYMENTS_ROOT_BUCKET
from ..kv.errors import KVError
from ..sql.transactions import write_txn
from . import backfill as bf
from .crashpoints import crash_point
from .context import PROGRESS_INTERVAL_S, Context, one_session_at_a_time
from .events import Phase, PhaseFinished, PhaseStarted, Progress
from .indexes import build_deferred_indexes
from .digest import CONTENT_DIGEST_VERSION, PaymentTreeDigest
from .markers import fingerprint_kv, foreign_run, missing_damage, require_index, tombstone_record, tombstoned, \
    wrong_target
from .tuning import fastpath_enabled, validation_batch
from .vwalk import FACTS, SnapshotMismatch, WalkResult, tree_item, validation_walk
from .workers import WorkerDied, WorkerFailed
from .rate import RollingRate
from .results import EngineError, ExitCode, FieldDiff, PaymentRow, TableSummary, ValidationReport
from .rows import PAYMENT_TABLES, SwitchIdAllocator, expected_duplicates
from .runs import Run, now_text, stats_from_run
from .sqlread import read_payments, sql_ids_by_identifier
from .migrate import QUARANTINE_REASON
from .sqlread import uint64
from .transform import MigrationReject, expected_sql_payment, truncate_ns_to_us
from .tree import compare_payment, payment_tree

REPORT_ROW_LIMIT = 50_000
MAX_REPORTED_DIFFS = 10_000  # keeps memory flat when everything differs
_CANCELLED = "validation cancelled"
_INDEX_CHANGED = "the KV store's payment index changed since the migration (fingerprint mismatch)"


@one_session_at_a_time
def validate(ctx: Context, *, cancel: threading.Event | None, verify_only: bool = False) -> ValidationReport:
    if ctx.target_absent():  # looking must never create the file
        raise EngineError(f"nothing to {'verify' if verify_only else 'validate'}: the SQLite target "
                          f"{ctx.url.sqlite_path} does not exist", exit_code=ExitCode.USAGE,
                          hint="check --sql: it must name the file the migration wrote")
    db = ctx.db()
    run = ctx.run()
    if run is None:
        raise EngineError("nothing to validate: the target holds no migwizard run",
                          exit_code=ExitCode.USAGE, hint="run the migration first")
    if verify_only and run.state != "committed":
        raise EngineError("verify re-checks a committed migration; this run is not committed",
                          exit_code=ExitCode.USAGE, hint="use `migwizard migrate` / `--yes` to finish it")
    if not verify_only and not run.stats.get("migrated") and run.state != "validated":
        raise EngineError("the migration has not finished all chunks yet", exit_code=ExitCode.USAGE,
                          hint="resume the migration first")
    build_deferred_indexes(ctx, run)
    return _Validation(ctx, db, run, Phase.VERIFY if verify_only else Phase.VALIDATE).run(cancel, verify_only)


class _Validation:
    """One validate() call: the comparison state of this pass."""

    def __init__(self, ctx: Context, db, run: Run, phase: Phase) -> None:
        self.ctx, self.db, self.run_, self.phase = ctx, db, run, phase
        self.from_ts = ctx.dialect().ts_to_ns
        self.pg = not ctx.url.is_sqlite
        self.diffs: list[FieldDiff] = []
        self.rows: list[PaymentRow] = []
        self.checked = 0
        self.dup_checked = 0
        self.diff_total = 0
        # The same allocator as the migration, in the same order: a remapped legacy
        # attempt must carry exactly the ID the switch sequencer handed out.
        backfill = run.stats.get("backfill") or {}
        self.switch = SwitchIdAllocator(int(backfill.get("switch_start", run.switch_seq_before or 0)))
        # Backfill: lnd's own rows are not ours to count or compare; a KV payment whose
        # identifier lnd reused is compared with the duplicate rows it became.
        self.start = {k: int(v) for k, v in run.stats.get("start_ids", {}).items()}
        self.taken = bf.taken_identifiers(db, self.start.get("payments", 1)) if backfill else {}
        self.left_behind = run_skips(db, run, QUARANTINE_REASON)
        self.placed = 0  # payments given a payments row by this run
        self.quarantined = 0
        self.facts: WalkResult | None = None  # the walk's facts (content digest), once it finished
        self.canon = None  # a fast.canon.CanonValidator unless MIGWIZ_FASTPATH=0, a backfill or a quarantine
        self.tree: PaymentTreeDigest | None = None  # the payment tree's digest, advanced batch by batch

    def run(self, cancel: threading.Event | None, verify_only: bool) -> ValidationReport:
        ctx, db, run, phase = self.ctx, self.db, self.run_, self.phase
        t0 = ctx.clock()
        error = None
        batch_size = validation_batch()
        with ctx.open_kv() as store, store.read() as root:
            if fastpath_enabled() and not run.stats.get("backfill") and not self.left_behind:
                # Imported here: fast.canon builds on this package's modules (a cycle at import time).
                from ..fast.canon import CanonValidator
                from ..fast.kvside import source

                self.canon = CanonValidator(db, ctx.dialect(), root.bucket(PAYMENTS_ROOT_BUCKET),
                                            first_payment_id=run.first_payment_id, alloc=self.switch)
                # Opened first, so a second process starts while this one prepares.
                items = source(root, str(store.path), ctx.dialect(), batch_size=batch_size,
                               payments=run.payments_done or 0, alloc=self.switch)
            else:
                items = _in_process(validation_walk(root, batch_size, tree_item, digest=False))
            with items as walk:
                # No scan of its own: the index facts, the payment tree's digest and the payment
                # buckets come from the walk (in whichever process walks, in this snapshot).
                require_index(root.bucket(PAYMENTS_ROOT_BUCKET), root.bucket(PAYMENTS_INDEX_BUCKET))
                total = run.payments_done + int(run.stats.get("quarantined", 0))  # what the walk will check
                ctx.emit(PhaseStarted(phase, total))
                tomb = tombstoned(root.bucket(PAYMENTS_ROOT_BUCKET))
                if tomb or (run.source_path and run.source_path != str(ctx.kv_path.resolve())):
                    # Perhaps another store: decided before comparing (its payments would only be
                    # listed as missing), by the fingerprint pass. Otherwise the walk hashes it.
                    early = fingerprint_kv(root).fingerprint
                    if early != run.source_fingerprint:
                        record = tombstone_record(ctx, store) if tomb else None
                        if foreign_run(ctx, run, record) or (record is None and run.source_path
                                                             and run.source_path != str(ctx.kv_path.resolve())):
                            # Comparing another store's payments would only list every one as missing.
                            raise EngineError(wrong_target(ctx, run, record), exit_code=ExitCode.PREFLIGHT_REFUSED,
                                              hint="point --sql at this store's own target, or --kv at the store "
                                                   "this target was migrated from")
                        error = _INDEX_CHANGED
                # The walk leaves the digest to this process (in this snapshot, the walk's version):
                # with two processes the walking one is the slower, and this one waits on it.
                self.tree = PaymentTreeDigest(root)
                try:
                    with self._reads(), fewer_collections():
                        stopped = self._compare_all(walk, batch_size, total, t0, cancel)
                    if stopped:
                        error = _CANCELLED
                except SnapshotMismatch as e:
                    error = f"validation stopped: {e}"
                except (DecodeError, MigrationReject, KVError) as e:
                    error = f"KV payment unreadable during validation: {e}"
                except (WorkerDied, WorkerFailed) as e:
                    error = f"validation's second process failed: {e}"
                finally:
                    self.tree.close()
            if self.facts is not None:
                scan = self.facts.index.scan(root, self.facts.root_payments)  # the whole index, as walked
                if error is None and scan.fingerprint != run.source_fingerprint:
                    error = _INDEX_CHANGED
            elif error is None:
                error = "validation's walk of the index ended early"
        checked, dup_checked, diffs = self.checked, self.dup_checked, self.diffs
        if error is None and self.switch.next != int(run.stats.get("switch_next", self.switch.next)):
            error = (f"switch sequencer horizon mismatch: KV replay gives {self.switch.next}, "
                     f"the run recorded {run.stats.get('switch_next')}")
        count_sql = self._count("payments")
        if error is None and count_sql != self.placed:
            error = f"payment count mismatch: kv={self.placed} sql={count_sql}"
        if error is None and self.quarantined != len(self.left_behind):
            error = (f"quarantine mismatch: {len(self.left_behind)} payments were left behind, "
                     f"{self.quarantined} are unreadable now")
        if error is None and scan.root_payments != checked:
            # The index decides what is migrated; the root bucket is what the node holds. A
            # payment nothing migrated because its index entry matches nothing (a damaged
            # sequence key) is a difference, not a skip. A payment with no index entry at all
            # is LND's own silent skip (the unindexed-payment case): kept, but said.
            if scan.unmatched_total:
                error = (f"payment total mismatch: {scan.root_payments} payments in payments-root-bucket, "
                         f"{checked} migrated; {scan.unmatched_total} unmatched index entr"
                         f"{'y' if scan.unmatched_total == 1 else 'ies'} skipped (" +
                         ", ".join(f"index {q} -> {h.hex()[:16]}… own sequence {o}"
                                   for q, h, o in scan.unmatched[:5]) + ")")
            else:
                ctx.log("warning", f"{scan.root_payments - checked} payment(s) in payments-root-bucket have no "
                                   "index entry: not migrated, as LND's migration does not migrate them either")
        if error is None and missing_damage(scan) is not None:
            error = f"the KV store is damaged: {missing_damage(scan)}"
        dup_sql = self._count("payment_duplicates")
        if error is None and dup_sql != dup_checked:
            error = f"duplicate count mismatch: kv={dup_checked} sql={dup_sql}"
        ok = error is None and not diffs
        seconds = ctx.clock() - t0
        stats = stats_from_run(run)
        tables = [TableSummary(t, db.execute_sql(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0],
                               sum(1 for d in diffs if _table_of(d.path) == t), stats.table_seconds.get(t, 0.0))
                  for t in PAYMENT_TABLES]
        report = ValidationReport(run.run_id, ok, checked, dup_checked, checked, count_sql, diffs, self.rows, tables,
                                  stats, seconds, error, self.diff_total,
                                  quarantined=[_skip_json(r) for r in self.left_behind.values()],
                                  kept_as_duplicates=[_skip_json(r) for r in run_skips(db, run, bf.COLLISION_REASON).values()],
                                  backfill=run.stats.get("backfill"))
        ctx.emit(Progress(phase, checked, total, elapsed_s=seconds,
                          payments_per_s=checked / seconds if seconds else 0.0, eta_s=0.0,
                          differences=self.diff_total))
        if not verify_only:
            run.state = "validated" if ok else "running"
            run.validated_at = now_text(ctx.wall()) if ok else None
            run.stats["validation"] = {"ok": ok, "differences": len(diffs), "checked": checked, "error": error}
            run.stats["content_digest"] = self.facts.content_digest if ok else None
            run.stats["content_digest_version"] = CONTENT_DIGEST_VERSION
            with write_txn(db):
                run.save(db)
                crash_point("validate.saving")
            crash_point("validate.saved")
        msg = (f"{checked} payments and {dup_checked} duplicates match field by field" if ok else
               f"{self.diff_total} differences" + (f"; {error}" if error else ""))
        ctx.log("info" if ok else "error", f"Validation: {msg}")
        ctx.emit(PhaseFinished(phase, ok, msg))
        return report

    def _reads(self):
        """The fast path's SQLite reads go through a memory map (``fast.canon_flat``), its
        PostgreSQL reads through index lookups whatever the planner estimates
        (``fast.canon_flatpg.keyed_plans``)."""
        if self.canon is None:
            return nullcontext()
        if self.pg:
            from ..fast.canon_flatpg import keyed_plans

            return keyed_plans(self.db)
        from ..fast.canon_flat import mapped_reads

        return mapped_reads(self.db)

    def _compare_all(self, walk, batch_size: int, total: int, t0: float, cancel: threading.Event | None) -> bool:
        """Compare the walk's batches as they come; True when stopped by ``cancel``."""
        ctx, rate, last = self.ctx, RollingRate(), -1e9
        for kind, batch in walk:
            if kind == FACTS:
                content, root_payments = self.tree.result()  # raises where the walk's own digest did
                self.facts = replace(batch, content_digest=content, root_payments=root_payments)
                continue
            n = len(batch)
            self._batch(batch)
            self.tree.advance(n)
            if n < batch_size:
                continue  # the walk's last, partial batch
            crash_point("validate.batch")
            now = ctx.clock()
            if now - last >= PROGRESS_INTERVAL_S:
                last = now
                rate.add(now, self.checked, 0)
                pps, _ = rate.rates()
                ctx.emit(Progress(self.phase, self.checked, total, elapsed_s=now - t0, payments_per_s=pps,
                                  eta_s=rate.eta(total - self.checked), differences=self.diff_total))
            if cancel is not None and cancel.is_set():
                return True
        return False

    def _batch(self, batch: list) -> None:
        if self.canon is not None:
            self._canon_batch(batch)
        else:
            self._tree_batch(batch)

    def _canon_batch(self, batch: list) -> None:
        """Compare one batch of ``fast.canon.kv_item`` tuples by canonical tuples, tree diff
        where they differ (never a backfill or a quarantine: those take the tree path)."""
        diffs, rows = self.diffs, self.rows
        counted = dups = 0
        for v in self.canon.compare(batch, self.placed):
            pdiffs = v.differences
            if pdiffs:
                self.diff_total += len(pdiffs)
                diffs.extend(pdiffs[: max(0, MAX_REPORTED_DIFFS - len(diffs))])
            if not v.counted:
                continue  # LND's migration refuses it: reported, neither checked nor in id order
            counted += 1
            dups += v.duplicates
            if (pdiffs and len(rows) < REPORT_ROW_LIMIT + MAX_REPORTED_DIFFS) or len(rows) < REPORT_ROW_LIMIT:
                rows.append(PaymentRow(v.identifier.hex(), v.sequence, v.sql_id, v.status, v.amount_msat,
                                       v.attempts, v.created_ns, v.normalisations, len(pdiffs)))
        self.checked += counted
        self.placed += counted
        self.dup_checked += dups
        batch.clear()

    def _tree_batch(self, batch: list) -> None:
        """Compare one batch: one SQL read for all of it, then payment by payment."""
        run, diffs, rows = self.run_, self.diffs, self.rows
        idmap = sql_ids_by_identifier(self.db, [h for _, h, _ in batch])
        loaded = read_payments(self.db, list(idmap.values()), self.from_ts)
        for seq, phash, bucket in batch:
            try:
                kvp = fetch_payment(bucket, payment_id=phash, key_prefix=render_key(PAYMENTS_ROOT_BUCKET))
            except DecodeError:
                if seq not in self.left_behind:
                    raise
                self.quarantined += 1  # accounted for, listed in the report; not a difference
                self.checked += 1
                continue
            sid = idmap.get(phash)
            if phash in self.taken:
                self._collided(seq, phash, kvp)
                continue
            sp = loaded.get(sid) if sid is not None else None
            try:
                t = expected_sql_payment(kvp, phash, allocate_zero_id=self.switch, truncate_us=self.pg,
                                         in_place=True, sort_remapped=True)
            except MigrationReject as e:
                diffs.append(FieldDiff(phash.hex(), "payment", str(e), None))
                self.diff_total += 1
                continue
            edups = expected_duplicates(kvp)
            if self.pg:
                for d in edups:
                    d.created_ns = truncate_ns_to_us(d.created_ns)
                    d.settle_time = truncate_ns_to_us(d.settle_time)
            kv_tree = payment_tree(t.payment, edups)
            expected_id = (run.first_payment_id + self.placed) if run.first_payment_id is not None else None
            self.placed += 1
            pdiffs = compare_payment(phash.hex(), kv_tree, sp, sid, expected_id)
            self.diff_total += len(pdiffs)
            diffs.extend(pdiffs[: max(0, MAX_REPORTED_DIFFS - len(diffs))])
            self.checked += 1
            self.dup_checked += len(edups)
            names = sorted(set(t.names) - {"timestamps_truncated_to_microseconds"})
            # Bounded either way (memory stays flat on a million payments): rows with a
            # difference first, then any others up to the listing limit.
            if (pdiffs and len(rows) < REPORT_ROW_LIMIT + MAX_REPORTED_DIFFS) or len(rows) < REPORT_ROW_LIMIT:
                rows.append(PaymentRow(phash.hex(), seq, sid, decide_status(t.payment).label,
                                       t.payment.info.value, len(t.payment.htlcs),
                                       t.payment.info.creation_time, names, len(pdiffs)))
        batch.clear()


    def _collided(self, seq: int, phash: bytes, kvp) -> None:
        """A backfilled payment kept as duplicates of lnd's payment with the same identifier."""
        t = expected_sql_payment(kvp, phash, allocate_zero_id=self.switch, truncate_us=self.pg, in_place=True,
                                 sort_remapped=True)
        want = [bf.as_duplicate(t.payment)] + expected_duplicates(kvp)
        if self.pg:
            for d in want:
                d.created_ns = truncate_ns_to_us(d.created_ns)
                d.settle_time = truncate_ns_to_us(d.settle_time)
        q = "?" if self.db.param == "?" else "%s"
        got = self.db.execute_sql(
            "SELECT amount_msat, created_at, fail_reason, settle_preimage, settle_time FROM payment_duplicates "
            f"WHERE payment_id = {q} AND id >= {q} ORDER BY id",
            (self.taken[phash], self.start.get("payment_duplicates", 1))).fetchall()
        have = [(uint64(a), self.from_ts(c), f, bytes(p) if p is not None else None,
                 self.from_ts(st) if st is not None else None) for a, c, f, p, st in got]
        pdiffs = []
        for i in range(max(len(want), len(have))):
            w = want[i] if i < len(want) else None
            wt = (w.amount_msat, w.created_ns, w.fail_reason, w.settle_preimage, w.settle_time) if w else None
            h = have[i] if i < len(have) else None
            if wt != h:
                pdiffs.append(FieldDiff(phash.hex(), f"kept_as_duplicate[{i}]", repr(wt), repr(h)))
        self.diff_total += len(pdiffs)
        self.diffs.extend(pdiffs[: max(0, MAX_REPORTED_DIFFS - len(self.diffs))])
        self.checked += 1
        self.dup_checked += len(want)
        if len(self.rows) < REPORT_ROW_LIMIT or pdiffs:
            self.rows.append(PaymentRow(phash.hex(), seq, self.taken[phash], decide_status(t.payment).label,
                                        t.payment.info.value, len(t.payment.htlcs), t.payment.info.creation_time,
                                        ["kept_as_duplicate"], len(pdiffs)))

    def _count(self, table: str) -> int:
        """Rows of this run's kind in ``table``: all of them, or only ours in a backfill."""
        if not self.taken and not self.run_.stats.get("backfill"):
            return self.db.execute_sql(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        q = "?" if self.db.param == "?" else "%s"
        return self.db.execute_sql(f'SELECT COUNT(*) FROM "{table}" WHERE id >= {q}',
                                   (self.start.get(table, 1),)).fetchone()[0]


# The comparing process allocates a batch's rows (tens of thousands of tuples) and drops
# them a moment later; at the default threshold (700) the collector runs every few
# hundred rows and traverses the rows still being built, all of them young and alive.
# With a higher one, most of a batch is freed by reference counting before any
# collection looks at it.
GEN0_THRESHOLD = 100_000


@contextmanager
def fewer_collections(gen0: int = GEN0_THRESHOLD):
    """The collector's youngest threshold raised while the batches are compared, then
    restored (it is process-wide: the wizard's own threads see it too, meanwhile)."""
    old = gc.get_threshold()
    gc.set_threshold(max(gen0, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


@contextmanager
def _in_process(gen):
    try:
        yield gen
    finally:
        gen.close()


def run_skips(db, run: Run, reason: str) -> dict[int, tuple]:
    """The run's skipped entries of one reason, by KV sequence (kv_seq, identifier, detail)."""
    q = "?" if db.param == "?" else "%s"
    cur = db.execute_sql(f"SELECT kv_seq, payment_identifier, detail FROM migwizard_skipped "
                         f"WHERE run_id = {q} AND reason = {q} ORDER BY kv_seq", (run.run_id, reason))
    out = {}
    for seq, ident, detail in cur.fetchall():
        seq = int(seq) + (1 << 64) if int(seq) < 0 else int(seq)
        out[seq] = (seq, bytes(ident).hex() if ident is not None else None, detail)
    return out


def _skip_json(row: tuple) -> dict:
    seq, ident, detail = row
    return {"payment": ident, "sequence": seq, "reason": detail}


def _table_of(path: str) -> str:
    if path.startswith("duplicates"):
        return "payment_duplicates"
    if ".hops" in path:
        return "payment_route_hops"
    if path.startswith("htlcs"):
        return "payment_htlc_attempts"
    return "payments"
