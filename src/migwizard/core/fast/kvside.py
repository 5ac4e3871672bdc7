"""The KV half of validation's fast path, in a second process when two cores are free.

The walk (``engine.vwalk``) and the decode of every payment
(``fast.canon.KvSide``: the fast decoder's flat rows or canonical tuple, the full
decoder and the legacy ID-0 allocator replay for the fallback shapes and the sample)
need no SQL; reading the rows back, comparing and the tree diff need no walk. So
the child walks and decodes batch N+1 while the parent reads and compares batch N
(issue 11 item 4), and the parent still makes every decision, in index order, from
its own read snapshot. The payment tree's content digest is the parent's too
(``digest.PaymentTreeDigest``): the decode makes this half the slower one.

The two halves must look at the same version of the store: the child opens the
store read-only by path and refuses (:class:`~..engine.vwalk.SnapshotMismatch`)
unless its LMDB read transaction has the parent's id. With one core, with
``MIGWIZ_WORKERS=1``, or on a store too small to pay for starting a process, the
same walk runs in this process on the parent's own snapshot.
"""

from __future__ import annotations

import logging
import marshal
import os
import pickle
from contextlib import contextmanager
from typing import Any, Iterator

from ..engine import workers
from ..engine.rows import SwitchIdAllocator
from ..engine.vwalk import BATCH, SnapshotMismatch, txn_id, validation_walk
from ..kv.lmdb_store import LmdbStore
from ..sql.values import POSTGRES, SQLITE
from .canon import SAMPLE_PERCENT, Batch, Full, KvSide
from .timefmt import ts_for

log = logging.getLogger("migwizard")

# Below this many payments one process is as fast: the child (a fresh interpreter
# importing the engine) costs ~0.5 s CPU to start, the pipeline takes ~50 µs a
# payment off this process (mixed-100000, SQLite: 17.2 -> 12.4 s CPU here). The
# engine starts it before its own scan of the store, which hides most of the start.
CHILD_MIN_PAYMENTS = 20_000


def use_child(payments: int) -> bool:
    """``MIGWIZ_WORKERS=2`` forces the child, ``=1`` forbids it; otherwise two free cores
    and a store big enough to pay for the start."""
    if os.environ.get(workers.WORKERS_ENV, "").strip() == "2":
        return True
    return workers.worker_count() >= 2 and payments >= CHILD_MIN_PAYMENTS


def to_wire(item: tuple[str, Any]) -> bytes | None:
    """A ``(BATCH, Batch)`` item as one ``marshal`` blob, or None: it crosses pickled.

    Why: a batch is plain tuples of int/bytes/str/None (its flat rows, PostgreSQL's
    times among them as nanoseconds, and each payment's verdict facts), which
    ``marshal`` writes and reads ~1.4x / ~2x faster than ``pickle`` (it keeps no memo of
    every object); the parent, which reads the batch, is one of the two busy halves at
    1M. A payment that took the full way (:class:`Full`, with its KV tree) goes pickled
    inside the blob. ``marshal`` keeps every type it accepts exactly and refuses the
    rest (a datetime, an int subclass): such a batch goes pickled as a whole."""
    if item[0] != BATCH or type(item[1]) is not Batch:
        return None
    items = list(item[1])
    fulls = [(i, pickle.dumps(it[3], pickle.HIGHEST_PROTOCOL)) for i, it in enumerate(items)
             if it[3].__class__ is Full]
    for i, _blob in fulls:
        items[i] = items[i][:3] + (None,)
    try:
        return marshal.dumps((items, fulls, item[1].flat))
    except ValueError:
        return None


def from_wire(blob: bytes) -> tuple[str, Batch]:
    """The item :func:`to_wire` encoded, equal to it (a :class:`Batch` with its ``flat``)."""
    items, fulls, flat = marshal.loads(blob)
    for i, full in fulls:
        it = items[i]
        items[i] = (it[0], it[1], it[2], pickle.loads(full))
    out = Batch(items)
    out.flat = flat
    return BATCH, out


def _walk(root: Any, batch_size: int, dialect_name: str, sample_percent: int,
          alloc: SwitchIdAllocator) -> Iterator[tuple[str, Any]]:
    dialect = POSTGRES if dialect_name == POSTGRES.name else SQLITE
    side = KvSide(ts_for(dialect), sample_percent, dialect.is_postgres, alloc)
    return validation_walk(root, batch_size, side.item, side.batch, digest=False)  # the comparing process digests


def child(args: dict) -> Iterator[tuple[str, Any]]:
    """The child's generator (``workers.stream`` target): the walk on its own read-only
    snapshot, which must be the parent's (``args["txn_id"]``)."""
    with LmdbStore.open(args["path"], readonly=True) as store, store.read() as root:
        mine = txn_id(root)
        if mine != args["txn_id"]:
            raise SnapshotMismatch(f"{args['path']}: the store changed between the two halves of the validation "
                                   f"(read snapshot {mine}, the validating process holds {args['txn_id']})")
        alloc = SwitchIdAllocator(args["switch_next"])  # a copy, replayed here in index order
        yield from _walk(root, args["batch_size"], args["dialect"], args["sample_percent"], alloc)


@contextmanager
def source(root: Any, store_path: str, dialect, *, batch_size: int, payments: int, alloc: SwitchIdAllocator,
           sample_percent: int = SAMPLE_PERCENT) -> Iterator[Iterator[tuple[str, Any]]]:
    """The walk's ``(kind, payload)`` items for the parent's snapshot ``root``: from a
    child process or from this one (see :func:`use_child`); the child is reaped on exit.
    ``alloc``: the legacy ID-0 allocator at the walk's start (the child replays a copy;
    ``CanonValidator.compare`` carries its horizon back)."""
    if use_child(payments):
        args = {"path": store_path, "txn_id": txn_id(root), "batch_size": batch_size, "dialect": dialect.name,
                "sample_percent": sample_percent, "switch_next": alloc.next}
        s = workers.stream(f"{__name__}:child", args, workers=2, wire=__name__)
        if s.in_child:
            log.info("validation: two processes (KV half in pid %s, %d payments)", s.pid, payments)
            with s:
                yield iter(s)
            return
        s.close()  # could not start one; its in-process stand-in would reopen the store: walk here instead
    log.info("validation: one process (%d payments)", payments)
    gen = _walk(root, batch_size, dialect.name, sample_percent, alloc)
    try:
        yield gen
    finally:
        gen.close()
