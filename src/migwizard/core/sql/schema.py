"""Apply, track and roll back the schema in ``migrations/``.

Files are ``NNNNNN_name.up.sql`` / ``.down.sql``, written in LND's SQLite
dialect; PostgreSQL gets LND's own string replacements (spec §3.1), so the
tables are the ones lnd would create. Each applied file is recorded, with the
SHA-256 of its up file, in ``migwizard_schema_migrations``. We refuse to touch
a database whose recorded checksum differs from the file (someone edited a
shipped migration: the DB may not be what the file says) or whose recorded
version is newer than this build knows (a newer migwizard wrote it).

Targets where **lnd already created the payment tables** (an existing
lnd.sqlite / lnd Postgres DB): lnd owns those tables and its own bookkeeping
(``schema_migrations``, ``migration_tracker``), so we never re-create or alter
them. Instead the LND-mirroring migrations (1-4) are verified (every expected
column, type and NULL rule must be there) and recorded as *adopted*; only our
bookkeeping migration runs. Adopted migrations are never rolled back: their
down would drop lnd's tables. Index-only differences (lnd < schema 13/14) are
left for lnd, which applies its 000013/000014 itself at start-up.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import peewee

from . import introspect
from .models import LND_000010_TABLES, LND_PAYMENT_MODELS, LND_PAYMENT_TABLES
from .transactions import write_txn

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
TRACKING_TABLE = "migwizard_schema_migrations"

#: migwizard version -> LND sqldb/sqlc/migrations schema version (None: ours).
LND_MIGRATION_MAP: dict[int, int | None] = {1: 10, 2: 11, 3: 13, 4: 14, 5: None}
#: Versions that mirror LND and are adopted when lnd created the tables.
LND_MIRROR_VERSIONS: frozenset[int] = frozenset(v for v, l in LND_MIGRATION_MAP.items() if l)

_NAME_RE = re.compile(r"^(\d{6})_([a-z0-9_]+)\.(up|down)\.sql$")

#: LND's Postgres rewrite, sqldb/postgres.go (order as there).
PG_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    ("BLOB", "BYTEA"),
    ("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"),
    (" TIMESTAMP", " TIMESTAMP WITHOUT TIME ZONE"),
)


class SchemaError(RuntimeError):
    """The target's schema state forbids going on (explained in the message)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up_path: Path
    down_path: Path
    lnd_version: int | None

    @property
    def up_sql(self) -> str:
        return self.up_path.read_text(encoding="utf-8")

    @property
    def down_sql(self) -> str:
        return self.down_path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up_path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: str
    adopted: bool


@dataclass(frozen=True)
class LndSchemaState:
    """What lnd itself left in the target (all None/False on a fresh DB)."""

    tables_present: tuple[str, ...] = ()
    has_schema_migrations: bool = False
    schema_version: int | None = None  # golang-migrate schema_migrations.version
    schema_dirty: bool | None = None
    has_migration_tracker: bool = False
    tracker_version: int | None = None  # max(migration_tracker.version)
    has_payment_rows: bool = False

    @property
    def has_payment_tables(self) -> bool:
        """All 000010 tables exist."""
        return set(LND_000010_TABLES) <= set(self.tables_present)

    @property
    def has_duplicates_table(self) -> bool:
        return "payment_duplicates" in self.tables_present

    @property
    def has_any_payment_table(self) -> bool:
        return bool(self.tables_present)

    @property
    def lnd_managed(self) -> bool:
        """lnd's migration bookkeeping exists: lnd has opened this database."""
        return self.has_schema_migrations or self.has_migration_tracker

    @property
    def kv_payments_migration_recorded(self) -> bool:
        """Global version 14 (lnd's own KV->SQL payments migration) is recorded."""
        return (self.tracker_version or 0) >= 14


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def list_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migrations, ordered; raises :class:`SchemaError` on a malformed set."""
    ups: dict[int, tuple[str, Path]] = {}
    downs: dict[int, tuple[str, Path]] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        m = _NAME_RE.match(path.name)
        if not m:
            raise SchemaError(f"migration file {path.name!r} does not follow NNNNNN_name.up|down.sql")
        version, name, kind = int(m.group(1)), m.group(2), m.group(3)
        bucket = ups if kind == "up" else downs
        if version in bucket:
            raise SchemaError(f"two {kind} migrations with version {version}")
        bucket[version] = (name, path)
    if set(ups) != set(downs):
        raise SchemaError(f"up/down mismatch for versions {sorted(set(ups) ^ set(downs))}")
    versions = sorted(ups)
    if versions != list(range(1, len(versions) + 1)):
        raise SchemaError(f"migration versions are not contiguous from 1: {versions}")
    out = []
    for v in versions:
        if ups[v][0] != downs[v][0]:
            raise SchemaError(f"version {v}: up and down names differ")
        out.append(Migration(v, ups[v][0], ups[v][1], downs[v][1], LND_MIGRATION_MAP.get(v)))
    return out


def latest_version() -> int:
    return list_migrations()[-1].version


def render_sql(sql: str, db_or_dialect) -> str:
    """The file text for this dialect (LND's plain replacements on PostgreSQL)."""
    name = getattr(db_or_dialect, "name", db_or_dialect)
    if isinstance(db_or_dialect, peewee.Database):
        name = "postgres" if introspect.is_postgres(db_or_dialect) else "sqlite"
    if name == "postgres":
        for old, new in PG_REPLACEMENTS:
            sql = sql.replace(old, new)
    return sql


def split_statements(sql: str) -> list[str]:
    """Split a file into statements (drivers run one at a time; sqlite3's
    executescript would COMMIT behind our back). Handles ``--`` comments and
    single-quoted strings, which is all our DDL uses."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    in_str = False
    while i < n:
        ch = sql[i]
        if in_str:
            buf.append(ch)
            if ch == "'":
                in_str = False
        elif ch == "'":
            in_str = True
            buf.append(ch)
        elif ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            continue
        elif ch == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
        else:
            buf.append(ch)
        i += 1
    stmt = "".join(buf).strip()
    if stmt:
        out.append(stmt)
    return out


def _run_file(db: peewee.Database, sql: str) -> None:
    for stmt in split_statements(render_sql(sql, db)):
        db.execute_sql(stmt)


# ---------------------------------------------------------------------------
# Tracking table
# ---------------------------------------------------------------------------


def _tracking_ddl(db: peewee.Database) -> str:
    # Not a migration file: it must exist before any migration runs. Plain
    # INTEGER key on both dialects (no BIGSERIAL: versions are given).
    return (
        f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " checksum TEXT NOT NULL,"
        " applied_at TEXT NOT NULL,"
        " adopted INTEGER NOT NULL DEFAULT 0"
        ")"
    )


def _ensure_tracking_table(db: peewee.Database) -> None:
    if not introspect.table_exists(db, TRACKING_TABLE):
        with write_txn(db):
            db.execute_sql(_tracking_ddl(db))


def applied_migrations(db: peewee.Database) -> list[AppliedMigration]:
    if not introspect.table_exists(db, TRACKING_TABLE):
        return []
    rows = db.execute_sql(
        f"SELECT version, name, checksum, applied_at, adopted FROM {TRACKING_TABLE} ORDER BY version"
    ).fetchall()
    return [AppliedMigration(int(v), n, c, str(a), bool(ad)) for v, n, c, a, ad in rows]


def schema_version(db: peewee.Database) -> int:
    """Highest recorded migwizard version, 0 when none."""
    applied = applied_migrations(db)
    return applied[-1].version if applied else 0


def _now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(db: peewee.Database, mig: Migration, adopted: bool) -> None:
    p = "%s" if introspect.is_postgres(db) else "?"
    db.execute_sql(
        f"INSERT INTO {TRACKING_TABLE} (version, name, checksum, applied_at, adopted) "
        f"VALUES ({p}, {p}, {p}, {p}, {p})",
        (mig.version, mig.name, mig.checksum, _now_text(), 1 if adopted else 0),
    )


def _check_recorded(applied: list[AppliedMigration], known: list[Migration]) -> None:
    by_version = {m.version: m for m in known}
    newest = known[-1].version if known else 0
    for a in applied:
        if a.version > newest:
            raise SchemaError(
                f"target schema is at migwizard version {a.version}, newer than this "
                f"build knows ({newest}); use a newer migwizard"
            )
        mig = by_version[a.version]
        if a.checksum != mig.checksum:
            raise SchemaError(
                f"migration {a.version:06d}_{a.name} recorded in the target differs "
                f"from {mig.up_path.name} (checksum {a.checksum[:12]} != "
                f"{mig.checksum[:12]}): a shipped migration was edited; refusing"
            )
    versions = [a.version for a in applied]
    if versions != list(range(1, len(versions) + 1)):
        raise SchemaError(f"recorded migrations are not contiguous: {versions}")


# ---------------------------------------------------------------------------
# LND detection
# ---------------------------------------------------------------------------


def detect_lnd_schema(db: peewee.Database) -> LndSchemaState:
    """Inspect what lnd left behind; read-only."""
    names = set(introspect.table_names(db))
    present = tuple(t for t in LND_PAYMENT_TABLES if t in names)
    state: dict = {"tables_present": present}
    if "schema_migrations" in names:
        state["has_schema_migrations"] = True
        row = db.execute_sql("SELECT version, dirty FROM schema_migrations LIMIT 1").fetchone()
        if row is not None:
            state["schema_version"] = int(row[0])
            state["schema_dirty"] = bool(row[1])
    if "migration_tracker" in names:
        state["has_migration_tracker"] = True
        (v,) = db.execute_sql("SELECT MAX(version) FROM migration_tracker").fetchone()
        state["tracker_version"] = None if v is None else int(v)
    if "payments" in names:
        state["has_payment_rows"] = (
            db.execute_sql("SELECT 1 FROM payments LIMIT 1").fetchone() is not None
        )
    return LndSchemaState(**state)


def verify_lnd_tables(db: peewee.Database) -> list[str]:
    """Differences between the payment tables in ``db`` and LND's schema
    (missing table, missing column, type or NULL rule); empty when they match.
    Extra columns are reported too: LND's reader would not know them."""
    problems: list[str] = []
    names = set(introspect.table_names(db))
    for model in LND_PAYMENT_MODELS:
        table = model._meta.table_name
        if table not in names:
            problems.append(f"table {table} is missing")
            continue
        actual = {c.name: c for c in introspect.columns(db, table)}
        for f in model._meta.sorted_fields:
            col = actual.pop(f.column_name, None)
            if col is None:
                problems.append(f"{table}.{f.column_name} is missing")
                continue
            if col.type != f.field_type:
                problems.append(f"{table}.{f.column_name} is {col.type}, expected {f.field_type}")
            want_notnull = not f.null
            if col.notnull != want_notnull:
                problems.append(
                    f"{table}.{f.column_name} is {'NOT NULL' if col.notnull else 'nullable'}, "
                    f"expected {'NOT NULL' if want_notnull else 'nullable'}"
                )
        for extra in actual:
            problems.append(f"{table}.{extra} is not in LND's schema")
    return problems


# ---------------------------------------------------------------------------
# Apply / roll back
# ---------------------------------------------------------------------------


def _adopt_lnd_tables(db: peewee.Database, pending: list[Migration]) -> list[Migration]:
    """Handle payment tables we did not create; returns what is left to run."""
    lnd = detect_lnd_schema(db)
    if not lnd.has_any_payment_table:
        return pending
    mirror = [m for m in pending if m.version in LND_MIRROR_VERSIONS]
    if not mirror:
        return pending
    if not (lnd.has_payment_tables and lnd.has_duplicates_table):
        missing = sorted(set(LND_PAYMENT_TABLES) - set(lnd.tables_present))
        raise SchemaError(
            "the target has some of LND's payment tables but not all "
            f"(missing: {', '.join(missing)}); start lnd once so it finishes its "
            "own schema migrations (schema >= 11), or use an empty target"
        )
    if lnd.schema_dirty:
        raise SchemaError(
            f"lnd's schema_migrations is dirty at version {lnd.schema_version}: "
            "lnd's own schema migration failed half-way; fix that first"
        )
    problems = verify_lnd_tables(db)
    if problems:
        raise SchemaError(
            "the payment tables in the target do not match LND's schema: " + "; ".join(problems)
        )
    with write_txn(db):
        for m in mirror:
            _record(db, m, adopted=True)
    return [m for m in pending if m not in mirror]


def apply_migrations(db: peewee.Database, target_version: int | None = None) -> list[int]:
    """Bring the schema up to ``target_version`` (default: latest).

    Idempotent; one transaction per migration, so a failure leaves the target
    at the last complete version. Returns the versions run (adopted ones are
    recorded but not returned).
    """
    known = list_migrations()
    _ensure_tracking_table(db)
    applied = applied_migrations(db)
    _check_recorded(applied, known)
    target = known[-1].version if target_version is None else target_version
    if target > known[-1].version:
        raise SchemaError(f"no migration {target}; latest is {known[-1].version}")
    done = {a.version for a in applied}
    pending = [m for m in known if m.version not in done and m.version <= target]
    if not done:
        pending = _adopt_lnd_tables(db, pending)
    ran: list[int] = []
    for mig in pending:
        with write_txn(db):
            _run_file(db, mig.up_sql)
            _record(db, mig, adopted=False)
        ran.append(mig.version)
    return ran


def rollback_migrations(db: peewee.Database, to_version: int = 0) -> list[int]:
    """Run downs in reverse until the schema is at ``to_version``.

    Stops with :class:`SchemaError` before an adopted (lnd-owned) migration.
    Returns the versions rolled back.
    """
    known = {m.version: m for m in list_migrations()}
    applied = applied_migrations(db)
    _check_recorded(applied, list(known.values()))
    undone: list[int] = []
    for a in reversed(applied):
        if a.version <= to_version:
            break
        if a.adopted:
            raise SchemaError(
                f"migration {a.version:06d}_{a.name} was created by lnd, not by migwizard; "
                "refusing to drop lnd's tables"
            )
        mig = known[a.version]
        with write_txn(db):
            _run_file(db, mig.down_sql)
            p = "%s" if introspect.is_postgres(db) else "?"
            db.execute_sql(f"DELETE FROM {TRACKING_TABLE} WHERE version = {p}", (a.version,))
        undone.append(a.version)
    return undone


def payment_tables_created_by_us(db: peewee.Database) -> bool:
    """True when migration 1 ran here (not adopted): a rollback may drop them."""
    for a in applied_migrations(db):
        if a.version == 1:
            return not a.adopted
    return False


__all__ = [
    "AppliedMigration",
    "LND_MIGRATION_MAP",
    "LND_MIRROR_VERSIONS",
    "LndSchemaState",
    "MIGRATIONS_DIR",
    "Migration",
    "PG_REPLACEMENTS",
    "SchemaError",
    "TRACKING_TABLE",
    "applied_migrations",
    "apply_migrations",
    "detect_lnd_schema",
    "latest_version",
    "list_migrations",
    "payment_tables_created_by_us",
    "render_sql",
    "rollback_migrations",
    "schema_version",
    "split_statements",
    "verify_lnd_tables",
]
