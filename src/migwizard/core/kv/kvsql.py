"""Read-only reader for lnd's KV-over-SQL store (``channeldb_kv`` in ``channel.sqlite`` or PostgreSQL).

Why: lnd runs its native-SQL payments migration only with ``db.backend=sqlite``
or ``postgres``, so on a real node the payments to migrate live in the table
``channeldb_kv`` (storage-notes §4), not in a bbolt file. This reader exposes
that table through the same :class:`~.bucket.BucketBase` interface as the bbolt
reader, so the importer can snapshot it into migwizard's LMDB working store.

Guarantees:

* never writes: SQLite is opened ``mode=ro`` (URI) and read inside ONE ``BEGIN``
  transaction (a consistent snapshot even while lnd's WAL grows); PostgreSQL runs
  one ``REPEATABLE READ READ ONLY`` transaction;
* bbolt semantics: a row with ``value IS NULL`` is a bucket, children by
  ``parent_id`` (NULL = top level), order ``ORDER BY key`` on BLOB/bytea (memcmp
  in both engines, never a text collation), NULL sequence = 0, the signed int64
  sequence reinterpreted as u64, an empty value is ``b""``;
* bulk reads: a bucket's children are read in keyset pages, and the children
  of a page's sub-buckets (and theirs, level by level) are fetched in one query
  per level and cached, so walking a million payments costs a few queries per
  thousand payments instead of one per bucket; memory stays bounded by the page
  and prefetch caps;
* the table name comes from the user but is checked against the catalog and
  always quoted; malformed tables fail with a typed :class:`KVError`.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .bucket import BucketBase
from .errors import CorruptError, KVError

__all__ = [
    "DEFAULT_TABLE",
    "KvSqlReader",
    "KvSqlBucket",
    "KvSqlTableError",
    "is_postgres_url",
    "is_sqlite_file",
]

DEFAULT_TABLE = "channeldb_kv"
REQUIRED_COLUMNS = ("key", "value", "parent_id", "id", "sequence")
SQLITE_MAGIC = b"SQLite format 3\x00"
U64 = 0xFFFF_FFFF_FFFF_FFFF

#: siblings read per keyset page
PAGE = 1000
#: ids per ``parent_id IN (...)`` query (well under SQLite's variable limit)
IN_BATCH = 500
#: rows one prefetch level may cache; beyond it buckets fall back to their own pages
PREFETCH_CAP = 50_000


class KvSqlTableError(KVError):
    """The KV table is missing or does not have lnd's KV-over-SQL shape."""


def is_postgres_url(text: str) -> bool:
    return text.split(":", 1)[0].lower() in ("postgresql", "postgres") and "://" in text


def is_sqlite_file(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    try:
        with open(p, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


_Row = tuple[int, bytes, "bytes | None", int]  # id, key, value, sequence (u64)


def _blob(v: Any, what: str) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, str) and v == "":
        return b""  # an empty TEXT is what some drivers leave for Put(k, nil)
    raise CorruptError(f"{what} is a {type(v).__name__}, expected a BLOB")


class KvSqlBucket(BucketBase):
    """One bucket row (or the pseudo-root).

    ``cache`` is the prefetched subtree of the page this bucket was listed in
    (``{bucket id: child rows}``); a bucket found there takes its children from
    it (once: popped), one that is not pages its own children.
    """

    __slots__ = ("_r", "id", "path", "_seq", "_children", "_index", "_cache")

    def __init__(self, reader: "KvSqlReader", row_id: int | None, path: tuple[bytes, ...], seq: int,
                 cache: dict[int, list[_Row]] | None = None):
        self._r = reader
        self.id = row_id  # None for the root (parent_id IS NULL)
        self.path = path
        self._seq = seq
        self._children: list[_Row] | None = cache.pop(row_id, None) if cache is not None else None
        self._cache = cache if self._children is not None else None
        self._index: dict[bytes, _Row] | None = None

    def __repr__(self) -> str:
        return f"KvSqlBucket(id={self.id}, path={self.path!r})"

    def sequence(self) -> int:
        return self._seq

    def _lookup(self, key: bytes) -> _Row | None:
        if self._children is not None:
            if self._index is None:
                self._index = {r[1]: r for r in self._children}
            return self._index.get(key)
        return self._r._child(self.id, key)

    def get(self, key: bytes) -> bytes | None:
        row = self._lookup(bytes(key))
        return None if row is None else row[2]

    def bucket(self, key: bytes) -> "KvSqlBucket | None":
        row = self._lookup(bytes(key))
        if row is None or row[2] is not None:
            return None
        return KvSqlBucket(self._r, row[0], self.path + (row[1],), row[3], self._cache)

    def is_bucket(self, key: bytes) -> bool:
        row = self._lookup(bytes(key))
        return row is not None and row[2] is None

    def entries(self) -> Iterator[tuple[bytes, bytes | None, "KvSqlBucket | None"]]:
        if self._children is not None:
            pages: Iterator[list[_Row]] = iter([self._children])
        else:
            pages = self._r._pages(self.id)
        for page in pages:
            cache = self._cache
            # the root's children are the few, huge top-level buckets: they page themselves
            if cache is None and self.id is not None:
                ids = [rid for rid, _k, value, _s in page if value is None]
                cache = self._r._prefetch(ids) if ids else None
            for rid, key, value, seq in page:
                if value is None:
                    yield key, None, KvSqlBucket(self._r, rid, self.path + (key,), seq, cache)
                else:
                    yield key, value, None


class KvSqlReader:
    """A consistent, read-only view of one KV-over-SQL table.

    ``source`` is a ``channel.sqlite`` path or a ``postgresql://`` URL. Use as a
    context manager; :meth:`read` yields the root bucket (only one snapshot per
    reader: the whole reader lives in one database transaction).
    """

    def __init__(self, source: str | os.PathLike[str], *, table: str | None = None):
        self.table = table or DEFAULT_TABLE
        self._conn: Any = None
        text = os.fspath(source)
        if is_postgres_url(text):
            from migwizard.core.sql.connect import TargetURL

            self.kind = "kvsql-postgres"
            self._url = TargetURL.parse(text)
            self.origin = self._url.redacted()
            self.path: Path | None = None
            self._open_postgres()
        else:
            self.kind = "kvsql-sqlite"
            self.path = Path(text)
            self.origin = str(self.path)
            self._open_sqlite()
        try:
            self._check_table()
        except BaseException:
            self.close()
            raise
        self.readonly = True

    # -- opening ----------------------------------------------------------
    def _open_sqlite(self) -> None:
        p = self.path
        if not p.is_file():
            raise KVError(f"{p}: no such file")
        if not is_sqlite_file(p):
            raise KVError(f"{p}: not an SQLite database (lnd's channel.sqlite)")
        uri = "file:" + _uri_path(p.resolve())
        modes = ["?mode=ro"]
        # In a directory we cannot write, SQLite cannot create the -shm a WAL
        # reader needs. With no -wal present nobody can be writing there either
        # (a writer must create it), so the file is effectively immutable.
        wal = Path(str(p) + "-wal")
        if not os.access(p.parent, os.W_OK) and (not wal.exists() or wal.stat().st_size == 0):
            modes.append("?mode=ro&immutable=1")
        last: Exception | None = None
        for mode in modes:
            try:
                conn = sqlite3.connect(uri + mode, uri=True, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA query_only = 1")
                conn.execute("BEGIN")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
                self._conn = conn
                self._ph = "?"
                return
            except sqlite3.Error as e:
                last = e
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
        hint = ""
        if wal.exists() and not os.access(p.parent, os.W_OK):
            hint = (" (a WAL-mode database in a directory we cannot write: copy channel.sqlite with its "
                    "-wal and -shm files somewhere writable, or stop lnd so it checkpoints)")
        raise KVError(f"{p}: cannot open read-only: {last}{hint}")

    def _open_postgres(self) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - a dependency
            raise KVError("psycopg is not installed; it is needed to read a PostgreSQL KV store") from None
        try:
            conn = psycopg.connect(**self._url.connect_kwargs(), dbname=self._url.database or "", autocommit=False)
        except psycopg.Error as e:
            raise KVError(f"{self.origin}: cannot connect: {self._url.scrub(str(e)).strip()}") from None
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            conn.execute("SELECT 1").fetchone()  # BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; snapshot
        except psycopg.Error as e:
            conn.close()
            raise KVError(f"{self.origin}: cannot start a read-only transaction: {self._url.scrub(str(e))}") from None
        self._conn = conn
        self._ph = "%s"

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            cur = self._conn.execute(sql, tuple(params))
            return cur.fetchall()
        except KVError:
            raise
        except Exception as e:  # noqa: BLE001 - driver errors become typed, display-safe errors
            msg = str(e)
            if self.kind == "kvsql-postgres":
                msg = self._url.scrub(msg)
            raise KVError(f"{self.origin}: reading table {self.table}: {msg.strip()}") from None

    def _check_table(self) -> None:
        if self.kind == "kvsql-sqlite":
            tables = [r[0] for r in self._q("SELECT name FROM sqlite_master WHERE type = 'table'")]
        else:
            tables = [r[0] for r in self._q(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
        if self.table not in tables:
            kv = sorted(t for t in tables if t.endswith("_kv"))
            raise KvSqlTableError(
                f"{self.origin}: no table {self.table!r}"
                + (f" (KV tables here: {', '.join(kv)}; choose one with --kv-table)" if kv
                   else " and no lnd KV-over-SQL tables (*_kv): not an lnd channel.sqlite / KV database"))
        if self.kind == "kvsql-sqlite":
            cols = [r[0] for r in self._q("SELECT name FROM pragma_table_info(?)", (self.table,))]
        else:
            cols = [r[0] for r in self._q(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s", (self.table,))]
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing:
            raise KvSqlTableError(
                f"{self.origin}: table {self.table!r} lacks column(s) {', '.join(missing)}; "
                f"lnd's KV-over-SQL tables have {', '.join(REQUIRED_COLUMNS)} (it has {', '.join(cols)})")
        self._t = _quote_ident(self.table)

    # -- context ----------------------------------------------------------
    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.rollback()  # end the read transaction; nothing was written
            except Exception:  # noqa: BLE001
                pass
            conn.close()

    def __enter__(self) -> "KvSqlReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def read(self) -> Iterator[KvSqlBucket]:
        if self._conn is None:
            raise KVError(f"{self.origin}: reader is closed")
        yield KvSqlBucket(self, None, (), 0)

    def write(self):
        from .errors import ReadOnlyError

        raise ReadOnlyError(f"{self.origin}: lnd's KV-over-SQL store is only read; migwizard works on an LMDB copy")

    def transaction_mode(self) -> dict[str, str]:
        """The live transaction's isolation and read-only flags (for tests and diagnostics)."""
        if self.kind == "kvsql-postgres":
            iso = self._q("SHOW transaction_isolation")[0][0]
            ro = self._q("SHOW transaction_read_only")[0][0]
            return {"isolation": iso, "read_only": ro}
        return {"isolation": "serializable snapshot (one BEGIN)", "read_only": "on",
                "in_transaction": str(self._conn.in_transaction).lower()}

    # -- row access ---------------------------------------------------------
    def _row(self, r: tuple) -> _Row:
        rid, key, value, seq = r
        key = _blob(key, f"{self.origin}: row {rid} key")
        if value is not None:
            value = _blob(value, f"{self.origin}: row {rid} value")
        return rid, key, value, (int(seq) & U64) if seq is not None else 0

    def _where_parent(self, parent_id: int | None) -> tuple[str, tuple]:
        if parent_id is None:
            return "parent_id IS NULL", ()
        return f"parent_id = {self._ph}", (parent_id,)

    def _child(self, parent_id: int | None, key: bytes) -> _Row | None:
        cond, params = self._where_parent(parent_id)
        rows = self._q(f"SELECT id, key, value, sequence FROM {self._t} WHERE {cond} AND key = {self._ph}",
                       (*params, key))
        return self._row(rows[0]) if rows else None

    def _pages(self, parent_id: int | None) -> Iterator[list[_Row]]:
        """Children in key order, one keyset page at a time (no server cursor to keep open)."""
        cond, params = self._where_parent(parent_id)
        base = f"SELECT id, key, value, sequence FROM {self._t} WHERE {cond}"
        after: bytes | None = None
        while True:
            if after is None:
                rows = self._q(f"{base} ORDER BY key LIMIT {PAGE}", params)
            else:
                rows = self._q(f"{base} AND key > {self._ph} ORDER BY key LIMIT {PAGE}", (*params, after))
            page = [self._row(r) for r in rows]
            if page:
                yield page
            if len(rows) < PAGE:
                return
            after = page[-1][1]

    def _prefetch(self, ids: list[int]) -> dict[int, list[_Row]]:
        """Children rows of ``ids`` and of their sub-buckets, one query per level and batch.

        Returns ``{bucket id: child rows}``. Once :data:`PREFETCH_CAP` rows are
        cached the remaining buckets are left out (they page their own
        children), so memory stays bounded whatever the tree looks like.
        """
        cache: dict[int, list[_Row]] = {}
        budget = PREFETCH_CAP
        level = list(ids)
        while level and budget > 0:
            nxt: list[int] = []
            for i in range(0, len(level), IN_BATCH):
                if budget <= 0:
                    break
                batch = sorted(level[i:i + IN_BATCH])
                marks = ", ".join([self._ph] * len(batch))
                rows = self._q(
                    f"SELECT parent_id, id, key, value, sequence FROM {self._t} WHERE parent_id IN ({marks}) "
                    f"ORDER BY parent_id, key LIMIT {budget + 1}", batch)
                complete_below = None
                if len(rows) > budget:  # truncated: the last parent's children may be partial
                    complete_below = rows[-1][0]
                    rows = [r for r in rows if r[0] < complete_below]
                budget -= len(rows)
                grouped: dict[int, list[_Row]] = {}
                for r in rows:
                    grouped.setdefault(r[0], []).append(self._row(r[1:]))
                for bid in batch:
                    if complete_below is not None and bid >= complete_below:
                        continue
                    kids = grouped.get(bid, [])
                    cache[bid] = kids
                    nxt.extend(rid for rid, _k, value, _s in kids if value is None)
            level = nxt
        return cache

    # -- integrity ----------------------------------------------------------
    def check_integrity(self) -> None:
        """Refuse shapes lnd never writes: values with children, orphans, cycles, non-BLOB keys.

        One pass of set queries over the table (no per-row round trips); run it
        before an import, because a walk alone would silently skip such rows.
        """
        t = self._t
        bad = self._q(f"SELECT c.id, p.id FROM {t} c JOIN {t} p ON c.parent_id = p.id "
                      f"WHERE p.value IS NOT NULL LIMIT 1")
        if bad:
            raise CorruptError(f"{self.origin}: table {self.table}: row {bad[0][1]} is a value (value IS NOT NULL) "
                               f"but row {bad[0][0]} names it as parent_id")
        orphan = self._q(f"SELECT c.id, c.parent_id FROM {t} c LEFT JOIN {t} p ON c.parent_id = p.id "
                         f"WHERE c.parent_id IS NOT NULL AND p.id IS NULL LIMIT 1")
        if orphan:
            raise CorruptError(f"{self.origin}: table {self.table}: row {orphan[0][0]} has parent_id "
                               f"{orphan[0][1]}, which does not exist (an orphan)")
        top_values = self._q(f"SELECT id FROM {t} WHERE parent_id IS NULL AND value IS NOT NULL LIMIT 1")
        if top_values:
            raise CorruptError(f"{self.origin}: table {self.table}: row {top_values[0][0]} is a plain value at "
                               "the top level; lnd's KV store holds only buckets there")
        total = self._q(f"SELECT count(*) FROM {t}")[0][0]
        reach = self._q(f"WITH RECURSIVE r(id) AS (SELECT id FROM {t} WHERE parent_id IS NULL UNION ALL "
                        f"SELECT c.id FROM {t} c JOIN r ON c.parent_id = r.id) SELECT count(*) FROM r")[0][0]
        if reach != total:
            raise CorruptError(f"{self.origin}: table {self.table}: {total - reach} row(s) cannot be reached from "
                               "the top level (a parent_id cycle)")
        if self.kind == "kvsql-sqlite":
            typed = self._q(f"SELECT id, typeof(key), typeof(value) FROM {t} WHERE typeof(key) <> 'blob' "
                            f"OR (typeof(value) NOT IN ('blob', 'null') AND NOT (typeof(value) = 'text' "
                            f"AND value = '')) LIMIT 1")
            if typed:
                raise CorruptError(f"{self.origin}: table {self.table}: row {typed[0][0]} stores key/value as "
                                   f"{typed[0][1]}/{typed[0][2]}; lnd stores BLOBs (the byte order depends on it)")


def _quote_ident(name: str) -> str:
    """Always-quoted identifier (the name was already matched against the catalog)."""
    if "\x00" in name:
        raise KvSqlTableError("table name contains a NUL byte")
    return '"' + name.replace('"', '""') + '"'


def _uri_path(p: Path) -> str:
    # percent-encode what URI parsing would misread (?, #, %)
    return re.sub(r"[%?#]", lambda m: "%{:02X}".format(ord(m.group())), str(p))
