"""The flat check of a batch (:mod:`.canon_flat`) on PostgreSQL: the same rows, the same
layout, the same order, read in two round trips.

Why: on PostgreSQL the KV side sent every payment's canonical tuple (nested tuples
with a ``datetime`` per time, pickled) and the comparing process rebuilt each
payment's tuple from the keyed reader (:mod:`.canon_pg`, three round trips) and
compared them one by one. The flat check lets the KV side send flat rows of
ints and bytes (``FlatRows.add_fast``, marshalled) and the comparing process
compare one list per table; only a batch whose lists differ goes to the per-payment
comparison (the keyed reader), whose verdicts are the ones reported, as on SQLite.

The queries are :data:`.canon_flat.QUERIES` and :data:`.canon_flat.BY_HOP_ID` in
PostgreSQL's syntax (``JOIN ... ON`` for SQLite's ``CROSS JOIN ... ON``, which
only fixes SQLite's join order; PostgreSQL plans joins from its statistics, which
the migration refreshes, ``sql.deferred.analyze``; every one is an index range scan
or index lookups at a batch of 250). The six queries keyed by payment id and the
hop-id span go out together in one pipeline, the five keyed by that span in a
second (the span as a subquery of each would run its ~400 lookups ten times), and
rows come back in binary. Equal
lists prove what they prove on SQLite (see :func:`.canon_flat.read_flat`): the
rows and the keys are the same, and ``r.attempt_index IS NOT NULL`` is cast to
an int, as SQLite returns it. Times stay ``TIMESTAMP`` values (naive datetimes),
which :func:`.canon_flat.with_times` predicts with the dialect's own time form.
"""

from __future__ import annotations

from contextlib import contextmanager

from .canon_flat import BY_HOP_ID, HOP_SPAN, QUERIES, READ_TABLES
from .canon_pg import _level as _pipeline  # one pipeline, binary rows: the keyed reader's


def _pg(sql: str) -> str:
    return (sql.replace("CROSS JOIN", "JOIN").replace("?", "%s")
            .replace("r.attempt_index IS NOT NULL", "(r.attempt_index IS NOT NULL)::int"))


# (slot, query, whether it takes the offset parameter), then the hop-id span
LEVEL1 = tuple((slot, _pg(sql), offset) for slot, sql, offset in QUERIES)
SPAN = _pg(HOP_SPAN)
BY_HOP = tuple((slot, _pg(sql)) for slot, sql in BY_HOP_ID)


def read_flat_pg(db, lo: int, hi: int) -> tuple[list, ...]:
    """:func:`.canon_flat.read_flat`'s lists for ``payments.id`` ``lo..hi`` on PostgreSQL."""
    conn = db.connection()
    out: list = [None] * READ_TABLES
    got = _pipeline(conn, [(sql, (lo, lo, hi) if offset else (lo, hi)) for _slot, sql, offset in LEVEL1]
                    + [(SPAN, (lo, hi))])
    for (slot, _sql, _offset), rows in zip(LEVEL1, got):
        out[slot] = rows
    first, last = got[-1][0]
    if first is None:
        for slot, _sql in BY_HOP:
            out[slot] = []
    else:
        for (slot, _sql), rows in zip(BY_HOP, _pipeline(conn, [(sql, (first, last)) for _slot, sql in BY_HOP])):
            out[slot] = rows
    return tuple(out)


# Every read of the comparison is by the keys of one batch: a few hundred rows through
# an index. The planner may still prefer a hash join against a sequential scan of a
# whole table (a scan per batch: quadratic in the store): at 1M, statistics fresh, it
# did so for the attempts' first-hop custom records and the duplicates; at a batch of
# 1,000 also for the resolutions, the hops and the MPP rows (7.6 s of server CPU per
# 100k against 2.0-2.7 s). Hash and merge joins and sequential scans are turned off for
# the comparing session while it compares (its other reads, the keyed reader's and the
# tree diff's, are key lookups too).
_PLANS = ("enable_hashjoin", "enable_mergejoin", "enable_seqscan")


@contextmanager
def keyed_plans(db):
    """Index lookups for the flat reads on this session, restored afterwards."""
    from psycopg.pq import TransactionStatus  # PostgreSQL only: SQLite runs never load the driver

    conn = db.connection()
    before = [conn.execute(f"SHOW {name}").fetchone()[0] for name in _PLANS]
    for name in _PLANS:
        conn.execute(f"SET {name} = off")
    try:
        yield
    finally:
        # Not on a failed transaction or a lost connection: restoring would raise over the
        # error that got there (and the rollback undoes what that transaction set).
        if not conn.closed and conn.info.transaction_status != TransactionStatus.INERROR:
            for name, value in zip(_PLANS, before):
                conn.execute(f"SET {name} = {value}")
