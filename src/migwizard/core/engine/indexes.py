"""What a run defers to after its load, and putting it back.

On tables the run created: LND's non-unique indexes (both dialects, :mod:`..sql.deferred`)
and, on PostgreSQL, LND's unique constraints and foreign keys
(:mod:`..sql.pgconstraints`). They are dropped in the transaction that creates
the run record listing them (``run.stats["deferred_indexes"]`` and
``["deferred_constraints"]``) and added back in the transaction that records the
last chunk. A run interrupted in between (or recorded by an older version) still
lists them, so validation, commit and rollback call :func:`build_deferred_indexes`
first: no run is validated or committed while one is missing. Idempotent.

Rows that violate a constraint surface only when it is added back: the run then
fails with :class:`DeferredViolation`, which names the payment and the chunk that
wrote it.
"""

from __future__ import annotations

import json

from ..sql import deferred, pgconstraints
from ..sql.transactions import write_txn
from ..sql.violations import ConstraintViolation, explain
from .context import Context
from .results import EngineError, ExitCode
from .runs import Run, q


class DeferredViolation(Exception):
    """A constraint deferred for the load could not be added back (message names the
    payment; ``payment`` is its identifier when the rows still reach one)."""

    def __init__(self, message: str, payment: bytes | None) -> None:
        super().__init__(message)
        self.payment = payment


HINT = ("the rows this run wrote break LND's schema, so lnd could not use them: roll the run back "
        "(`migwizard rollback`), then repair or --quarantine the payment named")


def plan(db, created_schema: bool) -> dict:
    """What this new run defers: ``{"deferred_indexes": [...], "deferred_constraints": [...]}``
    (nothing on tables that existed before it)."""
    if not created_schema:
        return {"deferred_indexes": [], "deferred_constraints": []}
    return {"deferred_indexes": deferred.deferrable(db), "deferred_constraints": pgconstraints.deferrable(db)}


def drop_planned(db, run: Run) -> None:
    """Drop what the run record lists (inside the transaction that inserts that record)."""
    pgconstraints.drop(db, run.stats.get("deferred_constraints") or [])
    deferred.drop(db, list(run.stats.get("deferred_indexes") or []))


def pending(run: Run) -> bool:
    return bool(run.stats.get("deferred_indexes") or run.stats.get("deferred_constraints"))


def build_in_txn(db, run: Run) -> int:
    """Add back everything the run deferred and mark it so in ``run.stats`` (inside the
    caller's transaction, which must also save the run). Returns how many objects were
    built. Raises :class:`DeferredViolation` when the rows break a constraint."""
    late = list(run.stats.get("deferred_indexes") or [])
    cons = list(run.stats.get("deferred_constraints") or [])

    def on_violation(c, name):
        try:
            v = explain(db, c, name)
        except Exception as e:  # noqa: BLE001 - the diagnosis failed; the violation still stands
            raise DeferredViolation(f"LND's constraint {name} on {c.table} could not be added back after the "
                                    f"load, and finding the rows at fault failed too: {_first_line(e)}",
                                    None) from None
        raise DeferredViolation(str(v) + _where(db, run, v), v.payment) from None

    if cons:
        pgconstraints.build(db, cons, on_violation)
        run.stats["deferred_constraints"] = []
    if late:
        deferred.build(db, late)
        run.stats["deferred_indexes"] = []
    return len(late) + len(cons)


def build_deferred_indexes(ctx: Context, run: Run) -> None:
    """What the run deferred, built if still missing (normally the last chunk's
    transaction built it); a violation is an EngineError naming the payment."""
    if not pending(run):
        return
    db = ctx.db()
    try:
        with write_txn(db):
            n = build_in_txn(db, run)
            run.save(db)
    except DeferredViolation as e:
        raise EngineError(str(e), exit_code=ExitCode.VALIDATION_MISMATCH, hint=HINT,
                          payment=e.payment.hex() if e.payment else None) from None
    ctx.log("info", f"Built {n} deferred indexes and constraints.")


def restore_deferred(db, run: Run) -> None:
    """Rollback, after deleting the run's rows: put back what the load deferred, in the
    transaction that deletes the run record (so no crash can leave LND's tables without
    them and no record saying so). The tables hold only rows older than the run."""
    if not pending(run):
        return
    try:
        build_in_txn(db, run)
    except DeferredViolation as e:
        raise EngineError(f"cannot roll back: rows older than the run break LND's schema: {e}",
                          exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint="nothing was deleted; repair or remove the rows named, then roll back again") from None


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _where(db, run: Run, v: ConstraintViolation) -> str:
    """"; written by chunk N (KV index sequences a..b)" for the offending row (the one at
    fault first), from the chunk records: their payments.id ranges and id counters."""
    table = v.table
    if table in ("payment_route_hop_mpp", "payment_route_hop_amp", "payment_route_hop_blinded"):
        table = "payment_route_hops"  # keyed by their hop's id
    try:
        chunks = db.execute_sql(q(db, "SELECT chunk_no, first_seq, last_seq, first_payment_id, last_payment_id, "
                                      "next_ids FROM migwizard_run_chunks WHERE run_id = ? ORDER BY chunk_no"),
                                (run.run_id,)).fetchall()
    except Exception:  # noqa: BLE001 - only context for a message
        return ""
    u64 = (1 << 64) - 1
    for row, pid in reversed(v.rows):
        start = dict(run.stats.get("start_ids") or {})
        for chunk_no, first_seq, last_seq, first_pid, last_pid, next_ids in chunks:
            ends = json.loads(next_ids or "{}")
            if pid is not None:
                hit = first_pid is not None and first_pid <= pid <= last_pid
            else:
                hit = row is not None and table in ends and int(start.get(table, 1)) <= row < int(ends[table])
            if hit:
                return f"; written by chunk {chunk_no} (KV index sequences {first_seq & u64}..{last_seq & u64})"
            start = ends
    return ""
