"""LND's non-unique payment indexes, built after the bulk load instead of during it.

Maintaining five B-trees per row while loading a million payments costs more than
building them once at the end (issue 11: SQLite load 8.2 -> 3.8 s at 50k). Only
on tables the run created (an existing LND table keeps its indexes: lnd may read
it meanwhile), and only non-unique ones: unique indexes and constraints are what
refuses a bad row inside its chunk, and the failure search depends on that.

The definitions come from our own migration files (LND's DDL), never from the
catalog: the statements are ``CREATE INDEX IF NOT EXISTS``, so building them
again after a crash between "created" and "recorded" is harmless. The run record
lists the names it dropped; :func:`build` runs before validation and commit.
"""

from __future__ import annotations

import functools
import re

import peewee

from . import introspect
from .connect import small_sort_memory
from .models import LND_PAYMENT_TABLES
from .schema import list_migrations, render_sql, split_statements

_CREATE = re.compile(r"^CREATE\s+INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)\s+ON\s+", re.I)
_DROP = re.compile(r"^DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*$", re.I)
_ON = re.compile(r"\s+ON\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.I)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


LND_TABLES = frozenset(LND_PAYMENT_TABLES)


@functools.lru_cache(maxsize=2)
def _definitions(dialect: str) -> tuple[tuple[str, str], ...]:
    """``(name, CREATE INDEX IF NOT EXISTS ...)`` of every non-unique index the migration
    files leave in place, in creation order."""
    defs: dict[str, str] = {}
    for mig in list_migrations():
        for stmt in split_statements(render_sql(mig.up_sql, dialect)):
            flat = " ".join(stmt.split())
            m = _CREATE.match(flat)
            if m:
                name = m.group(1)
                defs.pop(name, None)
                on = _ON.match(flat, m.end(1))
                if on is None or on.group(1) not in LND_TABLES:
                    continue  # our bookkeeping tables keep theirs
                defs[name] = "CREATE INDEX IF NOT EXISTS " + name + flat[m.end(1):]
                continue
            m = _DROP.match(flat)
            if m:
                defs.pop(m.group(1), None)
    return tuple(defs.items())


def _dialect(db: peewee.Database) -> str:
    return "postgres" if introspect.is_postgres(db) else "sqlite"


def deferrable(db: peewee.Database) -> list[str]:
    """Names of LND's non-unique indexes present on the target right now."""
    present = set(introspect.indexes(db))
    return [name for name, _ in _definitions(_dialect(db)) if name in present]


def drop(db: peewee.Database, names: list[str]) -> None:
    """Drop these indexes (inside the caller's transaction)."""
    known = {n for n, _ in _definitions(_dialect(db))}
    for name in names:
        if name not in known or not _NAME.match(name):
            raise ValueError(f"not one of LND's deferrable indexes: {name!r}")
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')


def build(db: peewee.Database, names: list[str]) -> None:
    """(Re)build these indexes from LND's DDL; idempotent (inside the caller's transaction)."""
    wanted = set(names)
    with small_sort_memory(db):  # the sorter would add a page cache's worth of heap
        for name, stmt in _definitions(_dialect(db)):
            if name in wanted:
                db.execute_sql(stmt)
                wanted.discard(name)
    if wanted:
        raise ValueError(f"not LND's deferrable indexes: {sorted(wanted)}")


def analyze(db: peewee.Database) -> None:
    """PostgreSQL: fresh planner statistics for LND's payment tables after a bulk load.
    Without them the planner guesses from an empty table and validation's id-range
    joins turn into scans per batch. SQLite is left alone (ANALYZE would add a
    ``sqlite_stat1`` table to lnd's file; its plans are right without)."""
    if not introspect.is_postgres(db):
        return
    present = set(introspect.table_names(db))
    for table in LND_PAYMENT_TABLES:
        if table in present and _NAME.match(table):
            db.execute_sql(f'ANALYZE "{table}"')
