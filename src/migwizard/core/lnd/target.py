"""Which lnd database is the target, in words, and lnd's own version-14 record.

lnd keeps two ledgers (``../shared/fixtures/lnd-sqldb-migrations/README.md``):
golang-migrate's ``schema_migrations(version, dirty)`` counts schema files,
``migration_tracker(version, migration_time)`` counts lnd's *global* steps,
schema files and in-code data migrations alike. Global 14 is the in-code
``kv_payments_migration`` (schema file version 11). A node whose payments
migration failed at start-up therefore stands at tracker 13 / schema 11 with
empty payment tables -- exactly the state in which migwizard may fill them and
record 14 itself, after which lnd applies files 000012-000015 on its own.

Every other state is refused with a message saying what to do, except a
database lnd never opened, which receives a standalone copy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from ..sql.schema import LndSchemaState, detect_lnd_schema
from . import _sqlutil
from .errors import LndError

#: lnd's global version of ``kv_payments_migration`` (``config_builder.go``).
PAYMENTS_MIGRATION_VERSION = 14
#: The global version right before it (file 000011_payment_duplicates).
READY_TRACKER_VERSION = 13
#: golang-migrate's schema version at global 13 and 14.
READY_SCHEMA_VERSION = 11

#: Highest global version each lnd release line records (sqldb/migrations.go
#: at v0.19.0, v0.20.0, v0.21.0): how we name the lnd that last opened a DB.
_RELEASE_HORIZON: tuple[tuple[int, str], ...] = ((7, "v0.19"), (10, "v0.20"), (18, "v0.21"))

_START_LND_HINT = (
    "start lnd v0.21.x once with db.use-native-sql=true (same db.backend, and "
    "without db.skip-native-sql-migration, which would record version 14 with no "
    "payments): it creates the payment tables (schema files 000010/000011, "
    "migration_tracker 12-13) and then runs its own payments migration; if that "
    "fails, lnd stops at migration_tracker 13 and migwizard can take over from there"
)


class TargetCase(enum.Enum):
    """What the target database is, from lnd's point of view."""

    #: tracker 13, schema 11 clean: lnd's payments migration failed or never ran.
    READY = "ready"
    #: lnd's bookkeeping below 13 (or schema_migrations without a tracker).
    TOO_OLD = "too-old"
    #: tracker 14 or above: lnd has recorded its payments migration.
    ALREADY_MIGRATED = "already-migrated"
    #: no lnd bookkeeping at all: a new file or database, standalone copy.
    STANDALONE = "standalone"
    #: schema_migrations.dirty: a schema file failed half-way.
    DIRTY = "dirty"
    #: tracker and schema_migrations disagree in a way lnd never leaves behind.
    INCONSISTENT = "inconsistent"

    @property
    def may_migrate(self) -> bool:
        return self in (TargetCase.READY, TargetCase.STANDALONE)

    @property
    def records_version_14(self) -> bool:
        """Whether the final commit must write ``migration_tracker`` 14."""
        return self is TargetCase.READY


@dataclass(frozen=True)
class LndTarget:
    """The classification plus the facts behind it and a sentence for users."""

    case: TargetCase
    state: LndSchemaState
    message: str

    @property
    def tracker_version(self) -> int | None:
        return self.state.tracker_version

    @property
    def schema_version(self) -> int | None:
        return self.state.schema_version


def lnd_release_for(tracker_version: int) -> str:
    """The lnd release line whose final global version is ``tracker_version``
    or above (for "last opened by lnd v0.20.x")."""
    for horizon, release in _RELEASE_HORIZON:
        if tracker_version <= horizon:
            return release
    return "newer than v0.21"


def classify_target(db) -> LndTarget:
    """Read-only: classify a peewee target database (see :class:`TargetCase`)."""
    state = detect_lnd_schema(db)
    return classify_state(state)


def classify_state(state: LndSchemaState) -> LndTarget:
    """The pure part of :func:`classify_target` (testable without a database)."""
    tracker, schema = state.tracker_version, state.schema_version

    def result(case: TargetCase, message: str) -> LndTarget:
        return LndTarget(case, state, message)

    if state.schema_dirty:
        return result(TargetCase.DIRTY, (
            f"lnd's schema_migrations is dirty at schema version {schema}: one of lnd's "
            f"schema files failed half-way; lnd refuses this database itself. Restore it "
            f"from a backup (or fix the half-applied file {schema:06d} by hand) before "
            "migrating payments"
        ))
    if not state.has_migration_tracker:
        if state.has_schema_migrations:
            return result(TargetCase.TOO_OLD, (
                f"lnd's database has schema_migrations at version {schema} but no "
                "migration_tracker: it was created by an lnd older than v0.19; "
                + _START_LND_HINT
            ))
        return result(TargetCase.STANDALONE, (
            "not lnd's database (no schema_migrations, no migration_tracker): the "
            "payments go into a standalone copy; lnd's own bookkeeping is not touched"
        ))
    if tracker is None:
        return result(TargetCase.TOO_OLD, (
            "lnd's migration_tracker is empty: lnd opened this database but applied "
            "none of its migrations; " + _START_LND_HINT
        ))
    if tracker >= PAYMENTS_MIGRATION_VERSION:
        return result(TargetCase.ALREADY_MIGRATED, (
            f"lnd's migration_tracker is at {tracker}: lnd has already recorded its "
            f"payments migration (version {PAYMENTS_MIGRATION_VERSION}) and no longer "
            "reads the KV payments. When the KV store holds payments this database "
            "lacks, --backfill brings them back in next to lnd's own (preflight says "
            "whether that is the case); otherwise use a new SQLite file or empty "
            "PostgreSQL database for a standalone copy"
        ))
    if tracker < READY_TRACKER_VERSION:
        return result(TargetCase.TOO_OLD, (
            f"lnd's migration_tracker is at {tracker} (schema version {schema}): "
            f"last opened by lnd {lnd_release_for(tracker)}.x, which has no payment "
            "tables yet (they arrive with global versions 12-13 in lnd v0.21); "
            + _START_LND_HINT
        ))
    # tracker == 13
    if schema != READY_SCHEMA_VERSION:
        return result(TargetCase.INCONSISTENT, (
            f"lnd's migration_tracker is at {tracker} but schema_migrations is at "
            f"{schema}, expected {READY_SCHEMA_VERSION}: lnd never leaves this state; "
            "refusing to guess which ledger is right"
        ))
    if not (state.has_payment_tables and state.has_duplicates_table):
        return result(TargetCase.INCONSISTENT, (
            f"lnd's migration_tracker is at {tracker} but its payment tables are "
            "missing: someone dropped them; restore the database from a backup"
        ))
    return result(TargetCase.READY, (
        f"lnd's own database, stopped right before its payments migration "
        f"(migration_tracker {tracker}, schema {schema}): migwizard fills the payment "
        f"tables and records version {PAYMENTS_MIGRATION_VERSION} in the final commit; "
        "lnd then applies its schema files 000012-000015 itself on its next start"
    ))


def go_time_string(now: datetime | None = None) -> str:
    """``now`` (default: local time) the way Go's ``time.Time.String()`` prints
    it, which is how modernc.org/sqlite stores lnd's ``time.Now()`` in a
    TIMESTAMP column: ``2026-06-14 11:12:44.123456789 +0200 CEST`` (fraction
    trimmed of trailing zeros, omitted when zero; the monotonic ``m=+...``
    suffix lnd's values carry is process-relative and left out -- modernc
    strips it on read anyway)."""
    now = now if now is not None and now.tzinfo else (now or datetime.now()).astimezone()
    text = now.strftime("%Y-%m-%d %H:%M:%S")
    if now.microsecond:
        text += "." + f"{now.microsecond:06d}".rstrip("0")
    return f"{text} {now.strftime('%z')} {now.tzname() or now.strftime('%z')}"


def record_payments_migration(conn) -> None:
    """Insert ``migration_tracker`` version 14, as lnd's ``SetMigration`` does
    (``INSERT INTO migration_tracker (version, migration_time) VALUES ($1, $2)``
    with ``time.Now()``).

    Must run inside the caller's write transaction, the same one that marks
    the run committed, so the payment rows and lnd's record appear together.
    Re-checks the tracker inside that transaction: it must be exactly 13.
    ``conn``: the target as a peewee Database, sqlite3 or psycopg connection.
    """
    (current,) = _sqlutil.execute(conn, "SELECT MAX(version) FROM migration_tracker").fetchone()
    if current is None or int(current) != READY_TRACKER_VERSION:
        raise LndError(
            f"migration_tracker is at {current}, not {READY_TRACKER_VERSION}: refusing to "
            f"record version {PAYMENTS_MIGRATION_VERSION}"
        )
    if _sqlutil.dialect(conn) == "sqlite":
        when: object = go_time_string()
    else:
        # pgx sends the local wall clock of time.Now() for TIMESTAMP WITHOUT
        # TIME ZONE, truncated to microseconds.
        when = datetime.now().replace(tzinfo=None)
    _sqlutil.execute(
        conn,
        "INSERT INTO migration_tracker (version, migration_time) VALUES (?, ?)",
        (PAYMENTS_MIGRATION_VERSION, when),
    )


__all__ = [
    "LndTarget",
    "PAYMENTS_MIGRATION_VERSION",
    "READY_SCHEMA_VERSION",
    "READY_TRACKER_VERSION",
    "TargetCase",
    "classify_state",
    "classify_target",
    "go_time_string",
    "lnd_release_for",
    "record_payments_migration",
]
