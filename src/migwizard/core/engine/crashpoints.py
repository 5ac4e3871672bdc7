"""Named instants where the crash-injection harness kills the process.

``MIGWIZ_CRASH_AT=<point>[:<n>]`` (n-th time the point is reached, default 1)
makes :func:`crash_point` SIGKILL the process right there: no ``finally``, no
atexit, no flush - the harshest crash there is. Read in this one function and
nowhere else; unset (every normal run) it costs one dict lookup. The points
(``tests/reliability/test_crash.py`` lists them all) sit inside and between the
protocol's transactions: a chunk's SQL transaction, the commit transaction,
between the SQL commit and the tombstone, inside the tombstone's LMDB write.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("MIGWIZ_CRASH_AT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
