"""One command from lnd's KV-over-SQL store (or a bbolt channel.db) to SQL tables, identical to the LMDB path."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from migwizard.core.generate.kvsql import write_kvsql
from migwizard.core.kv import BboltReader, LmdbStore
from migwizard.core.kv.source import prepare_source
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.dump import dump_tables

CLI = [sys.executable, "-m", "migwizard.cli"]


def run(*args, state: Path, timeout=300):
    env = dict(os.environ)
    env["MIGWIZ_STATE_DIR"] = str(state)
    env["XDG_STATE_HOME"] = str(state / "xdg")
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def _dump(url: str) -> dict:
    db = open_database(url)
    try:
        return dump_tables(db)
    finally:
        db.close()


def _source_root(kind: str, name: str, fixtures_dir: Path, generated):
    """(context manager yielding a bucket root, description) for a fixture or a generated store."""
    if kind == "fixture":
        return BboltReader(fixtures_dir / f"lnd-regtest-{name}-channel.db")
    return LmdbStore.open(generated(*name), readonly=True)


SOURCES = [
    ("fixture", "alice"),
    ("fixture", "carol"),
    ("fixture", "dave"),
    ("generated", ("mixed", 300, 5)),
    ("generated", ("edge", 0, 1)),
]


@pytest.mark.parametrize("kind,name", SOURCES, ids=["alice", "carol", "dave", "mixed300", "edge"])
def test_kvsql_source_migrates_to_the_same_tables_as_lmdb(kind, name, target_url, pg_or_sqlite_second, tmp_path,
                                                          request, generated):
    fixtures_dir = request.getfixturevalue("fixtures_dir") if kind == "fixture" else None
    state = tmp_path / "state"
    # the LMDB path: the same tree, migrated from migwizard's own store
    with _source_root(kind, name, fixtures_dir, generated) as src, src.read() as root:
        lmdb = tmp_path / "lmdb"
        from migwizard.core.kv.importer import import_from

        if kind == "fixture":
            import_from(src, lmdb)
        else:
            lmdb = Path(src.path)
        # lnd's layout: a channel.sqlite beside the SQLite target, or the table in the same PostgreSQL database
        kv = str(tmp_path / "channel.sqlite") if target_url.startswith("sqlite") else target_url
        write_kvsql(root, kv)
    p = run("--yes", "--kv", lmdb, "--sql", pg_or_sqlite_second, "--log", tmp_path / "a.log", state=state)
    assert p.returncode == 0, p.stderr
    p = run("--yes", "--kv", kv, "--sql", target_url, "--log", tmp_path / "b.log", "--json", state=state)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["outcome"] == "committed"
    assert "imported and verified a copy" in p.stderr
    assert str(state / "imports") in p.stderr  # the copy lives in our state dir, not beside lnd's files
    ours, theirs = _dump(target_url), _dump(pg_or_sqlite_second)
    assert ours == theirs
    assert sum(len(rows) for rows in ours.values()) > 0


@pytest.mark.fixtures
def test_bbolt_channel_db_in_one_command(fixtures_dir, tmp_path):
    state = tmp_path / "state"
    target = f"sqlite:///{tmp_path / 'lnd.sqlite'}"
    p = run("--yes", "--kv", fixtures_dir / "lnd-regtest-carol-channel.db", "--sql", target, "--log",
            tmp_path / "log", state=state)
    assert p.returncode == 0, p.stderr
    copies = list((state / "imports").iterdir())
    assert len(copies) == 1 and copies[0].stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in copies[0].iterdir())
    meta = _import_meta(copies[0])
    assert meta["kind"] == "bbolt" and meta["path"] == str((fixtures_dir / "lnd-regtest-carol-channel.db").resolve())


def _import_meta(copy: Path) -> dict:
    with LmdbStore.open(copy, readonly=True) as store:
        return json.loads(store.meta_get(b"import-source"))


@pytest.mark.fixtures
def test_unchanged_copy_is_reused_changed_source_reimported(fixtures_dir, tmp_path):
    kv = tmp_path / "channel.sqlite"
    with BboltReader(fixtures_dir / "lnd-regtest-alice-channel.db") as r, r.read() as root:
        write_kvsql(root, kv)
    base = tmp_path / "imports"
    first = prepare_source(str(kv), imports_base=base)
    assert not first.reused and first.kind == "kvsql-sqlite" and first.imported.verified
    meta = _import_meta(first.lmdb_dir)
    assert meta["kind"] == "kvsql-sqlite" and meta["table"] == "channeldb_kv" and meta["path"] == str(kv.resolve())
    assert len(meta["content_sha256"]) == 64
    again = prepare_source(str(kv), imports_base=base)
    assert again.reused and again.lmdb_dir == first.lmdb_dir

    con = sqlite3.connect(kv)
    con.execute("UPDATE channeldb_kv SET sequence = 5000 WHERE parent_id IS NULL AND key = ?",
                (b"next-payment-id-key",))
    con.commit()
    con.close()
    changed = prepare_source(str(kv), imports_base=base)
    assert not changed.reused and changed.lmdb_dir == first.lmdb_dir and "changed" in changed.note
    with LmdbStore.open(changed.lmdb_dir, readonly=True) as store, store.read() as root:
        assert root.bucket(b"next-payment-id-key").sequence() == 5000
    assert sorted(x.name for x in base.iterdir()) == [first.lmdb_dir.name]  # the stale copy is gone


@pytest.mark.postgres
def test_postgres_source_never_records_its_password(tmp_path, pg_url):
    from tests.support import pg

    with LmdbStore.open(tmp_path / "empty", create=True) as store, store.read() as root:
        write_kvsql(root, pg_url)
    name = pg_url.rsplit("/", 1)[-1]
    with_pw = pg.pg_url(name, password="s3cretpw")  # trust auth accepts it; it must still never be shown
    ps = prepare_source(with_pw, imports_base=tmp_path / "imports")
    assert ps.kind == "kvsql-postgres" and "s3cretpw" not in ps.origin and name in ps.origin
    assert ps.lmdb_dir.name.startswith(name + "-")
    with LmdbStore.open(ps.lmdb_dir, readonly=True) as store:
        everything = b"".join(k + v for k, v in store.meta_items().items())
    assert b"s3cretpw" not in everything
    assert _import_meta(ps.lmdb_dir)["kind"] == "kvsql-postgres"


def test_missing_table_refused_with_exit_code(tmp_path):
    kv = tmp_path / "channel.sqlite"
    con = sqlite3.connect(kv)
    con.execute("CREATE TABLE decayedlogdb_kv (key BLOB)")
    con.commit()
    con.close()
    p = run("--yes", "--kv", kv, "--sql", f"sqlite:///{tmp_path / 't.db'}", "--log", tmp_path / "log",
            state=tmp_path / "state")
    assert p.returncode == 2, p.stderr
    assert "no table 'channeldb_kv'" in p.stderr and "decayedlogdb_kv" in p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "t.db").exists()


@pytest.mark.fixtures
def test_kv_table_option_and_inspect_show_markers(fixtures_dir, tmp_path):
    kv = tmp_path / "channel.sqlite"
    with BboltReader(fixtures_dir / "lnd-regtest-dave-channel.db") as r, r.read() as root:
        write_kvsql(root, kv, table="otherdb_kv", lndinit_migrated="2026-06-14T09:12:44Z", invoice_tombstone=True)
    p = run("inspect", kv, "--kv-table", "otherdb_kv", "--json", state=tmp_path / "state")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["kind"] == "kvsql-sqlite" and doc["payments"] == 1 and doc["failed"] == 1
    assert doc["node_markers"]["lndinit_migrated_at"] == "2026-06-14T09:12:44Z"
    assert doc["node_markers"]["invoice_tombstone"] is True
    p = run("inspect", kv, "--kv-table", "otherdb_kv", state=tmp_path / "state")
    assert "marker: this KV-over-SQL store was made by lndinit migrate-db on 2026-06-14" in p.stdout
    assert "marker: lnd already runs native SQL for invoices" in p.stdout
    p = run("inspect", fixtures_dir / "lndinit-tombstoned-dave-channel.db", state=tmp_path / "state")
    assert "marker: this channel.db was converted by lndinit on 2026-06-14" in p.stdout
