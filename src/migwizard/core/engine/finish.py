"""The irreversible end and the way back: commit, tombstone, rollback.

Commit is one SQL transaction (run -> ``committed``, sequences fixed, lnd's
``migration_tracker`` version 14 when lnd owns the target, and lnd's real
switch sequencer when its KV is in the same PostgreSQL database). A
``channel.sqlite`` sequencer is advanced right after it (and on every start
until done, :mod:`.lndside`). Then the LMDB working store is written: its
switch-sequencer advance and the ``payments-tombstone`` key, in one LMDB
transaction; lnd's own KV never gets a tombstone. Until then the KV store is
only read, so a rollback (refused once committed) leaves it byte-identical.
"""

from __future__ import annotations

import json
from pathlib import Path

from ... import __version__
from ..codec.keys import NEXT_PAYMENT_ID_KEY, PAYMENTS_ROOT_BUCKET, PAYMENTS_TOMBSTONE_KEY, TOMBSTONE_META_KEY
from ..sql.bulk import fix_sequences
from ..sql.schema import TRACKING_TABLE, rollback_migrations
from ..sql.transactions import write_txn
from ..lnd.errors import LndError
from ..lnd.target import record_payments_migration
from . import lndseq, lndside
from .crashpoints import crash_point
from .context import Context, is_lnd_target, one_session_at_a_time
from .kvusers import ensure_no_other_writer
from .events import Phase, PhaseFinished, PhaseStarted
from .indexes import build_deferred_indexes, restore_deferred
from .digest import content_digest
from .markers import fingerprint_store, imported_from, kv_tombstoned, reconcile
from .results import CommitResult, EngineError, ExitCode, RollbackResult, RunState
from .runs import Run, now_text, q

LND_MIRROR_LAST = 4  # our migrations 1-4 mirror LND's 000010/11/13/14
# Child tables first (foreign keys); the resolution and per-hop tables key on a parent id.
_ID_TABLES_CHILD_FIRST = ("payment_hop_custom_records", "payment_route_hops", "payment_attempt_first_hop_custom_records",
                          "payment_htlc_attempts", "payment_duplicates", "payment_first_hop_custom_records",
                          "payment_intents", "payments")


@one_session_at_a_time
def commit(ctx: Context) -> CommitResult:
    db = ctx.db()
    run = ctx.run()
    if run is None:
        raise EngineError("nothing to commit: the target holds no migwizard run", exit_code=ExitCode.USAGE)
    if run.state == "committed":
        st = reconcile(ctx)
        return CommitResult(run.run_id, True, st is RunState.COMPLETE, bool(run.stats.get("lnd_tracker")),
                            "already committed")
    if run.state != "validated":
        raise EngineError("the run has not passed validation; refusing to commit",
                          exit_code=ExitCode.VALIDATION_MISMATCH, hint="validate it first and fix differences")
    ctx.emit(PhaseStarted(Phase.COMMIT))
    build_deferred_indexes(ctx, run)  # validation built them; a no-op unless something skipped it
    scan = fingerprint_store(ctx)
    if scan.fingerprint != run.source_fingerprint:
        raise EngineError("the KV store changed since validation (fingerprint mismatch); refusing to commit",
                          exit_code=ExitCode.PREFLIGHT_REFUSED, hint="roll back and migrate again")
    validated = run.stats.get("content_digest")
    if validated:
        with ctx.open_kv() as store, store.read() as root:
            # Computed the way validation computed it (no version: an older migwizard's digest).
            now = content_digest(root, run.stats.get("content_digest_version"))
        if now != validated:
            raise EngineError("a payment in the KV store changed since validation (content digest mismatch); "
                              "refusing to commit", exit_code=ExitCode.PREFLIGHT_REFUSED,
                              hint="stop whatever writes the store (lnd), then validate again (run the same "
                                   "command) or roll back")
    cur_switch = scan.switch_sequence or 0
    if cur_switch != (run.switch_seq_before or 0):
        raise EngineError(
            f"switch payment ID sequence moved since the run started ({run.switch_seq_before} -> {cur_switch}): "
            "lnd ran in between", exit_code=ExitCode.PREFLIGHT_REFUSED, hint="roll back and migrate again")
    lndside.guard_writes(ctx, step="commit")
    record_tracker = is_lnd_target(lndside.target_case(ctx))
    crash_point("commit.before")
    with write_txn(db):
        fix_sequences(db)
        crash_point("commit.sequences_fixed")
        if record_tracker:
            try:
                record_payments_migration(db)
            except LndError as e:
                raise EngineError(str(e), exit_code=ExitCode.PREFLIGHT_REFUSED) from None
        if record_tracker or run.stats.get("backfill"):
            # lnd's real sequencer: same PostgreSQL database -> advanced in this transaction;
            # a channel.sqlite -> recorded as pending here, advanced right after the commit.
            lndseq.advance_in_commit(ctx, db, run)
        run.state = "committed"
        run.committed_at = now_text(ctx.wall())
        run.updated_at = run.committed_at
        run.stats["lnd_tracker"] = record_tracker
        run.save(db)
        crash_point("commit.run_saved")
    crash_point("commit.sql_committed")
    ctx.log("info", f"Run {run.run_id[:8]} committed in {ctx.target}.")
    lndseq.crash_hook("after-commit")
    seq_text = lndseq.advance_after_commit(ctx, run)
    if seq_text:
        lndseq.save_stats(ctx, run)
        ctx.log("info", seq_text)
    elif run.stats.get("lnd_sequencer", {}).get("done"):
        e = run.stats["lnd_sequencer"]
        seq_text = f"lnd's switch sequencer in {e['where']}: {e['before']} -> {e['after']} (in the commit transaction)"
        ctx.log("info", seq_text)
    ctx.emit(PhaseFinished(Phase.COMMIT, True, "committed"))
    tombstone_after_commit(ctx, run)
    imported = imported_from(ctx)
    msg = ("committed; KV store tombstoned" + (f" (the LMDB copy; {imported} is unchanged)" if imported else "") +
           ("; LND migration_tracker version 14 recorded" if record_tracker else
            ("; a backfill: lnd's migration_tracker was not touched (lnd had already passed version 14)"
             if run.stats.get("backfill") else
             "; LND's migration_tracker was not touched (the target is not an LND database at schema 13)")) +
           (f"; {seq_text}" if seq_text else ""))
    history_ends = run.stats.get("lnd", {}).get("history_ends")
    return CommitResult(run.run_id, True, True, record_tracker, msg, str(ctx.kv_path), imported,
                        history_ends=history_ends)


def tombstone_after_commit(ctx: Context, run: Run) -> None:
    """The tombstone of a committed run. Its failure is reported as what it is: the SQL
    commit stands and the tombstone is missing; every rerun writes it (reconcile)."""
    try:
        write_tombstone(ctx, run)
    except Exception as e:  # noqa: BLE001 - the SQL commit stands; say exactly that
        why = e.args[0] if isinstance(e, EngineError) and e.args else f"{type(e).__name__}: {e}"
        ctx.log("error", f"Run {run.run_id[:8]} is committed, but the KV tombstone could not be written: {why}")
        ctx.emit(PhaseFinished(Phase.TOMBSTONE, False, "tombstone missing"))
        raise EngineError(
            f"committed, tombstone missing: run {run.run_id[:8]} is committed in {ctx.target}, but the KV "
            f"tombstone could not be written ({why})", exit_code=ExitCode.INTERRUPTED_RESUMABLE,
            hint="fix the cause (free space, permissions, the process holding the store) and run the same "
                 "command again: it writes the missing tombstone; do not start lnd on the KV store meanwhile"
        ) from None


def write_tombstone(ctx: Context, run: Run) -> None:
    """Advance the switch sequencer to the run's horizon and set the tombstone, in one
    LMDB transaction (only ever after the SQL commit)."""
    ctx.emit(PhaseStarted(Phase.TOMBSTONE))
    target_switch = int(run.stats.get("switch_next", 0))
    details = json.dumps({"run_id": run.run_id, "target": ctx.target, "fingerprint": run.source_fingerprint,
                          "committed_at": run.committed_at, "tool_version": __version__}, sort_keys=True).encode()

    def write(root) -> None:
        # advanceSwitchPaymentIDSequence (LND §4.6)
        sb = root.bucket(NEXT_PAYMENT_ID_KEY)
        if sb is None:
            if target_switch > 1:
                root.create_bucket(NEXT_PAYMENT_ID_KEY).set_sequence(target_switch)
        else:
            cur = sb.sequence()
            if cur > target_switch:
                raise EngineError(f"switch payment ID sequence {cur} above migration horizon {target_switch}",
                                  exit_code=ExitCode.PREFLIGHT_REFUSED)
            if cur < target_switch:
                sb.set_sequence(target_switch)
        crash_point("tombstone.sequencer_advanced")
        rb = root.create_bucket_if_not_exists(PAYMENTS_ROOT_BUCKET)
        rb.put(PAYMENTS_TOMBSTONE_KEY, b"1")
        store.meta_put(TOMBSTONE_META_KEY, details, within=root)
        crash_point("tombstone.written")

    crash_point("tombstone.before")
    ensure_no_other_writer(ctx, doing="write the tombstone")  # bounded: LMDB's own wait is not
    with ctx.open_kv(readonly=False) as store:
        store.update(write)
    crash_point("tombstone.committed")
    ctx.log("info", "KV store tombstoned (payments-root-bucket/payments-tombstone = 1); "
                    f"switch sequencer at {target_switch}.")
    ctx.emit(PhaseFinished(Phase.TOMBSTONE, True, "tombstoned"))


@one_session_at_a_time
def rollback(ctx: Context) -> RollbackResult:
    if ctx.target_absent():  # looking must never create the file
        return RollbackResult(None, {}, [], True,
                              f"nothing to roll back: the SQLite target {ctx.url.sqlite_path} does not exist")
    db = ctx.db()
    run = ctx.run()
    if run is None:
        return RollbackResult(None, {}, [], True, "nothing to roll back: no migwizard run in this target")
    if run.state == "committed":
        raise EngineError(
            "refusing to roll back: the migration is committed"
            + (" and the KV store tombstoned" if _tombstoned(ctx) else
               " (the KV tombstone is still missing: run the same command again to write it)"),
            exit_code=ExitCode.PREFLIGHT_REFUSED,
            hint=("the SQL tables are now the payment history. To go back, restore both the KV store and the "
                  "target from the backups taken before the migration"))
    _check_owner(ctx, run)
    ctx.emit(PhaseStarted(Phase.ROLLBACK))
    start = {k: int(v) for k, v in run.stats.get("start_ids", {}).items()}
    deleted: dict[str, int] = {}

    def dele(table: str, where: str, params: tuple) -> None:
        cur = db.execute_sql(q(db, f'DELETE FROM "{table}" WHERE {where}'), params)
        deleted[table] = deleted.get(table, 0) + (cur.rowcount if cur.rowcount and cur.rowcount > 0 else 0)

    tables = ctx.tables()
    with write_txn(db):
        if "payments" in tables:
            a0 = start.get("payment_htlc_attempts", 1)
            h0 = start.get("payment_route_hops", 1)
            dele("payment_htlc_attempt_resolutions",
                 "attempt_index IN (SELECT attempt_index FROM payment_htlc_attempts WHERE id >= ?)", (a0,))
            for t in ("payment_route_hop_mpp", "payment_route_hop_amp", "payment_route_hop_blinded"):
                dele(t, "hop_id >= ?", (h0,))
            for t in _ID_TABLES_CHILD_FIRST:
                dele(t, "id >= ?", (start.get(t, 1),))
            restore_deferred(db, run)  # the tables as the run found them, before its record goes
        db.execute_sql(q(db, "DELETE FROM migwizard_skipped WHERE run_id = ?"), (run.run_id,))
        db.execute_sql(q(db, "DELETE FROM migwizard_run_chunks WHERE run_id = ?"), (run.run_id,))
        db.execute_sql(q(db, "DELETE FROM migwizard_runs WHERE run_id = ?"), (run.run_id,))
    dropped: list[str] = []
    others = db.execute_sql("SELECT COUNT(*) FROM migwizard_runs").fetchone()[0]
    before = set(run.stats.get("tables_before", []))
    if others == 0:
        now = ctx.tables()
        # Our own migrations down to what the run found: everything when it created the
        # payment tables, only the bookkeeping when LND owns them (adopted, never dropped).
        rollback_migrations(db, 0 if run.created_schema else LND_MIRROR_LAST)
        if TRACKING_TABLE in ctx.tables() and TRACKING_TABLE not in before:
            db.execute_sql(f'DROP TABLE "{TRACKING_TABLE}"')
        dropped = sorted(now - ctx.tables())
    removed_file = False
    if ctx.url.is_sqlite and run.stats.get("created_file") and run.created_schema and others == 0:
        if not ctx.tables():
            path = ctx.url.sqlite_path
            ctx.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                p = Path(str(path) + suffix)
                if p.exists() and not p.is_symlink():  # never remove through a link (refused at open too)
                    p.unlink()
            removed_file = True
            ctx.target_removed = True
    total = sum(deleted.values())
    msg = (f"rolled back run {run.run_id[:8]}: {total} rows deleted"
           + (f", {len(dropped)} tables dropped" if dropped else "")
           + (", the SQLite file it created removed" if removed_file else "")
           + "; the KV store was not modified")
    ctx.log("info", msg)
    ctx.emit(PhaseFinished(Phase.ROLLBACK, True, msg))
    return RollbackResult(run.run_id, deleted, dropped, True, msg)


def _tombstoned(ctx: Context) -> bool:
    try:
        return kv_tombstoned(ctx)
    except EngineError:
        return False


def _check_owner(ctx: Context, run: Run) -> None:
    """A rollback deletes rows: only of a run this KV store made. Proved by the run's
    source fingerprint; a store at the run's own path whose payments changed since
    (lnd ran) may still undo its run. Anything else (another store, a path that does
    not exist) is refused and nothing is deleted (issue 9, item 2)."""
    scan = fingerprint_store(ctx)
    if scan.fingerprint == run.source_fingerprint:
        return
    try:
        same_path = str(ctx.kv_path.resolve()) == run.source_path
    except OSError:
        same_path = False
    if same_path:
        ctx.log("warning", f"Run {run.run_id[:8]} was made from this store, whose payments changed since; "
                           "rolling it back anyway.")
        return
    raise EngineError(
        f"refusing to roll back run {run.run_id[:8]}: it was made from another KV store ({run.source_path}); "
        "nothing was deleted", exit_code=ExitCode.PREFLIGHT_REFUSED,
        hint="give the --kv the run was made from (a live run of it is never touched)")
