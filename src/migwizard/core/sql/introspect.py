"""Catalog queries that work the same on SQLite and PostgreSQL.

Used to verify tables lnd created before us (do not trust, compare), and by
tests to prove the DDL and its down migrations. Types are reported in LND's
SQLite spelling on both dialects, so one expectation covers both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import peewee

#: PostgreSQL ``format_type`` -> LND's SQLite type name (inverse of §3.1).
_PG_TO_LND_TYPE = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "bytea": "BLOB",
    "text": "TEXT",
    "timestamp without time zone": "TIMESTAMP",
    "boolean": "BOOLEAN",
}


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str  # LND SQLite spelling, e.g. "BIGINT"; BIGSERIAL pk -> "INTEGER"
    notnull: bool
    pk: bool
    default: str | None


def is_postgres(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def table_names(db: peewee.Database) -> list[str]:
    """User tables, sorted (SQLite internals excluded)."""
    if is_postgres(db):
        rows = db.execute_sql(
            "SELECT tablename FROM pg_catalog.pg_tables "
            "WHERE schemaname = current_schema() ORDER BY tablename"
        ).fetchall()
    else:
        rows = db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
    return [r[0] for r in rows]


def table_exists(db: peewee.Database, table: str) -> bool:
    return table in table_names(db)


def columns(db: peewee.Database, table: str) -> list[ColumnInfo]:
    if is_postgres(db):
        rows = db.execute_sql(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   COALESCE((SELECT true FROM pg_index i WHERE i.indrelid = c.oid
                             AND i.indisprimary AND a.attnum = ANY(i.indkey)), false),
                   pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
            WHERE c.relname = %s AND n.nspname = current_schema()
              AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            (table,),
        ).fetchall()
        out = []
        for name, typ, notnull, pk, default in rows:
            lnd_type = _PG_TO_LND_TYPE.get(typ, typ.upper())
            if pk and default and default.startswith("nextval("):
                lnd_type, default = "INTEGER", None  # BIGSERIAL == INTEGER PRIMARY KEY
            out.append(ColumnInfo(name, lnd_type, bool(notnull), bool(pk), default))
        return out
    rows = db.execute_sql(f'PRAGMA table_info("{table}")').fetchall()
    # cid, name, type, notnull, dflt_value, pk. An INTEGER PRIMARY KEY is
    # NOT NULL even though the pragma says 0 (it is the rowid).
    return [
        ColumnInfo(name, typ.upper(), bool(notnull) or bool(pk), bool(pk), default)
        for _cid, name, typ, notnull, default, pk in rows
    ]


def _norm_sql(sql: str | None) -> str | None:
    if sql is None:
        return None
    sql = re.sub(r"--[^\n]*", "", sql)
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"\s*([(),])\s*", r"\1", sql)
    return sql


def indexes(db: peewee.Database, table: str | None = None) -> dict[str, str]:
    """``{index name: normalised definition}``, incl. constraint-backed ones."""
    if is_postgres(db):
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        params: tuple = ()
        if table:
            sql += " AND tablename = %s"
            params = (table,)
        rows = db.execute_sql(sql, params).fetchall()
    else:
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        params = ()
        if table:
            sql += " AND tbl_name = ?"
            params = (table,)
        rows = db.execute_sql(sql, params).fetchall()
    return {name: _norm_sql(defn) or "" for name, defn in rows}


def constraints(db: peewee.Database, table: str) -> dict[str, str]:
    """PostgreSQL ``{constraint name: definition}`` (SQLite keeps them in the
    table SQL, see :func:`snapshot`)."""
    if not is_postgres(db):
        return {}
    rows = db.execute_sql(
        """
        SELECT con.conname, pg_get_constraintdef(con.oid)
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = %s AND n.nspname = current_schema()
        """,
        (table,),
    ).fetchall()
    return dict(rows)


def snapshot(db: peewee.Database, exclude: tuple[str, ...] = ()) -> dict:
    """Whole-schema fingerprint: equal snapshots mean equal schemas.

    Used to prove that each down migration exactly reverses its up.
    """
    out: dict = {}
    for table in table_names(db):
        if table in exclude:
            continue
        entry: dict = {
            "columns": [tuple(c.__dict__.values()) for c in columns(db, table)],
            "indexes": indexes(db, table),
        }
        if is_postgres(db):
            entry["constraints"] = constraints(db, table)
        else:
            (sql,) = db.execute_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            entry["sql"] = _norm_sql(sql)
        out[table] = entry
    if is_postgres(db):
        out["__sequences__"] = sorted(
            r[0]
            for r in db.execute_sql(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"
            ).fetchall()
        )
    return out
