"""A background WAL checkpointer for the SQLite load (issue 11: the parent at 1M payments).

Why: during the load the writer's COMMITs were followed by SQLite's automatic checkpoint
(copy the WAL's pages into the database file, sync the WAL and the file), on the writer's
thread, while the second core waited. At 1M payments every 250k-row transaction wrote more
WAL than the checkpoint interval (LND's random-keyed UNIQUE indexes dirty leaves all over
the file), so every COMMIT paid a checkpoint. Here the writer's connection gets
``wal_autocheckpoint=0`` and a daemon thread with its own connection to the same file runs
``PRAGMA wal_checkpoint(PASSIVE)`` after each COMMIT, while the writer builds the next
transaction (Python's sqlite3 releases the GIL inside SQLite). A PASSIVE checkpoint never
takes the write lock and never waits: it copies the committed frames that no reader still
needs (the writer's own snapshot starts after them), so it never blocks the writer.

Why the WAL stays bounded: SQLite writes a new transaction at the WAL's start again only if
every frame was checkpointed when that transaction began; otherwise it appends. So after
each COMMIT the writer reads the WAL's frame count (``mxFrame`` in the wal-index header, the
``-shm`` file: https://www.sqlite.org/walformat.html) and, past ``max_pages``, checkpoints
itself (after the background checkpoint in flight, if any: they share a lock) before it
begins the next transaction, which then restarts the WAL. The WAL file so holds at most
``max_pages`` plus one transaction's pages (:func:`.connect.load_wal_bytes`).

Failures: a BUSY checkpoint is normal (tried again after the next COMMIT). Any other error
in the thread (it cannot open the file, an I/O error) is logged with the error and ends the
thread; the writer sees it at its next COMMIT and gets SQLite's automatic checkpoint back
(the interval before this module), so the bound and durability do not depend on the thread.
Durability is unchanged: a checkpoint only moves committed pages into the file, and the
load's end still runs the writer's own checkpoint with ``synchronous=full`` restored.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import threading
import time
from pathlib import Path
from urllib.parse import quote

import peewee

from .sqlitefile import refuse_symlinks

log = logging.getLogger(__name__)

#: ``MIGWIZ_BG_CHECKPOINT=0`` keeps the writer's own automatic checkpoint (the A/B switch).
BG_CHECKPOINT_ENV = "MIGWIZ_BG_CHECKPOINT"

#: The wal-index header (walformat.html §2.2.1), native byte order: iVersion, unused, iChange,
#: isInit, bigEndCksum, szPage, mxFrame, nPage.
_WAL_INDEX_HDR = struct.Struct("=IIIBBHII")
_WAL_INDEX_VERSION = 3007000


def enabled() -> bool:
    """Whether the load checkpoints in the background (anything but ``MIGWIZ_BG_CHECKPOINT=0``)."""
    return os.environ.get(BG_CHECKPOINT_ENV, "").strip() != "0"


def wal_frames(db_path: Path) -> int | None:
    """Frames in the WAL now (committed ones), from the ``-shm`` wal-index header; None if it
    cannot be read as SQLite's format (the caller then checkpoints: the safe side)."""
    try:
        fd = os.open(str(db_path) + "-shm", os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        raw = os.pread(fd, _WAL_INDEX_HDR.size, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(raw) < _WAL_INDEX_HDR.size:
        return None
    version, _, _, is_init, _, _, mx_frame, _ = _WAL_INDEX_HDR.unpack(raw)
    return mx_frame if version == _WAL_INDEX_VERSION and is_init else None


class NoCheckpointer:
    """What the load calls when SQLite's own checkpoint runs (PostgreSQL, ``MIGWIZ_LOAD_SYNC=full``,
    ``MIGWIZ_BG_CHECKPOINT=0``): nothing to do after a COMMIT."""

    def committed(self) -> None:
        return None


class BackgroundCheckpointer:
    """The load's checkpoints on a thread of their own; see the module's docstring.

    The writer calls :meth:`committed` after each COMMIT of the load and :meth:`close` when the
    load ends (however it ends). ``fallback_pages`` is the writer's automatic checkpoint interval
    should the thread fail."""

    def __init__(self, db: peewee.SqliteDatabase, path: Path, *, max_pages: int, fallback_pages: int) -> None:
        self.db, self.path = db, Path(path)
        self.max_pages, self.fallback_pages = max_pages, fallback_pages
        self.stats = {"bg_runs": 0, "bg_busy": 0, "bg_wall_s": 0.0, "writer_runs": 0, "writer_wall_s": 0.0}
        self.error: BaseException | None = None
        self.fell_back = False
        self._lock = threading.Lock()  # one checkpoint at a time: the writer waits for the thread's
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="migwizard-wal-checkpoint", daemon=True)
        self._thread.start()

    # the thread
    def _connect(self) -> sqlite3.Connection:
        refuse_symlinks(self.path)  # as the writer's own connection: never through a link
        conn = sqlite3.connect(f"file:{quote(str(self.path))}?mode=rw", uri=True, timeout=10.0,
                               isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous = normal")  # a checkpoint syncs the WAL and the file either way
        return conn

    def _run(self) -> None:
        conn = None
        try:
            conn = self._connect()
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                with self._lock:
                    t = time.perf_counter()
                    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.stats["bg_wall_s"] += time.perf_counter() - t
                self.stats["bg_runs"] += 1
                self.stats["bg_busy"] += int(busy != 0)
        except BaseException as e:  # noqa: BLE001 - logged, and the writer checkpoints itself from now on
            self.error = e
            log.warning("background WAL checkpoint failed (%s: %s); the writer checkpoints again",
                        type(e).__name__, e)
        finally:
            if conn is not None:
                conn.close()

    # the writer's side
    def committed(self) -> None:
        """After a COMMIT: past the bound, checkpoint here so the next transaction restarts the
        WAL; otherwise wake the thread. If the thread failed: SQLite's automatic checkpoint again."""
        if self.fell_back or self._stop:  # closed: the load is over, the connection is SQLite's again
            return
        if self.error is not None or not self._thread.is_alive():
            self._fall_back()
            return
        frames = wal_frames(self.path)
        if frames is not None and frames <= self.max_pages:
            self._wake.set()
            return
        with self._lock:
            t = time.perf_counter()
            self.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
            self.stats["writer_wall_s"] += time.perf_counter() - t
        self.stats["writer_runs"] += 1

    def _fall_back(self) -> None:
        self.fell_back = True
        self.db.execute_sql(f"PRAGMA wal_autocheckpoint = {int(self.fallback_pages)}")
        if not self.db.in_transaction():
            self.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")  # what it may have left behind
        self.stats["writer_runs"] += 1

    def close(self) -> None:
        """Stop the thread and wait for it (a checkpoint in flight finishes first)."""
        self._stop = True
        self._wake.set()
        self._thread.join()
        log.info("load checkpoints: %s", {k: round(v, 3) if isinstance(v, float) else v for k, v in self.stats.items()})

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
