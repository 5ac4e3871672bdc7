"""The engine's working parts behind :class:`~.api.Engine`.

Protocol, in one place (README "How a migration stays safe"):

1. Chunks. N main payments per SQL transaction; the run record's checkpoint (last
   KV index sequence done), id counters and counters are updated in the same
   transaction. A crash loses at most the open chunk; resume continues after
   the checkpoint with the same ids.
2. Validation re-reads every migrated payment from SQL and compares it field by
   field with a fresh decode of its KV original after LND's named
   normalisations. Only a clean validation marks the run ``validated``.
3. Commit is one SQL transaction (run -> ``committed``, sequences fixed, LND's
   ``migration_tracker`` version 14 when LND owns the target). Only after it
   returns does the KV store get written: the switch-sequencer advance and the
   ``payments-tombstone`` key, in one LMDB transaction.
4. Reconcile on every start: committed but no tombstone -> write the tombstone
   (after checking the source fingerprint); tombstone but no committed run ->
   refuse and explain; run in progress -> resume or roll back.
5. Rollback (refused once committed) deletes exactly the run's id ranges, its
   bookkeeping, the schema if the run created it, and the SQLite file if the run
   created it. The KV store is never written before the commit.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ... import __version__
from ..codec import (
    DecodeError,
    decide_status,
    decode_index_entry,
    decode_sequence,
    fetch_payment,
    normalize_session_key,
    render_key,
)
from ..codec.model import PaymentStatus
from ..kv.channeldb import channeldb_version
from ..kv.errors import KVError, LockedError
from ..kv.lmdb_store import LmdbStore
from ..kv.open import detect_kind
from ..sql.bulk import BulkWriter, fix_sequences
from ..sql.connect import TargetURL, open_database, server_version, sqlite_library_version
from ..sql.schema import (
    TRACKING_TABLE,
    SchemaError,
    apply_migrations,
    detect_lnd_schema,
    rollback_migrations,
    verify_lnd_tables,
)
from ..sql.transactions import write_txn
from ..sql.values import dialect_for
from .events import ChunkCommitted, EventSink, LogRecord, Phase, PhaseFinished, PhaseStarted, Progress
from .normalisations import NormalisationCounter
from .rate import RollingRate
from .results import (
    Check,
    CheckStatus,
    CommitResult,
    EngineError,
    ExitCode,
    FieldDiff,
    MigrationResult,
    MigrationStats,
    PaymentDetail,
    PaymentRow,
    PreflightReport,
    RollbackResult,
    RunState,
    RunSummary,
    StatusCounts,
    TableSummary,
    ValidationReport,
)
from .rows import (
    ID_TABLES,
    PAYMENT_TABLES,
    TABLE_COLUMNS,
    ChunkRows,
    IdCounters,
    add_payment_rows,
    expected_duplicates,
)
from .runs import Run, latest_run, now_text, q, record_chunk, record_skipped
from .sqlread import read_payments, sql_ids_by_identifier
from .transform import MigrationReject, expected_sql_payment, truncate_ns_to_us
from .tree import diff_trees, mask, payment_tree

log = logging.getLogger("migwizard")

ROOT_BUCKET = b"payments-root-bucket"
INDEX_BUCKET = b"payments-index-bucket"
SWITCH_BUCKET = b"next-payment-id-key"
TOMBSTONE_KEY = b"payments-tombstone"
TOMBSTONE_META = b"migwizard-tombstone"
SEQ_KEY = b"payment-sequence-key"
HTLCS_BUCKET = b"payment-htlcs-bucket"
FAIL_INFO = b"payment-fail-info"
DUP_BUCKET = b"payment-duplicate-bucket"

# channeldb migration 23 flattened HTLC attempts into the ai/si/fi keys we read;
# anything older must be upgraded by LND first.
MIN_CHANNELDB_VERSION = 23
LND_PAYMENTS_MIGRATION_VERSION = 14
LND_MIRROR_LAST = 4  # our migrations 1-4 mirror LND's 000010/11/13/14
VALIDATION_BATCH = 250
REPORT_ROW_LIMIT = 50_000
MAX_REPORTED_DIFFS = 10_000  # keeps memory flat when everything differs
PROGRESS_INTERVAL_S = 0.25
# Pause after each committed chunk (seconds). For crash-and-resume tests and demos
# on tiny stores; never set in normal use.
THROTTLE_S = float(os.environ.get("MIGWIZ_THROTTLE_CHUNK_S", "0") or 0)


@dataclass
class KVScan:
    fingerprint: str
    counts: StatusCounts
    root_sequence: int
    switch_sequence: int | None
    has_root: bool
    has_index: bool
    tombstone: bool
    value_bytes: int = 0


def scan_kv(root) -> KVScan:
    """One pass over the index: fingerprint, totals and statuses from keys alone."""
    h = hashlib.sha256()
    counts = StatusCounts()
    rb = root.bucket(ROOT_BUCKET)
    ib = root.bucket(INDEX_BUCKET)
    sb = root.bucket(SWITCH_BUCKET)
    tomb = bool(rb is not None and rb.get(TOMBSTONE_KEY) == b"1")
    scan = KVScan("", counts, rb.sequence() if rb else 0, sb.sequence() if sb else None,
                  rb is not None, ib is not None, tomb)
    if rb is not None and ib is None:
        raise EngineError("index bucket does not exist (payments-root-bucket without payments-index-bucket)",
                          exit_code=ExitCode.PREFLIGHT_REFUSED)
    if ib is None:
        scan.fingerprint = h.hexdigest()
        return scan
    for key, value in ib.items():
        if value is None:
            continue
        h.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
        counts.index_entries += 1
        scan.value_bytes += len(key) + len(value)
        try:
            phash = decode_index_entry(value)
        except DecodeError:
            continue  # counted; the migration reports it precisely
        pb = rb.bucket(phash) if rb is not None else None
        if pb is None:
            continue
        seq = pb.get(SEQ_KEY)
        if seq is None or len(seq) != 8 or int.from_bytes(seq, "big") != int.from_bytes(key, "big"):
            if seq is not None:
                counts.duplicates += 1
            continue
        st, attempts, hops, size = _quick_status(pb)
        scan.value_bytes += size
        counts.attempts += attempts
        counts.hops += hops
        _tally(counts, st)
    scan.fingerprint = h.hexdigest()
    return scan


class _Cancelled(Exception):
    pass


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
    stats_delta: MigrationStats = field(default_factory=MigrationStats)


SESSION_LOCK = "migwizard-session.lock"
STANDALONE_REASON = ("{what}: the result is a standalone copy in lnd's schema; lnd will not pick it up by "
                     "itself, and its bookkeeping is left alone")
STANDALONE_HINT = ("fine for a rehearsal or an audit; to hand the history to lnd, use lnd's own database "
                   "after its payments migration failed at start-up (migration_tracker at 13)")


def _one_session_at_a_time(fn):
    """Two migwizard processes (two SSH windows) must not drive the same KV store at once:
    their chunks would collide. An exclusive flock next to the store, held per step."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        if self._session_lock_depth or not self.kv_path.is_dir():
            self._session_lock_depth += 1
            try:
                return fn(self, *args, **kwargs)
            finally:
                self._session_lock_depth -= 1
        fd = os.open(self.kv_path / SESSION_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EngineError("another migwizard session is working on this KV store right now",
                              exit_code=ExitCode.PREFLIGHT_REFUSED,
                              hint="wait for it to finish, or stop it (Ctrl-C) first") from None
        self._session_lock_depth += 1
        try:
            return fn(self, *args, **kwargs)
        finally:
            self._session_lock_depth -= 1
            os.close(fd)

    return wrapper


def _session_lock_held(kv_path: Path) -> bool:
    path = kv_path / SESSION_LOCK
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class Session:
    def __init__(self, kv_path: Path, sql_url: str, *, chunk_size: int, on_event: EventSink,
                 clock: Callable[[], float], wall_clock: Callable[[], float]) -> None:
        if chunk_size < 1:
            raise EngineError("chunk size must be at least 1", exit_code=ExitCode.USAGE)
        self.kv_path = kv_path
        try:
            self.url = TargetURL.parse(sql_url)
        except Exception as e:  # noqa: BLE001 - any parse problem is a usage error
            raise EngineError(f"invalid SQL URL: {e}", exit_code=ExitCode.USAGE,
                              hint="use sqlite:///path/to/lnd.sqlite or postgresql://user@host:5432/db") from None
        self.chunk_size = chunk_size
        self.on_event = on_event
        self.clock = clock
        self.wall = wall_clock
        self._db = None
        self._sqlite_existed: bool | None = None
        self._session_lock_depth = 0
        self._since_flush = 0.0

    # ------------------------------------------------------------------ utils
    def _emit(self, ev) -> None:
        try:
            self.on_event(ev)
        except Exception:  # noqa: BLE001 - a broken consumer must not break a migration
            log.exception("event consumer failed")

    def _log(self, level: str, msg: str) -> None:
        getattr(log, level if level != "warning" else "warning")(msg)
        self._emit(LogRecord(level, msg))

    @property
    def target(self) -> str:
        return self.url.redacted()

    def db(self):
        if self._db is None:
            if self.url.is_sqlite:
                path = self.url.sqlite_path
                if self._sqlite_existed is None:
                    self._sqlite_existed = path.exists()
                if not path.parent.exists():
                    raise EngineError(f"the directory for the SQLite target does not exist: {path.parent}",
                                      exit_code=ExitCode.PREFLIGHT_REFUSED, hint="create it first")
            try:
                self._db = open_database(self.url)
                if self.url.is_sqlite and not self._sqlite_existed:
                    # It will hold session keys and preimages: owner-only, like the report and the log.
                    for suffix in ("", "-wal", "-shm"):
                        f = Path(str(self.url.sqlite_path) + suffix)
                        if f.exists():
                            os.chmod(f, 0o600)
            except Exception as e:  # noqa: BLE001
                raise EngineError(f"cannot open the SQL target {self.target}: {self.url.scrub(str(e))}",
                                  exit_code=ExitCode.PREFLIGHT_REFUSED,
                                  hint="check the URL, that the server runs, and the credentials") from None
        return self._db

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # noqa: BLE001
                pass
            self._db = None

    def _target_absent(self) -> bool:
        """A SQLite target file that does not exist yet: look, but do not create it."""
        return self._db is None and self.url.is_sqlite and not self.url.sqlite_path.exists()

    def _tables(self) -> set[str]:
        if self._target_absent():
            return set()
        return set(self.db().get_tables())

    def _run(self) -> Run | None:
        if "migwizard_runs" not in self._tables():
            return None
        return latest_run(self.db())

    def _open_kv(self, *, readonly: bool = True) -> LmdbStore:
        kind = detect_kind(self.kv_path)
        if kind == "bbolt":
            raise EngineError(
                f"{self.kv_path} is a bbolt channel.db; import it first: migwizard import-bbolt {self.kv_path} --kv DIR",
                exit_code=ExitCode.USAGE)
        if kind != "lmdb":
            raise EngineError(f"{self.kv_path}: not a migwizard KV store", exit_code=ExitCode.PREFLIGHT_REFUSED,
                              hint="point --kv at a store made by `migwizard import-bbolt` or `migwizard generate`")
        try:
            return LmdbStore.open(self.kv_path, readonly=readonly)
        except LockedError as e:
            raise EngineError(str(e), exit_code=ExitCode.PREFLIGHT_REFUSED,
                              hint="stop the other process (lnd, another migwizard) first") from None
        except KVError as e:
            raise EngineError(str(e), exit_code=ExitCode.PREFLIGHT_REFUSED) from None

    def _dialect(self):
        return dialect_for(self.db())

    # ------------------------------------------------------------- KV scanning
    def _scan(self, root) -> KVScan:
        return scan_kv(root)

    # ------------------------------------------------------------------ state
    def state(self) -> RunState:
        with self._open_kv() as store, store.read() as root:
            rb = root.bucket(ROOT_BUCKET)
            tomb = bool(rb is not None and rb.get(TOMBSTONE_KEY) == b"1")
        return self._state_from(tomb, self._run())

    @staticmethod
    def _state_from(tomb: bool, run: Run | None) -> RunState:
        if run is not None and run.state == "committed":
            return RunState.COMPLETE if tomb else RunState.COMMITTED_NO_TOMBSTONE
        if tomb:
            return RunState.TOMBSTONE_WITHOUT_SQL
        if run is not None:
            return RunState.IN_PROGRESS
        return RunState.FRESH

    def reconcile(self) -> RunState:
        """Apply the safe automatic fix of the marker matrix; refuse the unsafe cell."""
        st = self.state()
        if st is RunState.COMMITTED_NO_TOMBSTONE:
            run = self._run()
            assert run is not None
            with self._open_kv() as store, store.read() as root:
                scan = self._scan(root)
            if scan.fingerprint != run.source_fingerprint:
                raise EngineError(
                    "the target holds a committed migration of a different KV store (fingerprint mismatch); "
                    "not writing a tombstone", exit_code=ExitCode.PREFLIGHT_REFUSED,
                    hint="point --kv at the store that was migrated, or check which target you meant")
            self._log("info", "Committed migration found without a KV tombstone: writing the tombstone now.")
            self._write_tombstone(run)
            return RunState.COMPLETE
        if st is RunState.TOMBSTONE_WITHOUT_SQL:
            raise EngineError(
                "the KV store is tombstoned (migrated) but this target holds no committed migration of it",
                exit_code=ExitCode.PREFLIGHT_REFUSED,
                hint=("point --sql at the target it was migrated to (see the tombstone details with "
                      "`migwizard inspect`), or restore the KV store from the backup taken before the migration"))
        return st

    # -------------------------------------------------------------- preflight
    def preflight(self) -> PreflightReport:
        self._emit(PhaseStarted(Phase.PREFLIGHT))
        checks: list[Check] = []
        counts = StatusCounts()
        state = RunState.FRESH
        run: Run | None = None
        scan: KVScan | None = None
        # KV side
        kind = detect_kind(self.kv_path)
        store = None
        if kind == "bbolt":
            checks.append(Check("kv.open", "KV store", CheckStatus.FAIL, f"{self.kv_path} is a bbolt channel.db",
                                "import it first: migwizard import-bbolt CHANNEL_DB --kv DIR"))
        elif kind != "lmdb":
            checks.append(Check("kv.open", "KV store", CheckStatus.FAIL, f"no migwizard KV store at {self.kv_path}",
                                "use a store made by import-bbolt or generate"))
        else:
            try:
                store = LmdbStore.open(self.kv_path, readonly=True)
                if self._session_lock_depth == 0 and _session_lock_held(self.kv_path):
                    store.close()
                    store = None
                    checks.append(Check("kv.open", "KV store", CheckStatus.FAIL,
                                        "another migwizard session is working on this store right now",
                                        "wait for it to finish, or stop it (Ctrl-C) first"))
                else:
                    checks.append(Check("kv.open", "KV store", CheckStatus.PASS,
                                        "opens read-only; no other process holds it",
                                        details={"path": str(self.kv_path)}))
            except LockedError as e:
                checks.append(Check("kv.open", "KV store", CheckStatus.FAIL, str(e),
                                    "stop lnd / the other migwizard holding the store"))
            except KVError as e:
                checks.append(Check("kv.open", "KV store", CheckStatus.FAIL, str(e), "check the path"))
        if store is not None:
            with store:
                checks.append(Check("kv.layout", "KV layout version", CheckStatus.PASS,
                                    f"LMDB layout {store.layout_version}, LMDB {'.'.join(map(str, _lmdb_version()))}",
                                    details={"layout_version": store.layout_version}))
                with store.read() as root:
                    ver = channeldb_version(root)
                    try:
                        scan = self._scan(root)
                    except EngineError as e:
                        checks.append(Check("kv.payments", "Payment buckets", CheckStatus.FAIL, str(e)))
                if ver is None:
                    checks.append(Check("kv.channeldb", "channeldb version", CheckStatus.WARN,
                                        "no metadata/dbp key: version unknown",
                                        f"make sure the node ran LND >= 0.10 (channeldb >= {MIN_CHANNELDB_VERSION})"))
                elif ver < MIN_CHANNELDB_VERSION:
                    checks.append(Check("kv.channeldb", "channeldb version", CheckStatus.FAIL,
                                        f"channeldb version {ver} < {MIN_CHANNELDB_VERSION}, the first whose payment "
                                        "format (flattened ai/si/fi HTLC keys) we read",
                                        "upgrade LND first and let it start once", {"version": ver}))
                else:
                    checks.append(Check("kv.channeldb", "channeldb version", CheckStatus.PASS,
                                        f"version {ver} (>= {MIN_CHANNELDB_VERSION})", details={"version": ver}))
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
            free_kv = shutil.disk_usage(self.kv_path).free
            need_kv = 16 * 1024 * 1024
            checks.append(Check("kv.free_space", "Free space (KV side)",
                                CheckStatus.PASS if free_kv >= need_kv else CheckStatus.FAIL,
                                f"{_mb(free_kv)} free; the tombstone needs < {_mb(need_kv)}",
                                "" if free_kv >= need_kv else "free some space next to the KV store"))
        # SQL side
        try:
            if self._target_absent():
                parent = self.url.sqlite_path.parent
                ok = parent.is_dir() and os.access(parent, os.W_OK)
                checks.append(Check("sql.version", "SQLite library", CheckStatus.PASS,
                                    f"SQLite {sqlite_library_version()}"))
                checks.append(Check("sql.target", "Target state", CheckStatus.PASS if ok else CheckStatus.FAIL,
                                    f"{self.url.sqlite_path} does not exist yet: it will be created" if ok else
                                    f"cannot create {self.url.sqlite_path}: directory missing or not writable",
                                    "" if ok else "create the directory / fix its permissions"))
                checks.append(Check("sql.lnd_tracker", "lnd migration tracker", CheckStatus.WARN,
                                    STANDALONE_REASON.format(what="a new file is not lnd's database"),
                                    STANDALONE_HINT))
                raise _NoTarget()
            db = self.db()
            sv = server_version(db)
            if self.url.is_sqlite:
                lib = sqlite_library_version()
                ok = tuple(int(x) for x in lib.split(".")[:2]) >= (3, 32)
                checks.append(Check("sql.version", "SQLite library", CheckStatus.PASS if ok else CheckStatus.WARN,
                                    f"SQLite {lib}", "" if ok else "SQLite < 3.32 limits bound variables; upgrade"))
            else:
                m = re.search(r"(\d+)(?:\.\d+)?", sv or "")
                major = int(m.group(1)) if m else 0
                checks.append(Check("sql.version", "PostgreSQL server",
                                    CheckStatus.PASS if major >= 12 else CheckStatus.WARN,
                                    f"reachable at {self.target}, server {sv}",
                                    "" if major >= 12 else "LND is tested with PostgreSQL >= 12"))
                checks.append(self._pg_permissions(db))
            checks.extend(self._target_checks(scan))
            run = self._run()
        except _NoTarget:
            pass
        except EngineError as e:
            checks.append(Check("sql.open", "SQL target", CheckStatus.FAIL, str(e), e.hint))
        if scan is not None:
            state = self._state_from(scan.tombstone, run)
            checks.append(self._marker_check(state, run, scan))
            checks.extend(self._space_checks(scan))
        summary = None
        if run is not None:
            summary = RunSummary(run.run_id, run.state, run.payments_done, run.chunks_done, run.checkpoint_seq,
                                 bool(run.created_schema), bool(run.stats.get("created_file")))
        report = PreflightReport(checks, counts, state, run.run_id if run else None, summary)
        self._emit(PhaseFinished(Phase.PREFLIGHT, report.ok,
                                 "preflight passed" if report.ok else "preflight found a blocking problem"))
        return report

    def _pg_permissions(self, db) -> Check:
        row = db.execute_sql(
            "SELECT has_schema_privilege(current_user, 'public', 'CREATE'), current_user, current_database()"
        ).fetchone()
        if row[0]:
            return Check("sql.permissions", "PostgreSQL permissions", CheckStatus.PASS,
                         f"user {row[1]} may create tables in {row[2]}.public")
        return Check("sql.permissions", "PostgreSQL permissions", CheckStatus.FAIL,
                     f"user {row[1]} cannot create tables in {row[2]}.public",
                     f"GRANT CREATE ON SCHEMA public TO {row[1]}")

    def _target_checks(self, scan: KVScan | None) -> list[Check]:
        tables = self._tables()
        out = []
        lnd = detect_lnd_schema(self.db())
        if "payments" in tables:
            n = self.db().execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0]
            run = self._run()
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
                problems = verify_lnd_tables(self.db())
            if problems:
                out.append(Check("sql.lnd_schema", "lnd's payment tables", CheckStatus.FAIL, "; ".join(problems[:3]),
                                 "let lnd finish its own schema migrations (schema >= 11), or use an empty target"))
            else:
                out.append(Check("sql.lnd_schema", "lnd's payment tables", CheckStatus.PASS,
                                 "created by lnd and matching its schema: they will be used as they are"))
        if lnd.has_migration_tracker:
            v = lnd.tracker_version
            if v == LND_PAYMENTS_MIGRATION_VERSION - 1:
                out.append(Check("sql.lnd_tracker", "lnd migration tracker", CheckStatus.PASS,
                                 "lnd stands right before its payments migration (14): it will be recorded at "
                                 "commit, so lnd starts on these rows", details={"version": v}))
                return out
            text = (f"lnd already recorded version {v} (its payments migration ran or was skipped)"
                    if (v or 0) >= LND_PAYMENTS_MIGRATION_VERSION else f"lnd's migration_tracker is at {v}")
        else:
            text = "the target is not an lnd database"
        out.append(Check("sql.lnd_tracker", "lnd migration tracker", CheckStatus.WARN,
                         STANDALONE_REASON.format(what=text), STANDALONE_HINT,
                         details={"version": lnd.tracker_version}))
        return out

    def _marker_check(self, state: RunState, run: Run | None, scan: KVScan) -> Check:
        if state is RunState.FRESH:
            return Check("markers", "Migration markers", CheckStatus.PASS, "fresh: no run, no tombstone")
        if state is RunState.IN_PROGRESS:
            assert run is not None
            if run.source_fingerprint != scan.fingerprint:
                return Check("markers", "Migration markers", CheckStatus.FAIL,
                             "the target holds an unfinished run of a different KV store",
                             "roll that run back (migwizard rollback with its --kv) or pick another target")
            return Check("markers", "Migration markers", CheckStatus.WARN,
                         f"interrupted run {run.run_id[:8]} at KV sequence {run.checkpoint_seq}: it will resume",
                         "or roll it back instead (migwizard rollback, or Roll back in the wizard)")
        if state is RunState.COMMITTED_NO_TOMBSTONE:
            return Check("markers", "Migration markers", CheckStatus.WARN,
                         "migration committed but the KV tombstone is missing: it will be written",
                         "nothing to do; `migwizard verify` re-checks the data")
        if state is RunState.COMPLETE:
            return Check("markers", "Migration markers", CheckStatus.FAIL,
                         "already migrated: the KV store is tombstoned and the target committed",
                         "nothing to migrate; run `migwizard verify` to re-check")
        return Check("markers", "Migration markers", CheckStatus.FAIL,
                     "the KV store is tombstoned but this target holds no committed migration",
                     "point --sql at the original target, or restore the KV store from its backup")

    def _space_checks(self, scan: KVScan) -> list[Check]:
        # Rows + indexes run at roughly 2.5x the KV value bytes (measured on the mixed
        # profile); the WAL/journal holds up to one chunk, and temp files for index
        # builds up to the largest index.
        est_rows = int(scan.value_bytes * 2.5) + 1024 * 1024
        per_payment = scan.value_bytes * 2.5 / max(1, scan.counts.payments)
        est_wal = max(4 * 1024 * 1024, int(per_payment * self.chunk_size * 2))
        out = []
        tmp = Path(tempfile.gettempdir())
        if self.url.is_sqlite:
            where = self.url.sqlite_path.parent
            while not where.exists() and where != where.parent:
                where = where.parent
            free = shutil.disk_usage(where).free
            need = est_rows + est_wal
            out.append(Check("sql.free_space", "Free space (target)",
                             CheckStatus.PASS if free >= need * 1.2 else CheckStatus.FAIL,
                             f"need ~{_mb(need)} (rows+indexes {_mb(est_rows)}, WAL {_mb(est_wal)}), {_mb(free)} free",
                             "" if free >= need * 1.2 else f"free space in {where}",
                             {"required": need, "available": free}))
        else:
            datadir = None
            try:
                row = self.db().execute_sql(
                    "SELECT setting FROM pg_settings WHERE name = 'data_directory'").fetchone()
                datadir = row[0] if row and row[0] else None
            except Exception:  # noqa: BLE001
                datadir = None
            if datadir and self.url.host in ("localhost", "127.0.0.1", "::1", "", None) and os.path.isdir(datadir):
                free = shutil.disk_usage(datadir).free
                need = est_rows + est_wal
                out.append(Check("sql.free_space", "Free space (PostgreSQL)",
                                 CheckStatus.PASS if free >= need * 1.2 else CheckStatus.FAIL,
                                 f"need ~{_mb(need)} (rows+indexes, WAL), {_mb(free)} free in {datadir}",
                                 "" if free >= need * 1.2 else "free space on the server's data volume",
                                 {"required": need, "available": free}))
            else:
                out.append(Check("sql.free_space", "Free space (PostgreSQL)", CheckStatus.WARN,
                                 f"cannot see the server's disk; about {_mb(est_rows + est_wal)} will be needed",
                                 "check free space on the database server yourself"))
        tfree = shutil.disk_usage(tmp).free
        tneed = max(1024 * 1024, est_rows // 4)
        out.append(Check("tmp.free_space", "Free space (temp dir)",
                         CheckStatus.PASS if tfree >= tneed else CheckStatus.WARN,
                         f"{tmp}: {_mb(tfree)} free, ~{_mb(tneed)} may be used for sorting",
                         "" if tfree >= tneed else "set TMPDIR/SQLITE_TMPDIR to a larger volume"))
        return out

    # ---------------------------------------------------------------- migrate
    @_one_session_at_a_time
    def migrate(self, *, cancel: threading.Event | None) -> MigrationResult:
        self.reconcile()
        db = self.db()
        dialect = self._dialect()
        with self._open_kv() as store, store.read() as root:
            scan = self._scan(root)
            if scan.tombstone:
                raise EngineError("the KV store is tombstoned: it was migrated already",
                                  exit_code=ExitCode.PREFLIGHT_REFUSED, hint="run `migwizard verify` to re-check")
            run = self._start_or_resume(db, store, root, scan)
            total = scan.counts.index_entries
            self._emit(PhaseStarted(Phase.MIGRATE, total))
            self._log("info", f"Found ~{total} index entries to migrate (includes duplicates); "
                              f"resuming after sequence {run.checkpoint_seq}" if run.checkpoint_seq else
                      f"Found ~{total} index entries to migrate (includes duplicates)")
            stats = _stats_from(run)
            counter = NormalisationCounter(run.normalisations)
            ids = IdCounters(dict(run.next_ids))
            switch_next = int(run.stats.get("switch_next", run.switch_seq_before or 0))
            done = int(run.stats.get("entries_done", 0))
            t0 = self.clock()
            self._since_flush = t0  # wall time spent in this run counts from here, chunk by chunk
            rate = RollingRate()
            rate.add(t0, done, stats.attempts)
            last_emit = -1e9

            def alloc() -> int:
                nonlocal switch_next
                if switch_next == 0:
                    switch_next = 1
                if switch_next >= (1 << 64) - 1:
                    raise MigrationReject("switch payment ID sequence exhausted", payment=b"")
                v = switch_next
                switch_next += 1
                return v

            rb = root.bucket(ROOT_BUCKET)
            ib = root.bucket(INDEX_BUCKET)
            pending = _Pending()
            outcome = "complete"
            error = None
            failing = None
            try:
                entries = (_index_after(ib, run.checkpoint_seq if run.chunks_done else None)
                           if ib is not None else iter(()))
                for key, value in entries:
                    seq = int.from_bytes(key, "big")
                    if pending.first_seq is None:
                        pending.first_seq = seq
                    pending.last_seq = seq
                    done += 1
                    self._migrate_entry(key, value, rb, pending, counter, ids, dialect, alloc, stats)
                    if pending.payments >= self.chunk_size:
                        switch_snapshot = switch_next
                        self._flush(db, run, pending, counter, ids, stats, done, switch_snapshot)
                        pending = _Pending()
                        now = self.clock()
                        rate.add(now, done, stats.attempts)
                        last_emit = now
                        self._progress(Phase.MIGRATE, done, total, stats, run.chunks_done, now - t0, rate)
                        if cancel is not None and cancel.is_set():
                            raise _Cancelled()
                    elif self.clock() - last_emit >= PROGRESS_INTERVAL_S:
                        now = self.clock()
                        last_emit = now
                        rate.add(now, done, stats.attempts)
                        self._progress(Phase.MIGRATE, done, total, stats, run.chunks_done, now - t0, rate)
                if pending.first_seq is not None:
                    self._flush(db, run, pending, counter, ids, stats, done, switch_next)
                self._finish_migrated(db, run, stats, switch_next)
            except _Cancelled:
                outcome = "cancelled"
                self._log("warning", f"Cancelled at a chunk boundary: {run.payments_done} payments are committed "
                                     f"(checkpoint sequence {run.checkpoint_seq}); the run can be resumed or rolled back.")
            except (DecodeError, MigrationReject, _ChunkFailed) as e:
                outcome = "failed"
                error = str(e)
                pay = getattr(e, "payment", None)
                failing = pay.hex() if pay else None
                self._mark_failed(db, run, error)
                stats = _stats_from(run)  # what is committed, not the refused chunk
                self._log("error", f"Migration stopped: {error}")
            now = self.clock()
            rate.add(now, done, stats.attempts)
            self._progress(Phase.MIGRATE, done, total, stats, run.chunks_done, now - t0, rate)
            stats.seconds = float(run.stats.get("seconds", 0.0))
            stats.normalisations = dict(run.normalisations)
            self._emit(PhaseFinished(Phase.MIGRATE, outcome == "complete",
                                     f"{outcome}: {stats.payments} payments, {stats.attempts} attempts, {stats.hops} hops"))
            return MigrationResult(run.run_id, outcome, stats, run.checkpoint_seq, error, failing)

    def _progress(self, phase: Phase, done: int, total: int, stats: MigrationStats, chunk: int, elapsed: float,
                  rate: RollingRate) -> None:
        pps, aps = rate.rates()
        self._emit(Progress(phase, done, total, stats.attempts, stats.hops, chunk, elapsed, pps, aps,
                            rate.eta(max(0, total - done))))

    def _start_or_resume(self, db, store: LmdbStore, root, scan: KVScan) -> Run:
        run = self._run()
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
            self._log("info", f"Resuming run {run.run_id[:8]} after KV sequence {run.checkpoint_seq} "
                              f"({run.payments_done} payments already committed)")
            return run
        tables_before = self._tables()
        created_schema = "payments" not in tables_before
        try:
            apply_migrations(db)
        except SchemaError as e:
            raise EngineError(f"the target's schema cannot be used: {e}", exit_code=ExitCode.PREFLIGHT_REFUSED,
                              hint="use an empty target, or let lnd finish its own schema migrations") from None
        n = db.execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0]
        if n:
            raise EngineError(f"the target already holds {n} payment rows not written by migwizard",
                              exit_code=ExitCode.PREFLIGHT_REFUSED,
                              hint="use an empty target; LND's own migration refuses a non-empty one too")
        from ..sql.bulk import next_id

        start_ids = {t: next_id(db, t) for t in ID_TABLES}
        wall = self.wall()
        run = Run(
            run_id=uuid.uuid4().hex, source_path=str(self.kv_path.resolve()), source_fingerprint=scan.fingerprint,
            source_kind="lmdb", kv_layout_version=store.layout_version, channeldb_version=channeldb_version(root),
            tool_version=__version__, target_dialect="sqlite" if self.url.is_sqlite else "postgres",
            target_server_version=server_version(db), next_ids=dict(start_ids),
            switch_seq_before=scan.switch_sequence or 0, created_schema=int(created_schema),
            started_at=now_text(wall), updated_at=now_text(wall),
            stats={"start_ids": start_ids, "switch_next": scan.switch_sequence or 0,
                   "switch_bucket_existed": scan.switch_sequence is not None,
                   "created_file": not bool(self._sqlite_existed) if self.url.is_sqlite else False,
                   "tables_before": sorted(tables_before), "entries_done": 0, "seconds": 0.0},
        )
        with write_txn(db):
            run.insert(db)
        self._log("info", f"Started run {run.run_id[:8]} into {self.target} (chunks of {self.chunk_size} payments)")
        return run

    def _migrate_entry(self, key: bytes, value: bytes | None, rb, pending: _Pending, counter: NormalisationCounter,
                       ids: IdCounters, dialect, alloc, stats: MigrationStats) -> None:
        seq = int.from_bytes(key, "big")
        ikey = render_key(INDEX_BUCKET, key)
        if value is None:
            raise DecodeError("index entry is a bucket, not a value", key=ikey)
        try:
            phash = decode_index_entry(value)
        except DecodeError as e:
            raise e.with_context(key=ikey) from None
        pb = rb.bucket(phash) if rb is not None else None
        if pb is None:
            self._log("warning", f"Missing bucket for payment {phash.hex()} (index sequence {seq}): skipped")
            counter.hit("missing_payment_bucket_skipped")
            stats.skipped += 1
            pending.skipped.append((seq, phash, "missing_payment_bucket", "index entry without payment bucket"))
            return
        pkey = render_key(ROOT_BUCKET, phash, SEQ_KEY)
        raw_seq = pb.get(SEQ_KEY)
        if raw_seq is None:
            raise DecodeError("sequence number not found", payment=phash, key=pkey, code="no_sequence")
        try:
            own = decode_sequence(raw_seq)
        except DecodeError as e:
            raise e.with_context(payment=phash, key=pkey) from None
        if own != seq:
            counter.hit("duplicate_index_entry_skipped")
            return
        payment = fetch_payment(pb, payment_id=phash, key_prefix=render_key(ROOT_BUCKET))
        t = expected_sql_payment(payment, phash, allocate_zero_id=alloc, counter=counter, in_place=True)
        dups = expected_duplicates(payment, counter)
        before = {tb: len(r) for tb, r in pending.rows.rows.items()}
        pid = add_payment_rows(pending.rows, t.payment, phash, dups, ids, dialect.ts)
        pending.per_payment.append((phash, {tb: r[before[tb]:] for tb, r in pending.rows.rows.items()
                                            if len(r) > before[tb]}))
        if pending.first_pid is None:
            pending.first_pid = pid
        pending.last_pid = pid
        pending.payments += 1
        _count_payment(stats, t.payment, len(dups))

    def _flush(self, db, run: Run, pending: _Pending, counter: NormalisationCounter, ids: IdCounters,
               stats: MigrationStats, done: int, switch_next: int) -> None:
        writer = BulkWriter(db, self._dialect())
        chunk_no = run.chunks_done + 1
        wall = now_text(self.wall())
        prev = (run.checkpoint_seq, dict(run.next_ids), dict(run.normalisations), dict(run.stats),
                run.chunks_done, run.first_payment_id, run.payments_done, run.attempts_done, run.hops_done,
                run.duplicates_done, run.skipped_done)
        run.checkpoint_seq = pending.last_seq
        run.next_ids = ids.to_json()
        run.normalisations = dict(counter)
        run.chunks_done = chunk_no
        if run.first_payment_id is None:
            run.first_payment_id = pending.first_pid
        _stats_to(run, stats)
        run.stats["switch_next"] = switch_next
        run.stats["entries_done"] = done
        try:
            with write_txn(db):
                for table in PAYMENT_TABLES:
                    rows = pending.rows.rows[table]
                    if rows:
                        ts = self.clock()
                        writer.insert(table, TABLE_COLUMNS[table], rows)
                        stats.table_seconds[table] = stats.table_seconds.get(table, 0.0) + self.clock() - ts
                        stats.rows[table] = stats.rows.get(table, 0) + len(rows)
                for seq, ident, reason, detail in pending.skipped:
                    record_skipped(db, run, _i64(seq), ident, reason, detail, wall)
                now = self.clock()
                run.stats["seconds"] = float(run.stats.get("seconds", 0.0)) + (now - self._since_flush)
                _stats_to(run, stats)
                run.updated_at = wall
                run.save(db)
                record_chunk(db, run, chunk_no, _i64(pending.first_seq or 0), _i64(pending.last_seq),
                             {"payments": pending.payments, "attempts": pending.rows.attempts,
                              "hops": pending.rows.hops, "duplicates": len(pending.rows.rows["payment_duplicates"]),
                              "skipped": len(pending.skipped)}, pending.first_pid, pending.last_pid, wall)
        except Exception as e:  # noqa: BLE001 - find which payment the database refused
            (run.checkpoint_seq, run.next_ids, run.normalisations, run.stats, run.chunks_done,
             run.first_payment_id, run.payments_done, run.attempts_done, run.hops_done,
             run.duplicates_done, run.skipped_done) = prev
            culprit, cause = self._find_culprit(db, writer, pending)
            msg = self.url.scrub(str(cause if cause is not None else e)).strip().splitlines()[0]
            raise _ChunkFailed(
                f"the SQL target refused chunk {chunk_no} (KV sequences {pending.first_seq}..{pending.last_seq}): "
                f"{msg}" + (f"; first failing payment {culprit.hex()}" if culprit else ""), culprit) from None
        stats.chunks = chunk_no
        self._since_flush = now
        self._emit(ChunkCommitted(chunk_no, run.checkpoint_seq, run.payments_done))
        if THROTTLE_S:
            time.sleep(THROTTLE_S)

    def _find_culprit(self, db, writer: BulkWriter, pending: _Pending) -> tuple[bytes | None, Exception | None]:
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

    def _finish_migrated(self, db, run: Run, stats: MigrationStats, switch_next: int) -> None:
        run.stats["migrated"] = True
        run.switch_seq_after = switch_next
        run.stats["switch_next"] = switch_next
        run.updated_at = now_text(self.wall())
        _stats_to(run, stats)
        with write_txn(db):
            run.save(db)
        self._log("info", f"All chunks committed: {stats.payments} payments, {stats.attempts} attempts, "
                          f"{stats.hops} hops, {stats.duplicate_entries} duplicates, {stats.skipped} skipped.")

    def _mark_failed(self, db, run: Run, error: str) -> None:
        run.state = "failed"
        run.error = self.url.scrub(error)
        run.updated_at = now_text(self.wall())
        try:
            with write_txn(db):
                run.save(db)
        except Exception:  # noqa: BLE001
            log.exception("could not record the failed state")

    # --------------------------------------------------------------- validate
    @_one_session_at_a_time
    def validate(self, *, cancel: threading.Event | None, verify_only: bool = False) -> ValidationReport:
        db = self.db()
        run = self._run()
        if run is None:
            raise EngineError("nothing to validate: the target holds no migwizard run",
                              exit_code=ExitCode.USAGE, hint="run the migration first")
        if verify_only and run.state != "committed":
            raise EngineError("verify re-checks a committed migration; this run is not committed",
                              exit_code=ExitCode.USAGE, hint="use `migwizard migrate` / `--yes` to finish it")
        if not verify_only and not run.stats.get("migrated") and run.state != "validated":
            raise EngineError("the migration has not finished all chunks yet", exit_code=ExitCode.USAGE,
                              hint="resume the migration first")
        dialect = self._dialect()
        from_ts = dialect.ts_to_ns
        pg = not self.url.is_sqlite
        phase = Phase.VERIFY if verify_only else Phase.VALIDATE
        t0 = self.clock()
        diffs: list[FieldDiff] = []
        rows: list[PaymentRow] = []
        checked = 0
        dup_checked = 0
        diff_total = 0
        error = None
        with self._open_kv() as store, store.read() as root:
            scan = self._scan(root)
            total = scan.counts.payments
            self._emit(PhaseStarted(phase, total))
            rate = RollingRate()
            rb = root.bucket(ROOT_BUCKET)
            ib = root.bucket(INDEX_BUCKET)
            if scan.fingerprint != run.source_fingerprint:
                error = "the KV store's payment index changed since the migration (fingerprint mismatch)"
            batch: list[tuple[int, bytes]] = []

            def run_batch() -> None:
                nonlocal checked, dup_checked, diff_total
                idmap = sql_ids_by_identifier(db, [h for _, h in batch])
                loaded = read_payments(db, list(idmap.values()), from_ts)
                for seq, phash in batch:
                    kvp = fetch_payment(rb.bucket(phash), payment_id=phash,
                                        key_prefix=render_key(ROOT_BUCKET))
                    sid = idmap.get(phash)
                    sp = loaded.get(sid) if sid is not None else None
                    try:
                        # The same allocator as the migration, in the same order: a remapped legacy
                        # attempt must carry exactly the ID the switch sequencer handed out.
                        t = expected_sql_payment(kvp, phash, allocate_zero_id=alloc, truncate_us=pg,
                                                 in_place=True, sort_remapped=True)
                    except MigrationReject as e:
                        diffs.append(FieldDiff(phash.hex(), "payment", str(e), None))
                        diff_total += 1
                        continue
                    edups = expected_duplicates(kvp)
                    if pg:
                        for d in edups:
                            d.created_ns = truncate_ns_to_us(d.created_ns)
                            d.settle_time = truncate_ns_to_us(d.settle_time)
                    kv_tree = payment_tree(t.payment, edups)
                    pdiffs: list[FieldDiff] = []
                    expected_id = (run.first_payment_id + checked) if run.first_payment_id is not None else None
                    if sp is None:
                        pdiffs.append(FieldDiff(phash.hex(), "payment", "present", "missing in SQL"))
                    else:
                        if expected_id is not None and sid != expected_id:
                            # payments.id is LND's sequence number: it must follow KV index order.
                            pdiffs.append(FieldDiff(phash.hex(), "sql_id", expected_id, sid))
                        pdiffs.extend(diff_trees(kv_tree, payment_tree(sp.payment, sp.duplicates), phash.hex()))
                        pdiffs.extend(FieldDiff(phash.hex(), p, "", prob) for p, prob in sp.problems)
                    diff_total += len(pdiffs)
                    diffs.extend(pdiffs[: max(0, MAX_REPORTED_DIFFS - len(diffs))])
                    checked += 1
                    dup_checked += len(edups)
                    names = sorted(set(t.names) - {"timestamps_truncated_to_microseconds"})
                    # Bounded either way (memory stays flat on a million payments): rows with a
                    # difference first, then any others up to the listing limit.
                    if (pdiffs and len(rows) < REPORT_ROW_LIMIT + MAX_REPORTED_DIFFS) or len(rows) < REPORT_ROW_LIMIT:
                        rows.append(PaymentRow(phash.hex(), seq, sid, decide_status(t.payment).label,
                                               t.payment.info.value, len(t.payment.htlcs),
                                               t.payment.info.creation_time, names, len(pdiffs)))
                batch.clear()

            switch_next = run.switch_seq_before or 0

            def alloc() -> int:
                nonlocal switch_next
                if switch_next == 0:
                    switch_next = 1
                v = switch_next
                switch_next += 1
                return v

            last = -1e9
            try:
                for key, value in (ib.items() if ib is not None else ()):
                    if value is None:
                        continue
                    phash = decode_index_entry(value)
                    pb = rb.bucket(phash) if rb is not None else None
                    if pb is None:
                        continue
                    raw = pb.get(SEQ_KEY)
                    if raw is None or decode_sequence(raw) != int.from_bytes(key, "big"):
                        continue
                    batch.append((int.from_bytes(key, "big"), phash))
                    if len(batch) >= VALIDATION_BATCH:
                        run_batch()
                        now = self.clock()
                        if now - last >= PROGRESS_INTERVAL_S:
                            last = now
                            rate.add(now, checked, 0)
                            pps, _ = rate.rates()
                            self._emit(Progress(phase, checked, total, 0, 0, 0, now - t0, pps, 0.0,
                                                rate.eta(total - checked)))
                        if cancel is not None and cancel.is_set():
                            error = "validation cancelled"
                            break
                if batch and error != "validation cancelled":
                    run_batch()
            except (DecodeError, MigrationReject) as e:
                error = f"KV payment unreadable during validation: {e}"
        if error is None and switch_next != int(run.stats.get("switch_next", switch_next)):
            error = (f"switch sequencer horizon mismatch: KV replay gives {switch_next}, "
                     f"the run recorded {run.stats.get('switch_next')}")
        count_sql = db.execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0]
        if error is None and count_sql != checked:
            error = f"payment count mismatch: kv={checked} sql={count_sql}"
        dup_sql = db.execute_sql("SELECT COUNT(*) FROM payment_duplicates").fetchone()[0]
        if error is None and dup_sql != dup_checked:
            error = f"duplicate count mismatch: kv={dup_checked} sql={dup_sql}"
        ok = error is None and not diffs
        seconds = self.clock() - t0
        stats = _stats_from(run)
        tables = [TableSummary(t, db.execute_sql(f"SELECT COUNT(*) FROM {t}").fetchone()[0],
                               sum(1 for d in diffs if _table_of(d.path) == t), stats.table_seconds.get(t, 0.0))
                  for t in PAYMENT_TABLES]
        report = ValidationReport(run.run_id, ok, checked, dup_checked, checked, count_sql, diffs, rows, tables,
                                  stats, seconds, error, diff_total)
        self._emit(Progress(phase, checked, total, 0, 0, 0, seconds, checked / seconds if seconds else 0.0, 0.0, 0.0))
        if not verify_only:
            run.state = "validated" if ok else "running"
            run.validated_at = now_text(self.wall()) if ok else None
            run.stats["validation"] = {"ok": ok, "differences": len(diffs), "checked": checked, "error": error}
            with write_txn(db):
                run.save(db)
        msg = (f"{checked} payments and {dup_checked} duplicates match field by field" if ok else
               f"{diff_total} differences" + (f"; {error}" if error else ""))
        self._log("info" if ok else "error", f"Validation: {msg}")
        self._emit(PhaseFinished(phase, ok, msg))
        return report

    # ----------------------------------------------------------------- commit
    @_one_session_at_a_time
    def commit(self) -> CommitResult:
        db = self.db()
        run = self._run()
        if run is None:
            raise EngineError("nothing to commit: the target holds no migwizard run", exit_code=ExitCode.USAGE)
        if run.state == "committed":
            st = self.reconcile()
            return CommitResult(run.run_id, True, st is RunState.COMPLETE, bool(run.stats.get("lnd_tracker")),
                                "already committed")
        if run.state != "validated":
            raise EngineError("the run has not passed validation; refusing to commit",
                              exit_code=ExitCode.VALIDATION_MISMATCH, hint="validate it first and fix differences")
        self._emit(PhaseStarted(Phase.COMMIT))
        with self._open_kv() as store, store.read() as root:
            scan = self._scan(root)
        if scan.fingerprint != run.source_fingerprint:
            raise EngineError("the KV store changed since validation (fingerprint mismatch); refusing to commit",
                              exit_code=ExitCode.PREFLIGHT_REFUSED, hint="roll back and migrate again")
        cur_switch = scan.switch_sequence or 0
        if cur_switch != (run.switch_seq_before or 0):
            raise EngineError(
                f"switch payment ID sequence moved since the run started ({run.switch_seq_before} -> {cur_switch}): "
                "lnd ran in between", exit_code=ExitCode.PREFLIGHT_REFUSED, hint="roll back and migrate again")
        lnd = detect_lnd_schema(db)
        # LND skips every global version <= max(migration_tracker.version); record 14 only
        # when LND stands exactly before its own payments migration (13 = 000011 applied).
        record_tracker = lnd.tracker_version == LND_PAYMENTS_MIGRATION_VERSION - 1
        with write_txn(db):
            fix_sequences(db)
            if record_tracker:
                db.execute_sql(q(db, "INSERT INTO migration_tracker (version, migration_time) VALUES (?, ?)"),
                               (LND_PAYMENTS_MIGRATION_VERSION, self._dialect().ts(int(self.wall() * 1e9))))
            run.state = "committed"
            run.committed_at = now_text(self.wall())
            run.updated_at = run.committed_at
            run.stats["lnd_tracker"] = record_tracker
            run.save(db)
        self._log("info", f"Run {run.run_id[:8]} committed in {self.target}.")
        self._emit(PhaseFinished(Phase.COMMIT, True, "committed"))
        self._write_tombstone(run)
        imported = self._imported_from()
        msg = ("committed; KV store tombstoned" + (f" (the LMDB copy; {imported} is unchanged)" if imported else "") +
               ("; LND migration_tracker version 14 recorded" if record_tracker else
                "; LND's migration_tracker was not touched (the target is not an LND database at schema 13)"))
        return CommitResult(run.run_id, True, True, record_tracker, msg, str(self.kv_path), imported)

    def _imported_from(self) -> str | None:
        """The channel.db this LMDB store was imported from, if it was (import-bbolt records it)."""
        try:
            with self._open_kv() as store:
                raw = store.meta_get(b"import-source")
            return json.loads(raw)["path"] if raw else None
        except Exception:  # noqa: BLE001 - informational only
            return None

    def _write_tombstone(self, run: Run) -> None:
        self._emit(PhaseStarted(Phase.TOMBSTONE))
        target_switch = int(run.stats.get("switch_next", 0))
        details = json.dumps({"run_id": run.run_id, "target": self.target, "fingerprint": run.source_fingerprint,
                              "committed_at": run.committed_at, "tool_version": __version__}, sort_keys=True).encode()

        def write(root) -> None:
            # advanceSwitchPaymentIDSequence (LND §4.6)
            sb = root.bucket(SWITCH_BUCKET)
            if sb is None:
                if target_switch > 1:
                    root.create_bucket(SWITCH_BUCKET).set_sequence(target_switch)
            else:
                cur = sb.sequence()
                if cur > target_switch:
                    raise EngineError(f"switch payment ID sequence {cur} above migration horizon {target_switch}",
                                      exit_code=ExitCode.PREFLIGHT_REFUSED)
                if cur < target_switch:
                    sb.set_sequence(target_switch)
            rb = root.create_bucket_if_not_exists(ROOT_BUCKET)
            rb.put(TOMBSTONE_KEY, b"1")
            store.meta_put(TOMBSTONE_META, details, within=root)

        with self._open_kv(readonly=False) as store:
            store.update(write)
        self._log("info", "KV store tombstoned (payments-root-bucket/payments-tombstone = 1); "
                          f"switch sequencer at {target_switch}.")
        self._emit(PhaseFinished(Phase.TOMBSTONE, True, "tombstoned"))

    # --------------------------------------------------------------- rollback
    @_one_session_at_a_time
    def rollback(self) -> RollbackResult:
        db = self.db()
        run = self._run()
        if run is None:
            return RollbackResult(None, {}, [], True, "nothing to roll back: no migwizard run in this target")
        if run.state == "committed":
            raise EngineError(
                "refusing to roll back: the migration is committed and the KV store tombstoned",
                exit_code=ExitCode.PREFLIGHT_REFUSED,
                hint=("the SQL tables are now the payment history. To go back, restore both the KV store and the "
                      "target from the backups taken before the migration"))
        self._emit(PhaseStarted(Phase.ROLLBACK))
        start = {k: int(v) for k, v in run.stats.get("start_ids", {}).items()}
        deleted: dict[str, int] = {}

        def dele(table: str, where: str, params: tuple) -> None:
            cur = db.execute_sql(q(db, f"DELETE FROM {table} WHERE {where}"), params)
            deleted[table] = deleted.get(table, 0) + (cur.rowcount if cur.rowcount and cur.rowcount > 0 else 0)

        tables = self._tables()
        with write_txn(db):
            if "payments" in tables:
                a0 = start.get("payment_htlc_attempts", 1)
                h0 = start.get("payment_route_hops", 1)
                dele("payment_htlc_attempt_resolutions",
                     "attempt_index IN (SELECT attempt_index FROM payment_htlc_attempts WHERE id >= ?)", (a0,))
                for t in ("payment_route_hop_mpp", "payment_route_hop_amp", "payment_route_hop_blinded"):
                    dele(t, "hop_id >= ?", (h0,))
                for t in ("payment_hop_custom_records", "payment_route_hops",
                          "payment_attempt_first_hop_custom_records", "payment_htlc_attempts", "payment_duplicates",
                          "payment_first_hop_custom_records", "payment_intents", "payments"):
                    dele(t, "id >= ?", (start.get(t, 1),))
            db.execute_sql(q(db, "DELETE FROM migwizard_skipped WHERE run_id = ?"), (run.run_id,))
            db.execute_sql(q(db, "DELETE FROM migwizard_run_chunks WHERE run_id = ?"), (run.run_id,))
            db.execute_sql(q(db, "DELETE FROM migwizard_runs WHERE run_id = ?"), (run.run_id,))
        dropped: list[str] = []
        others = db.execute_sql("SELECT COUNT(*) FROM migwizard_runs").fetchone()[0]
        before = set(run.stats.get("tables_before", []))
        if others == 0:
            now = self._tables()
            # Our own migrations down to what the run found: everything when it created the
            # payment tables, only the bookkeeping when LND owns them (adopted, never dropped).
            rollback_migrations(db, 0 if run.created_schema else LND_MIRROR_LAST)
            if TRACKING_TABLE in self._tables() and TRACKING_TABLE not in before:
                db.execute_sql(f"DROP TABLE {TRACKING_TABLE}")
            dropped = sorted(now - self._tables())
        removed_file = False
        if self.url.is_sqlite and run.stats.get("created_file") and run.created_schema and others == 0:
            leftover = self._tables()
            if not leftover:
                path = self.url.sqlite_path
                self.close()
                for suffix in ("", "-wal", "-shm", "-journal"):
                    p = Path(str(path) + suffix)
                    if p.exists():
                        p.unlink()
                removed_file = True
        total = sum(deleted.values())
        msg = (f"rolled back run {run.run_id[:8]}: {total} rows deleted"
               + (f", {len(dropped)} tables dropped" if dropped else "")
               + (", the SQLite file it created removed" if removed_file else "")
               + "; the KV store was not modified")
        self._log("info", msg)
        self._emit(PhaseFinished(Phase.ROLLBACK, True, msg))
        return RollbackResult(run.run_id, deleted, dropped, True, msg)

    # ------------------------------------------------------------ drill-down
    def payment_detail(self, identifier_hex: str, *, show_secrets: bool) -> PaymentDetail:
        prefix = identifier_hex.lower().strip()
        try:
            pbytes = bytes.fromhex(prefix if len(prefix) % 2 == 0 else prefix[:-1])
        except ValueError:
            raise EngineError(f"not a hex payment hash: {identifier_hex!r}", exit_code=ExitCode.USAGE) from None
        with self._open_kv() as store, store.read() as root:
            rb = root.bucket(ROOT_BUCKET)
            matches = [k for k, v in (rb.items() if rb else ()) if v is None and k.hex().startswith(prefix)]
            if not matches:
                raise EngineError(f"no payment with hash prefix {prefix}", exit_code=ExitCode.USAGE)
            if len(matches) > 1:
                raise EngineError(f"hash prefix {prefix} is ambiguous ({len(matches)} payments)",
                                  exit_code=ExitCode.USAGE)
            phash = matches[0]
            del pbytes
            kv_tree = None
            names: list[str] = []
            sql_tree = None
            kvp = None
            kv_error = None
            try:
                kvp = fetch_payment(rb.bucket(phash), payment_id=phash, key_prefix=render_key(ROOT_BUCKET))
            except DecodeError as e:
                kv_error = str(e)
        diffs: list[FieldDiff] = []
        sp = None
        if "payments" in self._tables():
            db = self.db()
            idmap = sql_ids_by_identifier(db, [phash])
            if phash in idmap:
                sp = read_payments(db, [idmap[phash]], self._dialect().ts_to_ns)[idmap[phash]]
                sql_tree = payment_tree(sp.payment, sp.duplicates)
        if kvp is not None:
            zero_map = ({normalize_session_key(h.session_key): h.attempt_id for h in sp.payment.htlcs}
                        if sp is not None else {})
            try:
                t = expected_sql_payment(kvp, phash, allocate_zero_id=None, zero_id_by_session_key=zero_map,
                                         truncate_us=not self.url.is_sqlite, sort_remapped=True)
                names = sorted(set(t.names) - {"timestamps_truncated_to_microseconds"})
                kv_tree = payment_tree(t.payment, expected_duplicates(kvp))
            except MigrationReject as e:
                kv_tree = payment_tree(kvp, expected_duplicates(kvp))
                diffs.append(FieldDiff(phash.hex(), "payment", str(e), None))
            if sql_tree is not None:
                diffs.extend(diff_trees(kv_tree, sql_tree, phash.hex(), mask_secrets=not show_secrets))
        else:
            kv_tree = {"error": kv_error}
        if not show_secrets:
            kv_tree = mask(kv_tree) if kv_tree else kv_tree
            sql_tree = mask(sql_tree) if sql_tree else sql_tree
        return PaymentDetail(phash.hex(), kv_tree, sql_tree, diffs, names, kv_error)


class _NoTarget(Exception):
    """Preflight of a SQLite file that does not exist yet (nothing more to inspect)."""


class _ChunkFailed(Exception):
    def __init__(self, message: str, payment: bytes | None) -> None:
        super().__init__(message)
        self.payment = payment


def _i64(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u


def _index_after(ib, checkpoint: int | None) -> Iterator[tuple[bytes, bytes | None]]:
    """Index entries after the checkpoint (None: from the start; LND's own tests use sequence 0)."""
    for key, value in ib.items():
        if checkpoint is not None and int.from_bytes(key, "big") <= checkpoint:
            continue
        yield key, value


def _quick_status(pb) -> tuple[PaymentStatus, int, int]:
    """decidePaymentStatus from key presence only (no value decoding): cheap for preflight."""
    size = 0
    hb = pb.bucket(HTLCS_BUCKET)
    attempts: dict[bytes, set[bytes]] = {}
    hops = 0
    if hb is not None:
        for k, v in hb.items():
            size += len(k) + (len(v) if v else 0)
            attempts.setdefault(k[-8:], set()).add(k[:2])
            if v and k[:2] == b"ai":
                hops += _num_hops(v)
    in_flight = any(b"si" not in s and b"fi" not in s for s in attempts.values())
    settled = any(b"si" in s and b"fi" not in s for s in attempts.values())
    failed_htlc = any(b"fi" in s for s in attempts.values())
    if in_flight:
        st = PaymentStatus.IN_FLIGHT
    elif settled:
        st = PaymentStatus.SUCCEEDED
    elif pb.get(FAIL_INFO) is not None:
        st = PaymentStatus.FAILED
    elif failed_htlc:
        st = PaymentStatus.IN_FLIGHT
    else:
        st = PaymentStatus.INITIATED
    for k in (b"payment-creation-info",):
        v = pb.get(k)
        size += len(v) if v else 0
    return st, len(attempts), hops, size


def _num_hops(ai: bytes) -> int:
    """numHops of an attempt info without decoding it: session key (32), total time lock (4),
    total amount (8), source key as CompactSize-prefixed bytes, then u32 numHops. 0 if malformed
    (the migration reports malformed values precisely)."""
    off = 44
    if len(ai) <= off:
        return 0
    n = ai[off]
    if n < 0xFD:
        off += 1
    elif n == 0xFD:
        n, off = int.from_bytes(ai[off + 1:off + 3], "little"), off + 3
    else:
        return 0
    off += n
    return int.from_bytes(ai[off:off + 4], "big") if len(ai) >= off + 4 else 0


_STATUS_FIELD = {PaymentStatus.SUCCEEDED: "succeeded", PaymentStatus.FAILED: "failed",
                 PaymentStatus.IN_FLIGHT: "in_flight", PaymentStatus.INITIATED: "initiated"}


def _tally(counts: StatusCounts | MigrationStats, status: PaymentStatus) -> None:
    field_name = _STATUS_FIELD[status]
    setattr(counts, field_name, getattr(counts, field_name) + 1)


def _count_payment(stats: MigrationStats, p, dups: int) -> None:
    stats.payments += 1
    _tally(stats, decide_status(p))
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


_STAT_FIELDS = ("payments", "succeeded", "failed", "in_flight", "initiated", "attempts", "attempts_settled",
                "attempts_failed", "attempts_in_flight", "hops", "skipped", "duplicate_payments", "duplicate_entries",
                "chunks")


def _stats_to(run: Run, stats: MigrationStats) -> None:
    run.payments_done = stats.payments
    run.attempts_done = stats.attempts
    run.hops_done = stats.hops
    run.duplicates_done = stats.duplicate_entries
    run.skipped_done = stats.skipped
    run.stats["counts"] = {k: getattr(stats, k) for k in _STAT_FIELDS}
    run.stats["rows"] = dict(stats.rows)
    run.stats["table_seconds"] = dict(stats.table_seconds)


def _stats_from(run: Run) -> MigrationStats:
    s = MigrationStats()
    for k, v in run.stats.get("counts", {}).items():
        setattr(s, k, v)
    s.rows = dict(run.stats.get("rows", {}))
    s.table_seconds = dict(run.stats.get("table_seconds", {}))
    s.normalisations = dict(run.normalisations)
    s.chunks = run.chunks_done
    s.seconds = float(run.stats.get("seconds", 0.0))
    return s


def _table_of(path: str) -> str:
    if path.startswith("duplicates"):
        return "payment_duplicates"
    if ".hops" in path:
        return "payment_route_hops"
    if path.startswith("htlcs"):
        return "payment_htlc_attempts"
    return "payments"


def _lnd_details(lnd) -> dict[str, Any]:
    try:
        return {k: v for k, v in vars(lnd).items() if not k.startswith("_")}
    except TypeError:
        return {"lnd_schema": str(lnd)}


def _mb(n: float) -> str:
    import humanize

    return humanize.naturalsize(n, binary=True)


def _lmdb_version() -> tuple[int, ...]:
    import lmdb

    return lmdb.version()

