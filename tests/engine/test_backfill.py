"""Backfill into lnd's live native store (issue 10 part 2), on SQLite and PostgreSQL:
lnd's database built from its own schema files up to 000015 (tracker 18) with
payments inserted by lnd's own queries, one reusing a KV payment's identifier."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

from migwizard.core.engine import Engine
from migwizard.core.engine.results import CheckStatus, EngineError, ExitCode
from migwizard.core.sql.connect import TargetURL, open_database
from migwizard.core.sql.values import dialect_for
from migwizard.headless import run_pipeline
from tests.support import lnddb
from tests.support.lndqueries import run_query

from .backfill_support import build_live_store, dump, rows_of

CLI = [sys.executable, "-m", "migwizard.cli"]
LOW, HIGH = datetime(1970, 1, 1), datetime(9999, 12, 31)
N_KV = 40


@pytest.fixture(autouse=True)
def _fixtures():
    lnddb.require_lnd_fixtures()


def _open(url):
    return open_database(TargetURL.parse(url))


def _tracker(db):
    return db.execute_sql("SELECT MAX(version) FROM migration_tracker").fetchone()[0]


def _time_arg(db, dt):
    from migwizard.core.lnd.target import go_time_string

    return go_time_string(dt.astimezone()) if dialect_for(db).is_postgres is False else dt


def _filter(db, desc=False, offset=None, limit=1000):
    return run_query(db, "FilterPaymentsDesc" if desc else "FilterPayments", {
        "index_offset_get": offset, "index_offset_let": None, "intent_type": None,
        "created_after": _time_arg(db, LOW), "created_before": _time_arg(db, HIGH), "num_limit": limit})


def test_preflight_recognises_the_case_and_refuses_without_the_flag(generated, target_url, tmp_path):
    kv = generated("mixed", N_KV)
    build_live_store(target_url, kv)
    with Engine(kv, target_url) as eng:
        pre = eng.preflight()
    bf = [c for c in pre.checks if c.id == "sql.backfill"]
    assert not pre.ok and bf and bf[0].status is CheckStatus.FAIL
    assert "migration_tracker is at 18" in bf[0].reason and "3 payments made since" in bf[0].reason
    assert f"KV store has {N_KV}" in bf[0].reason and "--backfill" in bf[0].hint
    with Engine(kv, target_url) as eng, pytest.raises(EngineError) as ei:
        eng.migrate()
    assert ei.value.exit_code == ExitCode.PREFLIGHT_REFUSED and "--backfill" in (ei.value.hint or "")
    err, out = io.StringIO(), io.StringIO()
    code = run_pipeline(kv, target_url, chunk_size=10, report_path=tmp_path / "r.json", as_json=False,
                        confirm=None, out=out, err=err)
    assert code == 2 and "--backfill" in err.getvalue()
    db = _open(target_url)
    try:
        assert db.execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0] == 3  # nothing written
        assert "migwizard_runs" not in db.get_tables()
    finally:
        db.close()
    with Engine(kv, target_url, backfill=True) as eng:
        pre = eng.preflight()
    assert pre.ok, [c for c in pre.checks if c.status is CheckStatus.FAIL]
    assert [c.status for c in pre.checks if c.id == "sql.backfill"] == [CheckStatus.WARN]


def test_backfill_yes_keeps_lnd_rows_and_lists_history_after_them(generated, target_url, tmp_path):
    kv = generated("mixed", N_KV)
    live = build_live_store(target_url, kv)
    db = _open(target_url)
    before = dump(db)
    db.close()
    out, err = io.StringIO(), io.StringIO()
    report_path = tmp_path / "report.json"
    code = run_pipeline(kv, target_url, chunk_size=7, report_path=report_path, as_json=True, confirm=None,
                        out=out, err=err, backfill=True)
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert doc["outcome"] == "committed" and doc["ok"] and doc["payments"] == N_KV
    assert [k["payment"] for k in doc["kept_as_duplicates"]] == [live.collided.hex()]
    assert doc["backfill"]["tracker"] == 18 and doc["backfill"]["lnd_payments"] == 3
    rep = json.loads(report_path.read_text())
    assert rep["kept_as_duplicates"][0]["payment"] == live.collided.hex()
    db = _open(target_url)
    try:
        after = dump(db)
        assert rows_of(before, after) == before  # lnd's rows: unchanged, none lost
        assert _tracker(db) == 18  # not touched
        # every KV payment is present: as a payment, or (the collision) as duplicates of lnd's one
        got = {bytes(r[0]) for r in db.execute_sql("SELECT payment_identifier FROM payments").fetchall()}
        assert set(live.kv_identifiers) <= got and len(got) == N_KV - 1 + 3
        # lnd's listpayments: its own payments first (ids 1..3, unchanged), then the history in KV order
        rows = _filter(db)
        ids = [r[0] for r in rows]
        assert ids == sorted(ids) and ids[:3] == live.lnd_ids
        hist = [bytes(r[3]) for r in rows[3:]]
        assert hist == [i for i in live.kv_identifiers if i != live.collided]
        times = [dialect_for(db).ts_to_ns(r[2]) for r in rows[3:]]
        assert times == sorted(times)  # the history in time order
        # paging with lnd's index offset walks the same list
        page1 = _filter(db, limit=10)
        page2 = _filter(db, offset=page1[-1][0], limit=1000)
        assert [r[0] for r in page1 + page2] == ids
        assert [r[0] for r in _filter(db, desc=True)] == ids[::-1]
        # FetchPayment and the per-payment fetches read a backfilled payment back
        first_bf = rows[3]
        one = run_query(db, "FetchPayment", [bytes(first_bf[3])])
        assert one[0] == first_bf[0]
        atts = run_query(db, "FetchHtlcAttemptsForPayments", {"payment_ids": [r[0] for r in rows[3:]]})
        assert atts and {a[2] for a in atts} <= set(ids[3:])
        hops = run_query(db, "FetchHopsForAttempts", {"htlc_attempt_indices": [a[1] for a in atts]})
        assert hops
        cr = run_query(db, "FetchHopLevelCustomRecords", {"hop_ids": [h[0] for h in hops]})
        assert all(r[2] >= 65536 for r in cr)
        # the collision: the KV payment (and its own duplicates) as duplicates of lnd's payment
        lnd_pid = live.lnd_ids[1]
        dups = run_query(db, "FetchPaymentDuplicates", [lnd_pid])
        assert len(dups) >= 1 and all(d[1] == lnd_pid for d in dups)
        assert run_query(db, "FetchPayment", [live.collided])[0] == lnd_pid
        # remapped / new attempt indexes never collide with lnd's (unique constraint held), and
        # lnd's next payment gets the next id
        assert run_query(db, "CountPayments")[0] == N_KV - 1 + 3
    finally:
        db.close()
    # re-verification works on the committed backfill
    with Engine(kv, target_url) as eng:
        assert eng.verify().ok


def test_rollback_removes_only_backfilled_rows(generated, target_url):
    kv = generated("mixed", N_KV)
    build_live_store(target_url, kv)
    db = _open(target_url)
    before = dump(db)
    tables_before = set(db.get_tables())
    db.close()
    with Engine(kv, target_url, backfill=True, chunk_size=9) as eng:
        assert eng.migrate().outcome == "complete"
        rep = eng.validate()
        assert rep.ok, (rep.error, rep.differences[:3])
        rb = eng.rollback()
        assert rb.kv_unchanged and sum(rb.rows_deleted.values()) > N_KV
    db = _open(target_url)
    try:
        assert dump(db) == before
        assert _tracker(db) == 18
        assert set(db.get_tables()) - {"migwizard_schema_migrations"} <= tables_before | {"migwizard_runs",
                                                                                           "migwizard_run_chunks",
                                                                                           "migwizard_skipped"}
        assert lnddb.tracker_version(db) == 18
    finally:
        db.close()


def _chunks_done(url):
    db = _open(url)
    try:
        if "migwizard_runs" not in db.get_tables():
            return 0
        row = db.execute_sql("SELECT chunks_done FROM migwizard_runs").fetchone()
        return int(row[0]) if row else 0
    except Exception:  # noqa: BLE001 - the writer holds the file right now
        return 0
    finally:
        db.close()


def test_sigkill_during_backfill_then_resume_matches_uninterrupted(generated, target_url, pg_or_sqlite_second,
                                                                   tmp_path):
    kv = generated("mixed", 120)
    build_live_store(target_url, kv)
    build_live_store(pg_or_sqlite_second, kv)
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    # `migrate` without a terminal validates and stops before the commit (exit 4)
    p = subprocess.run([*CLI, "migrate", "--backfill", "--kv", str(kv), "--sql", pg_or_sqlite_second,
                        "--chunk-size", "5"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 4, p.stderr
    log = tmp_path / "killed.log"
    proc = subprocess.Popen([*CLI, "--log", str(log), "migrate", "--backfill", "--kv", str(kv), "--sql", target_url,
                             "--chunk-size", "5"],
                            env=dict(env, MIGWIZ_THROTTLE_CHUNK_S="0.3"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    chunks = 0
    # Our polling connection is "another client of the node's database" to the guard that runs
    # before the migration starts: poll only once the run has started (the guard has passed).
    while time.time() < deadline and not (log.exists() and "Started run" in log.read_text()):
        time.sleep(0.05)
    while time.time() < deadline and chunks < 3:
        time.sleep(0.05)
        chunks = _chunks_done(target_url)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= chunks < 24, ("the crash should land mid-run", log.read_text() if log.exists() else None)
    p = subprocess.run([*CLI, "migrate", "--backfill", "--kv", str(kv), "--sql", target_url, "--chunk-size", "5"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 4, p.stderr
    a, b = _open(pg_or_sqlite_second), _open(target_url)
    try:
        assert dump(a) == dump(b)
    finally:
        a.close()
        b.close()
