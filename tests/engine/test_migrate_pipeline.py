"""The migration's KV half in a second process (``MIGWIZ_WORKERS=2``, core.engine.migrate_kv
through core.engine.workers) against the same generator in one process (``MIGWIZ_WORKERS=1``):
the same tables, run record, counters, events, warnings and errors, SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading

import pytest

from migwizard.core.codec.keys import PAYMENT_CREATION_INFO_KEY, PAYMENTS_ROOT_BUCKET
from migwizard.core.engine import ChunkCommitted, Engine
from migwizard.core.engine import migrate_kv, workers
from migwizard.core.engine.events import LogRecord, Progress
from migwizard.core.engine.results import EngineError, ExitCode
from migwizard.core.engine.runs import latest_run
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.dump import dump_tables
from migwizard.core.sql.schema import apply_migrations
from migwizard.headless import run_pipeline

from .backfill_support import build_live_store, kv_identifiers

SECOND = "migration: KV decoding in a second process"
ONE = "migration: KV decoding in one process"
COUNTS = ("payments", "succeeded", "failed", "in_flight", "initiated", "attempts", "attempts_settled",
          "attempts_failed", "attempts_in_flight", "hops", "skipped", "duplicate_payments", "duplicate_entries",
          "normalisations", "rows", "chunks")


def _migrate(kv, url, monkeypatch, n: int, *, chunk_size: int = 7, stop_after: int | None = None, **kw):
    """One migrate() with ``n`` processes; asserts that mode really ran. Returns (result, events)."""
    monkeypatch.setenv(workers.WORKERS_ENV, str(n))
    events: list = []
    cancel = threading.Event()

    def sink(ev):
        events.append(ev)
        if stop_after is not None and isinstance(ev, ChunkCommitted) and ev.chunk >= stop_after:
            cancel.set()

    with Engine(kv, url, chunk_size=chunk_size, on_event=sink, **kw) as e:
        res = e.migrate(cancel=cancel)
    logs = [ev.message for ev in events if isinstance(ev, LogRecord)]
    assert (SECOND if n == 2 else ONE) in logs, logs
    return res, events


def _observed(res, events, url) -> dict:
    """Everything a user, a script or a resumed run could see of one migrate() call."""
    progress = [ev for ev in events if isinstance(ev, Progress)]
    dones = [p.done for p in progress]
    assert dones == sorted(dones), "progress went backwards"
    last = progress[-1]
    db = open_database(url)
    try:
        run = latest_run(db)
        tables = dump_tables(db)
        skipped = db.execute_sql("SELECT kv_seq, payment_identifier, reason, detail FROM migwizard_skipped "
                                 "ORDER BY kv_seq").fetchall()
        chunks = db.execute_sql("SELECT chunk_no, first_seq, last_seq, payments, attempts, hops, duplicates, "
                                "skipped, first_payment_id, last_payment_id, next_ids FROM migwizard_run_chunks "
                                "ORDER BY chunk_no").fetchall()
    finally:
        db.close()
    saved = {k: v for k, v in run.stats.items() if k not in ("seconds", "table_seconds", "lnd", "tables_before")}
    return {
        "result": (res.outcome, res.error, res.failing_payment, res.checkpoint_seq),
        "stats": {f: getattr(res.stats, f) for f in COUNTS},
        "chunks_committed": [(c.chunk, c.checkpoint_seq, c.payments_done) for c in events
                             if isinstance(c, ChunkCommitted)],
        "progress_end": (last.done, last.total, last.attempts, last.hops, last.chunk),
        "warnings": [(ev.level, ev.message) for ev in events
                     if isinstance(ev, LogRecord) and ev.level in ("warning", "error")],
        "run": (run.state, run.error, run.checkpoint_seq, run.next_ids, run.normalisations, run.chunks_done,
                run.payments_done, run.attempts_done, run.hops_done, run.duplicates_done, run.skipped_done,
                run.switch_seq_after, saved),
        "tables": tables,
        "skipped": [tuple(r) for r in skipped],
        "chunks": [tuple(r) for r in chunks],
    }


def _both(kv, url_one, url_two, monkeypatch, **kw) -> tuple[dict, dict]:
    one = _observed(*_migrate(kv, url_one, monkeypatch, 1, **kw), url_one)
    two = _observed(*_migrate(kv, url_two, monkeypatch, 2, **kw), url_two)
    return one, two


# -- the same migration either way ---------------------------------------------------------------


@pytest.mark.parametrize("profile,count,fast", [("edge", 0, True), ("mixed", 300, True), ("mixed", 120, False)],
                         ids=["edge", "mixed", "mixed-full-decoder"])
def test_two_processes_migrate_exactly_as_one(generated_ro, target_url, pg_or_sqlite_second, monkeypatch,
                                              profile, count, fast):
    kv = generated_ro(profile, count)
    monkeypatch.setenv("MIGWIZ_FASTPATH", "1" if fast else "0")
    monkeypatch.setenv("MIGWIZ_CHUNK_ROWS", "300")  # chunks close by rows and by payments
    one, two = _both(kv, target_url, pg_or_sqlite_second, monkeypatch)
    assert one["result"][0] == "complete", one["result"]
    assert len(one["chunks_committed"]) >= 3
    assert one["progress_end"][0] == one["progress_end"][1]  # ends at the total
    assert two == one


def test_two_processes_migrate_a_real_lnd_store_exactly_as_one(import_fixture, target_url, pg_or_sqlite_second,
                                                                 monkeypatch):
    kv = import_fixture("carol")
    one, two = _both(kv, target_url, pg_or_sqlite_second, monkeypatch, chunk_size=3)
    assert one["result"][0] == "complete" and one["stats"]["payments"] > 0
    assert two == one


def test_cancel_then_resume_with_two_processes(generated_ro, target_url, pg_or_sqlite_second, monkeypatch):
    kv = generated_ro("mixed", 120)
    ref, _ = _migrate(kv, pg_or_sqlite_second, monkeypatch, 1)
    res, events = _migrate(kv, target_url, monkeypatch, 2, stop_after=3)
    assert res.outcome == "cancelled"
    assert [ev.chunk for ev in events if isinstance(ev, ChunkCommitted)] == [1, 2, 3]  # stopped at the boundary
    res2, events2 = _migrate(kv, target_url, monkeypatch, 2)
    assert res2.outcome == "complete"
    assert [ev.chunk for ev in events2 if isinstance(ev, ChunkCommitted)][0] == 4
    assert {f: getattr(res2.stats, f) for f in COUNTS} == {f: getattr(ref.stats, f) for f in COUNTS}
    assert _dump(target_url) == _dump(pg_or_sqlite_second)


# -- failures read the same either way -----------------------------------------------------------


def _truncate_creation_info(kv, positions) -> list[bytes]:
    idents, _ = kv_identifiers(kv)
    bad = [idents[i] for i in positions]

    def write(root):
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        for ident in bad:
            b = rb.bucket(ident)
            b.put(PAYMENT_CREATION_INFO_KEY, b.get(PAYMENT_CREATION_INFO_KEY)[:5])

    with LmdbStore.open(kv, readonly=False) as store:
        store.update(write)
    return bad


def test_a_decode_error_in_the_child_reads_as_in_one_process(generated, target_url, pg_or_sqlite_second,
                                                             monkeypatch):
    kv = generated("mixed", 60)
    bad = _truncate_creation_info(kv, [25])
    one, two = _both(kv, target_url, pg_or_sqlite_second, monkeypatch)
    outcome, error, payment, _ = two["result"]
    assert outcome == "failed" and payment == bad[0].hex()
    assert "byte offset" in error and bad[0].hex() in error
    assert two == one


def test_a_decode_error_gives_the_same_cli_output_and_exit_code(generated, sqlite_url, tmp_path, monkeypatch):
    kv = generated("mixed", 40)
    bad = _truncate_creation_info(kv, [9])
    got = {}
    for n in (1, 2):
        p = subprocess.run([sys.executable, "-m", "migwizard.cli", "--state-dir", str(tmp_path / f"st{n}"),
                            "migrate", "--kv", str(kv), "--sql", f"sqlite:///{tmp_path / f't{n}.db'}",
                            "--chunk-size", "4", "--json"],
                           env={**_env(), workers.WORKERS_ENV: str(n)}, capture_output=True, text=True, timeout=300)
        assert "Traceback" not in p.stderr
        doc = json.loads(p.stdout)
        got[n] = (p.returncode, doc["outcome"], doc["error"], doc["payment"])
        log = (tmp_path / f"st{n}").rglob("*.log")
        assert any((SECOND if n == 2 else ONE) in f.read_text() for f in log)
    assert got[2] == got[1]
    assert got[1][0] == ExitCode.FAILED_ROLLED_BACK and got[1][3] == bad[0].hex()


def test_a_refused_chunk_names_the_same_payment_either_way(generated_ro, target_url, pg_or_sqlite_second,
                                                           monkeypatch):
    """The failure search rebuilds the refused chunk from the KV store (no row copies kept) and
    names the payment a trigger refuses; with and without the second process."""
    kv = generated_ro("mixed", 60)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        victim = list(root.bucket(b"payments-index-bucket").items())[33][1][2:]
    for url in (target_url, pg_or_sqlite_second):
        _refuse(url, victim)
    one, two = _both(kv, target_url, pg_or_sqlite_second, monkeypatch, chunk_size=10)
    outcome, error, payment, _ = two["result"]
    assert outcome == "failed" and payment == victim.hex()
    assert "refused by test trigger" in error and "first failing payment" in error
    assert len(two["tables"]["payments"]) == 30  # the three chunks before the refused one
    assert two == one


@pytest.mark.parametrize("n", [1, 2])
def test_the_rebuilt_chunk_starts_from_the_chunks_saved_state(generated_ro, sqlite_url, tmp_path, monkeypatch, n):
    """The refused chunk is rebuilt from the chunk's saved state (ids, switch ids, counters): a
    trigger refusing one *remapped* attempt id (legacy attempt ID 0, an id from the switch
    sequencer) in a later chunk is found only if the rebuild allocates the very ids the chunk
    held, and an id counter started anywhere else collides with the committed chunks."""
    kv = generated_ro("edge", 0)
    monkeypatch.setenv(workers.WORKERS_ENV, str(n))
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    with Engine(kv, ref, chunk_size=2) as e:
        assert e.migrate().outcome == "complete"
    (before,) = _rows(ref, "SELECT switch_seq_before FROM migwizard_runs")[0]
    pid, aidx = _rows(ref, "SELECT payment_id, attempt_index FROM payment_htlc_attempts WHERE attempt_index >= "
                           f"{int(before or 0)} ORDER BY attempt_index DESC LIMIT 1")[0]
    (chunk_no,) = _rows(ref, f"SELECT chunk_no FROM migwizard_run_chunks WHERE {pid} BETWEEN first_payment_id "
                             "AND last_payment_id")[0]
    (victim,) = _rows(ref, f"SELECT payment_identifier FROM payments WHERE id = {pid}")[0]
    assert chunk_no > 1  # a chunk after others: its start state is not the run's
    db = open_database(sqlite_url)
    try:
        apply_migrations(db)
        db.execute_sql(f"CREATE TRIGGER refuse BEFORE INSERT ON payment_htlc_attempts WHEN NEW.attempt_index = "
                       f"{aidx} BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END")
    finally:
        db.close()
    with Engine(kv, sqlite_url, chunk_size=2) as e:
        res = e.migrate()
    assert res.outcome == "failed" and res.failing_payment == bytes(victim).hex(), res.error
    assert f"refused chunk {chunk_no} " in res.error and "refused by test trigger" in res.error


# -- quarantine, backfill, snapshot --------------------------------------------------------------


def test_quarantine_with_two_processes(generated, target_url, pg_or_sqlite_second, monkeypatch):
    kv = generated("mixed", 60)
    bad = _truncate_creation_info(kv, [3, 17, 40])
    one, two = _both(kv, target_url, pg_or_sqlite_second, monkeypatch, quarantine=True)
    assert two["result"][0] == "complete"
    assert [s[1] for s in two["skipped"]] == bad and all(s[2] == "quarantined" for s in two["skipped"])
    assert [m for lv, m in two["warnings"] if "Quarantined" in m] and two == one


def test_backfill_with_two_processes(generated, target_url, pg_or_sqlite_second, monkeypatch):
    kv = generated("mixed", 40)
    build_live_store(target_url, kv)
    build_live_store(pg_or_sqlite_second, kv)
    one, two = _both(kv, target_url, pg_or_sqlite_second, monkeypatch, chunk_size=6, backfill=True)
    assert two["result"][0] == "complete"
    assert any(s[2] == "kept_as_duplicate" for s in two["skipped"])
    assert two == one


def test_headless_pipeline_with_two_processes_commits(generated, sqlite_url, tmp_path, monkeypatch):
    """migrate, validate and commit with the child: the commit's fingerprint check sees the same store."""
    kv = generated("mixed", 50)
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    out, err = io.StringIO(), io.StringIO()
    code = run_pipeline(kv, sqlite_url, chunk_size=9, report_path=tmp_path / "r.json", as_json=True, confirm=None,
                        out=out, err=err)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["outcome"] == "committed"


def test_a_store_changed_before_the_child_read_it_is_refused(generated, sqlite_url, monkeypatch):
    """The child must read the parent's snapshot: a write committed in between (here by a raw
    LMDB writer that ignores migwizard's lock) gives another transaction id, a typed refusal."""
    kv = generated("mixed", 30)
    real = workers.stream

    def write_then_stream(target, args, **kw):
        if kw.get("workers") == 2:
            subprocess.run([sys.executable, "-c", _RAW_WRITE, str(kv)], check=True, timeout=60)
        return real(target, args, **kw)

    monkeypatch.setattr(workers, "stream", write_then_stream)
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    with Engine(kv, sqlite_url, chunk_size=7) as e, pytest.raises(EngineError, match="KV store changed") as ei:
        e.migrate()
    assert ei.value.exit_code == ExitCode.INTERRUPTED_RESUMABLE
    assert _rows(sqlite_url, "SELECT COUNT(*) FROM payments")[0][0] == 0


_RAW_WRITE = r"""
import sys, lmdb
env = lmdb.open(sys.argv[1], max_dbs=2)
meta = env.open_db(b"meta", create=False)
with env.begin(write=True) as txn:
    txn.put(b"test-unrelated", b"1", db=meta)
"""


def test_the_second_process_starts_only_when_it_pays_off(monkeypatch):
    monkeypatch.delenv(workers.WORKERS_ENV, raising=False)
    monkeypatch.setattr(workers, "worker_count", lambda: 2)
    assert not migrate_kv.child_pays_off(migrate_kv.CHILD_MIN_ENTRIES - 1)
    assert migrate_kv.child_pays_off(migrate_kv.CHILD_MIN_ENTRIES)
    monkeypatch.setattr(workers, "worker_count", lambda: 1)
    assert not migrate_kv.child_pays_off(10 * migrate_kv.CHILD_MIN_ENTRIES)
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    assert migrate_kv.child_pays_off(1)
    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    monkeypatch.setattr(workers, "worker_count", lambda: 2)
    assert not migrate_kv.child_pays_off(10 * migrate_kv.CHILD_MIN_ENTRIES)


# -- helpers -------------------------------------------------------------------------------------


def _refuse(url, victim: bytes) -> None:
    db = open_database(url)
    try:
        apply_migrations(db)
        if url.startswith("sqlite"):
            db.execute_sql("CREATE TRIGGER refuse BEFORE INSERT ON payments WHEN NEW.payment_identifier = "
                           f"x'{victim.hex()}' BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END")
        else:
            db.execute_sql("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                           f"IF NEW.payment_identifier = '\\x{victim.hex()}'::bytea THEN "
                           "RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
            db.execute_sql("CREATE TRIGGER refuse BEFORE INSERT ON payments FOR EACH ROW EXECUTE FUNCTION refuse()")
    finally:
        db.close()


def _dump(url):
    db = open_database(url)
    try:
        return dump_tables(db)
    finally:
        db.close()


def _rows(url, sql):
    db = open_database(url)
    try:
        return db.execute_sql(sql).fetchall()
    finally:
        db.close()


def _env() -> dict:
    import os
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}



# -- the chunks' wire form -----------------------------------------------------------------------


def _produced(kv, dialect: str, fast: bool) -> list:
    from migwizard.core.engine.rows import ID_TABLES

    args = migrate_kv.producer_args(
        kv_path=str(kv), after=None, chunk_size=7, max_rows=300, dialect=dialect, fast=fast, quarantine=False,
        taken=None, done=0, next_ids={t: 1 for t in ID_TABLES}, switch_next=0, normalisations={},
        counts={k: 0 for k in migrate_kv.COUNT_FIELDS}, progress_s=3600.0)
    return list(migrate_kv.produce(args))


@pytest.mark.parametrize("profile,count,fast", [("edge", 0, True), ("edge", 0, False), ("mixed", 300, True),
                                                ("mixed", 120, False)])
def test_a_chunk_crosses_as_marshal_exactly_as_it_was(generated_ro, profile, count, fast):
    """``repr`` equality is type-strict where ``==`` is not: tuple vs list, bytes vs str, bool
    or an IntEnum vs int would all show."""
    items = _produced(generated_ro(profile, count), "sqlite", fast)
    chunks = [i for i in items if isinstance(i, migrate_kv.Chunk)]
    assert len(chunks) >= 3
    for item in items:
        blob = migrate_kv.to_wire(item)
        if not isinstance(item, migrate_kv.Chunk):
            assert blob is None  # ticks, the snapshot and the end cross pickled
            continue
        assert blob is not None  # SQLite rows are plain values: every chunk takes the cheap way
        back = migrate_kv.from_wire(blob)
        assert repr(back) == repr(item)
        assert back == item

# PostgreSQL chunks (their times crossing as ints) and the pickled way for a chunk holding a
# datetime: tests/engine/test_pg_time_wire.py.
