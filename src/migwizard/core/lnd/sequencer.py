"""lnd's HTLC attempt-ID sequencer, in lnd's KV-over-SQL table.

lnd's switch (``htlcswitch/sequencer.go``) keeps its horizon as the bucket
sequence of the top-level bucket ``next-payment-id-key``: ``NextID`` reads
``Sequence()`` as the next ID to hand out, writes ``Sequence()+1000`` and
serves the block from memory (0 is never issued; it becomes 1). So every
attempt ID already in use must be *below* the stored value, and after a
migration that remaps legacy attempt ID 0 the value must be raised above the
remapped IDs -- in lnd's real KV, or lnd's next attempt collides
(``UNIQUE constraint failed: payment_htlc_attempts.attempt_index``).

In ``channeldb_kv`` (``kvdb/sqlbase``) a bucket is a row with ``value IS NULL``,
a top-level one has ``parent_id IS NULL``, and its sequence is the row's
``sequence`` column: signed BIGINT holding the u64 bit pattern, NULL = 0.

Two ways to write, because lnd's KV is either a separate SQLite file
(``channel.sqlite``: :func:`advance_sqlite_file`, its own ``BEGIN IMMEDIATE``
transaction, run after the native commit and reconciled on every start) or
the same PostgreSQL database as the native tables (:func:`advance`, inside the
caller's transaction, so it commits atomically with ``migration_tracker`` 14).
The sequence is never lowered.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..codec.keys import NEXT_PAYMENT_ID_KEY
from . import _sqlutil
from .errors import SequencerError

#: ``lncfg.NSChannelDB`` + ``_kv`` (``kvdb/sqlbase/db.go``).
DEFAULT_KV_TABLE = "channeldb_kv"
#: lnd's sequencer batch (``defaultSequenceBatchSize``).
SEQUENCE_BATCH = 1000
_U64 = 1 << 64
_BUSY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SequencerState:
    """The bucket as found: ``exists`` False means no row (sequence 0)."""

    exists: bool
    sequence: int  # u64


@dataclass(frozen=True)
class SequencerAdvance:
    """What :func:`advance` did: ``before``/``after`` are u64 horizons."""

    before: int
    after: int
    created: bool

    @property
    def changed(self) -> bool:
        return self.after != self.before or self.created


def to_signed(value: int) -> int:
    """u64 -> the int64 lnd stores (``int64(v)``)."""
    if not 0 <= value < _U64:
        raise SequencerError(f"sequence {value} is outside u64")
    return value - _U64 if value >= 1 << 63 else value


def to_unsigned(value: int | None) -> int:
    """The stored int64 (or NULL) -> u64 (``uint64(seq)``; NULL reads as 0)."""
    if value is None:
        return 0
    return int(value) + _U64 if int(value) < 0 else int(value)


def horizon_for(max_attempt_index: int | None) -> int:
    """The smallest sequencer value that keeps lnd off every existing ID."""
    return 0 if max_attempt_index is None else int(max_attempt_index) + 1


def _table(conn, table: str) -> str:
    quoted = _sqlutil.quote_ident(table)
    if not _sqlutil.table_exists(conn, table):
        raise SequencerError(
            f"lnd's KV table {table!r} does not exist here: this is not lnd's "
            "KV-over-SQL store (db.backend=sqlite/postgres)"
        )
    return quoted


def _row(conn, quoted: str, *, lock: bool) -> tuple[int, object, int | None] | None:
    sql = f"SELECT id, value, sequence FROM {quoted} WHERE parent_id IS NULL AND key = ?"
    if lock and _sqlutil.dialect(conn) == "postgres":
        sql += " FOR UPDATE"
    return _sqlutil.execute(conn, sql, (NEXT_PAYMENT_ID_KEY,)).fetchone()


def read(conn, table: str = DEFAULT_KV_TABLE) -> SequencerState:
    """The sequencer in lnd's KV table reachable through ``conn`` (peewee,
    sqlite3 or psycopg); read-only."""
    quoted = _table(conn, table)
    row = _row(conn, quoted, lock=False)
    if row is None:
        return SequencerState(False, 0)
    if row[1] is not None:
        raise SequencerError(
            f"{table}: top-level key {NEXT_PAYMENT_ID_KEY.decode()!r} holds a value, "
            "not a bucket (lnd would fail with ErrIncompatibleValue)"
        )
    return SequencerState(True, to_unsigned(row[2]))


def advance(conn, at_least: int, table: str = DEFAULT_KV_TABLE) -> SequencerAdvance:
    """Raise the horizon to ``at_least`` if it is below; never lower it.

    Runs in the caller's transaction (PostgreSQL: the commit's own, so the
    advance and ``migration_tracker`` 14 commit together). Creates the bucket
    row when absent the way lnd's ``CreateTopLevelBucket`` + ``SetSequence``
    do: ``INSERT (parent_id, key)`` -- value and sequence NULL -- then
    ``UPDATE ... SET sequence``. Like lnd's migration, an absent bucket is
    left absent when ``at_least <= 1`` (lnd creates it at start-up, and its
    sequencer never issues 0).
    """
    to_signed(at_least)  # range check
    quoted = _table(conn, table)
    row = _row(conn, quoted, lock=True)
    if row is not None and row[1] is not None:
        raise SequencerError(
            f"{table}: top-level key {NEXT_PAYMENT_ID_KEY.decode()!r} holds a value, "
            "not a bucket; refusing to touch it"
        )
    if row is None:
        if at_least <= 1:
            return SequencerAdvance(0, 0, created=False)
        _sqlutil.execute(
            conn, f"INSERT INTO {quoted} (parent_id, key) VALUES (NULL, ?)", (NEXT_PAYMENT_ID_KEY,)
        )
        row = _row(conn, quoted, lock=True)
        if row is None:  # pragma: no cover - the insert just made it
            raise SequencerError(f"{table}: the new bucket row is not visible")
        _set(conn, quoted, row[0], at_least)
        return SequencerAdvance(0, at_least, created=True)
    current = to_unsigned(row[2])
    if current >= at_least:
        return SequencerAdvance(current, current, created=False)
    _set(conn, quoted, row[0], at_least)
    return SequencerAdvance(current, at_least, created=False)


def _set(conn, quoted: str, row_id: int, value: int) -> None:
    cur = _sqlutil.execute(
        conn, f"UPDATE {quoted} SET sequence = ? WHERE id = ?", (to_signed(value), row_id)
    )
    if getattr(cur, "rowcount", 1) != 1:
        raise SequencerError("cannot set sequence")  # lnd's own words


def _open_sqlite(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """Open lnd's existing ``channel.sqlite`` (never create one)."""
    if not path.is_file():
        raise SequencerError(f"{path}: no such file (lnd's channel.sqlite)")
    mode = "ro" if readonly else "rw"
    uri = "file:" + str(path.resolve()).replace("?", "%3f").replace("#", "%23") + f"?mode={mode}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=_BUSY_TIMEOUT_S)
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        raise SequencerError(f"{path}: cannot open: {exc}") from None
    return conn


def read_sqlite_file(path: str | Path, table: str = DEFAULT_KV_TABLE) -> SequencerState:
    """The sequencer in ``channel.sqlite`` (opened read-only)."""
    conn = _open_sqlite(Path(path), readonly=True)
    try:
        return read(conn, table)
    finally:
        conn.close()


def advance_sqlite_file(path: str | Path, at_least: int, table: str = DEFAULT_KV_TABLE) -> SequencerAdvance:
    """:func:`advance` in ``channel.sqlite`` in its own ``BEGIN IMMEDIATE``
    transaction (the write lock up front, as lnd's ``_txlock=immediate``)."""
    conn = _open_sqlite(Path(path), readonly=False)
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise SequencerError(f"{path}: cannot lock for writing ({exc}); is lnd running?") from None
        try:
            result = advance(conn, at_least, table)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result
    finally:
        conn.close()


__all__ = [
    "DEFAULT_KV_TABLE",
    "NEXT_PAYMENT_ID_KEY",
    "SEQUENCE_BATCH",
    "SequencerAdvance",
    "SequencerState",
    "advance",
    "advance_sqlite_file",
    "horizon_for",
    "read",
    "read_sqlite_file",
    "to_signed",
    "to_unsigned",
]
