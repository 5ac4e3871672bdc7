"""Who holds the node's files or database (lnd must be stopped).

Files: like ``fuser``, walk ``/proc/<pid>/fd/*`` and compare each open file's
(device, inode) with the node's files -- ``channel.sqlite``, ``lnd.sqlite``,
``channel.db`` and their ``-wal``/``-shm``/``-journal`` companions. Matching by
inode, not by path, finds a holder that opened the file through a symlink or
a bind mount. Only what this user may read is seen: other users' processes
are counted as unreadable so the caller can say so instead of claiming "no
holder" (run as the node's user, or root, for a complete answer).

PostgreSQL: the other client sessions on the same database in
``pg_stat_activity``, our own backend excluded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from . import _sqlutil

#: The node's database files under ``<lnddir>/data/graph/<network>/``.
NODE_FILE_NAMES = ("channel.sqlite", "lnd.sqlite", "channel.db")
#: SQLite's companions (WAL mode, rollback journal).
COMPANION_SUFFIXES = ("", "-wal", "-shm", "-journal")
PROC = Path("/proc")


@dataclass(frozen=True)
class FileHolder:
    """A process with one of the files open."""

    pid: int
    command: str  # full command line, or [comm] when it has none
    path: str  # which of the files

    def describe(self) -> str:
        return f"process {self.pid} ({self.command}) has {self.path} open"


@dataclass(frozen=True)
class FileHolders:
    holders: tuple[FileHolder, ...] = ()
    #: processes whose fds we may not read (other users' without privileges)
    unreadable: int = 0
    checked: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.holders)

    def describe(self) -> str:
        if self.holders:
            return "; ".join(h.describe() for h in self.holders)
        text = "no process holds " + ", ".join(self.checked) if self.checked else "nothing to check"
        if self.unreadable:
            text += (f" (the open files of {self.unreadable} other processes are not readable "
                     "by this user; run as lnd's user or root to check those)")
        return text


def companion_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Each path plus its SQLite companions (only those that exist)."""
    out: list[Path] = []
    for p in paths:
        for suffix in COMPANION_SUFFIXES:
            q = Path(str(p) + suffix)
            if q.exists():
                out.append(q)
    return out


def node_files(graph_dir: str | os.PathLike[str]) -> list[Path]:
    """The node's database files that exist in ``graph_dir`` (with companions)."""
    return companion_paths(Path(graph_dir) / name for name in NODE_FILE_NAMES)


def _command(pid_dir: Path) -> str:
    try:
        raw = (pid_dir / "cmdline").read_bytes()
    except OSError:
        raw = b""
    parts = [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]
    if parts:
        return " ".join(parts)
    try:
        return "[" + (pid_dir / "comm").read_text().strip() + "]"
    except OSError:
        return "[?]"


def file_holders(paths: Iterable[str | os.PathLike[str]], *, proc: Path = PROC) -> FileHolders:
    """Processes (other than this one) with any of ``paths`` open.

    ``paths`` are taken as given; use :func:`companion_paths` or
    :func:`node_files` to include ``-wal``/``-shm``.
    """
    wanted: dict[tuple[int, int], str] = {}
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        wanted[(st.st_dev, st.st_ino)] = str(p)
    checked = tuple(wanted.values())
    if not wanted:
        return FileHolders(checked=checked)
    me = os.getpid()
    found: list[FileHolder] = []
    unreadable = 0
    try:
        entries = list(proc.iterdir())
    except OSError:
        return FileHolders(checked=checked)
    for pid_dir in entries:
        if not pid_dir.name.isdigit() or int(pid_dir.name) == me:
            continue
        try:
            fds = list((pid_dir / "fd").iterdir())
        except PermissionError:
            unreadable += 1
            continue
        except OSError:  # the process ended meanwhile
            continue
        seen: set[str] = set()
        for fd in fds:
            try:
                st = os.stat(fd)  # follows the magic link to the open file
            except OSError:
                continue
            hit = wanted.get((st.st_dev, st.st_ino))
            if hit is not None and hit not in seen:
                seen.add(hit)
                found.append(FileHolder(int(pid_dir.name), _command(pid_dir), hit))
    found.sort(key=lambda h: (h.pid, h.path))
    return FileHolders(tuple(found), unreadable, checked)


@dataclass(frozen=True)
class PgSession:
    """Another client session connected to the same PostgreSQL database."""

    pid: int
    usename: str | None
    application_name: str | None
    client: str | None  # address[:port], or "local socket"
    state: str | None

    def describe(self) -> str:
        who = self.application_name or "an unnamed client"
        return (f"session {self.pid} ({who}, user {self.usename or '?'}, "
                f"from {self.client or '?'}, {self.state or 'state unknown'})")


def pg_sessions(conn) -> list[PgSession]:
    """Other client backends on ``current_database()`` (not our own pid;
    autovacuum and other server processes are not clients)."""
    rows = _sqlutil.execute(
        conn,
        "SELECT pid, usename, application_name, client_addr::text, client_port, state "
        "FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend' ORDER BY pid",
    ).fetchall()
    out = []
    for pid, user, app, addr, port, state in rows:
        if addr is None:
            client = "local socket" if port == -1 else None
        else:
            client = f"{addr.split('/')[0]}:{port}" if port and port > 0 else addr.split("/")[0]
        out.append(PgSession(int(pid), user, app or None, client, state))
    return out


__all__ = [
    "COMPANION_SUFFIXES",
    "FileHolder",
    "FileHolders",
    "NODE_FILE_NAMES",
    "PgSession",
    "companion_paths",
    "file_holders",
    "node_files",
    "pg_sessions",
]
