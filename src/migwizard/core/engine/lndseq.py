"""lnd's real switch sequencer (``next-payment-id-key`` in ``channeldb_kv``) at commit.

Why apart from :mod:`.lndside`: this is the one place migwizard writes into lnd's
KV, and the write has two shapes. Same PostgreSQL database as the target: inside
the commit transaction (atomic). A ``channel.sqlite`` (or another database): the
horizon is recorded as pending in the commit transaction, advanced right after
it, and reconciled on every start until done. Never lowered; always above every
``attempt_index`` of the migrated rows and the remap allocator's horizon.
"""

from __future__ import annotations


from ..lnd import sequencer
from ..lnd.errors import LndError
from ..sql.connect import open_database
from .crashpoints import crash_point
from .context import Context
from .lndside import _pg_url, sequencer_route, source_origin, where_sequencer
from .results import EngineError, ExitCode

#: Test hook (read by :func:`.crashpoints.crash_point`): ``after-commit`` SIGKILLs the
#: process right after the SQL commit, before lnd's channel.sqlite sequencer is advanced.
CRASH_AT_ENV = "MIGWIZ_CRASH_AT"


# -- lnd's sequencer ------------------------------------------------------------
def _source_db(ctx: Context):
    return open_database(_pg_url(ctx, source_origin(ctx)))


def read_sequencer(ctx: Context) -> sequencer.SequencerState:
    o = source_origin(ctx)
    if o.kind == "kvsql-sqlite":
        return sequencer.read_sqlite_file(o.path, o.table)
    if sequencer_route(ctx) == "in-commit":
        return sequencer.read(ctx.db(), o.table)
    db = _source_db(ctx)
    try:
        return sequencer.read(db, o.table)
    finally:
        db.close()


def horizon(db, run) -> int:
    """Above every attempt_index of the rows and the remap allocator's horizon."""
    (mx,) = db.execute_sql("SELECT MAX(attempt_index) FROM payment_htlc_attempts").fetchone()
    return max(int(run.stats.get("switch_next", 0) or 0), sequencer.horizon_for(mx))


def advance_in_commit(ctx: Context, db, run) -> None:
    """Inside the commit transaction: the PostgreSQL advance, or the pending record."""
    route = sequencer_route(ctx)
    if route is None:
        return
    at_least = horizon(db, run)
    entry = {"route": route, "at_least": at_least, "where": where_sequencer(ctx), "done": False}
    if route == "in-commit":
        try:
            adv = sequencer.advance(db, at_least, source_origin(ctx).table)
        except LndError as e:
            raise EngineError(f"lnd's switch sequencer: {e}", exit_code=ExitCode.PREFLIGHT_REFUSED) from None
        entry.update(before=adv.before, after=adv.after, done=True)
    run.stats["lnd_sequencer"] = entry


def crash_hook(point: str) -> None:
    crash_point(point)  # the one reader of MIGWIZ_CRASH_AT (core/engine/crashpoints.py)


def advance_after_commit(ctx: Context, run, *, reconciling: bool = False) -> str | None:
    """The channel.sqlite (or other database) advance after the commit; idempotent, never
    lowers. Returns what it did in words, or None when nothing was pending."""
    entry = run.stats.get("lnd_sequencer")
    if not entry or entry.get("route") != "after-commit":
        return None
    o = source_origin(ctx)
    at_least = int(entry["at_least"])
    try:
        if o.kind == "kvsql-sqlite":
            adv = sequencer.advance_sqlite_file(o.path, at_least, o.table)
        else:
            from ..sql.transactions import write_txn

            sdb = _source_db(ctx)
            try:
                with write_txn(sdb):
                    adv = sequencer.advance(sdb, at_least, o.table)
            finally:
                sdb.close()
    except (LndError, OSError) as e:
        raise EngineError(f"the run is committed but lnd's switch sequencer in {entry['where']} could not be "
                          f"advanced to {at_least}: {e}", exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint="stop lnd and run the same command again: it advances the sequencer first") from None
    if reconciling and not adv.changed:
        return None
    if reconciling:
        text = (f"lnd's switch sequencer in {entry['where']} was behind the committed migration "
                f"({adv.before} < {at_least}): advanced it to {adv.after} now")
    else:
        text = f"lnd's switch sequencer in {entry['where']}: {adv.before} -> {adv.after}"
    entry.update(before=adv.before, after=adv.after, done=True)
    if reconciling:
        entry["reconciled"] = True
    return text


def reconcile_sequencer(ctx: Context, run) -> str | None:
    """On every start: a committed run whose sequencer advance may not have happened."""
    entry = run.stats.get("lnd_sequencer")
    if run.state != "committed" or not entry or entry.get("route") != "after-commit":
        return None
    if entry.get("where") != where_sequencer(ctx):
        return None  # another source: the marker matrix refuses it (fingerprint)
    try:
        cur = read_sequencer(ctx).sequence
    except Exception:  # noqa: BLE001 - advance_after_commit reports the real error
        cur = -1
    if cur >= int(entry["at_least"]) and entry.get("done"):
        return None
    text = advance_after_commit(ctx, run, reconciling=True)
    save_stats(ctx, run)
    if text:
        ctx.log("warning", text)
    return text


def save_stats(ctx: Context, run) -> None:
    from ..sql.transactions import write_txn

    with write_txn(ctx.db()):
        run.save(ctx.db())
