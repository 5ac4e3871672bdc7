"""lnd's KV-over-SQL reader: layout, order, read-only transactions, bulk reads, typed refusals, markers."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from migwizard.core.generate.kvsql import write_kvsql
from migwizard.core.kv import BboltReader, CorruptError, LmdbStore, ReadOnlyError, walk
from migwizard.core.kv.importer import import_from
from migwizard.core.kv.kvsql import KvSqlReader, KvSqlTableError
from migwizard.core.kv.markers import describe_markers, markers_of_store, read_markers
from tests.support import pg

from .conftest import fixture_file

ALICE_KVSQL = "derived-alice-channel-kvsql.sqlite"
ALICE_BBOLT = "lnd-regtest-alice-channel.db"


def _walk_bbolt(name: str, top=None) -> list:
    with BboltReader(fixture_file(name)) as r, r.read() as root:
        return list(walk(root, top=top))


def _walk_kvsql(src, table=None, top=None) -> list:
    with KvSqlReader(src, table=table) as r, r.read() as root:
        return list(walk(root, top=top))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kv_dest(request, tmp_path):
    """Where a channeldb_kv table goes: a new channel.sqlite or an empty PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "channel.sqlite")
        return
    name = pg.create_database("migwiz_kv_")
    try:
        yield pg.pg_url(name)
    finally:
        pg.drop_database(name)


@pytest.mark.fixtures
def test_derived_alice_reads_entry_for_entry_like_bbolt():
    got = _walk_kvsql(fixture_file(ALICE_KVSQL))
    want = _walk_bbolt(ALICE_BBOLT)
    assert len(got) == len(want) == 1277
    for a, b in zip(got, want):
        assert (a.path, a.key, a.is_bucket, a.sequence, a.value) == (b.path, b.key, b.is_bucket, b.sequence, b.value)
    seqs = {(e.path, e.key): e.sequence for e in got if e.is_bucket and e.sequence}
    assert seqs[((), b"next-payment-id-key")] == 3000


@pytest.mark.fixtures
def test_bbolt_fixture_round_trips_through_channeldb_kv(kv_dest):
    with BboltReader(fixture_file(ALICE_BBOLT)) as r, r.read() as root:
        res = write_kvsql(root, kv_dest)
        want = list(walk(root))
    assert res.rows == len(want)
    assert _walk_kvsql(kv_dest) == want


def _odd_tree(tmp_path):
    """Keys that only sort right bytewise, an empty value, u64 sequences above int64."""
    path = tmp_path / "odd"
    with LmdbStore.open(path, create=True) as store:
        def fill(root):
            t = root.create_bucket(b"payments-root-bucket")
            t.set_sequence(2**64 - 1)  # stored as -1 by lnd
            for k in (b"\x80", b"a", b"ab", b"\x00\x01", b"b", b"\xff" * 3, b"A"):
                t.put(k, b"v" + k)
            t.put(b"empty", b"")
            sub = t.create_bucket(b"aa")
            sub.set_sequence(2**63)
            sub.put(b"\x00", b"x")
            root.create_bucket(b"next-payment-id-key").set_sequence(7)
        store.update(fill)
    return path


def test_bytewise_order_sequences_and_empty_values(tmp_path, kv_dest):
    src = _odd_tree(tmp_path)
    with LmdbStore.open(src, readonly=True) as store, store.read() as root:
        want = list(walk(root))
        write_kvsql(root, kv_dest)
    got = _walk_kvsql(kv_dest)
    assert got == want
    keys = [e.key for e in got if e.path == (b"payments-root-bucket",)]
    assert keys == sorted(keys)  # bytes sort as memcmp
    assert keys.index(b"\x80") > keys.index(b"b") > keys.index(b"ab") > keys.index(b"aa") > keys.index(b"a")
    empty = [e for e in got if e.key == b"empty"][0]
    assert empty.value == b"" and empty.value is not None
    top = [e for e in got if e.key == b"payments-root-bucket"][0]
    assert top.sequence == 2**64 - 1
    assert [e for e in got if e.key == b"aa"][0].sequence == 2**63


def test_stored_signed_sequence_and_null_is_zero(tmp_path):
    src = _odd_tree(tmp_path)
    dest = tmp_path / "channel.sqlite"
    with LmdbStore.open(src, readonly=True) as store, store.read() as root:
        write_kvsql(root, dest, wal=False)
    con = sqlite3.connect(dest)
    seq = dict(con.execute("SELECT key, sequence FROM channeldb_kv WHERE value IS NULL").fetchall())
    con.close()
    assert seq[b"payments-root-bucket"] == -1
    assert seq[b"aa"] == -(2**63)
    with KvSqlReader(dest) as r, r.read() as root:
        assert root.bucket(b"payments-root-bucket").bucket(b"aa").bucket(b"missing") is None


def test_reader_never_writes_and_holds_one_transaction(tmp_path):
    src = _odd_tree(tmp_path)
    dest = tmp_path / "channel.sqlite"
    with LmdbStore.open(src, readonly=True) as store, store.read() as root:
        write_kvsql(root, dest)  # WAL mode, as lnd sets it
    before = dest.read_bytes()
    with KvSqlReader(dest) as r, r.read() as root:
        mode = r.transaction_mode()
        assert mode["in_transaction"] == "true" and mode["read_only"] == "on"
        # a writer commits while we read: our snapshot does not move
        w = sqlite3.connect(dest, timeout=5)
        w.execute("UPDATE channeldb_kv SET sequence = 99 WHERE key = CAST('next-payment-id-key' AS BLOB)")
        w.commit()
        w.close()
        assert root.bucket(b"next-payment-id-key").sequence() == 7
        with pytest.raises(ReadOnlyError):
            root.bucket(b"payments-root-bucket").put(b"k", b"v")
        with pytest.raises(sqlite3.OperationalError):
            r._conn.execute("DELETE FROM channeldb_kv")
    with KvSqlReader(dest) as r, r.read() as root:
        assert root.bucket(b"next-payment-id-key").sequence() == 99
    assert len(before) > 0


@pytest.mark.postgres
def test_postgres_reader_runs_repeatable_read_read_only(tmp_path):
    pg.require_pg()
    name = pg.create_database("migwiz_kv_")
    try:
        url = pg.pg_url(name)
        src = _odd_tree(tmp_path)
        with LmdbStore.open(src, readonly=True) as store, store.read() as root:
            write_kvsql(root, url)
        with KvSqlReader(url) as r, r.read() as root:
            assert r.transaction_mode() == {"isolation": "repeatable read", "read_only": "on"}
            import psycopg

            with psycopg.connect(url, autocommit=True) as w:
                w.execute("UPDATE channeldb_kv SET sequence = 99 WHERE key = %s AND parent_id IS NULL",
                          (b"next-payment-id-key",))
            assert root.bucket(b"next-payment-id-key").sequence() == 7  # snapshot held
            with pytest.raises(Exception, match="read-only"):
                r._conn.execute("DELETE FROM channeldb_kv")
    finally:
        pg.drop_database(name)


def test_password_never_in_messages():
    with pytest.raises(Exception) as ei:
        KvSqlReader("postgresql://someone:s3cretpw@127.0.0.1:1/nodb")
    assert "s3cretpw" not in str(ei.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_wal_file_in_read_only_directory(tmp_path):
    src = _odd_tree(tmp_path)
    d = tmp_path / "ro"
    d.mkdir()
    dest = d / "channel.sqlite"
    with LmdbStore.open(src, readonly=True) as store, store.read() as root:
        write_kvsql(root, dest)
    d.chmod(0o555)
    try:
        assert len(_walk_kvsql(dest)) > 0
        assert sorted(x.name for x in d.iterdir()) == ["channel.sqlite"]
    finally:
        d.chmod(0o755)


def test_children_are_read_in_bulk_not_per_bucket(tmp_path):
    from migwizard.core.generate import generate_store

    kv = tmp_path / "gen"
    generate_store(kv, payments=300, seed=3, profile="mixed")
    dest = tmp_path / "channel.sqlite"
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        want = list(walk(root))
        write_kvsql(root, dest)
    buckets = sum(1 for e in want if e.is_bucket)
    with KvSqlReader(dest) as r, r.read() as root:
        queries: list[str] = []
        r._conn.set_trace_callback(queries.append)
        got = list(walk(root))
    assert got == want
    assert buckets > 500
    assert len(queries) < buckets / 10, (len(queries), buckets)


def _sqlite_table(tmp_path, ddl: str, rows=()):
    p = tmp_path / "channel.sqlite"
    con = sqlite3.connect(p)
    con.executescript(ddl)
    if rows:
        con.executemany("INSERT INTO channeldb_kv (key, value, parent_id, id, sequence) VALUES (?, ?, ?, ?, ?)",
                        rows)
    con.commit()
    con.close()
    return p


KV_DDL = ("CREATE TABLE channeldb_kv (key BLOB NOT NULL, value BLOB, parent_id BIGINT, id INTEGER PRIMARY KEY, "
          "sequence BIGINT);")


def test_missing_table_is_a_typed_error(tmp_path):
    p = _sqlite_table(tmp_path, "CREATE TABLE towerclientdb_kv (x);CREATE TABLE channeldb_kv (key BLOB);")
    with pytest.raises(KvSqlTableError, match="no table 'walletdb_kv'.*towerclientdb_kv"):
        KvSqlReader(p, table="walletdb_kv")
    with pytest.raises(KvSqlTableError, match="lacks column"):
        KvSqlReader(p)
    with pytest.raises(KvSqlTableError, match="no table"):
        KvSqlReader(p, table='channeldb_kv"; DROP TABLE channeldb_kv; --')


@pytest.mark.parametrize("rows,match", [
    ([(b"top", None, None, 1, None), (b"v", b"x", 1, 2, None), (b"kid", b"y", 2, 3, None)], "is a value"),
    ([(b"top", None, None, 1, None), (b"lost", b"x", 77, 2, None)], "orphan"),
    ([(b"top", None, None, 1, None), (b"a", None, 3, 2, None), (b"b", None, 2, 3, None)], "cycle"),
    ([(b"top", b"x", None, 1, None)], "top level"),
    ([(b"top", None, None, 1, None), ("textkey", b"x", 1, 2, None)], "BLOB"),
], ids=["value-with-children", "orphan", "cycle", "top-value", "text-key"])
def test_malformed_tables_are_refused(tmp_path, rows, match):
    p = _sqlite_table(tmp_path, KV_DDL, rows)
    with KvSqlReader(p) as r:
        with pytest.raises(CorruptError, match=match):
            r.check_integrity()
    with KvSqlReader(p) as r:
        with pytest.raises(CorruptError, match=match):
            import_from(r, tmp_path / "copy")


# -- markers -------------------------------------------------------------------

@pytest.mark.fixtures
def test_lndinit_tombstone_read_from_real_file_and_kept_by_the_copy(tmp_path):
    src = fixture_file("lndinit-tombstoned-dave-channel.db")
    with BboltReader(src) as r, r.read() as root:
        m = read_markers(root)
    assert m.lndinit_tombstone == "lndinit migrate-db 2026-06-14T09:12:44Z"
    assert m.lndinit_tombstone_at == "2026-06-14T09:12:44Z"
    words = describe_markers(m)
    assert words == ["this channel.db was converted by lndinit on 2026-06-14; lnd refuses to open it; the node's "
                     "data since then is in the SQL backend (channel.sqlite or PostgreSQL)"]
    with BboltReader(src) as r:
        res = import_from(r, tmp_path / "copy")
    assert res.markers == m
    with LmdbStore.open(tmp_path / "copy", readonly=True) as store, store.read() as root:
        assert markers_of_store(store, root) == m
        assert json.loads(store.meta_get(b"node-markers"))["lndinit_tombstone_at"] == "2026-06-14T09:12:44Z"


@pytest.mark.fixtures
def test_markers_of_a_kvsql_store_made_by_lndinit(tmp_path, kv_dest):
    with BboltReader(fixture_file(ALICE_BBOLT)) as r, r.read() as root:
        write_kvsql(root, kv_dest, lndinit_migrated="2026-06-14T09:12:44Z", invoice_tombstone=True)
    with KvSqlReader(kv_dest) as r, r.read() as root:
        m = read_markers(root)
        assert root.bucket(b"invoices").get(b"invoice-tombstone") == b"1"
        assert sum(1 for _ in root.bucket(b"invoices").keys()) > 100  # alice's invoices kept beside it
    assert m.lndinit_migrated_at == "2026-06-14T09:12:44Z" and m.invoice_tombstone and not m.lndinit_tombstone
    words = describe_markers(m, source_kind="kvsql-sqlite")
    assert words[0].startswith("this KV-over-SQL store was made by lndinit migrate-db on 2026-06-14")
    assert "native SQL for invoices" in words[1]
    with KvSqlReader(kv_dest) as r:
        import_from(r, tmp_path / "copy")
    with LmdbStore.open(tmp_path / "copy", readonly=True) as store, store.read() as root:
        assert markers_of_store(store, root) == m


def test_go_time_string_marker_is_understood():
    from migwizard.core.kv.markers import parse_lndinit_time

    t = parse_lndinit_time(b"lndinit migrate-db 2023-02-01 10:11:12.345 +0100 CET m=+0.01")
    assert t is not None and t.isoformat() == "2023-02-01T10:11:12+01:00"
    assert parse_lndinit_time(b"garbage") is None
