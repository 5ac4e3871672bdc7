"""A bounded try for LMDB's writer lock, before a write that must not hang.

LMDB has no non-blocking ``begin(write=True)``: a process that holds a write
transaction on the store (one that does not take ``migwizard.lock``) makes our
next write wait until it ends -- 42 s in issue 9, or forever. A probe from this
process is impossible (a second environment on the same file in one process is
forbidden), so a short-lived child opens the environment and tries the write
transaction; if it has not got the lock within the timeout it is killed and the
caller is told the store is busy. The child never writes: it aborts at once.

What remains is a window of milliseconds between the probe and our own write;
the probe turns "hangs until the other writer ends" into a typed refusal in
every case but that race.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

from .errors import KVError

#: How long the child may wait for the writer lock (an idle store grants it in microseconds).
DEFAULT_TIMEOUT = 2.0
#: Extra time for the interpreter and ``import lmdb`` before the try starts.
STARTUP_ALLOWANCE = 8.0

_CHILD = r"""
import os, sys
import lmdb
path = os.fsencode(sys.argv[1])
size = os.path.getsize(os.path.join(path, b"data.mdb"))
env = lmdb.open(path, subdir=True, readonly=False, lock=True, max_dbs=8, create=False,
                map_size=max(size, 1 << 20))
sys.stdout.write("open\n"); sys.stdout.flush()
txn = env.begin(write=True)
txn.abort()
sys.stdout.write("got\n"); sys.stdout.flush()
env.close()
"""


class WriterBusyError(KVError):
    """Another process holds a write transaction on the store (the probe timed out)."""

    def __init__(self, message: str, *, path: Path, waited: float):
        super().__init__(message)
        self.path = path
        self.waited = waited


def probe_write_lock(path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Return when a write transaction on the store at ``path`` can start now.

    Raises :class:`WriterBusyError` when the writer lock is not granted within
    ``timeout`` seconds after the child opened the environment, :class:`KVError`
    when the child cannot open it at all (the message names why).
    """
    p = Path(path)
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", _CHILD, os.fsdecode(p)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        lines = _Lines(child)
        if lines.next_within(STARTUP_ALLOWANCE) != b"open":
            child.kill()
            _, err = child.communicate()
            last = (err.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
            raise KVError(f"{p}: cannot open the store to check for another writer: {last}")
        if lines.next_within(timeout) == b"got":
            child.wait(timeout=STARTUP_ALLOWANCE)
            return
        raise WriterBusyError(
            f"{p}: another process holds a write transaction on the store (LMDB's writer lock was not "
            f"granted within {timeout:g} s)", path=p, waited=timeout)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


class _Lines:
    """The child's stdout, line by line, each read bounded in time."""

    def __init__(self, child: subprocess.Popen):
        assert child.stdout is not None
        self._fd = child.stdout.fileno()
        self._buf = b""
        self._eof = False

    def next_within(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self._fd, selectors.EVENT_READ)
            while b"\n" not in self._buf and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(self._fd, 256)
                self._eof = not chunk
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.strip() or None


__all__ = ["DEFAULT_TIMEOUT", "WriterBusyError", "probe_write_lock"]
