"""PostgreSQL: LND's foreign keys and unique constraints, added after the bulk load.

On PostgreSQL every foreign key is a trigger per inserted row and every unique
constraint an index probe per row: on a 100k load they were ~70% of the server's
COPY time (issue 11: 7.5 -> 1.8 s of server CPU with both deferred, rebuilt in
~1.7 s). So on tables the run created (never on lnd's own: lnd may read them
meanwhile) they are dropped with the run record that lists them and added back
in the transaction that records the last chunk, like :mod:`.deferred`'s indexes.
Primary keys, NOT NULL and CHECK constraints stay: they cost little, and a
resumed chunk can never duplicate a row while the primary keys are there.

The definitions are parsed from our own migration files (LND's DDL rendered for
PostgreSQL), never copied from the catalog. Unique constraints carry their name
in that DDL; LND declares its foreign keys inline and unnamed, so their names are
the ones the server gave them when the migration ran, read from the catalog at
drop time and kept in the run record -- only after checking that the catalog's
definition is exactly the one the DDL text re-creates. Re-added this way the
catalog is the one LND's migrations leave (names, definitions, indexes).

A bad row is no longer refused inside its chunk: a failed re-add is diagnosed by
:mod:`.violations`, which names the payment.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import peewee

from . import introspect
from .models import LND_PAYMENT_TABLES
from .schema import list_migrations, render_sql, split_statements
from .transactions import write_txn

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)$", re.I | re.S)
_ALTER = re.compile(r"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.I)
_UNIQUE = re.compile(r"^CONSTRAINT\s+([A-Za-z_][A-Za-z0-9_]*)\s+UNIQUE\s*\(([^()]*)\)$", re.I)
_REFERENCES = re.compile(r"REFERENCES\s+([^\s(]+)\s*\(([^()]*)\)", re.I)
_FK = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s+.*?\bREFERENCES\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)(.*)$",
                 re.I | re.S)

LND_TABLES = frozenset(LND_PAYMENT_TABLES)


@dataclass(frozen=True)
class Constraint:
    """One deferrable constraint as LND's DDL declares it."""

    key: str  # a unique constraint's own name; a foreign key's "table.column"
    table: str
    kind: str  # "u" (unique) or "f" (foreign key)
    columns: tuple[str, ...]
    ref_table: str | None
    ref_columns: tuple[str, ...]
    clause: str  # what follows ADD CONSTRAINT <name>, as the DDL says it

    def canonical(self) -> str:
        """The clause in ``pg_get_constraintdef``'s spelling (to compare with the catalog)."""
        return _canon(self.clause)


def _canon(text: str) -> str:
    text = " ".join(text.split())
    return re.sub(r"\s*([(),])\s*", r"\1", text).upper()


def _items(body: str) -> list[str]:
    """A CREATE TABLE body split at its top-level commas."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(body[start:i])
            start = i + 1
    out.append(body[start:])
    return [" ".join(s.split()) for s in out if s.strip()]


def _cols(text: str) -> tuple[str, ...]:
    cols = tuple(c.strip() for c in text.split(","))
    if not all(_NAME.match(c) for c in cols):
        raise ValueError(f"unexpected column list in LND's DDL: {text!r}")
    return cols


@functools.lru_cache(maxsize=1)
def definitions() -> tuple[Constraint, ...]:
    """Every unique constraint and foreign key of LND's payment tables in the migration
    files, in creation order. A table some later file ALTERs is left out (its
    constraints might no longer be what the CREATE TABLE says)."""
    found: list[Constraint] = []
    altered: set[str] = set()
    for mig in list_migrations():
        for stmt in split_statements(render_sql(mig.up_sql, "postgres")):
            m = _ALTER.match(stmt)
            if m:
                altered.add(m.group(1))
                continue
            m = _TABLE.match(stmt.strip())
            if m is None or m.group(1) not in LND_TABLES:
                continue
            table = m.group(1)
            for item in _items(m.group(2)):
                u = _UNIQUE.match(item)
                if u:
                    cols = _cols(u.group(2))
                    found.append(Constraint(u.group(1), table, "u", cols, None, (),
                                            f"UNIQUE ({', '.join(cols)})"))
                    continue
                if item.upper().startswith(("CONSTRAINT ", "CHECK", "PRIMARY KEY", "UNIQUE", "FOREIGN KEY")):
                    continue  # CHECKs stay; LND declares no other table-level keys
                f = _FK.match(item)
                if f:
                    col, ref, rcols, tail = f.group(1), f.group(2), _cols(f.group(3)), " ".join(f.group(4).split())
                    found.append(Constraint(f"{table}.{col}", table, "f", (col,), ref, rcols,
                                            f"FOREIGN KEY ({col}) REFERENCES {ref}({', '.join(rcols)})"
                                            + (f" {tail}" if tail else "")))
    return tuple(c for c in found if c.table not in altered and (c.ref_table or c.table) not in altered)


def by_key() -> dict[str, Constraint]:
    return {c.key: c for c in definitions()}


def _catalog(db: peewee.Database) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """``{(table, kind): [(name, definition), ...]}`` for the unique and foreign key
    constraints in the current schema."""
    rows = db.execute_sql(
        "SELECT rel.relname, con.contype, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con "
        "JOIN pg_class rel ON rel.oid = con.conrelid JOIN pg_namespace n ON n.oid = rel.relnamespace "
        "WHERE n.nspname = current_schema() AND con.contype IN ('u', 'f')"
    ).fetchall()
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for table, kind, name, definition in rows:
        out.setdefault((table, kind), []).append((name, definition))
    return out


def deferrable(db: peewee.Database) -> list[list[str]]:
    """``[[key, name], ...]`` of LND's unique constraints and foreign keys present on the
    target right now whose catalog definition is exactly what the DDL re-creates
    ([] on SQLite, which cannot drop a constraint without rebuilding the table)."""
    if not introspect.is_postgres(db):
        return []
    cat = _catalog(db)
    out: list[list[str]] = []
    for c in definitions():
        matches = [name for name, d in cat.get((c.table, c.kind), []) if _canon(d) == c.canonical()
                   and (c.kind == "f" or name == c.key)]
        if len(matches) == 1 and _NAME.match(matches[0]):
            out.append([c.key, matches[0]])
    return [entry for entry in out if entry[0] not in _still_referenced(cat, out)]


def _still_referenced(cat, chosen: list[list[str]]) -> set[str]:
    """Keys of the unique constraints among ``chosen`` that a foreign key left in place
    references (the server refuses to drop those; any table's foreign key counts)."""
    known = by_key()
    going = {(known[k].table, n) for k, n in chosen if known[k].kind == "f"}
    referenced = set()
    for (table, kind), items in cat.items():
        if kind != "f":
            continue
        for name, definition in items:
            m = _REFERENCES.search(definition)
            if m and (table, name) not in going:
                referenced.add((m.group(1).split(".")[-1].strip('"'), _canon(m.group(2))))
    return {k for k, _n in chosen if known[k].kind == "u"
            and (known[k].table, _canon(", ".join(known[k].columns))) in referenced}


def _checked(entries) -> list[tuple[Constraint, str]]:
    known = by_key()
    out = []
    for entry in entries:
        key, name = entry
        c = known.get(key)
        if c is None or not _NAME.match(name) or (c.kind == "u" and name != c.key):
            raise ValueError(f"not one of LND's deferrable constraints: {entry!r}")
        out.append((c, name))
    return out


def drop(db: peewee.Database, entries) -> None:
    """Drop these constraints, foreign keys first (inside the caller's transaction)."""
    pairs = _checked(entries)
    for c, name in sorted(pairs, key=lambda p: p[0].kind != "f"):
        db.execute_sql(f'ALTER TABLE "{c.table}" DROP CONSTRAINT IF EXISTS "{name}"')


def present(db: peewee.Database) -> set[tuple[str, str]]:
    """``{(table, name)}`` of the unique and foreign key constraints now in the schema."""
    return {(t, n) for (t, _k), items in _catalog(db).items() for n, _d in items}


def build(db: peewee.Database, entries, on_violation) -> None:
    """Add these constraints back from LND's DDL, unique ones first (a foreign key may
    reference them); those already there are skipped. Each runs in a savepoint: when
    the rows violate it, ``on_violation(constraint, name)`` is called with the
    transaction still usable (to query the offending rows) and must raise."""
    pairs = _checked(entries)
    have = present(db)
    for c, name in sorted(pairs, key=lambda p: p[0].kind == "f"):
        if (c.table, name) in have:
            continue
        try:
            with write_txn(db):  # a savepoint
                db.execute_sql(f'ALTER TABLE "{c.table}" ADD CONSTRAINT "{name}" {c.clause}')
        except peewee.IntegrityError:
            on_violation(c, name)
            raise  # on_violation must raise; never carry on with a constraint missing
