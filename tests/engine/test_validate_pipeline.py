"""Validation with its KV half in a second process (fast.kvside) against validation in one
process: the same report, field by field, on clean and tampered targets, SQLite and
PostgreSQL; the same stop on a cancel, on an unreadable payment and on a dead child; and
never two snapshots of the store compared with each other."""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
import threading

import pytest

from migwizard.core.codec.keys import PAYMENT_CREATION_INFO_KEY, PAYMENT_SEQUENCE_KEY, PAYMENTS_ROOT_BUCKET
from migwizard.core.codec.walk import PaymentEntry, walk_payment_index
from migwizard.core.engine import Engine, Phase, Progress, workers
from migwizard.core.engine.digest import content_digest
from migwizard.core.engine.runs import latest_run
from migwizard.core.fast import kvside
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.connect import open_database

from tests.engine.kvbuild import build_store, make_attempt, make_payment, seed_hash
from tests.engine.sqlexec import exec_sql
from tests.engine.test_fastpath_engine import TAMPER

TWO = "validation: two processes"
ONE = "validation: one process"


class _Said(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def modes(monkeypatch):
    """validate_in(kv, url, n) -> the report of a validation with MIGWIZ_WORKERS=n, after
    checking from the log that it really ran in that many processes. (A handler on the
    engine's own logger: a log file installed by another test stops propagation.)"""
    logger = logging.getLogger("migwizard")
    said = _Said()
    logger.addHandler(said)
    level = logger.level
    logger.setLevel(logging.INFO)

    def validate_in(kv, url, n: int, cancel: threading.Event | None = None, **kw):
        monkeypatch.setenv(workers.WORKERS_ENV, str(n))
        said.lines.clear()
        with Engine(kv, url, **kw) as e:
            rep = e.validate(cancel=cancel)
        mode = [m for m in said.lines if m.startswith("validation: ")]
        assert mode and mode[-1].startswith(TWO if n == 2 else ONE), mode
        return rep

    yield validate_in
    logger.removeHandler(said)
    logger.setLevel(level)


def _report(rep) -> dict:
    """Everything a validation reports except its duration."""
    out = rep.to_json()
    out.pop("seconds")
    return out


def _run(url):
    db = open_database(url)
    try:
        return latest_run(db)
    finally:
        db.close()


def _digest(url) -> str | None:
    return _run(url).stats.get("content_digest")


def _migrate(kv, url, **kw):
    with Engine(kv, url, **kw) as e:
        res = e.migrate()
    assert res.outcome == "complete", res.error


def _same_both_ways(kv, url, modes) -> dict:
    one = _report(modes(kv, url, 1))
    d1 = _digest(url)
    two = _report(modes(kv, url, 2))
    assert two == one
    assert _digest(url) == d1
    return one


# -- identical reports -----------------------------------------------------------------


@pytest.mark.parametrize("profile,count", [("edge", 0), ("mixed", 300), ("legacy-zero-ids", 40)])
def test_two_processes_report_exactly_what_one_does(generated, target_url, modes, monkeypatch, profile, count):
    kv = generated(profile, count)
    monkeypatch.setenv("MIGWIZ_VALIDATION_BATCH", "16")  # many batches, the ID-0 replay across them
    _migrate(kv, target_url)
    clean = _same_both_ways(kv, target_url, modes)
    assert clean["ok"] and clean["payments_checked"] > 16
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        assert _digest(target_url) == content_digest(root)  # what commit re-checks
    for sql in TAMPER:
        exec_sql(target_url, sql)
    tampered = _same_both_ways(kv, target_url, modes)
    assert not tampered["ok"] and tampered["differences"]


def test_fixture_store_reports_identically(import_fixture, target_url, modes):
    kv = import_fixture("carol")
    _migrate(kv, target_url)
    assert _same_both_ways(kv, target_url, modes)["ok"]
    exec_sql(target_url, "UPDATE payment_htlc_attempts SET route_total_amount = route_total_amount + 1 "
                         "WHERE attempt_index = (SELECT MIN(attempt_index) FROM payment_htlc_attempts)")
    assert not _same_both_ways(kv, target_url, modes)["ok"]


def _tiny(tmp_path, url, n=3):
    pays = []
    for seq in range(1, n + 1):
        h = seed_hash(40 + seq)
        pays.append(make_payment(seq, h, 1000 + seq, htlcs=[make_attempt(seq, hash=h, settled=h)]))
    kv = build_store(tmp_path / "kv", pays, switch_sequence=100)
    _migrate(kv, url)
    return kv


@pytest.mark.parametrize("plant", [
    "UPDATE payment_htlc_attempts SET attempt_time = 'yesterday'",
    "UPDATE payment_route_hops SET outgoing_time_lock = outgoing_time_lock + 4294967296",
    "UPDATE payment_route_hops SET scid = '+' || scid",
    "UPDATE payments SET amount_msat = 42 WHERE id = 2",
    "DELETE FROM payment_htlc_attempt_resolutions WHERE attempt_index = 2",
    "UPDATE payment_htlc_attempt_resolutions SET resolution_time = '2001-01-01 00:00:00 +0000 UTC'",
])
def test_planted_sqlite_corruptions_give_the_same_verdict(tmp_path, sqlite_url, modes, plant):
    """The plants of test_validation_tampering and test_fastpath_engine, each caught alike."""
    kv = _tiny(tmp_path, sqlite_url)
    exec_sql(sqlite_url, plant)
    rep = _same_both_ways(kv, sqlite_url, modes)
    assert not rep["ok"]


def test_swapped_payment_ids_give_the_same_verdict(tmp_path, sqlite_url, modes):
    """test_validation_tampering's id-order plant: payments 1 and 2 (and their children) swap ids."""
    import sqlite3

    kv = _tiny(tmp_path, sqlite_url)
    con = sqlite3.connect(sqlite_url[len("sqlite:///"):])
    with con:
        for t, c in (("payments", "id"), ("payment_intents", "payment_id"),
                     ("payment_htlc_attempts", "payment_id"), ("payment_first_hop_custom_records", "payment_id"),
                     ("payment_duplicates", "payment_id")):
            con.execute(f"UPDATE {t} SET {c} = CASE {c} WHEN 1 THEN 1002 WHEN 2 THEN 1001 ELSE {c} END")
            con.execute(f"UPDATE {t} SET {c} = {c} - 1000 WHERE {c} > 1000")
    con.close()
    assert not _same_both_ways(kv, sqlite_url, modes)["ok"]


# -- stopping ----------------------------------------------------------------------------


def test_cancel_stops_after_the_same_batch_and_reaps_the_child(generated, sqlite_url, modes, monkeypatch):
    kv = generated("mixed", 300)
    _migrate(kv, sqlite_url)
    monkeypatch.setenv("MIGWIZ_VALIDATION_BATCH", "20")
    reports = []
    for n in (1, 2):
        cancel = threading.Event()
        seen = []

        def sink(ev, cancel=cancel, seen=seen):
            if isinstance(ev, Progress) and ev.phase == Phase.VALIDATE:
                seen.append(ev.done)
                if ev.done:
                    cancel.set()  # the stop dialog, after the first batch

        reports.append(_report(modes(kv, sqlite_url, n, on_event=sink, cancel=cancel)))
        assert seen[0] == 20 and seen[-1] == 20
        assert not multiprocessing.active_children()
    one, two = reports
    assert one == two
    assert one["error"] == "validation cancelled" and one["payments_checked"] == 20


def _payments(kv) -> list[bytes]:
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        return [e.payment_hash for e in walk_payment_index(root) if isinstance(e, PaymentEntry)]


def _put(kv, phash: bytes, key: bytes, value: bytes) -> None:
    with LmdbStore.open(kv) as store, store.write() as root:
        root.bucket(PAYMENTS_ROOT_BUCKET).bucket(phash).put(key, value)


@pytest.mark.parametrize("key,value,where", [
    (PAYMENT_CREATION_INFO_KEY, b"\x00" * 7, "decoded by the SQL half"),  # fast decoder falls back, full one fails
    (PAYMENT_SEQUENCE_KEY, b"\x01\x02\x03", "raised by the walk"),  # in the child with two processes
])
def test_unreadable_kv_payment_is_reported_identically(generated, target_url, modes, monkeypatch, key, value, where):
    kv = generated("mixed", 200)
    _migrate(kv, target_url)
    monkeypatch.setenv("MIGWIZ_VALIDATION_BATCH", "25")
    _put(kv, _payments(kv)[130], key, value)
    rep = _same_both_ways(kv, target_url, modes)
    assert not rep["ok"] and rep["error"].startswith("KV payment unreadable during validation: "), where
    assert rep["payments_checked"] == 125  # the batches before the one holding it


def test_a_dead_child_fails_the_validation_with_a_message(generated, sqlite_url, modes, monkeypatch):
    kv = generated("mixed", 100)
    _migrate(kv, sqlite_url)
    monkeypatch.setenv("MIGWIZ_VALIDATION_BATCH", "10")
    real = workers.stream
    monkeypatch.setattr(workers, "stream", lambda target, args, **kw: real(
        "tests.engine.vpipe_targets:die_after_first_batch", args, **kw))
    rep = modes(kv, sqlite_url, 2)
    assert not rep.ok and rep.error.startswith("validation's second process failed: ")
    assert "exit code 9" in rep.error
    assert _run(sqlite_url).state == "running"


def test_no_second_process_possible_validates_in_this_one(generated, sqlite_url, modes, monkeypatch):
    """Spawning refused (limits, a sandbox): the walk runs here, on this process's own
    snapshot (the workers module's in-process stand-in would reopen the store)."""
    kv = generated("mixed", 60)
    _migrate(kv, sqlite_url)
    one = _report(modes(kv, sqlite_url, 1))

    tried = []

    def refuse(*a, **kw):
        tried.append(1)
        raise OSError("fork/spawn refused")

    monkeypatch.setattr(workers, "_ChildStream", refuse)
    monkeypatch.setattr(kvside, "use_child", lambda payments: True)
    assert _report(modes(kv, sqlite_url, 1)) == one  # (the fixture checks the log said "one process")
    assert tried


# -- one snapshot ------------------------------------------------------------------------

_BUMP = r"""
import lmdb, sys
env = lmdb.open(sys.argv[1], max_dbs=2, subdir=True)
with env.begin(write=True, db=env.open_db(b"meta", create=False)) as txn:
    txn.put(b"test-snapshot-bump", b"1")
env.close()
"""


def test_a_store_changed_between_the_two_snapshots_is_refused(generated, sqlite_url, modes, monkeypatch):
    """A write committed after the parent's snapshot and before the child's (LMDB readers
    and a writer may overlap): the child refuses, the validation fails, nothing is marked."""
    kv = generated("mixed", 60)
    _migrate(kv, sqlite_url)
    real = workers.stream

    def write_then_stream(target, args, **kw):
        subprocess.run([sys.executable, "-c", _BUMP, str(kv)], check=True)
        return real(target, args, **kw)

    monkeypatch.setattr(workers, "stream", write_then_stream)
    rep = modes(kv, sqlite_url, 2)
    assert not rep.ok
    assert rep.error.startswith("validation stopped: ") and "the store changed between" in rep.error
    assert _run(sqlite_url).state == "running"


# -- which mode ----------------------------------------------------------------------------


def test_the_environment_and_the_store_size_decide_the_mode(monkeypatch):
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    assert kvside.use_child(1)
    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    assert not kvside.use_child(10 ** 7)
    monkeypatch.delenv(workers.WORKERS_ENV)
    monkeypatch.setattr(workers, "worker_count", lambda: 2)
    assert kvside.use_child(kvside.CHILD_MIN_PAYMENTS)
    assert not kvside.use_child(kvside.CHILD_MIN_PAYMENTS - 1)
    monkeypatch.setattr(workers, "worker_count", lambda: 1)
    assert not kvside.use_child(10 ** 7)
