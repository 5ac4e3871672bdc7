"""Run lnd's own payments queries (``../shared/fixtures/lnd-sqlc-queries/
payments.sql``, sqlc source verbatim from lnd v0.21.2) on SQLite and
PostgreSQL, as the nearest check to "lnd can read (and write) this".

sqlc syntax handled: ``-- name: X :one|:many|:exec|:execresult`` headers,
``sqlc.embed(p)`` (-> ``p.*``), positional ``$N``, named ``@x``,
``sqlc.arg(x)``, ``sqlc.narg(x)``, and ``sqlc.slice(x)/*SLICE:x*/`` lists
(expanded to one placeholder per element; an empty list becomes ``NULL``, as
sqlc's generated Go code does). A name used twice binds one value: SQLite
gets ``:name`` placeholders, PostgreSQL ``%(name)s`` (psycopg maps a repeated
name to one server parameter, so ``x = $3 OR $3 IS NULL`` infers its type).
Positional parameters are named ``p1``, ``p2``...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import peewee
import pytest

from tests.support.lnddb import FIXTURES

QUERIES_FILE = FIXTURES / "lnd-sqlc-queries" / "payments.sql"

_HEADER_RE = re.compile(r"^--\s*name:\s*(\w+)\s+:(\w+)\s*$", re.M)
_BLOCK_COMMENT_RE = re.compile(r"/\*(?!SLICE:).*?\*/", re.S)
_PARAM_RE = re.compile(
    r"sqlc\.slice\(\s*'?(?P<slice>\w+)'?\s*\)\s*(?:/\*SLICE:\w+\*/)?"
    r"|/\*SLICE:(?P<slice2>\w+)\*/\?"
    r"|sqlc\.n?arg\(\s*'?(?P<arg>\w+)'?\s*\)"
    r"|@(?P<at>\w+)"
    r"|\$(?P<pos>\d+)"
)
_EMBED_RE = re.compile(r"sqlc\.embed\(\s*(\w+)\s*\)")


@dataclass(frozen=True)
class Query:
    name: str
    kind: str  # one | many | exec | execresult
    sql: str  # sqlc source (comments removed)
    params: tuple[str, ...]  # distinct names in first-use order
    slices: frozenset[str]

    @property
    def is_read(self) -> bool:
        return self.kind in ("one", "many") and self.sql.lstrip().upper().startswith("SELECT")

    def render(self, dialect: str, args: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Runnable SQL and its parameter dict for ``dialect`` (sqlite|postgres)."""
        missing = [p for p in self.params if p not in args]
        if missing:
            raise KeyError(f"{self.name}: missing parameters {missing}")
        bound: dict[str, Any] = {}

        def ph(name: str) -> str:
            return f":{name}" if dialect == "sqlite" else f"%({name})s"

        def sub(m: re.Match) -> str:
            slice_name = m.group("slice") or m.group("slice2")
            if slice_name:
                values = list(args[slice_name])
                if not values:
                    return "NULL"
                names = [f"{slice_name}__{i}" for i in range(len(values))]
                bound.update(zip(names, values))
                return ", ".join(ph(n) for n in names)
            name = _param_name(m)
            bound[name] = args[name]
            return ph(name)

        base = self.sql.replace("%", "%%") if dialect == "postgres" else self.sql
        return _PARAM_RE.sub(sub, base), bound


def _param_name(m: re.Match) -> str:
    if m.group("pos"):
        return f"p{m.group('pos')}"
    return m.group("arg") or m.group("at")


def _strip_comments(sql: str) -> str:
    sql = _BLOCK_COMMENT_RE.sub("", sql)
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return "\n".join(lines).strip().rstrip(";").strip()


def parse_queries(text: str) -> dict[str, Query]:
    heads = list(_HEADER_RE.finditer(text))
    out: dict[str, Query] = {}
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = _EMBED_RE.sub(lambda m: f"{m.group(1)}.*", _strip_comments(text[h.end():end]))
        names: list[str] = []
        slices: set[str] = set()
        for m in _PARAM_RE.finditer(body):
            s = m.group("slice") or m.group("slice2")
            name = s or _param_name(m)
            if s:
                slices.add(s)
            if name not in names:
                names.append(name)
        out[h.group(1)] = Query(h.group(1), h.group(2), body, tuple(names), frozenset(slices))
    return out


@lru_cache(maxsize=1)
def _queries_cached(path: str) -> dict[str, Query]:
    return parse_queries(Path(path).read_text(encoding="utf-8"))


def lnd_queries() -> dict[str, Query]:
    if not QUERIES_FILE.is_file():
        pytest.skip(f"lnd's payments queries are missing ({QUERIES_FILE}); see ../shared/fixtures/README.md")
    return _queries_cached(str(QUERIES_FILE))


def run_query(db: peewee.Database, name: str, args: Mapping[str, Any] | Sequence[Any] = ()):
    """Run lnd's query ``name``; ``args`` by name, or a sequence for ``$1..$N``.
    Returns a row (:one), a list of rows (:many) or the rowcount (:exec*)."""
    q = lnd_queries()[name]
    if not isinstance(args, Mapping):
        args = {f"p{i}": v for i, v in enumerate(args, start=1)}
    dialect = "sqlite" if isinstance(db, peewee.SqliteDatabase) else "postgres"
    sql, bound = q.render(dialect, args)
    cur = db.execute_sql(sql, bound)
    if q.kind == "one":
        return cur.fetchone()
    if q.kind == "many":
        return cur.fetchall()
    return cur.rowcount


__all__ = ["QUERIES_FILE", "Query", "lnd_queries", "parse_queries", "run_query"]
