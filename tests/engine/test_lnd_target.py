"""lnd's own database as the target (issue 8 items 2-6, issue 13 items 2-3), end to end.

An lnd database at migration_tracker 13 built from lnd's own schema files (with
invoice and graph rows), the node's KV in ``channeldb_kv`` beside it (SQLite:
``channel.sqlite`` next to ``lnd.sqlite``; PostgreSQL: the same database), and
the real CLI in a child process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
from migwizard.core.engine.markers import scan_kv
from migwizard.core.generate.kvsql import write_kvsql
from migwizard.core.kv import BboltReader, LmdbStore
from migwizard.core.kv.markers import read_markers
from migwizard.core.lnd import sequencer
from migwizard.core.lnd.identity import kv_identity
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.dump import dump_tables
from migwizard.core.sql.transactions import write_txn
from tests.support import lnddb
from tests.support.lndqueries import lnd_queries, run_query

CLI = [sys.executable, "-m", "migwizard.cli"]
LOW, HIGH = datetime(1970, 1, 1), datetime(9999, 12, 31)


def cli(*args, state: Path, env: dict | None = None, timeout=300):
    e = dict(os.environ, MIGWIZ_STATE_DIR=str(state), XDG_STATE_HOME=str(state / "xdg"))
    e.pop(lndside_crash_env(), None)
    e.update(env or {})
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=e)


def lndside_crash_env() -> str:
    from migwizard.core.engine.lndseq import CRASH_AT_ENV

    return CRASH_AT_ENV


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class Node:
    """An lnd node's databases: native target URL, and the KV source (path or URL)."""

    def __init__(self, target: str, kv: str, kv_sqlite: Path | None):
        self.target, self.kv, self.kv_sqlite = target, kv, kv_sqlite

    def db(self):
        return open_database(self.target)

    def sequencer(self) -> int:
        if self.kv_sqlite is not None:
            return sequencer.read_sqlite_file(self.kv_sqlite).sequence
        db = self.db()
        try:
            return sequencer.read(db).sequence
        finally:
            db.close()

    def query(self, sql: str):
        db = self.db()
        try:
            return db.execute_sql(sql).fetchall()
        finally:
            db.close()


def make_node(tmp_path: Path, target_url: str, kv_root=None, *, tracker: int = 13) -> Node:
    """lnd.sqlite (or the PostgreSQL database) at ``tracker`` with lnd's sample invoice and
    graph rows, and ``kv_root`` written into channeldb_kv beside it."""
    lnddb.require_lnd_fixtures()
    if _is_sqlite(target_url):
        graph = Path(target_url[len("sqlite:///"):]).parent
        target = f"sqlite:///{graph / 'lnd.sqlite'}"
    else:
        target = target_url
    db = open_database(target)
    try:
        lnddb.build_lnd_db(db, tracker)
    finally:
        db.close()
    if kv_root is None:
        return Node(target, "", None)
    if _is_sqlite(target):
        kv_file = graph / "channel.sqlite"
        write_kvsql(kv_root, kv_file)
        return Node(target, str(kv_file), kv_file)
    write_kvsql(kv_root, target)
    return Node(target, target, None)


def _other_tables(node: Node) -> dict:
    """Every table that is not a payments table or migwizard's bookkeeping, byte for byte."""
    db = node.db()
    try:
        names = [t for t in db.get_tables()
                 if not t.startswith(("payment", "migwizard_")) and t not in ("migration_tracker", "channeldb_kv")]
        out = dump_tables(db, names)
        out["migration_tracker"] = db.execute_sql(
            "SELECT version, migration_time FROM migration_tracker WHERE version < 14 ORDER BY version").fetchall()
        if "channeldb_kv" in db.get_tables():  # every row but the sequencer's
            out["channeldb_kv"] = db.execute_sql(
                "SELECT id, key, value, parent_id, sequence FROM channeldb_kv "
                "WHERE NOT (parent_id IS NULL AND key = %s) ORDER BY id" % ("?" if _is_sqlite(node.target) else "%s"),
                (sequencer.NEXT_PAYMENT_ID_KEY,)).fetchall()
        return out
    finally:
        db.close()


def _read_args(db, *, ids=(), attempts=(), hops=(), identifier=b"\0" * 32, name=""):
    from migwizard.core.lnd.target import go_time_string

    sqlite = db.__class__.__name__.startswith("Sqlite")

    def ts(dt):
        return go_time_string(dt.astimezone()) if sqlite else dt

    return {"index_offset_get": None, "index_offset_let": None, "intent_type": None,
            "created_after": ts(LOW), "created_before": ts(HIGH), "num_limit": 1_000_000,
            "payment_ids": list(ids), "htlc_attempt_indices": list(attempts), "hop_ids": list(hops),
            "p1": identifier if name == "FetchPayment" else 0, "p2": 1_000_000}


def _kv_facts(root) -> tuple[int, int, list[bytes]]:
    scan = scan_kv(root)
    rb = root.bucket(PAYMENTS_ROOT_BUCKET)
    hashes = [k for k, v in rb.items() if v is None][:40] if rb is not None else []
    return scan.counts.payments, scan.counts.attempts, hashes


def _check_lnd_reads(node: Node, payments: int, attempts: int, hashes: list[bytes]) -> None:
    """lnd's own sqlc read queries on the result (after lnd's later schema files)."""
    db = node.db()
    try:
        ids = [r[0] for r in db.execute_sql("SELECT id FROM payments ORDER BY id").fetchall()]
        att = [r[0] for r in db.execute_sql("SELECT attempt_index FROM payment_htlc_attempts").fetchall()]
        hops = [r[0] for r in db.execute_sql("SELECT id FROM payment_route_hops").fetchall()]
        got = {}
        for name, q in lnd_queries().items():
            if q.is_read:
                got[name] = run_query(db, name, _read_args(db, ids=ids, attempts=att, hops=hops, name=name))
        assert len(got["FilterPayments"]) == len(ids) == payments
        assert len(got["FilterPaymentsDesc"]) == payments
        assert len(got["FetchHtlcAttemptsForPayments"]) == len(att) == attempts
        assert len(got["FetchHopsForAttempts"]) == len(hops) > 0
        for name, table in (("FetchPaymentLevelFirstHopCustomRecords", "payment_first_hop_custom_records"),
                            ("FetchRouteLevelFirstHopCustomRecords", "payment_attempt_first_hop_custom_records"),
                            ("FetchHopLevelCustomRecords", "payment_hop_custom_records")):
            (n,) = db.execute_sql(f'SELECT COUNT(*) FROM "{table}"').fetchone()
            assert len(got[name]) == n
        for h in hashes:
            row = run_query(db, "FetchPayment", _read_args(db, identifier=h, name="FetchPayment"))
            assert row is not None, h.hex()
            assert any(isinstance(v, (bytes, memoryview)) and bytes(v) == h for v in row), h.hex()
    finally:
        db.close()


def _lnd_end_to_end(tmp_path, target_url, root_ctx, *, custom_records: bool):
    with root_ctx as src, src.read() as root:
        node = make_node(tmp_path, target_url, root)
        payments, attempts, hashes = _kv_facts(root)
    before = _other_tables(node)
    p = cli("--yes", "--kv", node.kv, "--sql", node.target, "--json", state=tmp_path / "state")
    assert p.returncode == 0, p.stderr + p.stdout
    doc = json.loads(p.stdout)
    assert doc["outcome"] == "committed"
    assert [r[0] for r in node.query("SELECT MAX(version) FROM migration_tracker")] == [14]
    assert _other_tables(node) == before
    (max_attempt,) = node.query("SELECT MAX(attempt_index) FROM payment_htlc_attempts")[0]
    assert node.sequencer() > max_attempt
    db = node.db()
    try:
        assert lnddb.apply_later_files(db) == [15, 16, 17, 18]
    finally:
        db.close()
    _check_lnd_reads(node, payments, attempts, hashes)
    if custom_records:
        assert node.query("SELECT COUNT(*) FROM payment_hop_custom_records")[0][0] > 0
    return node, p


@pytest.mark.postgres
def test_edge_store_into_lnds_database_with_remaps(generated, tmp_path, target_url):
    kv = generated("edge", 120)
    node, p = _lnd_end_to_end(tmp_path, target_url, LmdbStore.open(kv, readonly=True), custom_records=True)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        before = root.bucket(sequencer.NEXT_PAYMENT_ID_KEY).sequence()
    assert node.sequencer() > before, "the remapped legacy IDs are above the old horizon: it moved"
    commit = json.loads(p.stdout)["commit"]
    assert "lnd's switch sequencer in channeldb_kv" in commit
    assert ("(in the commit transaction)" in commit) is (not _is_sqlite(target_url)), commit


@pytest.mark.fixtures
def test_alice_into_lnds_database(fixtures_dir, tmp_path, target_url):
    _lnd_end_to_end(tmp_path, target_url, BboltReader(fixtures_dir / "lnd-regtest-alice-channel.db"),
                    custom_records=False)


def test_sigkill_between_commit_and_sequencer_advance(generated, tmp_path):
    kv = generated("edge", 60)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        node = make_node(tmp_path, f"sqlite:///{tmp_path / 'lnd.sqlite'}", root)
    seq_before = node.sequencer()
    p = cli("--yes", "--kv", node.kv, "--sql", node.target, state=tmp_path / "state",
            env={lndside_crash_env(): "after-commit"})
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert [r[0] for r in node.query("SELECT MAX(version) FROM migration_tracker")] == [14]
    (max_attempt,) = node.query("SELECT MAX(attempt_index) FROM payment_htlc_attempts")[0]
    assert node.sequencer() == seq_before <= max_attempt, "killed before the advance"
    p = cli("--yes", "--kv", node.kv, "--sql", node.target, state=tmp_path / "state")
    assert p.returncode == 0, p.stderr
    assert "was behind the committed migration" in p.stderr and "advanced it" in p.stderr
    assert node.sequencer() > max_attempt


def test_process_holding_channel_sqlite_is_named(generated, tmp_path):
    kv = generated("mixed", 20)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        node = make_node(tmp_path, f"sqlite:///{tmp_path / 'lnd.sqlite'}", root)
    holder = subprocess.Popen([sys.executable, "-c", "import sys,time; f=open(sys.argv[1],'rb'); "
                               "print('ok', flush=True); time.sleep(120)", str(node.kv_sqlite)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        p = cli("preflight", "--kv", node.kv, "--sql", node.target, state=tmp_path / "state")
        assert p.returncode == 2, p.stdout + p.stderr
        assert f"process {holder.pid}" in p.stdout and "channel.sqlite" in p.stdout
        p = cli("--yes", "--kv", node.kv, "--sql", node.target, state=tmp_path / "state")
        assert p.returncode == 2 and f"process {holder.pid}" in p.stderr
    finally:
        holder.kill()
        holder.wait()
    assert node.query("SELECT COUNT(*) FROM payments")[0][0] == 0
    assert [r[0] for r in node.query("SELECT MAX(version) FROM migration_tracker")] == [13]


@pytest.mark.postgres
def test_second_postgres_session_is_named(generated, tmp_path, pg_url):
    import psycopg

    kv = generated("mixed", 20)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        node = make_node(tmp_path, pg_url, root)
    from migwizard.core.sql.connect import TargetURL

    other = psycopg.connect(**TargetURL.parse(pg_url).connect_kwargs() | {"application_name": "lnd-lookalike"},
                            dbname=TargetURL.parse(pg_url).database)
    try:
        (pid,) = other.execute("SELECT pg_backend_pid()").fetchone()
        p = cli("preflight", "--kv", node.kv, "--sql", node.target, state=tmp_path / "state")
        assert p.returncode == 2, p.stdout + p.stderr
        assert f"session {pid} (lnd-lookalike" in p.stdout
        p = cli("--yes", "--kv", node.kv, "--sql", node.target, state=tmp_path / "state")
        assert p.returncode == 2 and f"session {pid}" in p.stderr
    finally:
        other.close()
    assert node.query("SELECT COUNT(*) FROM payments")[0][0] == 0


@pytest.mark.fixtures
def test_lndinit_tombstoned_source_refused_for_lnds_database(fixtures_dir, tmp_path):
    stale = fixtures_dir / "lndinit-tombstoned-dave-channel.db"
    with BboltReader(stale) as r, r.read() as root:
        date = read_markers(root).lndinit_tombstone_at[:10]
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'lnd.sqlite'}")
    p = cli("preflight", "--kv", stale, "--sql", node.target, state=tmp_path / "state")
    assert p.returncode == 2
    assert "lndinit" in p.stdout and date in p.stdout and "channel.sqlite beside lnd.sqlite" in p.stdout
    p = cli("--yes", "--kv", stale, "--sql", node.target, state=tmp_path / "state")
    assert p.returncode == 2, p.stderr
    assert "lndinit" in p.stderr and date in p.stderr
    assert [r[0] for r in node.query("SELECT MAX(version) FROM migration_tracker")] == [13]
    assert node.query("SELECT COUNT(*) FROM payments")[0][0] == 0
    # a standalone copy: warned, migrated, and the report says where the history ends
    report = tmp_path / "report.json"
    p = cli("--yes", "--kv", stale, "--sql", f"sqlite:///{tmp_path / 'audit.sqlite'}", "--json", "--report", report,
            state=tmp_path / "state")
    assert p.returncode == 0, p.stderr
    assert "warning: Live copy" in p.stderr and date in p.stderr
    assert json.loads(report.read_text())["lnd"]["history_ends"] == date
    assert any(f"ends on {date}" in s for s in json.loads(p.stdout)["next_steps"])


def test_lndinit_and_invoice_markers_in_words(generated, tmp_path):
    kv = generated("mixed", 10)
    src = tmp_path / "channel.sqlite"
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        write_kvsql(root, src, lndinit_migrated="2025-03-04T05:06:07Z", invoice_tombstone=True)
    p = cli("preflight", "--kv", src, "--sql", f"sqlite:///{tmp_path / 'new.sqlite'}", state=tmp_path / "state")
    assert "made by lndinit migrate-db on 2025-03-04" in p.stdout
    assert "lnd already runs native SQL for invoices" in p.stdout


def _lnd_db_for_node(url: str, pubkey: bytes, invoices: int) -> None:
    db = open_database(url)
    p = "?" if _is_sqlite(url) else "%s"
    try:
        lnddb.build_lnd_db(db, 13, sample_rows=False)
        with write_txn(db):
            for n in range(invoices):
                db.execute_sql(
                    "INSERT INTO invoices (hash, amount_msat, expiry, state, amount_paid_msat, is_amp, "
                    f"is_hodl, is_keysend, created_at) VALUES ({', '.join([p] * 9)})",
                    (n.to_bytes(32, "big"), 1, 60, 0, 0, False, False, False, datetime(2024, 1, 1)))
            (node_id,) = db.execute_sql(f"INSERT INTO graph_nodes (version, pub_key) VALUES ({p}, {p}) RETURNING id",
                                        (1, pubkey)).fetchone()
            db.execute_sql(f"INSERT INTO graph_source_nodes (node_id) VALUES ({p})", (node_id,))
    finally:
        db.close()


@pytest.mark.fixtures
@pytest.mark.postgres
def test_other_nodes_kv_refused_then_overridden(fixtures_dir, tmp_path, target_url):
    lnddb.require_lnd_fixtures()
    with BboltReader(fixtures_dir / "lnd-regtest-alice-channel.db") as r, r.read() as root:
        alice = kv_identity(root)
    carol = fixtures_dir / "lnd-regtest-carol-channel.db"
    _lnd_db_for_node(target_url, alice.node_pubkey, alice.invoice_count)
    p = cli("--yes", "--kv", carol, "--sql", target_url, state=tmp_path / "state")
    assert p.returncode == 2, p.stderr
    assert "not this node's" in p.stderr and alice.node_pubkey.hex() in p.stderr
    db = open_database(target_url)
    try:
        assert db.execute_sql("SELECT MAX(version) FROM migration_tracker").fetchone()[0] == 13
    finally:
        db.close()
    report = tmp_path / "report.json"
    p = cli("--yes", "--kv", carol, "--sql", target_url, "--allow-foreign-source", "--report", report,
            state=tmp_path / "state")
    assert p.returncode == 0, p.stderr
    override = json.loads(report.read_text())["lnd"]["foreign_source_override"]
    assert any(alice.node_pubkey.hex() in r for r in override["reasons"])


def test_lmdb_source_needing_a_remap_refused_for_lnds_database(generated, tmp_path):
    from migwizard.core.engine import Engine
    from migwizard.core.engine.results import CheckStatus

    kv = generated("edge", 40)
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'lnd.sqlite'}")
    with Engine(kv, node.target) as e:
        rep = e.preflight()
    check = next(c for c in rep.checks if c.id == "lnd.sequencer")
    assert check.status is CheckStatus.FAIL and "cannot be reached" in check.reason
    assert not rep.ok
    p = cli("--yes", "--kv", kv, "--sql", node.target, state=tmp_path / "state")
    assert p.returncode == 2
    assert node.query("SELECT COUNT(*) FROM payments")[0][0] == 0


def test_lnddir_fills_source_and_target(generated, tmp_path):
    kv = generated("mixed", 15)
    graph = tmp_path / "lnd" / "data" / "graph" / "regtest"
    graph.mkdir(parents=True)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        node = make_node(tmp_path, f"sqlite:///{graph / 'lnd.sqlite'}", root)
    (tmp_path / "lnd" / "lnd.conf").write_text("[Application Options]\n[db]\ndb.backend=sqlite\n"
                                               "db.use-native-sql=true\n[Bitcoin]\nbitcoin.regtest=true\n")
    p = cli("--yes", "--lnddir", tmp_path / "lnd", "--sql", node.target, state=tmp_path / "state")
    assert p.returncode == 64 and "--lnddir" in p.stderr
    p = cli("--yes", "--lnddir", tmp_path / "lnd", state=tmp_path / "state")
    assert p.returncode == 0, p.stderr
    assert [r[0] for r in node.query("SELECT MAX(version) FROM migration_tracker")] == [14]
    assert node.query("SELECT COUNT(*) FROM payments")[0][0] == 15


@pytest.mark.postgres
def test_backfill_remaps_above_lnds_live_sequencer_and_advances_it(generated, tmp_path, target_url):
    """Backfill (tracker 18) from lnd's own KV-over-SQL store after lnd ran on: the legacy
    attempt-ID-0 remaps start above lnd's CURRENT sequencer in channeldb_kv (not the
    copy's old horizon), and that sequencer ends above every attempt index."""
    kv = generated("edge", 80)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        node = make_node(tmp_path, target_url, root, tracker=18)
        old = root.bucket(sequencer.NEXT_PAYMENT_ID_KEY).sequence()
    live = old + 5000  # lnd handed out attempt IDs since the skip
    if node.kv_sqlite is not None:
        sequencer.advance_sqlite_file(node.kv_sqlite, live)
    else:
        db = node.db()
        try:
            with write_txn(db):
                sequencer.advance(db, live)
        finally:
            db.close()
    db = node.db()
    try:
        from migwizard.core.sql.values import dialect_for

        ts = dialect_for(db).ts
        with write_txn(db):
            (pid,) = run_query(db, "InsertPayment", {"amount_msat": 5, "created_at": ts(1_900_000_000 * 10**9),
                                                     "payment_identifier": b"\xee" * 32})
            run_query(db, "InsertHtlcAttempt", {
                "payment_id": pid, "attempt_index": live - 1, "session_key": b"\x01" * 32,
                "attempt_time": ts(1_900_000_000 * 10**9), "payment_hash": b"\xee" * 32,
                "first_hop_amount_msat": 5, "route_total_time_lock": 9, "route_total_amount": 5,
                "route_source_key": bytes.fromhex("02" + "11" * 32)})
    finally:
        db.close()
    p = cli("--yes", "--kv", node.kv, "--sql", node.target, "--json", state=tmp_path / "state")
    assert p.returncode == 2 and "--backfill" in p.stdout + p.stderr
    p = cli("--yes", "--backfill", "--kv", node.kv, "--sql", node.target, "--json", state=tmp_path / "state")
    assert p.returncode == 0, p.stderr + p.stdout
    doc = json.loads(p.stdout)
    assert doc["outcome"] == "committed" and doc["backfill"]["switch_start"] >= live
    assert "a backfill: lnd's migration_tracker was not touched" in doc["commit"]
    assert [r[0] for r in node.query("SELECT MAX(version) FROM migration_tracker")] == [18]
    ours = [r[0] for r in node.query(f"SELECT attempt_index FROM payment_htlc_attempts WHERE payment_id > {pid}")]
    remapped = [a for a in ours if a >= live]
    assert remapped, "the edge store has legacy attempt ID 0 remaps"
    assert not [a for a in ours if old <= a < live], "no remap below lnd's live sequencer"
    (max_attempt,) = node.query("SELECT MAX(attempt_index) FROM payment_htlc_attempts")[0]
    assert node.sequencer() > max_attempt
