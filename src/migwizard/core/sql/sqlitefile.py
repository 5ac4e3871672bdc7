"""The SQLite target file: never reached through a symlink, created private.

SQLite itself follows a symlink at the database path (and creates the file at a
dangling link's target), and a later rollback that removes "the file the run
created" would then act on whatever the link names. So the path and its
companions (-wal, -shm, -journal) must not be symlinks, and a new file is created
here, O_EXCL|O_NOFOLLOW and 0600 (it will hold session keys and preimages), before
SQLite opens it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

COMPANIONS = ("", "-wal", "-shm", "-journal")


class TargetSymlinkError(RuntimeError):
    """The SQLite target path (or a companion file) is a symlink: a usage error."""


def refuse_symlinks(path: Path) -> None:
    for suffix in COMPANIONS:
        p = Path(str(path) + suffix)
        if os.path.islink(p):
            raise TargetSymlinkError(f"the SQLite target {p} is a symlink (to {os.readlink(p)}); "
                                     "refusing to follow it: give the real path")


def create_private(path: Path) -> bool:
    """Create an absent target file, 0600, without following a symlink. True: created now."""
    refuse_symlinks(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                     0o600)
    except FileExistsError:
        refuse_symlinks(path)  # a link that appeared meanwhile
        return False
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise TargetSymlinkError(f"the SQLite target {path} is a symlink; refusing to follow it") from None
        raise
    os.close(fd)
    return True
