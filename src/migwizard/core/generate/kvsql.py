"""Write any bucket tree as an lnd-layout ``channeldb_kv`` table (SQLite file or PostgreSQL).

Why: no real lnd-written ``channel.sqlite`` is public, so tests and benchmarks
build KV-over-SQL sources from the real bbolt fixtures and from generated
stores, with lnd's exact DDL (storage-notes §4, lnd ``kvdb/sqlbase/schema.go``)
and lnd's encodings: a bucket is a row with ``value`` NULL, leaf values are
never NULL (``Put(k, nil)`` stores an empty blob), a never-set sequence is
NULL and a set one is the int64 cast of the u64. Optional markers reproduce
what lndinit and lnd leave in a real store.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from migwizard.core.kv.bucket import BucketBase, walk
from migwizard.core.kv.kvsql import DEFAULT_TABLE, is_postgres_url
from migwizard.core.kv.markers import (
    INVOICE_BUCKET,
    INVOICE_TOMBSTONE,
    LNDINIT_MIGRATED,
    LNDINIT_TOMBSTONE,
)

__all__ = ["write_kvsql", "KvSqlWriteResult", "kvsql_ddl"]

_BATCH = 5000


def kvsql_ddl(table: str = DEFAULT_TABLE, *, postgres: bool = False) -> list[str]:
    """lnd's DDL for one KV table, statement by statement (``INTEGER PRIMARY KEY`` → ``BIGSERIAL`` on PostgreSQL)."""
    if not table.replace("_", "").isalnum():
        raise ValueError(f"table name {table!r}: letters, digits and _ only")
    blob = "BYTEA" if postgres else "BLOB"
    pk = "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY"
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (\n"
        f"    key {blob} NOT NULL,\n"
        f"    value {blob},\n"
        f"    parent_id BIGINT,\n"
        f"    id {pk},\n"
        f"    sequence BIGINT,\n"
        f"    CONSTRAINT {table}_parent FOREIGN KEY (parent_id)\n"
        f"        REFERENCES {table} (id)\n"
        f"        ON UPDATE NO ACTION\n"
        f"        ON DELETE CASCADE\n)",
        f"CREATE INDEX IF NOT EXISTS {table}_p ON {table} (parent_id)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_up ON {table} (parent_id, key) WHERE parent_id IS NOT NULL",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_unp ON {table} (key) WHERE parent_id IS NULL",
    ]


@dataclass
class KvSqlWriteResult:
    rows: int = 0
    buckets: int = 0
    values: int = 0


def _seq(n: int) -> int | None:
    """lnd stores the u64 sequence as an int64; a bucket whose sequence was never set has NULL."""
    if n == 0:
        return None
    return n - (1 << 64) if n >= (1 << 63) else n


def write_kvsql(
    root: BucketBase,
    dest: str | os.PathLike[str],
    *,
    table: str = DEFAULT_TABLE,
    top: list[bytes] | None = None,
    wal: bool = True,
    lndinit_migrated: str | None = None,
    lndinit_tombstone: str | None = None,
    invoice_tombstone: bool = False,
) -> KvSqlWriteResult:
    """Write the tree under ``root`` (optionally only the ``top`` buckets) into ``dest``.

    ``dest`` is a new SQLite file path or a ``postgresql://`` URL of a database
    without that table. ``lndinit_migrated`` / ``lndinit_tombstone`` add
    lndinit's marker buckets with the given time (``lndinit migrate-db <time>``);
    ``invoice_tombstone`` puts ``invoices/invoice-tombstone`` = ``1`` as lnd's
    ``SetInvoiceBucketTombstone`` does.
    """
    rows: list[tuple] = []
    ids: dict[tuple[bytes, ...], int] = {}
    res = KvSqlWriteResult()
    top_set = set(top) if top is not None else None
    next_id = 1

    def add(path: tuple[bytes, ...], key: bytes, value: bytes | None, seq: int) -> int:
        nonlocal next_id
        rid = next_id
        next_id += 1
        rows.append((key, value, ids[path] if path else None, rid, _seq(seq)))
        if value is None:
            ids[path + (key,)] = rid
            res.buckets += 1
        else:
            res.values += 1
        return rid

    invoices_seen = False
    for e in walk(root, top=top_set):
        add(e.path, e.key, None if e.is_bucket else e.value, e.sequence)
        if e.path == () and e.key == INVOICE_BUCKET:
            invoices_seen = True
    extra: list[tuple[bytes, bytes]] = []
    if lndinit_migrated is not None:
        extra.append((LNDINIT_MIGRATED, f"lndinit migrate-db {lndinit_migrated}".encode()))
    if lndinit_tombstone is not None:
        extra.append((LNDINIT_TOMBSTONE, f"lndinit migrate-db {lndinit_tombstone}".encode()))
    for name, value in extra:
        if (name,) not in ids:
            add((), name, None, 0)
        add((name,), name, value, 0)
    if invoice_tombstone:
        if not invoices_seen:
            add((), INVOICE_BUCKET, None, 0)
        add((INVOICE_BUCKET,), INVOICE_TOMBSTONE, b"1", 0)
    res.rows = len(rows)
    text = os.fspath(dest)
    if is_postgres_url(text):
        _write_postgres(text, table, rows)
    else:
        _write_sqlite(Path(text), table, rows, wal=wal)
    return res


def _write_sqlite(path: Path, table: str, rows: list[tuple], *, wal: bool) -> None:
    if path.exists():
        raise FileExistsError(f"{path}: exists; write_kvsql creates a new channel.sqlite")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.close(fd)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA foreign_keys = on")
        if wal:
            con.execute("PRAGMA journal_mode = WAL")
        con.execute("BEGIN")
        for stmt in kvsql_ddl(table):
            con.execute(stmt)
        for i in range(0, len(rows), _BATCH):
            con.executemany(f"INSERT INTO {table} (key, value, parent_id, id, sequence) VALUES (?, ?, ?, ?, ?)",
                            rows[i:i + _BATCH])
        con.execute("COMMIT")
    finally:
        con.close()


def _write_postgres(url: str, table: str, rows: list[tuple]) -> None:
    import psycopg

    from migwizard.core.sql.connect import TargetURL

    u = TargetURL.parse(url)
    with psycopg.connect(**u.connect_kwargs(), dbname=u.database or "") as con:
        with con.transaction():
            for stmt in kvsql_ddl(table, postgres=True):
                con.execute(stmt)
            with con.cursor() as cur:
                with cur.copy(f"COPY {table} (key, value, parent_id, id, sequence) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
            # keep BIGSERIAL ahead of the explicit ids, as lnd's own inserts would leave it
            con.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"GREATEST((SELECT max(id) FROM {table}), 1))")
