"""Deterministic table dumps for "same tables" comparisons.

The resume guarantee (an interrupted-and-resumed run produces exactly the
tables of an uninterrupted one, ids included) is tested by comparing dumps, so
rows come back ordered by primary key with blobs as hex strings (readable in
a failing assert, and ``None`` vs ``""`` keeps NULL vs empty blob apart).
"""

from __future__ import annotations

from typing import Iterable

import peewee

from . import introspect
from .models import LND_PAYMENT_TABLES, MODELS_BY_TABLE, BaseModel


def table_names(db: peewee.Database) -> list[str]:
    """All user tables of the target, sorted."""
    return introspect.table_names(db)


def _value(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return v


def _order_columns(db: peewee.Database, table: str) -> list[str]:
    model = MODELS_BY_TABLE.get(table)
    if model is not None:
        return [model._meta.primary_key.column_name]
    cols = introspect.columns(db, table)
    pk = [c.name for c in cols if c.pk]
    return pk or [c.name for c in cols]


def dump_table(db: peewee.Database, table: str) -> list[tuple]:
    cols = [c.name for c in introspect.columns(db, table)]
    select = ", ".join(f'"{c}"' for c in cols)
    order = ", ".join(f'"{c}"' for c in _order_columns(db, table))
    cursor = db.execute_sql(f'SELECT {select} FROM "{table}" ORDER BY {order}')
    return [tuple(_value(v) for v in row) for row in cursor.fetchall()]


def dump_tables(
    db: peewee.Database, tables: Iterable["str | type[BaseModel]"] | None = None
) -> dict[str, list[tuple]]:
    """``{table: rows}``; by default every LND payment table present.

    Bookkeeping tables are excluded by default (they hold run ids and
    timestamps that legitimately differ between two runs); pass them
    explicitly to include them.
    """
    present = set(introspect.table_names(db))
    if tables is None:
        names = [t for t in LND_PAYMENT_TABLES if t in present]
    else:
        names = [t._meta.table_name if isinstance(t, type) else str(t) for t in tables]
    return {name: dump_table(db, name) for name in names}
