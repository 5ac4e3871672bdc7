"""Migration files: hygiene, apply/rollback, idempotency, refusals, LND adoption."""

import re

import pytest

from migwizard.core.sql import introspect, schema
from migwizard.core.sql.models import LND_PAYMENT_TABLES
from migwizard.core.sql.schema import (
    LND_MIGRATION_MAP,
    MIGRATIONS_DIR,
    SchemaError,
    TRACKING_TABLE,
    apply_migrations,
    detect_lnd_schema,
    list_migrations,
    rollback_migrations,
    schema_version,
)


def test_file_names_and_pairs():
    files = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert files, "no migration files shipped"
    pattern = re.compile(r"^\d{6}_[a-z0-9_]+\.(up|down)\.sql$")
    assert all(pattern.match(f) for f in files), files
    ups = {f.split(".")[0] for f in files if f.endswith(".up.sql")}
    downs = {f.split(".")[0] for f in files if f.endswith(".down.sql")}
    assert ups == downs
    versions = sorted(int(u[:6]) for u in ups)
    assert versions == list(range(1, len(versions) + 1))
    assert len(set(versions)) == len(ups)
    assert [m.version for m in list_migrations()] == versions


def test_lnd_mapping_in_headers_and_constant():
    expected = {1: 10, 2: 11, 3: 13, 4: 14, 5: None}
    assert LND_MIGRATION_MAP == expected
    for mig in list_migrations():
        for text in (mig.up_sql, mig.down_sql):
            header = text.splitlines()[0]
            assert header.startswith(f"-- migwizard {mig.version:06d}_{mig.name}")
            if mig.lnd_version is not None:
                assert f"LND sqldb/sqlc/migrations/{mig.lnd_version:06d}_" in header


def test_pg_rendering_is_lnds_string_replacement():
    up = list_migrations()[0].up_sql
    pg = schema.render_sql(up, "postgres")
    assert "BLOB" not in pg
    assert "attempt_index BIGSERIAL PRIMARY KEY" in pg
    assert "hop_id BIGSERIAL PRIMARY KEY" in pg
    assert "created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP" in pg
    assert schema.render_sql(up, "sqlite") == up


def test_split_statements():
    sql = "-- c; x\nCREATE TABLE a (x TEXT DEFAULT 'a;b'); -- tail\n\nDROP TABLE a;"
    assert schema.split_statements(sql) == ["CREATE TABLE a (x TEXT DEFAULT 'a;b')", "DROP TABLE a"]


def test_each_down_reverses_its_up(target_db):
    db = target_db
    for mig in list_migrations():
        before = introspect.snapshot(db, exclude=(TRACKING_TABLE,))
        assert apply_migrations(db, mig.version) == [mig.version]
        after = introspect.snapshot(db, exclude=(TRACKING_TABLE,))
        assert after != before, f"{mig.name} changed nothing"
        assert rollback_migrations(db, mig.version - 1) == [mig.version]
        assert introspect.snapshot(db, exclude=(TRACKING_TABLE,)) == before, mig.name
        apply_migrations(db, mig.version)
    assert schema_version(db) == list_migrations()[-1].version
    assert rollback_migrations(db, 0) == [5, 4, 3, 2, 1]
    assert introspect.table_names(db) == [TRACKING_TABLE]


def test_apply_is_idempotent(target_db):
    assert apply_migrations(target_db) == [1, 2, 3, 4, 5]
    snap = introspect.snapshot(target_db)
    assert apply_migrations(target_db) == []
    assert introspect.snapshot(target_db) == snap
    applied = schema.applied_migrations(target_db)
    assert [a.version for a in applied] == [1, 2, 3, 4, 5]
    assert all(a.checksum == m.checksum for a, m in zip(applied, list_migrations()))
    assert not any(a.adopted for a in applied)
    assert schema.payment_tables_created_by_us(target_db)


def test_refuses_edited_migration(migrated_db):
    migrated_db.execute_sql(f"UPDATE {TRACKING_TABLE} SET checksum = 'deadbeef' WHERE version = 2")
    with pytest.raises(SchemaError, match="edited"):
        apply_migrations(migrated_db)
    with pytest.raises(SchemaError, match="edited"):
        rollback_migrations(migrated_db, 0)


def test_refuses_newer_schema(migrated_db):
    migrated_db.execute_sql(
        f"INSERT INTO {TRACKING_TABLE} (version, name, checksum, applied_at, adopted) "
        "VALUES (99, 'future', 'x', '2030-01-01', 0)"
    )
    with pytest.raises(SchemaError, match="newer"):
        apply_migrations(migrated_db)


def test_failed_migration_leaves_previous_version(target_db, monkeypatch):
    apply_migrations(target_db, 4)
    real = schema._run_file

    def boom(db, sql):
        real(db, sql)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(schema, "_run_file", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        apply_migrations(target_db)
    monkeypatch.setattr(schema, "_run_file", real)
    assert schema_version(target_db) == 4
    assert "migwizard_runs" not in introspect.table_names(target_db)
    assert apply_migrations(target_db) == [5]


# --- targets where lnd created the payment tables ---------------------------


def _make_lnd_target(db, *, tracker_version=18, schema_version_=15, upto=4):
    """What an lnd that ran its SQL migrations leaves behind (schema part)."""
    for mig in list_migrations()[:upto]:
        schema._run_file(db, mig.up_sql)
    db.execute_sql("CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, dirty BOOLEAN NOT NULL)")
    db.execute_sql(f"INSERT INTO schema_migrations VALUES ({schema_version_}, false)")
    db.execute_sql(
        "CREATE TABLE migration_tracker (version INTEGER UNIQUE NOT NULL, migration_time TIMESTAMP NOT NULL)"
    )
    # lnd writes time.Now() unnormalised: local zone plus monotonic suffix.
    when = "2026-03-01 10:00:00.1" if introspect.is_postgres(db) else "2026-03-01 10:00:00.1 +0100 CET m=+0.01"
    for v in range(1, tracker_version + 1):
        db.execute_sql(f"INSERT INTO migration_tracker VALUES ({v}, '{when}')")


def test_detect_fresh_target(target_db):
    state = detect_lnd_schema(target_db)
    assert not state.has_any_payment_table and not state.lnd_managed
    assert state.schema_version is None and state.tracker_version is None


def test_lnd_created_tables_are_adopted_not_recreated(target_db):
    db = target_db
    _make_lnd_target(db)
    from migwizard.core.sql.values import dialect_for

    p = "%s" if introspect.is_postgres(db) else "?"
    db.execute_sql(
        f"INSERT INTO payments (id, amount_msat, created_at, payment_identifier) VALUES (1, 10, {p}, {p})",
        (dialect_for(db).ts(1704110400 * 10**9), b"\x00" * 32),
    )
    state = detect_lnd_schema(db)
    assert state.has_payment_tables and state.has_duplicates_table and state.lnd_managed
    assert (state.schema_version, state.schema_dirty, state.tracker_version) == (15, False, 18)
    assert state.kv_payments_migration_recorded and state.has_payment_rows

    assert apply_migrations(db) == [5]
    applied = schema.applied_migrations(db)
    assert [(a.version, a.adopted) for a in applied] == [(1, True), (2, True), (3, True), (4, True), (5, False)]
    assert not schema.payment_tables_created_by_us(db)
    assert db.execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0] == 1
    assert apply_migrations(db) == []

    # Rolling back stops before lnd's tables.
    with pytest.raises(SchemaError, match="created by lnd"):
        rollback_migrations(db, 0)
    names = introspect.table_names(db)
    assert "migwizard_runs" not in names
    assert set(LND_PAYMENT_TABLES) <= set(names)


def test_lnd_tables_with_wrong_columns_are_refused(target_db):
    db = target_db
    _make_lnd_target(db)
    db.execute_sql("DROP TABLE payment_route_hop_blinded")
    db.execute_sql("CREATE TABLE payment_route_hop_blinded (hop_id INTEGER PRIMARY KEY, encrypted_data BLOB)".replace(
        "BLOB", "BYTEA" if introspect.is_postgres(db) else "BLOB"))
    with pytest.raises(SchemaError, match="blinded_path_total_amt is missing"):
        apply_migrations(db)
    assert schema.applied_migrations(db) == []


def test_partial_lnd_schema_is_refused(target_db):
    _make_lnd_target(target_db, upto=1)  # lnd dev build at schema 10: no duplicates table
    with pytest.raises(SchemaError, match="payment_duplicates"):
        apply_migrations(target_db)


def test_dirty_lnd_schema_is_refused(target_db):
    _make_lnd_target(target_db)
    target_db.execute_sql("UPDATE schema_migrations SET dirty = true")
    with pytest.raises(SchemaError, match="dirty"):
        apply_migrations(target_db)
