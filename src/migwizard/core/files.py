"""Creating our own files (report, log, state) without being tricked by the filesystem.

The report and the log name payments and amounts, so they are owner-only. They
are written to paths a user (or an attacker sharing the directory) can prepare:
a symlink planted at the final path or at a predictable temp name would make us
truncate, overwrite or chmod whatever it points at. So: final paths that are
symlinks are refused, files are created with ``O_EXCL|O_NOFOLLOW``, temp names
come from ``mkstemp`` in the target directory, and directories we create are 0700.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

MIN_FREE_BYTES = 1024 * 1024  # a report of 200 detailed payments, or a run's log lines

__all__ = ["UnsafePathError", "check_output_path", "ensure_private_dir", "write_private_atomic", "open_private_append"]


class UnsafePathError(OSError):
    """An output path we refuse to write (a symlink, a directory, no writable parent)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) 0700 despite the umask; an existing directory keeps its mode."""
    path = Path(path)
    if path.is_symlink() and not path.is_dir():
        raise UnsafePathError(path, "is a dangling symlink, not a directory")
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    elif not path.is_dir():
        raise UnsafePathError(path, "is not a directory")
    return path


def check_output_path(path: Path | str, *, create_parent: bool = False) -> Path:
    """Refuse, before any work, a path we could not (or must not) write a file to.

    A symlink (even dangling), a directory, a missing parent (unless
    ``create_parent``, for our own state directory) or an unwritable parent.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UnsafePathError(path, e.strerror or str(e)) from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError(path, "is a symlink; refusing to write through it")
        if stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(path, "is a directory; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(path, "is not a regular file")
    parent = path.parent
    if not parent.is_dir():
        if create_parent and not parent.exists():
            ensure_private_dir(parent)
        else:
            raise UnsafePathError(path, f"the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UnsafePathError(path, f"the directory {parent} is not writable")
    try:
        free = shutil.disk_usage(parent).free
    except OSError:
        free = None
    if free is not None and free < MIN_FREE_BYTES:
        # A report or log that cannot be written at the end would lose the run's story:
        # refuse before any work instead (issue 9, item 11).
        raise UnsafePathError(path, f"the filesystem of {parent} is full ({free} bytes free)")
    if st is not None and not os.access(path, os.W_OK):
        raise UnsafePathError(path, "is not writable")
    _probe(path)
    return path


def _probe(path: Path) -> None:
    """Create and remove a private temp file beside ``path``: ``os.access`` says yes to root
    everywhere (``/proc``, a read-only bind, an immutable directory), so only trying proves it."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
    except OSError as e:
        raise UnsafePathError(path, f"cannot create a file in {path.parent}: {e.strerror or e}") from None
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:
        pass


def write_private_atomic(path: Path | str, data: bytes, *, create_parent: bool = False) -> Path:
    """Write ``data`` to ``path`` (0600) via an unpredictable temp file and ``os.replace``.

    ``os.replace`` swaps the directory entry, so a symlink appearing at ``path``
    after the check is replaced, never followed.
    """
    path = Path(path)
    check_output_path(path, create_parent=create_parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:  # mkstemp: O_EXCL, mode 0600
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def open_private_append(path: Path | str) -> int:
    """An fd for appending to ``path`` (created 0600), never through a symlink.

    An existing file of ours is reopened with ``O_NOFOLLOW`` and tightened to
    0600 through the fd (``fchmod``, so no path race).
    """
    path = Path(path)
    check_output_path(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            fd = os.open(path, flags)
        except OSError as e:  # ELOOP: a symlink appeared in between
            raise UnsafePathError(path, e.strerror or str(e)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePathError(path, "is not a regular file")
    os.fchmod(fd, 0o600)
    return fd
