"""Preflight: every check with pass / warn / fail, a reason and a fix hint.

Nothing is written, and a SQLite target that does not exist yet is not created.
The KV side is checked here; the target's checks live in :mod:`.checks_sql`.
"""

from __future__ import annotations

import json
import shutil

from ..kv.channeldb import channeldb_version
from ..kv.errors import KVError, LockedError
from ..kv.importer import META_IMPORT_SOURCE
from ..kv.lmdb_store import LmdbStore
from ..kv.open import detect_kind
from . import backfill, quarantine
from .checks_sql import NoTarget, absent_target_checks, mb, space_checks, sql_checks
from .context import Context, session_lock_held
from .events import Phase, PhaseFinished, PhaseStarted
from .kvusers import by_process, describe_users, store_users
from .lndside import lnd_checks
from .markers import (
    KVScan,
    marker_check,
    missing_check,
    scan_kv,
    state_from,
    tombstone_record,
    unfinished_import,
    unmatched_check,
)
from .results import Check, CheckStatus, EngineError, PreflightReport, RunState, StatusCounts
from .runs import Run, run_summary

# channeldb migration 23 flattened HTLC attempts into the ai/si/fi keys we read;
# anything older must be upgraded by LND first.
MIN_CHANNELDB_VERSION = 23
KV_FREE_SPACE_NEEDED = 16 * 1024 * 1024  # the tombstone and the switch sequencer advance


def preflight(ctx: Context) -> PreflightReport:
    ctx.emit(PhaseStarted(Phase.PREFLIGHT))
    checks: list[Check] = []
    counts = StatusCounts()
    state = RunState.FRESH
    run: Run | None = None
    store = _open_store(ctx, checks)
    scan: KVScan | None = None
    if store is not None:
        with store:
            scan = _kv_checks(ctx, store, checks, _resume_checkpoint(ctx))
            if scan is not None:
                counts = scan.counts
    try:
        if ctx.target_absent():
            checks.extend(absent_target_checks(ctx))
            raise NoTarget()
        checks.extend(sql_checks(ctx))
        run = ctx.run()
    except NoTarget:
        pass
    except EngineError as e:
        checks.append(Check("sql.open", "SQL target", CheckStatus.FAIL, str(e), e.hint))
    if scan is not None:
        backfill.adjust_checks(ctx, checks, scan.counts.payments)
        record = tombstone_record(ctx) if scan.tombstone else None  # the store is closed by now
        state = state_from(scan.tombstone, run, record)
        checks.append(marker_check(state, run, scan, record))
        checks.extend(space_checks(ctx, scan))
    if store is not None:
        try:
            checks.extend(lnd_checks(ctx, run, allow_foreign=ctx.allow_foreign_source))
        except EngineError as e:
            checks.append(Check("lnd.side", "lnd's side", CheckStatus.FAIL, str(e), e.hint))
    report = PreflightReport(checks, counts, state, run.run_id if run else None, run_summary(run))
    ctx.emit(PhaseFinished(Phase.PREFLIGHT, report.ok,
                           "preflight passed" if report.ok else "preflight found a blocking problem"))
    return report


def _open_store(ctx: Context, checks: list[Check]) -> LmdbStore | None:
    kind = detect_kind(ctx.kv_path)
    if kind == "bbolt":
        checks.append(Check("kv.open", "KV store", CheckStatus.FAIL, f"{ctx.kv_path} is a bbolt channel.db",
                            "import it first: migwizard import-bbolt CHANNEL_DB --kv DIR"))
        return None
    if kind != "lmdb":
        checks.append(Check("kv.open", "KV store", CheckStatus.FAIL, f"no migwizard KV store at {ctx.kv_path}",
                            "use a store made by import-bbolt or generate"))
        return None
    try:
        store = LmdbStore.open(ctx.kv_path, readonly=True)
    except LockedError as e:
        checks.append(Check("kv.open", "KV store", CheckStatus.FAIL, str(e),
                            "stop lnd / the other migwizard holding the store"))
        return None
    except KVError as e:
        checks.append(Check("kv.open", "KV store", CheckStatus.FAIL, str(e), "check the path"))
        return None
    if ctx.session_lock_depth == 0 and session_lock_held(ctx.kv_path):
        store.close()
        checks.append(Check("kv.open", "KV store", CheckStatus.FAIL,
                            "another migwizard session is working on this store right now",
                            "wait for it to finish, or stop it (Ctrl-C) first"))
        return None
    users = store_users(ctx)
    if users:
        store.close()
        checks.append(Check("kv.open", "KV store", CheckStatus.FAIL,
                            f"the KV store is in use by another process: {describe_users(users)}",
                            "stop that process (a reader or a writer of the LMDB files), then run again",
                            details={"path": str(ctx.kv_path),
                                     "holders": by_process(users)}))
        return None
    checks.append(Check("kv.open", "KV store", CheckStatus.PASS,
                        "opens read-only; no other process has its data.mdb or lock.mdb open"
                        + (f" ({users.unreadable} processes of other users not checked)" if users.unreadable else ""),
                        details={"path": str(ctx.kv_path)}))
    return store


def _resume_checkpoint(ctx: Context) -> int | None:
    """The checkpoint of the target's unfinished run, if any: a resume needs space only
    for what remains after it (issue 9, item 13). Errors surface in the SQL checks."""
    try:
        if ctx.target_absent():
            return None
        run = ctx.run()
    except Exception:  # noqa: BLE001
        return None
    if run is None or run.state == "committed" or not run.chunks_done:
        return None
    return run.checkpoint_seq


def _kv_checks(ctx: Context, store: LmdbStore, checks: list[Check], resume_after: int | None = None
               ) -> KVScan | None:
    scan = None
    checks.append(Check("kv.layout", "KV layout version", CheckStatus.PASS,
                        f"LMDB layout {store.layout_version}, LMDB {'.'.join(map(str, _lmdb_version()))}",
                        details={"layout_version": store.layout_version}))
    why = unfinished_import(store)
    if why is not None:
        checks.append(Check("kv.import", "Import finished", CheckStatus.FAIL,
                            f"the import into this store did not finish (import-state: {why})",
                            "import again: migwizard import-bbolt CHANNEL_DB --kv NEWDIR"))
    with store.read() as root:
        ver = channeldb_version(root)
        try:
            scan = scan_kv(root, resume_after=resume_after)
        except EngineError as e:
            checks.append(Check("kv.payments", "Payment buckets", CheckStatus.FAIL, str(e)))
        left_behind = quarantine.preflight_check(ctx, root)
        if left_behind is not None:
            checks.append(left_behind)
    checks.append(_channeldb_check(ver))
    if scan is not None:
        counts = scan.counts
        checks.append(Check(
            "kv.counts", "Payments", CheckStatus.INFO,
            f"{counts.payments} payments: {counts.succeeded} succeeded, {counts.failed} failed, "
            f"{counts.in_flight} in flight, {counts.initiated} initiated; {counts.attempts} attempts; "
            f"{counts.duplicates} duplicate entries",
            ("failed payments and their attempts can be deleted first to shrink the migration "
             "(lncli deletepayments --failed)") if counts.failed > counts.succeeded else "",
            details={"index_entries": counts.index_entries}))
        for extra in (unmatched_check(scan), missing_check(scan)):
            if extra is not None:
                checks.append(extra)
        if counts.payments == 0 and not scan.tombstone:
            checks.append(empty_store_check(ctx, store))
    free_kv = shutil.disk_usage(ctx.kv_path).free
    ok = free_kv >= KV_FREE_SPACE_NEEDED
    checks.append(Check("kv.free_space", "Free space (KV side)", CheckStatus.PASS if ok else CheckStatus.FAIL,
                        f"{mb(free_kv)} free; the tombstone needs < {mb(KV_FREE_SPACE_NEEDED)}",
                        "" if ok else "free some space next to the KV store"))
    return scan


def network_of(path: str | None) -> str | None:
    """The network an lnd data path names (``.../data/graph/<net>/channel.db``), if it does."""
    if not path:
        return None
    parts = [p for p in str(path).replace("\\", "/").split("/") if p]
    for i, part in enumerate(parts[:-1]):
        if part == "graph" and i + 1 < len(parts) and parts[i + 1] in ("mainnet", "testnet", "testnet4", "signet",
                                                                          "regtest", "simnet"):
            return parts[i + 1]
    return None


def empty_store_check(ctx: Context, store: LmdbStore) -> Check:
    """0 payments: nothing is wrong with the store, but it is usually not the one meant
    (another network's or another node's channel.db). A warning, and headless runs need
    --allow-empty before they tombstone it."""
    origin = None
    try:
        raw = store.meta_get(META_IMPORT_SOURCE)
        origin = json.loads(raw)["path"] if raw else None
    except Exception:  # noqa: BLE001 - informational only
        origin = None
    where = origin or str(ctx.kv_path.absolute())
    net = network_of(origin) or network_of(str(ctx.kv_path))
    on = f" (network {net})" if net else " (network unknown: the path names none)"
    return Check("kv.empty", "Empty store", CheckStatus.WARN,
                 f"0 payments in {where}{on}: usually the wrong network's or the wrong node's channel.db",
                 "check the path and network; migrating it only tombstones an empty store "
                 "(headless: --allow-empty)", details={"path": where, "network": net or "unknown"})


def _channeldb_check(ver: int | None) -> Check:
    if ver is None:
        return Check("kv.channeldb", "channeldb version", CheckStatus.WARN, "no metadata/dbp key: version unknown",
                     f"make sure the node ran LND >= 0.10 (channeldb >= {MIN_CHANNELDB_VERSION})")
    if ver < MIN_CHANNELDB_VERSION:
        return Check("kv.channeldb", "channeldb version", CheckStatus.FAIL,
                     f"channeldb version {ver} < {MIN_CHANNELDB_VERSION}, the first whose payment "
                     "format (flattened ai/si/fi HTLC keys) we read",
                     "upgrade LND first and let it start once", {"version": ver})
    return Check("kv.channeldb", "channeldb version", CheckStatus.PASS,
                 f"version {ver} (>= {MIN_CHANNELDB_VERSION})", details={"version": ver})


def _lmdb_version() -> tuple[int, ...]:
    import lmdb

    return lmdb.version()
