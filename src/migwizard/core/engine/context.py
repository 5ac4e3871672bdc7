"""What every protocol step shares: the two stores, the clocks, the event sink.

The steps (:mod:`.preflight`, :mod:`.migrate`, :mod:`.validate`, :mod:`.finish`,
:mod:`.markers`, :mod:`.detail`) are plain functions over one :class:`Context`,
so each module holds one step of the protocol and nothing else; the public
facade is :class:`~.api.Engine`.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..kv.errors import KVError, LockedError
from ..kv.lmdb_store import LmdbStore
from ..kv.open import detect_kind
from ..sql.sqlitefile import TargetSymlinkError
from ..sql.values import dialect_for
from .events import EventSink, LogRecord
from .results import EngineError, ExitCode
from .runs import Run, latest_run

log = logging.getLogger("migwizard")

# lnd's global migration version of its payments migration; lnd skips every
# version <= max(migration_tracker.version).
LND_PAYMENTS_MIGRATION_VERSION = 14
PROGRESS_INTERVAL_S = 0.25
SESSION_LOCK = "migwizard-session.lock"


def is_lnd_target(target) -> bool:
    """Whether the target is lnd's own database standing right before its payments
    migration (migration_tracker at 13 = 000011 applied). Only then does the commit
    record version 14 and lnd start on the migrated rows; anything else receives a
    standalone copy. ``target`` is the :class:`~migwizard.core.lnd.target.LndTarget`
    that preflight, commit and :meth:`Engine.status` all get from
    :func:`.lndside.target_case` (``classify_target``); a bare tracker version
    answers the tracker half of the same rule."""
    if isinstance(target, int) or target is None:
        return target == LND_PAYMENTS_MIGRATION_VERSION - 1
    return bool(target.case.records_version_14)


class Context:
    """One KV store, one SQL target, and the session's clocks and event sink."""

    def __init__(self, kv_path: Path, sql_url: str, *, chunk_size: int, on_event: EventSink,
                 clock: Callable[[], float], wall_clock: Callable[[], float], kv_source: str | None = None,
                 allow_foreign_source: bool = False, backfill: bool = False, quarantine: bool = False) -> None:
        if chunk_size < 1:
            raise EngineError("chunk size must be at least 1", exit_code=ExitCode.USAGE)
        self.kv_path = kv_path
        # The SQL stack (peewee, psycopg) is imported where it is used, not with this module:
        # the KV-side second process (.workers) imports modules that import this one, and
        # needs none of it (a fixed cost of every two-process phase).
        from ..sql.connect import TargetURL

        try:
            self.url = TargetURL.parse(sql_url)
        except Exception as e:  # noqa: BLE001 - any parse problem is a usage error
            raise EngineError(f"invalid SQL URL: {e}", exit_code=ExitCode.USAGE,
                              hint="use sqlite:///path/to/lnd.sqlite or postgresql://user@host:5432/db") from None
        if self.url.is_sqlite and str(self.url.sqlite_path) != ":memory:":
            from ..sql.sqlitefile import refuse_symlinks

            try:
                refuse_symlinks(self.url.sqlite_path)
            except TargetSymlinkError as e:
                raise EngineError(str(e), exit_code=ExitCode.USAGE) from None
        self.chunk_size = chunk_size
        # The two consents a run may need (README "Backfill", "Quarantine"): never assumed.
        self.backfill = backfill
        self.quarantine = quarantine
        self.on_event = on_event
        self.clock = clock
        self.wall = wall_clock
        self._db = None
        self.sqlite_existed: bool | None = None  # remembered before the first open creates the file
        self.session_lock_depth = 0
        # The user's own --kv (may carry a PostgreSQL password: never shown); the LMDB
        # copy records only a masked form of it.
        self.kv_source = kv_source
        self.allow_foreign_source = allow_foreign_source
        self._origin = None  # lndside.SourceOrigin, read once from the copy's metadata
        self.target_removed = False  # a rollback deleted the SQLite file it created (and so its lock file)

    # -- events -----------------------------------------------------------
    def emit(self, ev) -> None:
        try:
            self.on_event(ev)
        except Exception:  # noqa: BLE001 - a broken consumer must not break a migration
            log.exception("event consumer failed")

    def log(self, level: str, msg: str) -> None:
        getattr(log, level)(msg)
        self.emit(LogRecord(level, msg))

    # -- the SQL target ---------------------------------------------------
    @property
    def target(self) -> str:
        return self.url.redacted()

    def db(self):
        if self._db is None:
            if self.url.is_sqlite:
                path = self.url.sqlite_path
                if self.sqlite_existed is None:
                    self.sqlite_existed = path.exists()
                if not path.parent.exists():
                    raise EngineError(f"the directory for the SQLite target does not exist: {path.parent}",
                                      exit_code=ExitCode.PREFLIGHT_REFUSED, hint="create it first")
            from ..sql.connect import open_database

            try:
                self._db = open_database(self.url)
                if self.url.is_sqlite and not self.sqlite_existed:
                    # It will hold session keys and preimages: owner-only, like the report and the log.
                    for suffix in ("", "-wal", "-shm"):
                        f = Path(str(self.url.sqlite_path) + suffix)
                        if f.exists():
                            os.chmod(f, 0o600)
            except TargetSymlinkError as e:
                raise EngineError(str(e), exit_code=ExitCode.USAGE) from None
            except Exception as e:  # noqa: BLE001
                from ..sql.explain import explain_connect_error

                reason, hint = explain_connect_error(self.url, self.url.scrub(str(e)))
                raise EngineError(reason, exit_code=ExitCode.PREFLIGHT_REFUSED, hint=hint) from None
        return self._db

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # noqa: BLE001
                pass
            self._db = None

    def target_lock(self):
        """The target-level lock for one step (:mod:`.targetlock`), not yet acquired."""
        from .targetlock import PgTargetLock, SqliteTargetLock

        if self.url.is_sqlite:
            path = self.url.sqlite_path
            if not path.parent.exists():
                raise EngineError(f"the directory for the SQLite target does not exist: {path.parent}",
                                  exit_code=ExitCode.PREFLIGHT_REFUSED, hint="create it first")
            return SqliteTargetLock(path, self.target, self.kv_path)
        return PgTargetLock(self.db(), self.url.database or "", self.target)

    def target_absent(self) -> bool:
        """A SQLite target file that does not exist yet: look, but do not create it."""
        return self._db is None and self.url.is_sqlite and not self.url.sqlite_path.exists()

    def tables(self) -> set[str]:
        if self.target_absent():
            return set()
        return set(self.db().get_tables())

    def run(self) -> Run | None:
        if "migwizard_runs" not in self.tables():
            return None
        return latest_run(self.db())

    def dialect(self):
        return dialect_for(self.db())

    def lnd_schema(self):
        from ..sql.schema import detect_lnd_schema

        return detect_lnd_schema(self.db())

    # -- the KV store -----------------------------------------------------
    def open_kv(self, *, readonly: bool = True) -> LmdbStore:
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


F = TypeVar("F", bound=Callable[..., Any])


def one_session_at_a_time(fn: F) -> F:
    """Two migwizard processes (two SSH windows) must not drive the same KV store at once:
    their chunks would collide. An exclusive flock next to the store, held per step
    (re-entrant within one context: commit may reconcile). Then the target-level lock
    (:mod:`.targetlock`): two stores must not drive one target at once either. Both are
    taken before the step reads or creates the run row."""

    @functools.wraps(fn)
    def wrapper(ctx: Context, *args, **kwargs):
        if ctx.session_lock_depth:
            ctx.session_lock_depth += 1
            try:
                return fn(ctx, *args, **kwargs)
            finally:
                ctx.session_lock_depth -= 1
        if not ctx.kv_path.is_dir():
            ctx.open_kv().close()  # raises the precise refusal (missing, bbolt file, not a store)
            raise EngineError(f"{ctx.kv_path}: not a migwizard KV store", exit_code=ExitCode.PREFLIGHT_REFUSED)
        try:
            fd = os.open(ctx.kv_path / SESSION_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise EngineError(f"cannot create the session lock in {ctx.kv_path}: {e.strerror or e}",
                              exit_code=ExitCode.PREFLIGHT_REFUSED,
                              hint="the KV store's directory must be writable (not a read-only filesystem) "
                                   "and the lock file not a symlink") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EngineError("another migwizard session is working on this KV store right now",
                              exit_code=ExitCode.PREFLIGHT_REFUSED,
                              hint="wait for it to finish, or stop it (Ctrl-C) first") from None
        ctx.session_lock_depth += 1
        lock = None
        try:
            lock = ctx.target_lock()
            lock.acquire()
            return fn(ctx, *args, **kwargs)
        finally:
            ctx.session_lock_depth -= 1
            if lock is not None:
                lock.release(remove=ctx.target_removed)
                ctx.target_removed = False
            os.close(fd)

    return wrapper  # type: ignore[return-value]


def session_lock_held(kv_path: Path) -> bool:
    """Whether another session holds the store's lock (preflight reports it, not refuses)."""
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
