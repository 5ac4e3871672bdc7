"""One LMDB environment per store per process: a second opener waits its turn.

LMDB forbids opening one environment twice in one process (py-lmdb refuses with
"already open"), and migwizard's own ``flock`` on ``migwizard.lock`` cannot tell
two threads of one process apart from two processes. The wizard reads a store
from several threads at once: the welcome screen's markers read and its run
probe start together, the import's copy check runs beside them. Without a turn,
whichever came second failed at random with "already open in this process" or
"in use by another migwizard process" (seen as a CI flake: the run probe never
answered). Short holders (a handful of point lookups) end in milliseconds, so
a bounded wait turns that race into a short queue; a holder that keeps the store
for long (a migration) still makes the other opener fail, after the wait, with
the same typed error as before.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["WAIT_S", "keep", "release", "turn"]

#: How long an opener waits for another thread of this process to close the same store.
WAIT_S = 5.0

_cond = threading.Condition()
_held: set[str] = set()


def _key(path: Path) -> str:
    return os.path.realpath(path)


@contextmanager
def turn(path: Path, wait: float | None = None) -> Iterator[bool]:
    """Wait (at most ``wait`` seconds, default :data:`WAIT_S`) until no other LmdbStore of
    this process holds ``path``, then mark it held for the caller's open.

    Yields whether the turn was had; on False the caller opens anyway and gets LMDB's own
    refusal. On an exception inside the block (the open failed) the mark is removed; on
    success the caller keeps it (:func:`keep`) until it closes.
    """
    key = _key(path)
    deadline = time.monotonic() + (WAIT_S if wait is None else wait)
    with _cond:
        while key in _held:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            _cond.wait(left)
        got = key not in _held
        if got:
            _held.add(key)
    try:
        yield got
    except BaseException:
        if got:
            release(path)
        raise


def release(path: Path) -> None:
    """The store at ``path`` is closed: let the next opener of this process in."""
    key = _key(path)
    with _cond:
        _held.discard(key)
        _cond.notify_all()


def keep(owner: object, path: Path) -> weakref.finalize:
    """The turn on ``path`` belongs to ``owner`` now: calling the result gives it back (once),
    and so does ``owner`` being collected without a close."""
    return weakref.finalize(owner, release, path)
