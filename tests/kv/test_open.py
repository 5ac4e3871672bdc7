"""open_kv / detect_kind: pick the backend by content, refuse anything else clearly."""

from __future__ import annotations

import pytest

from migwizard.core.kv import (
    BboltReader,
    KVError,
    LmdbStore,
    ReadOnlyError,
    channeldb_version,
    detect_kind,
    import_bbolt,
    open_kv,
)

from .conftest import ALL_DBS, FIXTURES, copy_fixture, fixture_file


@pytest.mark.fixtures
@pytest.mark.parametrize("name", ALL_DBS)
def test_bbolt_detected_and_opened(name):
    p = fixture_file(name)
    assert detect_kind(p) == "bbolt"
    with open_kv(p) as kv:
        assert isinstance(kv, BboltReader)
        with kv.read() as root:
            assert channeldb_version(root) is not None


@pytest.mark.fixtures
def test_bbolt_never_writable():
    with pytest.raises(ReadOnlyError, match="import-bbolt"):
        open_kv(fixture_file("lnd-regtest-dave-channel.db"), readonly=False)


@pytest.mark.fixtures
def test_bbolt_with_damaged_meta0_still_detected(tmp_path):
    db = copy_fixture("lndinit-testdata-channel-v35.db", tmp_path)
    with open(db, "r+b") as f:
        f.write(bytes(4096))
    assert detect_kind(db) == "bbolt"


@pytest.mark.fixtures
def test_lmdb_detected_and_opened(tmp_path):
    d = tmp_path / "kv"
    import_bbolt(fixture_file("lnd-regtest-carol-channel.db"), d)
    assert detect_kind(d) == "lmdb"
    assert detect_kind(d / "data.mdb") == "lmdb"
    with open_kv(d) as kv:
        assert isinstance(kv, LmdbStore) and kv.readonly
        with kv.read() as root:
            assert channeldb_version(root) == 29
    with open_kv(d / "data.mdb", readonly=False) as kv:
        with kv.write() as root:
            root.create_bucket(b"scratch")


def test_unknown_things(tmp_path):
    assert detect_kind(tmp_path / "missing") is None
    with pytest.raises(KVError, match="no such file"):
        open_kv(tmp_path / "missing")
    assert detect_kind(tmp_path) is None
    with pytest.raises(KVError, match="not a migwizard KV store"):
        open_kv(tmp_path)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world" * 1000)
    assert detect_kind(junk) is None
    with pytest.raises(KVError, match="neither a bbolt file"):
        open_kv(junk)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(KVError, match="empty file"):
        open_kv(empty)


@pytest.mark.fixtures
def test_sqlite_named(tmp_path):
    p = FIXTURES / "derived-alice-channel-kvsql.sqlite"
    if not p.exists():
        pytest.skip(f"fixture {p.name} not found in {FIXTURES}")
    assert detect_kind(p) is None
    with pytest.raises(KVError, match="SQLite"):
        open_kv(p)
