"""The target-level lock: one migwizard step at a time per SQL target.

The KV session lock (:func:`.context.one_session_at_a_time`) keeps two sessions
off one *store*; two stores migrated into one *target* at once need a lock on
the target itself, taken before the run row is read or created, or the loser's
automatic rollback deletes the winner's chunks (issue 9, item 3).

- PostgreSQL: a session-level ``pg_try_advisory_lock`` on the run's own
  connection. The key is derived from a constant and the database name, so it
  is the same for every migwizard on that database; the server releases it when
  the connection closes or the process dies, so a crash never leaves it behind.
- SQLite: an ``flock`` on a private ``<target>.migwizard-lock`` file beside the
  database (created ``O_NOFOLLOW``, 0600). Not ``BEGIN IMMEDIATE``: the lock
  must span many transactions (every chunk, validation's reads, the commit),
  and SQLite's own locks end with each transaction. The kernel drops an flock
  with the process, so a SIGKILL never leaves a stale lock (only an empty file,
  which the next session takes and removes). The holder writes its pid and
  store into the file so the loser can name it, and removes it on release.

Both wait at most ``WAIT_S`` (a refused session's brief hold), then the loser gets a
typed refusal naming the holder.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import stat
import time
from pathlib import Path

from .results import EngineError, ExitCode

LOCK_SUFFIX = ".migwizard-lock"
# A refused session holds the lock for milliseconds (it reads the run row and
# refuses); waiting this long lets the session that owns the run continue past it.
WAIT_S = 1.0
_POLL_S = 0.05
_PG_NAMESPACE = b"migwizard-target-lock:v1:"


def sqlite_lock_path(db_path: Path) -> Path:
    return Path(str(db_path) + LOCK_SUFFIX)


def pg_lock_key(database: str) -> int:
    """A signed 64-bit advisory-lock key for this database (stable across versions)."""
    return int.from_bytes(hashlib.sha256(_PG_NAMESPACE + database.encode()).digest()[:8], "big", signed=True)


def _refuse(target: str, holder: str) -> EngineError:
    return EngineError(
        f"another migwizard session is working on the target {target} right now ({holder})",
        exit_code=ExitCode.PREFLIGHT_REFUSED,
        hint="wait for it to finish, or stop it first; two stores cannot be migrated into one target at once")


class SqliteTargetLock:
    def __init__(self, db_path: Path, target: str, kv_path: Path) -> None:
        self.db_path = db_path
        self.path = sqlite_lock_path(db_path)
        self.target = target
        self.kv_path = kv_path
        self.fd: int | None = None

    def acquire(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        for _ in range(5):
            try:
                fd = os.open(self.path, flags, 0o600)
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise EngineError(f"{self.path} is a symlink; refusing to use it as the target lock",
                                      exit_code=ExitCode.PREFLIGHT_REFUSED, hint="remove the symlink") from None
                raise EngineError(f"cannot create the target lock {self.path}: {e.strerror or e}",
                                  exit_code=ExitCode.PREFLIGHT_REFUSED,
                                  hint="the directory of the SQLite target must be writable") from None
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise EngineError(f"{self.path} is not a regular file", exit_code=ExitCode.PREFLIGHT_REFUSED)
                if st.st_mode & 0o077:
                    os.fchmod(fd, 0o600)
                if not _poll(lambda: _try_flock(fd)):
                    raise _refuse(self.target, _read_holder(fd))
                # The file we locked must still be the one at the path (a rollback that
                # removed the target removes its lock file too).
                try:
                    same = os.stat(self.path, follow_symlinks=False).st_ino == st.st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps({"pid": os.getpid(), "kv": str(self.kv_path)}).encode(), 0)
                self.fd = fd
                return
            except BaseException:
                if self.fd != fd:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                raise
        raise _refuse(self.target, "its lock file keeps being replaced")

    def release(self, *, remove: bool = False) -> None:
        """Unlink the lock file while still holding it, then drop the flock: nothing is
        left beside the target (lnd's own database directory included). A waiter that
        opened the old file finds, once it gets the flock, that the path no longer names
        it, and starts over (``acquire``'s inode check)."""
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)  # drops the flock
        self.fd = None


def _poll(attempt) -> bool:
    deadline = time.monotonic() + WAIT_S
    while True:
        if attempt():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"process {int(info['pid'])} migrating {info.get('kv', '?')}"
    except Exception:  # noqa: BLE001 - the holder may be mid-write
        return "another process holds its lock file"


class PgTargetLock:
    def __init__(self, db, database: str, target: str) -> None:
        self.db = db
        self.key = pg_lock_key(database)
        self.target = target
        self.held = False

    def acquire(self) -> None:
        if not _poll(lambda: bool(self.db.execute_sql("SELECT pg_try_advisory_lock(%s)",
                                                       (self.key,)).fetchone()[0])):
            raise _refuse(self.target, self._holder())
        self.held = True
        try:
            self.db.execute_sql("SELECT set_config('application_name', %s, false)",
                                (f"migwizard pid {os.getpid()}",))
        except Exception:  # noqa: BLE001 - naming ourselves is a courtesy
            pass

    def _holder(self) -> str:
        hi, lo = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        try:
            row = self.db.execute_sql(
                "SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = CAST(%s AS oid) "
                "AND l.objid = CAST(%s AS oid) AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1", (hi, lo)).fetchone()
        except Exception:  # noqa: BLE001
            row = None
        if not row:
            return "a PostgreSQL session holds migwizard's advisory lock on this database"
        return f"{row[1] or 'a session'}, PostgreSQL backend {row[0]}"

    def release(self, *, remove: bool = False) -> None:
        if not self.held:
            return
        self.held = False
        try:
            self.db.execute_sql("SELECT pg_advisory_unlock(%s)", (self.key,))
        except Exception:  # noqa: BLE001 - a lost connection released it already
            pass
