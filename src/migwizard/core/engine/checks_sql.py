"""Preflight's checks of the SQL target: server, permissions, what the target
holds, lnd's bookkeeping, and free space for rows, indexes and the journal."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..sql.connect import load_wal_bytes, server_version, sqlite_library_version
from ..sql.schema import verify_lnd_tables
from .context import Context
from .markers import KVScan
from .results import Check, CheckStatus
from .space import ROWS_PER_KV_BYTE, sql_rows_bytes
from .tuning import chunk_rows, txn_rows

STANDALONE_REASON = ("{what}: the result is a standalone copy in lnd's schema; lnd will not pick it up by "
                     "itself, and its bookkeeping is left alone")
STANDALONE_HINT = ("fine for a rehearsal or an audit; to hand the history to lnd, use lnd's own database "
                   "after its payments migration failed at start-up (migration_tracker at 13)")


class NoTarget(Exception):
    """Preflight of a SQLite file that does not exist yet (nothing more to inspect)."""


def absent_target_checks(ctx: Context) -> list[Check]:
    """A SQLite file a run would create: can it be created, and it is not lnd's database."""
    parent = ctx.url.sqlite_path.parent
    ok = parent.is_dir() and os.access(parent, os.W_OK)
    return [
        Check("sql.version", "SQLite library", CheckStatus.PASS, f"SQLite {sqlite_library_version()}"),
        Check("sql.target", "Target state", CheckStatus.PASS if ok else CheckStatus.FAIL,
              f"{ctx.url.sqlite_path} does not exist yet: it will be created" if ok else
              f"cannot create {ctx.url.sqlite_path}: directory missing or not writable",
              "" if ok else "create the directory / fix its permissions"),
        Check("sql.lnd_tracker", "lnd migration tracker", CheckStatus.WARN,
              STANDALONE_REASON.format(what="a new file is not lnd's database"), STANDALONE_HINT),
    ]


def sql_checks(ctx: Context) -> list[Check]:
    db = ctx.db()
    sv = server_version(db)
    out = []
    if ctx.url.is_sqlite:
        lib = sqlite_library_version()
        ok = tuple(int(x) for x in lib.split(".")[:2]) >= (3, 32)
        out.append(Check("sql.version", "SQLite library", CheckStatus.PASS if ok else CheckStatus.WARN,
                         f"SQLite {lib}", "" if ok else "SQLite < 3.32 limits bound variables; upgrade"))
    else:
        m = re.search(r"(\d+)(?:\.\d+)?", sv or "")
        major = int(m.group(1)) if m else 0
        out.append(Check("sql.version", "PostgreSQL server", CheckStatus.PASS if major >= 12 else CheckStatus.WARN,
                         f"reachable at {ctx.target}, server {sv}",
                         "" if major >= 12 else "LND is tested with PostgreSQL >= 12"))
        out.append(_pg_permissions(db))
    out.extend(_target_checks(ctx))
    return out


def _pg_permissions(db) -> Check:
    row = db.execute_sql(
        "SELECT has_schema_privilege(current_user, 'public', 'CREATE'), current_user, current_database()"
    ).fetchone()
    if row[0]:
        return Check("sql.permissions", "PostgreSQL permissions", CheckStatus.PASS,
                     f"user {row[1]} may create tables in {row[2]}.public")
    return Check("sql.permissions", "PostgreSQL permissions", CheckStatus.FAIL,
                 f"user {row[1]} cannot create tables in {row[2]}.public",
                 f"GRANT CREATE ON SCHEMA public TO {row[1]}")


def _target_checks(ctx: Context) -> list[Check]:
    tables = ctx.tables()
    out = []
    lnd = ctx.lnd_schema()
    if "payments" in tables:
        n = ctx.db().execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0]
        run = ctx.run()
        if run is None and n:
            out.append(Check("sql.target", "Target state", CheckStatus.FAIL,
                             f"the target already holds {n} payment rows not written by migwizard",
                             "use an empty target (LND's own migration requires one too)"))
        elif run is None:
            out.append(Check("sql.target", "Target state", CheckStatus.PASS,
                             "payment tables exist and are empty", details=_lnd_details(lnd)))
        else:
            shown = {"running": "interrupted or in progress", "validated": "validated, not committed",
                     "failed": "stopped by an error"}.get(run.state, run.state)
            out.append(Check("sql.target", "Target state", CheckStatus.INFO,
                             f"holds migwizard run {run.run_id[:8]} ({shown}, {run.payments_done:,} payments)"))
    else:
        out.append(Check("sql.target", "Target state", CheckStatus.PASS,
                         "no payment tables yet: they will be created", details=_lnd_details(lnd)))
    if "migwizard_runs" not in tables and lnd.has_any_payment_table:
        problems = []
        if not (lnd.has_payment_tables and lnd.has_duplicates_table):
            problems.append("only some of lnd's payment tables exist")
        if lnd.schema_dirty:
            problems.append(f"lnd's schema_migrations is dirty at version {lnd.schema_version}")
        if not problems:
            problems = verify_lnd_tables(ctx.db())
        if problems:
            out.append(Check("sql.lnd_schema", "lnd's payment tables", CheckStatus.FAIL, "; ".join(problems[:3]),
                             "let lnd finish its own schema migrations (schema >= 11), or use an empty target"))
        else:
            out.append(Check("sql.lnd_schema", "lnd's payment tables", CheckStatus.PASS,
                             "created by lnd and matching its schema: they will be used as they are"))
    from .lndside import target_check  # the one rule for "is lnd's database"

    out.append(target_check(ctx, ctx.run()))
    return out


def space_checks(ctx: Context, scan: KVScan) -> list[Check]:
    # Rows + indexes from the KV value bytes (one formula, :mod:`.space`); the
    # WAL/journal holds up to one chunk, and temp files for index builds up to the
    # largest index.
    # A resumed run (after a full disk, say) needs room only for what remains after its
    # checkpoint: the rows already committed are in the target (issue 9, item 13).
    est_rows = sql_rows_bytes(scan.remaining_value_bytes)
    per_payment = scan.value_bytes * ROWS_PER_KV_BYTE / max(1, scan.counts.payments)
    est_wal = max(4 * 1024 * 1024, int(per_payment * ctx.chunk_size * 2))
    what = (f" for the {scan.remaining_payments} payments after checkpoint {scan.resume_after}"
            if scan.resume_after is not None else "")
    out = []
    tmp = Path(tempfile.gettempdir())
    if ctx.url.is_sqlite:
        where = ctx.url.sqlite_path.parent
        while not where.exists() and where != where.parent:
            where = where.parent
        free = shutil.disk_usage(where).free
        est_wal += _load_wal_extra(scan, per_payment, ctx.chunk_size)
        need = est_rows + est_wal
        out.append(Check("sql.free_space", "Free space (target)",
                         CheckStatus.PASS if free >= need * 1.2 else CheckStatus.FAIL,
                         f"need ~{mb(need)}{what} (rows+indexes {mb(est_rows)}, WAL {mb(est_wal)}), {mb(free)} free",
                         "" if free >= need * 1.2 else f"free space in {where}",
                         {"required": need, "available": free}))
    else:
        datadir = None
        try:
            row = ctx.db().execute_sql("SELECT setting FROM pg_settings WHERE name = 'data_directory'").fetchone()
            datadir = row[0] if row and row[0] else None
        except Exception:  # noqa: BLE001
            datadir = None
        if datadir and ctx.url.host in ("localhost", "127.0.0.1", "::1", "", None) and os.path.isdir(datadir):
            free = shutil.disk_usage(datadir).free
            need = est_rows + est_wal
            out.append(Check("sql.free_space", "Free space (PostgreSQL)",
                             CheckStatus.PASS if free >= need * 1.2 else CheckStatus.FAIL,
                             f"need ~{mb(need)}{what} (rows+indexes, WAL), {mb(free)} free in {datadir}",
                             "" if free >= need * 1.2 else "free space on the server's data volume",
                             {"required": need, "available": free}))
        else:
            out.append(Check("sql.free_space", "Free space (PostgreSQL)", CheckStatus.WARN,
                             f"cannot see the server's disk; about {mb(est_rows + est_wal)} will be needed",
                             "check free space on the database server yourself"))
    tfree = shutil.disk_usage(tmp).free
    tneed = max(1024 * 1024, est_rows // 4)
    out.append(Check("tmp.free_space", "Free space (temp dir)",
                     CheckStatus.PASS if tfree >= tneed else CheckStatus.WARN,
                     f"{tmp}: {mb(tfree)} free, ~{mb(tneed)} may be used for sorting",
                     "" if tfree >= tneed else "set TMPDIR/SQLITE_TMPDIR to a larger volume"))
    return out


#: The fewest WAL bytes one chunk appends, however few its rows: a page or more of each
#: payment table, its indexes and the run's records.
MIN_CHUNK_WAL = 256 * 1024


def _load_wal_extra(scan: KVScan, per_payment: float, chunk_size: int) -> int:
    """What the WAL may hold beyond one chunk while a SQLite target loads: up to
    load_wal_bytes() before a checkpoint recycles it, plus the other chunks of the
    transaction that crosses it (a transaction may carry several chunks:
    tuning.txn_rows), and never more than every remaining chunk appends (a small
    store keeps a small WAL)."""
    chunks = -(-scan.remaining_payments // max(1, chunk_size))
    per_chunk = max(MIN_CHUNK_WAL, int(per_payment * chunk_size * 2))
    per_txn = max(1, -(-txn_rows() // chunk_rows()))
    return min(load_wal_bytes() + (per_txn - 1) * per_chunk, max(0, chunks - 1) * per_chunk)


def _lnd_details(lnd) -> dict[str, Any]:
    try:
        return {k: v for k, v in vars(lnd).items() if not k.startswith("_")}
    except TypeError:
        return {"lnd_schema": str(lnd)}


def mb(n: float) -> str:
    import humanize

    return humanize.naturalsize(n, binary=True)
