"""Build lnd's native database in the exact state a real node has.

lnd's schema files (``../shared/fixtures/lnd-sqldb-migrations/``, verbatim
from v0.21.2) are applied in lnd's GLOBAL order, with both ledgers written as
lnd writes them: ``migration_tracker`` created first (lnd does so when it opens
the database), then per global step the schema file (golang-migrate leaves
``schema_migrations`` = (file version, false)) and the tracker row. In-code
steps (7 invoices, 10 graph, 14 payments) record only the tracker row. The
default stops at 13: a node whose payments migration failed at start-up.

On PostgreSQL the files get lnd's string replacements (spec §3.1), the ones
``migwizard.core.sql.schema.render_sql`` applies.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import peewee
import pytest

from migwizard.core.lnd.target import go_time_string
from migwizard.core.sql.schema import render_sql, split_statements
from migwizard.core.sql.transactions import write_txn

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"
LND_MIGRATIONS_DIR = FIXTURES / "lnd-sqldb-migrations"

#: (global version, schema file version or None for an in-code step, schema
#: version after the step) -- lnd v0.21.2 ``sqldb/migrations.go``.
GLOBAL_STEPS: tuple[tuple[int, int | None, int], ...] = (
    (1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5), (6, 6, 6),
    (7, None, 6),  # kv_invoice_migration
    (8, 7, 7), (9, 8, 8),
    (10, None, 8),  # kv_graph_migration
    (11, 9, 9), (12, 10, 10), (13, 11, 11),
    (14, None, 11),  # kv_payments_migration
    (15, 12, 12), (16, 13, 13), (17, 14, 14), (18, 15, 15),
)
LATEST_GLOBAL = GLOBAL_STEPS[-1][0]

#: lnd's own DDL for the tracker (``sqldb/sqlite.go``/``postgres.go``), run at open.
_TRACKER_DDL = (
    "CREATE TABLE IF NOT EXISTS migration_tracker (\n"
    "\t\tversion INTEGER UNIQUE NOT NULL,\n"
    "\t\tmigration_time TIMESTAMP NOT NULL\n\t)"
)
#: golang-migrate's tables (database/sqlite and database/postgres drivers).
_SCHEMA_MIGRATIONS_DDL = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS schema_migrations (version uint64,dirty bool)",
        "CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON schema_migrations (version)",
    ),
    "postgres": (
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version bigint not null primary key, dirty boolean not null)",
    ),
}


def require_lnd_fixtures() -> Path:
    if not (LND_MIGRATIONS_DIR / "000001_invoices.up.sql").is_file():
        pytest.skip(f"lnd's schema files are missing ({LND_MIGRATIONS_DIR}); see ../shared/fixtures/README.md")
    return LND_MIGRATIONS_DIR


def _dialect(db: peewee.Database) -> str:
    return "sqlite" if isinstance(db, peewee.SqliteDatabase) else "postgres"


def _p(db: peewee.Database) -> str:
    return "?" if _dialect(db) == "sqlite" else "%s"


def _file(version: int, kind: str = "up") -> Path:
    matches = sorted(require_lnd_fixtures().glob(f"{version:06d}_*.{kind}.sql"))
    assert len(matches) == 1, f"expected one {kind} file for {version}: {matches}"
    return matches[0]


def _run_file(db: peewee.Database, path: Path) -> None:
    for stmt in split_statements(render_sql(path.read_text(encoding="utf-8"), _dialect(db))):
        db.execute_sql(stmt)


def _tracker_time(db: peewee.Database):
    return go_time_string() if _dialect(db) == "sqlite" else datetime.now().replace(tzinfo=None)


def tracker_version(db: peewee.Database) -> int:
    (v,) = db.execute_sql("SELECT MAX(version) FROM migration_tracker").fetchone()
    return int(v or 0)


def _apply_step(db: peewee.Database, global_version: int, file_version: int | None) -> None:
    p = _p(db)
    with write_txn(db):
        if file_version is not None:
            _run_file(db, _file(file_version))
            db.execute_sql("DELETE FROM schema_migrations")
            db.execute_sql(
                f"INSERT INTO schema_migrations (version, dirty) VALUES ({p}, {p})",
                (file_version, False),
            )
        db.execute_sql(
            f"INSERT INTO migration_tracker (version, migration_time) VALUES ({p}, {p})",
            (global_version, _tracker_time(db)),
        )


def open_as_lnd(db: peewee.Database) -> None:
    """What lnd does when it opens the native store: both ledgers exist."""
    with write_txn(db):
        db.execute_sql(_TRACKER_DDL)
        for ddl in _SCHEMA_MIGRATIONS_DDL[_dialect(db)]:
            db.execute_sql(ddl)


def apply_steps(db: peewee.Database, upto: int) -> list[int]:
    """Apply every global step above the current tracker up to ``upto``."""
    open_as_lnd(db)
    current = tracker_version(db)
    done = []
    for global_version, file_version, _schema in GLOBAL_STEPS:
        if current < global_version <= upto:
            _apply_step(db, global_version, file_version)
            done.append(global_version)
    return done


def build_lnd_db(db: peewee.Database, tracker: int = 13, *, sample_rows: bool = True) -> None:
    """An lnd native database at ``tracker`` (13: payments migration failed)."""
    assert 0 <= tracker <= LATEST_GLOBAL
    apply_steps(db, tracker)
    if sample_rows and tracker >= 9:
        insert_sample_rows(db)


def apply_later_files(db: peewee.Database) -> list[int]:
    """What lnd does on the start after version 14 is recorded: 000012-000015."""
    assert tracker_version(db) >= 14, "version 14 is not recorded yet"
    return apply_steps(db, LATEST_GLOBAL)


#: The node the sample graph rows say we are.
SAMPLE_SOURCE_PUBKEY = bytes.fromhex("02" + "11" * 32)


def insert_sample_rows(db: peewee.Database) -> None:
    """Two invoices and a graph with a source node, as lnd's in-code invoice
    and graph migrations (7, 10) would have left them."""
    p = _p(db)
    created = _tracker_time(db) if _dialect(db) == "sqlite" else datetime(2024, 1, 2, 3, 4, 5)
    with write_txn(db):
        for n in (1, 2):
            db.execute_sql(
                "INSERT INTO invoices (hash, preimage, memo, amount_msat, expiry, state, "
                "amount_paid_msat, is_amp, is_hodl, is_keysend, created_at) "
                f"VALUES ({', '.join([p] * 11)})",
                (bytes([n]) * 32, bytes([n + 10]) * 32, f"invoice {n}", 1000 * n, 3600, 0, 0,
                 False, False, False, created),
            )
        ids = []
        for pub, alias in ((SAMPLE_SOURCE_PUBKEY, "self"), (bytes.fromhex("03" + "22" * 32), "peer")):
            (node_id,) = db.execute_sql(
                f"INSERT INTO graph_nodes (version, pub_key, alias, last_update) "
                f"VALUES ({p}, {p}, {p}, {p}) RETURNING id",
                (1, pub, alias, int(datetime(2024, 1, 2, tzinfo=timezone.utc).timestamp())),
            ).fetchone()
            ids.append(node_id)
        db.execute_sql(f"INSERT INTO graph_source_nodes (node_id) VALUES ({p})", (ids[0],))


__all__ = [
    "FIXTURES",
    "GLOBAL_STEPS",
    "LATEST_GLOBAL",
    "LND_MIGRATIONS_DIR",
    "SAMPLE_SOURCE_PUBKEY",
    "apply_later_files",
    "apply_steps",
    "build_lnd_db",
    "create_kv_table",
    "insert_sample_rows",
    "open_as_lnd",
    "require_lnd_fixtures",
    "tracker_version",
]


#: lnd's KV-over-SQL table (``kvdb/sqlbase/schema.go`` newKVSchemaCreationCmd);
#: PostgreSQL gets ``kvdb/postgres``'s replacements.
_KV_DDL = """
CREATE TABLE IF NOT EXISTS {t}
(
    key BLOB NOT NULL,
    value BLOB,
    parent_id BIGINT,
    id INTEGER PRIMARY KEY,
    sequence BIGINT,
    CONSTRAINT {t}_parent FOREIGN KEY (parent_id)
        REFERENCES {t} (id)
        ON UPDATE NO ACTION
        ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS {t}_p
    ON {t} (parent_id);
CREATE UNIQUE INDEX IF NOT EXISTS {t}_up
    ON {t}
    (parent_id, key) WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS {t}_unp
    ON {t} (key) WHERE parent_id IS NULL;
"""


def create_kv_table(conn, table: str = "channeldb_kv") -> None:
    """lnd's KV table in ``conn`` (peewee db, sqlite3 or psycopg connection)."""
    from migwizard.core.lnd import _sqlutil

    ddl = _KV_DDL.format(t=table)
    if _sqlutil.dialect(conn) == "postgres":
        ddl = ddl.replace("BLOB", "BYTEA").replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY")
    for stmt in split_statements(ddl):
        _sqlutil.execute(conn, stmt)
