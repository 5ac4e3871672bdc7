"""PostgreSQL: LND's unique constraints and foreign keys are dropped for the load on tables
the run created and added back from LND's DDL after the last chunk (sql/pgconstraints.py).

The catalog a run leaves is the one LND's migrations create, whatever happens in
between (cancel, resume, a crash, a rollback); a run is never validated or committed
with one missing; and a row that breaks one -- no longer refused inside its chunk --
fails the run with a typed error that names the payment (sql/violations.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from migwizard.core.engine import ChunkCommitted, Engine, EngineError, RunState
from migwizard.core.engine.results import ExitCode
from migwizard.core.engine.runs import latest_run
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql import introspect, pgconstraints
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.schema import apply_migrations

from tests.engine.kvbuild import build_store, make_attempt, make_payment, seed_hash
from tests.engine.sqlexec import exec_sql
from tests.support import pg

ROOT = Path(__file__).resolve().parents[2]


def _catalog(url: str) -> tuple[list, list]:
    """Every constraint (table, name, type, definition) and index (table, name, definition)."""
    db = open_database(url)
    try:
        cons = db.execute_sql(
            "SELECT rel.relname, con.conname, con.contype, pg_get_constraintdef(con.oid), con.condeferrable, "
            "con.convalidated FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid "
            "WHERE rel.relnamespace = current_schema()::regnamespace ORDER BY 1, 2").fetchall()
        idx = db.execute_sql("SELECT tablename, indexname, indexdef FROM pg_indexes "
                             "WHERE schemaname = current_schema() ORDER BY 1, 2").fetchall()
        return [tuple(r) for r in cons], [tuple(r) for r in idx]
    finally:
        db.close()


@pytest.fixture
def lnd_catalog():
    """The catalog LND's migrations alone create (a schema-only database)."""
    name = pg.create_database()
    try:
        url = pg.pg_url(name)
        db = open_database(url)
        try:
            apply_migrations(db)
        finally:
            db.close()
        yield _catalog(url)
    finally:
        pg.drop_database(name)


def _run(url):
    db = open_database(url)
    try:
        return latest_run(db)
    finally:
        db.close()


def _identifiers(kv) -> list[bytes]:
    """The payment identifiers in KV index order (the order payments.id follows)."""
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        return [v[2:] for _k, v in root.bucket(b"payments-index-bucket").items()]


def _on_chunk(n: int, action):
    def sink(ev):
        if isinstance(ev, ChunkCommitted) and ev.chunk == n:
            action()
    return sink


# -- the definitions ------------------------------------------------------------------


def test_definitions_are_lnds_ddl_and_match_the_catalog_it_creates(pg_url):
    defs = pgconstraints.definitions()
    assert sorted(c.key for c in defs if c.kind == "u") == sorted([
        "idx_payments_payment_identifier_unique", "idx_payment_intents_payment_id_unique",
        "idx_htlc_attempt_index_unique", "idx_htlc_session_key_unique", "idx_route_hops_unique_hop_per_attempt",
        "idx_payment_first_hop_custom_records_unique", "idx_payment_attempt_first_hop_custom_records_unique",
        "idx_payment_hop_custom_records_unique"])
    assert len([c for c in defs if c.kind == "f"]) == 11  # every REFERENCES of 000010/000011
    db = open_database(pg_url)
    try:
        apply_migrations(db)
        found = pgconstraints.deferrable(db)
        catalog = {(t, n) for t, n in pgconstraints.present(db)}
    finally:
        db.close()
    assert sorted(k for k, _ in found) == sorted(c.key for c in defs)
    by_key = pgconstraints.by_key()
    assert all((by_key[k].table, n) in catalog for k, n in found)
    # The long name PostgreSQL truncates is read from the catalog, not guessed.
    assert ["payment_attempt_first_hop_custom_records.htlc_attempt_index",
            "payment_attempt_first_hop_custom_record_htlc_attempt_index_fkey"] in found


def test_a_constraint_unlike_lnds_ddl_is_not_deferred(pg_url):
    db = open_database(pg_url)
    try:
        apply_migrations(db)
        db.execute_sql('ALTER TABLE payment_intents DROP CONSTRAINT "payment_intents_payment_id_fkey"')
        db.execute_sql('ALTER TABLE payment_intents ADD CONSTRAINT "payment_intents_payment_id_fkey" '
                       "FOREIGN KEY (payment_id) REFERENCES payments(id) ON DELETE RESTRICT")
        keys = [k for k, _ in pgconstraints.deferrable(db)]
    finally:
        db.close()
    assert "payment_intents.payment_id" not in keys
    assert "idx_payment_intents_payment_id_unique" in keys


def test_sqlite_defers_no_constraint(sqlite_url):
    db = open_database(sqlite_url)
    try:
        apply_migrations(db)
        assert pgconstraints.deferrable(db) == []
    finally:
        db.close()


# -- the catalog across a run -----------------------------------------------------------


def test_catalog_after_a_run_equals_lnds_and_only_keys_and_fks_are_off_during_the_load(
        generated, pg_url, lnd_catalog, monkeypatch):
    kv = generated("mixed", 120)
    monkeypatch.setenv("MIGWIZ_CHUNK_ROWS", "300")
    during = {}

    def look():
        during["catalog"] = _catalog(pg_url)
        during["run"] = _run(pg_url)

    with Engine(kv, pg_url, on_event=_on_chunk(2, look)) as e:
        assert e.migrate().outcome == "complete"
        assert e.validate().ok
    cons, _idx = during["catalog"]
    lnd_cons, _ = lnd_catalog
    kinds = lambda rows, k: {r[:4] for r in rows if r[2] == k}  # noqa: E731
    assert kinds(cons, "p") == kinds(lnd_cons, "p")  # primary keys stay
    assert kinds(cons, "c") == kinds(lnd_cons, "c")  # so do the CHECKs
    lnd_tables = set(pgconstraints.LND_TABLES)
    assert not {r for r in cons if r[2] in "uf" and r[0] in lnd_tables}  # keys and foreign keys are off
    listed = during["run"].stats["deferred_constraints"]
    assert len(listed) == len(pgconstraints.definitions())
    assert _catalog(pg_url) == lnd_catalog  # names, definitions, indexes: LND's schema exactly
    run = _run(pg_url)
    assert run.stats["deferred_constraints"] == [] and run.stats["deferred_indexes"] == []


def test_cancel_resume_and_rollback_keep_the_catalog(generated, pg_url, lnd_catalog, monkeypatch):
    kv = generated("mixed", 120)
    monkeypatch.setenv("MIGWIZ_CHUNK_ROWS", "300")
    cancel = threading.Event()
    with Engine(kv, pg_url, on_event=_on_chunk(2, cancel.set)) as e:
        assert e.migrate(cancel=cancel).outcome == "cancelled"
    assert _run(pg_url).stats["deferred_constraints"]
    with Engine(kv, pg_url) as e:
        assert e.state() is RunState.IN_PROGRESS
        assert e.migrate().outcome == "complete"
        assert e.validate().ok
    assert _catalog(pg_url) == lnd_catalog
    # Rolled back in the middle of a load: the tables the run created go, constraints or not.
    cancel.clear()
    with Engine(kv, pg_url) as e:
        e.rollback()
    with Engine(kv, pg_url, on_event=_on_chunk(1, cancel.set)) as e:
        assert e.migrate(cancel=cancel).outcome == "cancelled"
        e.rollback()
    db = open_database(pg_url)
    try:
        assert not set(introspect.table_names(db)) & set(pgconstraints.LND_TABLES)
    finally:
        db.close()


def _migrate_in_child(kv, url, crash_at: str) -> int:
    code = ("import sys; from migwizard.core.engine import Engine\n"
            "with Engine(sys.argv[1], sys.argv[2], chunk_size=30) as e: e.migrate()\n")
    env = dict(os.environ, MIGWIZ_CRASH_AT=crash_at, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-c", code, str(kv), url], env=env, capture_output=True,
                          timeout=300).returncode


@pytest.mark.parametrize("point", ["start.run_created", "chunk.committed:4", "migrate.finishing"])
def test_a_crash_between_drop_and_rebuild_leaves_a_record_the_next_start_honours(
        generated, pg_url, lnd_catalog, point):
    kv = generated("mixed", 100)  # 4 chunks of 30 payments at most
    assert _migrate_in_child(kv, pg_url, point) == -9
    run = _run(pg_url)
    cons, _ = _catalog(pg_url)
    missing = {n for _k, n in run.stats["deferred_constraints"]}
    assert missing and not missing & {r[1] for r in cons}  # dropped, and the record says so
    with Engine(kv, pg_url) as e:
        with pytest.raises(EngineError, match="not finished all chunks"):
            e.validate()  # nothing is validated before the load is complete and rebuilt
        assert e.migrate().outcome == "complete"
        assert e.validate().ok
    assert _catalog(pg_url) == lnd_catalog


def test_validation_and_commit_rebuild_what_a_run_still_lists(generated, pg_url, lnd_catalog):
    """A record listing dropped constraints (an older version's crash, say): validation builds
    them first; and commit does too, so no run is committed with one missing."""
    kv = generated("mixed", 40)
    with Engine(kv, pg_url) as e:
        assert e.migrate().outcome == "complete"
    for step in ("validate", "commit"):
        db = open_database(pg_url)
        try:
            wanted = pgconstraints.deferrable(db)
            run = latest_run(db)
            with db.atomic():
                pgconstraints.drop(db, wanted)
                run.stats["deferred_constraints"] = wanted
                run.save(db)
        finally:
            db.close()
        assert _catalog(pg_url) != lnd_catalog
        with Engine(kv, pg_url) as e:
            if step == "validate":
                assert e.validate().ok
            else:
                assert e.commit().committed
        assert _catalog(pg_url) == lnd_catalog
        assert _run(pg_url).stats["deferred_constraints"] == []


# -- violations: the payment named -------------------------------------------------------


def _fails_closed(kv, url, res):
    """A run whose constraints could not come back: failed, still listing them, never
    validated or committed, and rolled back cleanly."""
    run = _run(url)
    assert run.state == "failed"
    assert run.stats["deferred_constraints"]
    with Engine(kv, url) as e:
        with pytest.raises(EngineError) as err:
            e.validate()
        assert err.value.exit_code is ExitCode.VALIDATION_MISMATCH
        assert err.value.payment == res.failing_payment
        assert str(err.value) == res.error
        with pytest.raises(EngineError, match="not passed validation"):
            e.commit()
        again = e.migrate()  # resuming fails the same way: fail closed
        assert again.outcome == "failed" and again.error == res.error
        rb = e.rollback()
        assert rb.tables_dropped
    db = open_database(url)
    try:
        assert not set(introspect.table_names(db)) & set(pgconstraints.LND_TABLES)
    finally:
        db.close()


def test_a_repeated_identifier_planted_between_chunks_names_the_payment(generated, pg_url, monkeypatch):
    kv = generated("mixed", 90)
    monkeypatch.setenv("MIGWIZ_CHUNK_ROWS", "300")
    victim = _identifiers(kv)[80]  # comes in a later chunk

    def plant():
        exec_sql(pg_url, "INSERT INTO payments (id, amount_msat, created_at, payment_identifier) "
                         "VALUES (1000000, 1, '2024-01-01', %s)", (victim,))

    with Engine(kv, pg_url, on_event=_on_chunk(1, plant)) as e:
        res = e.migrate()
    assert res.outcome == "failed"
    assert res.failing_payment == victim.hex()
    assert "idx_payments_payment_identifier_unique" in res.error
    assert f"payment_identifier={victim.hex()} is repeated by payment {victim.hex()}" in res.error
    assert "written by chunk" in res.error  # the run's own row: its chunk and KV sequences
    _fails_closed(kv, pg_url, res)


def test_a_repeated_session_key_names_the_later_payment_and_not_the_key(generated, pg_url, monkeypatch):
    kv = generated("mixed", 90)
    monkeypatch.setenv("MIGWIZ_CHUNK_ROWS", "300")
    keys = {}

    def corrupt():
        first = exec_sql(pg_url, "SELECT session_key FROM payment_htlc_attempts ORDER BY id LIMIT 1")[0][0]
        keys["key"] = bytes(first)
        last = exec_sql(pg_url, "SELECT a.id, p.payment_identifier FROM payment_htlc_attempts a "
                                "JOIN payments p ON p.id = a.payment_id ORDER BY a.id DESC LIMIT 1")[0]
        keys["later"] = bytes(last[1])
        exec_sql(pg_url, "UPDATE payment_htlc_attempts SET session_key = %s WHERE id = %s", (keys["key"], last[0]))

    with Engine(kv, pg_url, on_event=_on_chunk(2, corrupt)) as e:
        res = e.migrate()
    assert res.outcome == "failed"
    assert "idx_htlc_session_key_unique" in res.error and "session_key (not shown)" in res.error
    assert keys["key"].hex() not in res.error  # a secret is never quoted
    assert res.failing_payment == keys["later"].hex()
    _fails_closed(kv, pg_url, res)


def test_an_orphan_row_names_the_missing_payment_and_its_chunk(generated, pg_url, monkeypatch):
    kv = generated("mixed", 90)
    monkeypatch.setenv("MIGWIZ_CHUNK_ROWS", "300")

    def delete():  # no cascade while the foreign keys are off: its attempts stay behind
        exec_sql(pg_url, "DELETE FROM payments WHERE id = (SELECT MIN(payment_id) FROM payment_htlc_attempts)")

    with Engine(kv, pg_url, on_event=_on_chunk(1, delete)) as e:
        res = e.migrate()
    assert res.outcome == "failed"
    (pid,) = exec_sql(pg_url, "SELECT MIN(payment_id) FROM payment_htlc_attempts")[0]
    assert f"refers to payments.id {pid}, which does not exist" in res.error, res.error
    assert "; written by chunk 1 (KV index sequences 1.." in res.error
    assert res.failing_payment is None
    _fails_closed(kv, pg_url, res)


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_two_payments_sharing_an_attempt_id_fail_on_the_same_payment_either_way(tmp_path, request, dialect):
    """Refused inside its chunk on SQLite, found when the constraint comes back on
    PostgreSQL: the same payment is named."""
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "pg_url")
    pays = []
    for seq in range(1, 7):
        h = seed_hash(40 + seq)
        aid = 3 if seq in (2, 5) else 100 + seq
        # In flight: a resolution row would repeat its primary key (kept during the load) instead.
        pays.append(make_payment(seq, h, 1000, htlcs=[make_attempt(aid, hash=h)]))
    kv = build_store(tmp_path / "kv", pays)
    with Engine(kv, url, chunk_size=2) as e:
        res = e.migrate()
        assert res.outcome == "failed"
        assert res.failing_payment == seed_hash(45).hex(), res.error
        assert "attempt_index" in res.error
        e.rollback()


def test_a_trigger_still_refuses_a_payment_inside_its_chunk(generated, pg_url, monkeypatch):
    """Triggers (and CHECKs) stay during the load: the failure search names the payment
    a trigger refuses, as on SQLite (test_fastpath_engine)."""
    kv = generated("mixed", 60)
    victim = _identifiers(kv)[33]

    def install():
        exec_sql(pg_url, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                         f"IF NEW.payment_identifier = '\\x{victim.hex()}'::bytea THEN "
                         "RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$")
        exec_sql(pg_url, "CREATE TRIGGER refuse BEFORE INSERT ON payments FOR EACH ROW EXECUTE FUNCTION refuse()")

    with Engine(kv, pg_url, chunk_size=10, on_event=_on_chunk(1, install)) as e:
        res = e.migrate()
    assert res.outcome == "failed"
    assert res.failing_payment == victim.hex()
    assert "refused by test trigger" in res.error and "first failing payment" in res.error
    (n,) = exec_sql(pg_url, "SELECT COUNT(*) FROM payments")[0]
    assert n == 30  # the three chunks before the refused one stay committed


def test_rollback_puts_constraints_back_before_its_record_goes(generated, pg_url, lnd_catalog, monkeypatch):
    """A rollback interrupted after deleting the rows (before it drops the tables) leaves
    LND's tables with every constraint: nothing would list them any more."""
    from migwizard.core.engine import finish

    kv = generated("mixed", 60)
    cancel = threading.Event()
    with Engine(kv, pg_url, chunk_size=20, on_event=_on_chunk(1, cancel.set)) as e:
        assert e.migrate(cancel=cancel).outcome == "cancelled"

    def interrupted(db, to_version=0):
        raise RuntimeError("interrupted before the tables were dropped")

    monkeypatch.setattr(finish, "rollback_migrations", interrupted)
    with Engine(kv, pg_url) as e:
        with pytest.raises(RuntimeError, match="interrupted"):
            e.rollback()
    assert _catalog(pg_url) == lnd_catalog
    assert exec_sql(pg_url, "SELECT COUNT(*) FROM payments")[0][0] == 0


def test_headless_run_names_the_payment_and_rolls_back_exit_3(tmp_path, pg_url):
    """`--yes`: the violation found after the load is the user's error line (no traceback),
    the run is rolled back automatically and the exit code is 3, as for a refused chunk."""
    import json

    from tests.engine.test_cli_headless import run as cli

    pays = []
    for seq in range(1, 5):
        h = seed_hash(60 + seq)
        pays.append(make_payment(seq, h, 1000, htlcs=[make_attempt(7 if seq in (1, 4) else 70 + seq, hash=h)]))
    kv = build_store(tmp_path / "kv", pays)
    p = cli("--yes", "--kv", kv, "--sql", pg_url, "--chunk-size", "2", "--json")
    assert p.returncode == 3, p.stderr
    assert "Traceback" not in p.stderr
    doc = json.loads(p.stdout)
    assert doc["outcome"] == "failed" and doc["rolled_back"] is True
    assert doc["payment"] == seed_hash(64).hex()
    assert "idx_htlc_attempt_index_unique" in doc["error"] and seed_hash(64).hex() in doc["error"]
    db = open_database(pg_url)
    try:
        assert not set(introspect.table_names(db)) & set(pgconstraints.LND_TABLES)
    finally:
        db.close()


def test_a_unique_key_a_kept_foreign_key_needs_stays(pg_url):
    """A foreign key that is not LND's (so not dropped) pins the unique key it references."""
    db = open_database(pg_url)
    try:
        apply_migrations(db)
        db.execute_sql("CREATE TABLE audit (attempt BIGINT REFERENCES payment_htlc_attempts (attempt_index))")
        keys = [k for k, _ in pgconstraints.deferrable(db)]
        with db.atomic():
            pgconstraints.drop(db, pgconstraints.deferrable(db))  # the server accepts every drop
    finally:
        db.close()
    assert "idx_htlc_attempt_index_unique" not in keys
    assert "idx_htlc_session_key_unique" in keys and "payment_route_hops.htlc_attempt_index" in keys
