"""Who holds the node's files / database: real processes, real sessions."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from migwizard.core.lnd.holders import file_holders, node_files, pg_sessions

HOLDER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode=wal")
conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
conn.execute("INSERT INTO t VALUES (1)")
conn.commit()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def graph_dir(tmp_path):
    d = tmp_path / "data" / "graph" / "mainnet"
    d.mkdir(parents=True)
    for name in ("channel.sqlite", "lnd.sqlite"):
        sqlite3.connect(d / name).close()
    return d


def test_idle_files_have_no_holder(graph_dir):
    got = file_holders(node_files(graph_dir))
    assert not got and got.holders == ()
    assert "no process holds" in got.describe()
    assert str(graph_dir / "channel.sqlite") in got.checked


def test_child_holding_channel_sqlite_is_named(graph_dir):
    target = graph_dir / "channel.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target), "lnd-impersonator"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        got = file_holders(node_files(graph_dir))
        mine = [h for h in got.holders if h.pid == child.pid]
        paths = {h.path for h in mine}
        assert str(target) in paths and str(target) + "-wal" in paths
        assert str(graph_dir / "lnd.sqlite") not in paths
        assert all("lnd-impersonator" in h.command for h in mine)
        assert f"process {child.pid} (" in got.describe()
    finally:
        child.stdin.close()
        child.wait(timeout=10)
    assert not [h for h in file_holders(node_files(graph_dir)).holders if h.pid == child.pid]


def test_our_own_open_handle_does_not_count(graph_dir):
    conn = sqlite3.connect(graph_dir / "lnd.sqlite")
    try:
        conn.execute("CREATE TABLE t (x)")
        assert not file_holders(node_files(graph_dir))
    finally:
        conn.close()


def test_second_postgres_session_is_named(pg_url):
    import psycopg

    from migwizard.core.sql.connect import TargetURL, open_database

    db = open_database(pg_url)
    try:
        assert pg_sessions(db) == []
        kw = TargetURL.parse(pg_url).connect_kwargs() | {"application_name": "lnd-holder-test"}
        other = psycopg.connect(dbname=TargetURL.parse(pg_url).database, **kw)
        try:
            got = pg_sessions(db)
            assert len(got) == 1
            assert got[0].pid == other.info.backend_pid
            assert got[0].application_name == "lnd-holder-test"
            assert got[0].usename and got[0].client
            assert "lnd-holder-test" in got[0].describe()
        finally:
            other.close()
    finally:
        db.close()
