"""Small helpers shared by the lnd modules: dialect, placeholders, quoting.

Every function here accepts a peewee Database, a ``sqlite3.Connection`` or a
psycopg connection, because lnd's KV may be reached through any of them (the
target's own peewee connection on PostgreSQL, a separate sqlite3 connection on
``channel.sqlite``).
"""

from __future__ import annotations

import re
import sqlite3

import peewee

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def dialect(conn) -> str:
    """``"sqlite"`` or ``"postgres"``."""
    if isinstance(conn, peewee.Database):
        return "sqlite" if isinstance(conn, peewee.SqliteDatabase) else "postgres"
    if isinstance(conn, sqlite3.Connection):
        return "sqlite"
    return "postgres"  # psycopg connection


def execute(conn, sql: str, params: tuple = ()):
    """Run one statement written with ``?`` placeholders (turned into ``%s``
    on PostgreSQL); returns a cursor (fetchone/fetchall/rowcount)."""
    if dialect(conn) == "postgres":
        sql = sql.replace("?", "%s")
    if isinstance(conn, peewee.Database):
        return conn.execute_sql(sql, params)
    return conn.execute(sql, params)


def quote_ident(name: str) -> str:
    """A double-quoted identifier; refuses anything but plain names (a table
    name comes from the command line, never from the database)."""
    if not isinstance(name, str) or not _IDENT_RE.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return '"' + name + '"'


def table_exists(conn, table: str) -> bool:
    if dialect(conn) == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        sql = ("SELECT 1 FROM information_schema.tables "
               "WHERE table_schema = current_schema() AND table_name = ?")
    return execute(conn, sql, (table,)).fetchone() is not None
