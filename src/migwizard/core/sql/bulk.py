"""Bulk row loading at driver speed, inside the caller's transaction.

peewee's ``insert_many`` costs 8-11x raw on SQLite and 11-14x COPY on
PostgreSQL (storage-notes §6: the query compiler runs per parameter). So the
statement is rendered once by peewee and the rows go straight to the driver:
``cursor.executemany`` on SQLite, psycopg 3 binary ``COPY ... FROM STDIN`` on
PostgreSQL.

Every id is assigned by the caller. ``INSERT ... RETURNING id`` would tie ids
to sequence state, and PostgreSQL sequences do not roll back with the
transaction: a resumed chunk would get different ids than the interrupted one
and "resume == uninterrupted" would not hold. After the load,
:func:`fix_sequences` moves the payment tables' BIGSERIAL sequences past
max(id), so lnd's own later inserts do not collide (and no other table's).

Rows must already be in db form (``Dialect.ts`` for times, Go casts for
integers). ``None`` is NULL and ``b""`` a zero-length blob on both dialects;
that distinction carries meaning in LND's schema (§3.3).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import peewee

from . import introspect
from .models import MODELS_BY_TABLE, BaseModel
from .values import Dialect, dialect_for

_exception_wrapper = peewee.__exception_wrapper__


def _table_name(table: "str | type[BaseModel]") -> str:
    if isinstance(table, type) and issubclass(table, peewee.Model):
        return table._meta.table_name
    return str(table)


class BulkWriter:
    """``BulkWriter(db).insert(Payment, ["id", "amount_msat", ...], rows)``."""

    def __init__(self, db: peewee.Database, dialect: Dialect | None = None):
        self.db = db
        self.dialect = dialect or dialect_for(db)
        self._sql_cache: dict[tuple[str, tuple[str, ...]], str] = {}
        self._pg_types: dict[str, dict[str, int]] = {}

    # -- rendering ---------------------------------------------------------

    def insert_sql(self, table: "str | type[BaseModel]", columns: Sequence[str]) -> str:
        """The parametrised INSERT peewee renders for these columns (cached)."""
        name = _table_name(table)
        key = (name, tuple(columns))
        sql = self._sql_cache.get(key)
        if sql is None:
            model = MODELS_BY_TABLE.get(name)
            if model is not None:
                unknown = [c for c in columns if c not in model._meta.columns]
                if unknown:
                    raise ValueError(f"{name} has no column(s) {unknown}")
            tbl = peewee.Table(name, columns=list(columns))
            query = tbl.insert([tuple(None for _ in columns)], columns=[peewee.Column(tbl, c) for c in columns])
            sql, _params = self.db.get_sql_context().sql(query).query()
            self._sql_cache[key] = sql
        return sql

    # -- loading -------------------------------------------------------------

    def insert(
        self,
        table: "str | type[BaseModel]",
        columns: Sequence[str],
        rows: Iterable[Sequence],
    ) -> int:
        """Insert ``rows`` (tuples in ``columns`` order); returns the row count.

        Must run inside :func:`~migwizard.core.sql.transactions.write_txn`: a
        bulk load outside a transaction would autocommit piecemeal.
        """
        if not self.db.in_transaction():
            raise RuntimeError("BulkWriter.insert must run inside write_txn(db)")
        columns = tuple(columns)
        if not columns:
            raise ValueError("no columns")
        if self.dialect.is_postgres:
            return self._copy(_table_name(table), columns, rows)
        return self._executemany(table, columns, rows)

    def _executemany(self, table, columns, rows) -> int:
        sql = self.insert_sql(table, columns)
        width = len(columns)
        if isinstance(rows, (list, tuple)):
            # The chunks' rows come as lists: their widths checked in C (set of lens) and the
            # list handed to the driver as it is, instead of through a Python generator per row.
            if rows and set(map(len, rows)) != {width}:
                bad = next(r for r in rows if len(r) != width)
                raise ValueError(f"row has {len(bad)} values, expected {width}: {bad!r}")
            with _exception_wrapper:
                self.db.cursor().executemany(sql, rows)
            return len(rows)
        count = 0

        def checked():
            nonlocal count
            for row in rows:
                if len(row) != width:
                    raise ValueError(f"row has {len(row)} values, expected {width}: {row!r}")
                count += 1
                yield row

        with _exception_wrapper:
            self.db.cursor().executemany(sql, checked())
        return count

    def _column_oids(self, table: str) -> dict[str, int]:
        oids = self._pg_types.get(table)
        if oids is None:
            rows = self.db.execute_sql(
                "SELECT a.attname, a.atttypid FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = %s AND n.nspname = current_schema() "
                "AND a.attnum > 0 AND NOT a.attisdropped",
                (table,),
            ).fetchall()
            if not rows:
                raise peewee.ProgrammingError(f'relation "{table}" does not exist')
            oids = self._pg_types[table] = dict(rows)
        return oids

    def _copy(self, table: str, columns: tuple[str, ...], rows) -> int:
        from psycopg import sql as pgsql
        from psycopg.types.string import BytesBinaryDumper

        oids = self._column_oids(table)
        unknown = [c for c in columns if c not in oids]
        if unknown:
            raise ValueError(f"{table} has no column(s) {unknown}")
        stmt = pgsql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
        )
        width = len(columns)
        count = 0
        conn = self.db.connection()
        with _exception_wrapper:
            with conn.cursor() as cur:
                # psycopg's default bytea dumper is dbapi20's pure-Python wrapper (it unwraps
                # ``psycopg.Binary``, which we never pass); the plain one runs in C: ~1 s of
                # client CPU per 100k payments.
                cur.adapters.register_dumper(bytes, BytesBinaryDumper)
                with cur.copy(stmt) as copy:
                    # Binary COPY needs exact types; taking them from the
                    # catalog also range-checks ints against INTEGER columns.
                    copy.set_types([oids[c] for c in columns])
                    for row in rows:
                        if len(row) != width:
                            raise ValueError(
                                f"row has {len(row)} values, expected {width}: {row!r}"
                            )
                        copy.write_row(row)
                        count += 1
        return count


def fix_sequences(
    db: peewee.Database, tables: Iterable["str | type[BaseModel]"] | None = None
) -> dict[str, int]:
    """PostgreSQL: set the serial sequences of the payment tables we write so
    ``nextval`` = max(id) + 1.

    Only ``tables`` (default: LND's payment tables, whose ids migwizard assigns
    client-side) are touched. Once the target is lnd's own database its other
    tables (invoices, graph...) sit beside ours: moving their sequences back to
    max + 1 would make lnd reuse ids it already handed out. Table and column
    names go into SQL only as ``psycopg.sql.Identifier`` or bound parameters,
    never as catalog text. No-op on SQLite, where INTEGER PRIMARY KEY takes
    max(rowid) + 1 anyway. Returns ``{sequence: next value}``.
    """
    if not introspect.is_postgres(db):
        return {}
    from psycopg import sql as pgsql

    from .models import LND_PAYMENT_TABLES

    names = [_table_name(t) for t in (tables if tables is not None else LND_PAYMENT_TABLES)]
    conn = db.connection()
    out: dict[str, int] = {}
    for table in names:
        model = MODELS_BY_TABLE.get(table)
        column = model._meta.primary_key.column_name if model is not None else "id"
        # Both names are bound parameters; quote_ident makes the server parse
        # them as one identifier each, whatever characters they hold.
        row = db.execute_sql(
            "SELECT pg_get_serial_sequence(quote_ident(current_schema()) || '.' || quote_ident(%s), %s) "
            "WHERE to_regclass(quote_ident(current_schema()) || '.' || quote_ident(%s)) IS NOT NULL",
            (table, column, table),
        ).fetchone()
        seq = row[0] if row else None
        if not seq:
            continue
        stmt = pgsql.SQL("SELECT COALESCE(MAX({}), 0) + 1 FROM {}").format(
            pgsql.Identifier(column), pgsql.Identifier(table)
        )
        (next_value,) = db.execute_sql(stmt.as_string(conn)).fetchone()
        db.execute_sql("SELECT setval(%s::regclass, %s, false)", (seq, next_value))
        out[seq] = int(next_value)
    return out


def next_id(db: peewee.Database, table: "str | type[BaseModel]") -> int:
    """max(primary key) + 1, or 1 for an empty table (ids are client-side)."""
    name = _table_name(table)
    model = MODELS_BY_TABLE.get(name)
    pk = model._meta.primary_key.column_name if model is not None else "id"
    if introspect.is_postgres(db):
        from psycopg import sql as pgsql

        stmt = pgsql.SQL("SELECT COALESCE(MAX({}), 0) + 1 FROM {}").format(
            pgsql.Identifier(pk), pgsql.Identifier(name)
        ).as_string(db.connection())
    else:
        stmt = "SELECT COALESCE(MAX({}), 0) + 1 FROM {}".format(_sqlite_ident(pk), _sqlite_ident(name))
    (value,) = db.execute_sql(stmt).fetchone()
    return int(value)


def _sqlite_ident(name: str) -> str:
    """A SQLite identifier quoted the standard way (inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def next_ids(db: peewee.Database, tables: Iterable["str | type[BaseModel]"] | None = None) -> dict[str, int]:
    """:func:`next_id` for several tables (default: every LND payment table)."""
    from .models import LND_PAYMENT_TABLES

    names = [_table_name(t) for t in (tables if tables is not None else LND_PAYMENT_TABLES)]
    return {name: next_id(db, name) for name in names}
