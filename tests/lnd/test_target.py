"""Classifying lnd's database and recording version 14, on real lnd schemas
built from lnd's own files (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from migwizard.core.lnd.errors import LndError
from migwizard.core.lnd.target import (
    TargetCase,
    classify_state,
    classify_target,
    go_time_string,
    record_payments_migration,
)
from migwizard.core.sql.introspect import snapshot
from migwizard.core.sql.schema import LndSchemaState, verify_lnd_tables
from migwizard.core.sql.transactions import write_txn
from tests.support import lnddb


@pytest.fixture(autouse=True)
def _fixtures():
    lnddb.require_lnd_fixtures()


def _rows(db, table):
    return db.execute_sql(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()


def test_tracker_13_is_ready_and_version_14_is_recorded(target_db):
    lnddb.build_lnd_db(target_db, 13)
    got = classify_target(target_db)
    assert got.case is TargetCase.READY, got.message
    assert got.case.records_version_14 and got.case.may_migrate
    assert (got.tracker_version, got.schema_version) == (13, 11)
    assert "000012-000015" in got.message
    assert verify_lnd_tables(target_db) == []
    before = {t: _rows(target_db, t) for t in ("invoices", "graph_nodes", "graph_source_nodes", "schema_migrations")}
    with write_txn(target_db):
        record_payments_migration(target_db)
    assert lnddb.tracker_version(target_db) == 14
    assert classify_target(target_db).case is TargetCase.ALREADY_MIGRATED
    assert {t: _rows(target_db, t) for t in before} == before
    # lnd then applies its later files on top
    assert lnddb.apply_later_files(target_db) == [15, 16, 17, 18]
    assert _rows(target_db, "schema_migrations")[0][0] == 15


def test_record_refuses_unless_tracker_is_13(target_db):
    lnddb.build_lnd_db(target_db, 12, sample_rows=False)
    with pytest.raises(LndError, match="at 12, not 13"):
        with write_txn(target_db):
            record_payments_migration(target_db)
    assert lnddb.tracker_version(target_db) == 12


def test_recorded_row_rolls_back_with_the_transaction(target_db):
    lnddb.build_lnd_db(target_db, 13, sample_rows=False)
    with pytest.raises(RuntimeError, match="boom"):
        with write_txn(target_db):
            record_payments_migration(target_db)
            raise RuntimeError("boom")
    assert lnddb.tracker_version(target_db) == 13


@pytest.mark.parametrize("tracker,release", [(7, "v0.19"), (10, "v0.20"), (12, "v0.21")])
def test_below_13_refused_naming_the_lnd_to_start(target_db, tracker, release):
    lnddb.build_lnd_db(target_db, tracker, sample_rows=False)
    got = classify_target(target_db)
    assert got.case is TargetCase.TOO_OLD
    assert f"at {tracker}" in got.message and f"lnd {release}.x" in got.message
    assert "start lnd v0.21.x once with db.use-native-sql=true" in got.message
    assert not got.case.may_migrate


def test_full_schema_is_already_migrated(target_db):
    lnddb.build_lnd_db(target_db, 18)
    got = classify_target(target_db)
    assert got.case is TargetCase.ALREADY_MIGRATED
    assert "at 18" in got.message and "backfill" in got.message


def test_empty_database_is_standalone(target_db):
    got = classify_target(target_db)
    assert got.case is TargetCase.STANDALONE and got.case.may_migrate
    assert not got.case.records_version_14


def test_dirty_schema_refused(target_db):
    lnddb.build_lnd_db(target_db, 13, sample_rows=False)
    with write_txn(target_db):
        target_db.execute_sql("UPDATE schema_migrations SET dirty = TRUE")
    got = classify_target(target_db)
    assert got.case is TargetCase.DIRTY and "dirty at schema version 11" in got.message


def test_pure_cases():
    base = dict(has_schema_migrations=True, has_migration_tracker=True)
    assert classify_state(LndSchemaState(schema_version=4, has_schema_migrations=True, schema_dirty=False)).case is TargetCase.TOO_OLD
    assert classify_state(LndSchemaState(**base, tracker_version=None, schema_version=None)).case is TargetCase.TOO_OLD
    # tracker 13 but schema 12: lnd never leaves that
    s = LndSchemaState(**base, tracker_version=13, schema_version=12, schema_dirty=False)
    assert classify_state(s).case is TargetCase.INCONSISTENT
    # tracker 13 without payment tables
    s = LndSchemaState(**base, tracker_version=13, schema_version=11, schema_dirty=False)
    assert classify_state(s).case is TargetCase.INCONSISTENT


def test_go_time_string_shape():
    from datetime import datetime, timedelta, timezone

    t = datetime(2026, 6, 14, 9, 12, 44, 123400, tzinfo=timezone(timedelta(hours=2), "CEST"))
    assert go_time_string(t) == "2026-06-14 09:12:44.1234 +0200 CEST"
    t0 = datetime(2026, 6, 14, 9, 12, 44, tzinfo=timezone.utc)
    assert go_time_string(t0) == "2026-06-14 09:12:44 +0000 UTC"


def test_other_tables_untouched_by_record(target_db):
    lnddb.build_lnd_db(target_db, 13)
    before = snapshot(target_db)
    with write_txn(target_db):
        record_payments_migration(target_db)
    assert snapshot(target_db) == before  # schema unchanged (rows checked above)
