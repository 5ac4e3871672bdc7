"""Validation's batches cross from the walking process as one ``marshal`` blob
(``fast.kvside.to_wire``/``from_wire``): what arrives equals what was sent -- the
payments' items in order and type (the full way's ``Full`` included), the flat rows
of the batch -- and what ``marshal`` cannot carry exactly goes pickled instead."""

from __future__ import annotations

import datetime
import pytest

from migwizard.core.engine.vwalk import BATCH, FACTS, validation_walk
from migwizard.core.fast import kvside
from migwizard.core.fast.canon import Batch, Full, KvSide, replay_allocator
from migwizard.core.fast.timefmt import ts_for
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.values import POSTGRES, SQLITE


def _items(kv, dialect, sample_percent=1):
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        side = KvSide(ts_for(dialect), sample_percent, dialect.is_postgres, replay_allocator(0))
        yield from validation_walk(root, 50, side.item, side.batch, digest=False)


def _same(a, b) -> bool:
    """Equal, and of the same types all the way down (tuple vs list, bytes vs str, Full)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("profile,count", [("edge", 400), ("mixed", 600)])
def test_sqlite_batches_round_trip(generated_ro, profile, count):
    fulls = batches = 0
    for item in _items(generated_ro(profile, count), SQLITE, sample_percent=5):
        blob = kvside.to_wire(item)
        if item[0] == FACTS:
            assert blob is None
            continue
        assert blob is not None
        back = kvside.from_wire(blob)
        assert type(back[1]) is Batch and back[0] == BATCH
        assert _same((list(item[1]), item[1].flat), (list(back[1]), back[1].flat))
        fulls += sum(isinstance(it[3], Full) for it in back[1])
        batches += 1
    assert batches > 5 and fulls > 0


@pytest.mark.parametrize("profile,count", [("mixed", 200), ("legacy-zero-ids", 60)])
def test_postgres_batches_round_trip(generated_ro, profile, count):
    """PostgreSQL's batches are flat rows too: the full way's times (datetimes in its rows)
    travel as nanoseconds (``canon_flat._ns``), so every batch crosses marshalled."""
    fulls = batches = 0
    for item in _items(generated_ro(profile, count), POSTGRES, sample_percent=5):
        if item[0] != BATCH:
            continue
        blob = kvside.to_wire(item)
        assert blob is not None
        back = kvside.from_wire(blob)
        assert _same((list(item[1]), item[1].flat), (list(back[1]), back[1].flat))
        fulls += sum(isinstance(it[3], Full) for it in back[1])
        batches += 1
    assert batches > 1 and fulls > 0


def test_unmarshallable_value_goes_pickled():
    b = Batch([(1, b"h" * 32, None, ("succeeded", 5, 1, datetime.datetime(2020, 1, 1)))])
    assert kvside.to_wire((BATCH, b)) is None
    b = Batch([(1, b"h" * 32, None, ("succeeded", 5, 1, 7))])
    b.flat = ([(0, 5, 7, b"h" * 32, None)],)
    back = kvside.from_wire(kvside.to_wire((BATCH, b)))
    assert _same((list(back[1]), back[1].flat), (list(b), b.flat))
