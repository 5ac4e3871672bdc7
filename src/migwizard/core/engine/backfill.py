"""Backfill: the KV history into lnd's live native store, after lnd moved on without it.

A node that left lnd's start-up loop with ``--db.skip-native-sql-migration``
stands at ``migration_tracker`` >= 14 with an SQL store that is empty or holds
the payments made since. lnd no longer reads the KV payments; this module is
what differs from the normal migration when they are brought back:

* the case is recognised (tracker >= 14, KV payments present, fewer SQL
  payments than KV payments) and refused without ``--backfill``;
* lnd's rows are never touched: every backfilled row gets an id above lnd's
  current maximum (lnd's ``FilterPayments`` reads ``p.id > -1``, so ids at or
  below 0 would be invisible, and lnd's own payments start at 1: there is no
  room below them; README "Backfill");
* a KV payment whose identifier lnd already used for a newer payment is kept as
  a ``payment_duplicates`` row of that payment (the table lnd made for older
  payments of the same hash), with its own legacy duplicates after it;
* legacy attempt-ID-0 remaps start above both the KV sequencer and the largest
  ``attempt_index`` lnd wrote since, so no remapped attempt collides;
* ``migration_tracker`` is left alone, and rollback removes rows by id >= the
  run's start ids, i.e. only the backfilled ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..codec.model import FailureReason, Payment
from ..sql.values import int64
from .context import LND_PAYMENTS_MIGRATION_VERSION, Context
from .results import Check, CheckStatus, EngineError, ExitCode
from .rows import ChunkRows, DuplicateRow, IdCounters
from .runs import Run

COLLISION_REASON = "kept_as_duplicate"
HINT_FLAG = ("run again with --backfill (in the wizard: the Backfill choice on the preflight screen); "
             "stop lnd first and keep it stopped until the backfill is committed or rolled back")


@dataclass(frozen=True)
class BackfillCase:
    """What preflight and the run start know about lnd's live store."""

    tracker: int
    sql_payments: int  # lnd's own payment rows (ours excluded once a run exists)
    kv_payments: int

    def words(self) -> str:
        since = (f"holds {self.sql_payments:,} payment{'s' if self.sql_payments != 1 else ''} made since"
                 if self.sql_payments else "holds no payments")
        return (f"lnd's migration_tracker is at {self.tracker}: lnd already recorded its payments migration "
                f"(version {LND_PAYMENTS_MIGRATION_VERSION}; skipped or run without the history) and no longer "
                f"reads the KV payments. Its SQL store {since}; the KV store has {self.kv_payments:,}. "
                "A backfill adds the KV history after lnd's rows (higher ids), never changes lnd's rows, "
                "keeps a payment whose identifier lnd reused as a duplicate of it, and leaves "
                "migration_tracker as it is")


def detect(ctx: Context, kv_payments: int | Callable[[], int], run: Run | None = None) -> BackfillCase | None:
    """The backfill case, or None. Read-only; a run in progress counts only lnd's rows.
    ``kv_payments`` may be a function: it is then called (a pass over the KV index)
    only when the target is lnd's store past its payments migration."""
    if ctx.target_absent():
        return None
    lnd = ctx.lnd_schema()
    if not lnd.has_migration_tracker or (lnd.tracker_version or 0) < LND_PAYMENTS_MIGRATION_VERSION:
        return None
    if not (lnd.has_payment_tables and lnd.has_duplicates_table):
        return None
    if run is not None and not run.stats.get("backfill"):
        return None
    if callable(kv_payments):
        kv_payments = kv_payments()
    if run is not None:
        start = int(run.stats["start_ids"].get("payments", 1))
        (n,) = ctx.db().execute_sql(_q(ctx.db(), "SELECT COUNT(*) FROM payments WHERE id < ?"), (start,)).fetchone()
        return BackfillCase(int(lnd.tracker_version), int(n), kv_payments)
    (n,) = ctx.db().execute_sql("SELECT COUNT(*) FROM payments").fetchone()
    if kv_payments <= 0 or n >= kv_payments:
        return None
    return BackfillCase(int(lnd.tracker_version), int(n), kv_payments)


def adjust_checks(ctx: Context, checks: list[Check], kv_payments: int) -> None:
    """Replace preflight's target lines by the backfill verdict when the case holds."""
    try:
        run = ctx.run()
        case = detect(ctx, kv_payments, run)
    except EngineError:
        return
    if case is None or (run is not None and run.state == "committed"):
        return  # a committed backfill: the marker check says what there is to say
    checks[:] = [c for c in checks if c.id not in ("sql.target", "sql.lnd_tracker")]
    details = {"tracker": case.tracker, "sql_payments": case.sql_payments, "kv_payments": case.kv_payments}
    if run is not None:
        checks.append(Check("sql.backfill", "Backfill into lnd's store", CheckStatus.WARN,
                            f"backfill run {run.run_id[:8]} in progress ({run.payments_done:,} payments): "
                            "it will resume. " + case.words(),
                            "keep lnd stopped until it is committed or rolled back", details))
    elif ctx.backfill:
        checks.append(Check("sql.backfill", "Backfill into lnd's store", CheckStatus.WARN, case.words(),
                            "keep lnd stopped until the backfill is committed or rolled back", details))
    else:
        checks.append(Check("sql.backfill", "Backfill into lnd's store", CheckStatus.FAIL,
                            case.words() + ". This needs --backfill", HINT_FLAG, details))
    from .lndside import _identity_checks, _sequencer_check  # the same rules as for lnd's database at tracker 13

    checks.append(_sequencer_check(ctx, run))
    # A backfill writes lnd's own database just as the tracker-13 migration does: the source
    # must be this node's KV store (issue 13 item 3), with the same --allow-foreign-source override.
    checks.extend(_identity_checks(ctx, ctx.allow_foreign_source))


def start_facts(ctx: Context, db, kv_payments: int | Callable[[], int], switch_sequence: int | None
                ) -> dict | None:
    """At the start of a new run: None for a normal migration, else what the run
    record keeps for a backfill. Refuses (exit 2) the case without ``--backfill``."""
    case = detect(ctx, kv_payments)
    if case is None:
        return None
    if not ctx.backfill:
        raise EngineError(case.words() + ". This needs --backfill", exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint=HINT_FLAG)
    (max_attempt,) = db.execute_sql("SELECT MAX(attempt_index) FROM payment_htlc_attempts").fetchone()
    switch = max(int(switch_sequence or 0), int(max_attempt) + 1 if max_attempt is not None else 0,
                 _live_sequencer(ctx))
    return {"tracker": case.tracker, "lnd_payments": case.sql_payments, "switch_start": switch}


def _live_sequencer(ctx: Context) -> int:
    """lnd's real switch sequencer now, when the source is its KV-over-SQL store (else 0:
    the copy's sequencer and the SQL attempt indexes are what is known)."""
    from .lndseq import read_sequencer
    from .lndside import sequencer_route

    if sequencer_route(ctx) is None:
        return 0
    try:
        return int(read_sequencer(ctx).sequence)
    except Exception as e:  # noqa: BLE001
        raise EngineError(f"cannot read lnd's switch sequencer (next-payment-id-key) for the backfill: {e}",
                          exit_code=ExitCode.PREFLIGHT_REFUSED, hint="check that the source is readable") from None


def may_write(ctx: Context) -> bool:
    """For the write guard on lnd's database at tracker >= 14: a backfill run in progress, or the
    backfill case with ``--backfill``. The case without consent is refused here, in its words."""
    run = ctx.run()
    if run is not None and run.state != "committed":
        return bool(run.stats.get("backfill"))
    from .markers import index_payment_count

    def kv_payments() -> int:
        with ctx.open_kv() as store, store.read() as root:
            return index_payment_count(root)

    case = detect(ctx, kv_payments)
    if case is None:
        return False
    if not ctx.backfill:
        raise EngineError(case.words() + ". This needs --backfill", exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint=HINT_FLAG)
    return True


def taken_identifiers(db, below_id: int) -> dict[bytes, int]:
    """lnd's own payments (ids below the run's first id): identifier -> payments.id."""
    cur = db.execute_sql(_q(db, "SELECT payment_identifier, id FROM payments WHERE id < ?"), (below_id,))
    return {bytes(ident): int(pid) for ident, pid in cur.fetchall()}


def as_duplicate(p: Payment) -> DuplicateRow:
    """A whole KV payment as one ``payment_duplicates`` row (what lnd's table can hold of it):
    amount, creation time, the final fail reason or the settling HTLC's preimage and time."""
    preimage = settle_time = None
    for h in p.htlcs:
        if h.settle is not None:
            preimage, settle_time = h.settle.preimage, h.settle.settle_time
            break
    fail = None
    if preimage is None:
        # lnd's table needs an outcome; an unresolved one is marked failed, as lnd's
        # migration marks unresolved legacy duplicates (FailureReason ERROR).
        fail = p.failure_reason if p.failure_reason is not None else int(FailureReason.ERROR)
    return DuplicateRow(p.info.value, p.info.creation_time, fail, preimage, settle_time)


def add_collision_rows(chunk: ChunkRows, p: Payment, dups: list[DuplicateRow], lnd_pid: int, ids: IdCounters,
                       ts) -> int:
    """The KV payment and its own legacy duplicates as duplicates of lnd's payment ``lnd_pid``.
    Returns how many duplicate rows were added."""
    rows = [as_duplicate(p)] + list(dups)
    for d in rows:
        chunk.rows["payment_duplicates"].append(
            (ids.take("payment_duplicates"), lnd_pid, int64(d.amount_msat), ts(d.created_ns), d.fail_reason,
             d.settle_preimage, ts(d.settle_time) if d.settle_time is not None else None))
    return len(rows)


def _q(db, sql: str) -> str:
    return sql if db.param == "?" else sql.replace("?", "%s")
