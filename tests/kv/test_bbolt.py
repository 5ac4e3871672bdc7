"""The read-only bbolt reader against real files, Go's own walk, and damaged copies."""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct

import pytest

from migwizard.core.kv import (
    BboltReader,
    CorruptError,
    KVError,
    LockedError,
    ReadOnlyError,
    UnsupportedError,
    channeldb_version,
    walk,
)
from migwizard.core.kv.bbolt import META, fnv1a64

from .conftest import ALL_DBS, REAL_DBS, SYNTHETIC, copy_fixture, fixture_file, flock_code

pytestmark = pytest.mark.fixtures


def manifest_row(e) -> dict:
    return {
        "path": [p.hex() for p in e.path],
        "key": e.key.hex(),
        "bucket": e.is_bucket,
        "seq": e.sequence,
        "vlen": 0 if e.value is None else len(e.value),
        "vsha256": "" if e.value is None else hashlib.sha256(e.value).hexdigest(),
    }


def test_walk_equals_go_bbolt_manifest():
    db = fixture_file(SYNTHETIC)
    manifest = json.loads(fixture_file(SYNTHETIC + ".json").read_text())
    with BboltReader(db) as r, r.read() as root:
        got = [manifest_row(e) for e in walk(root)]
        assert r.page_size == 4096
        assert r.meta.has_freelist and r.freelist_count is not None and r.freelist_problem is None
    assert len(got) == len(manifest) == 1961
    for i, (a, b) in enumerate(zip(got, manifest)):
        assert a == b, f"entry {i} differs"


def test_golden_meta_bytes():
    """Meta 0 of the synthetic file as Go wrote it: FNV-1a over bytes [16,72) == stored checksum.

    (storage-notes §1.3 quotes golden bytes from a larger synthetic file — root
    3249, hwm 3251 — not this fixture; the values here are read from the fixture.)
    """
    raw = fixture_file(SYNTHETIC).read_bytes()[:80]
    assert raw[16:20] == bytes.fromhex("edda0ced")
    assert fnv1a64(raw[16:72]) == int.from_bytes(raw[72:80], "little") == 0xEF2D2DB24044BB99
    with BboltReader(fixture_file(SYNTHETIC)) as r:
        m0 = r.metas[0]
        assert (m0.root, m0.freelist, m0.hwm, m0.txid) == (372, 373, 374, 2)
        assert r.meta.txid == 3 and r.meta.page == 1  # the newer meta wins
        assert not r.meta_fallback


@pytest.mark.parametrize("name", sorted(REAL_DBS))
def test_real_files_open(name):
    page_size, version = REAL_DBS[name]
    with BboltReader(fixture_file(name)) as r, r.read() as root:
        assert r.page_size == page_size
        assert channeldb_version(root) == version
        assert all(m is not None and m.valid for m in r.metas)
        assert not r.meta.has_freelist  # lnd sets NoFreelistSync
        entries = list(walk(root))
        assert entries and all(e.path or e.is_bucket for e in entries)  # top level holds only buckets


@pytest.mark.parametrize("name", ALL_DBS)
def test_lookups_agree_with_iteration(name):
    """get/bucket/is_bucket (B+tree seeks) must agree with the full scan, key by key."""
    with BboltReader(fixture_file(name)) as r, r.read() as root:
        stack = [root]
        while stack:
            b = stack.pop()
            keys = []
            for key, value, child in b.entries():
                keys.append(key)
                if child is None:
                    assert b.get(key) == value
                    assert not b.is_bucket(key) and b.bucket(key) is None
                else:
                    assert b.get(key) is None and b.is_bucket(key)
                    assert b.bucket(key).sequence() == child.sequence()
                    stack.append(child)
            assert keys == sorted(keys)
            assert list(b.keys()) == keys
            for probe in (b"\x00", b"\xff" * 40, b"", (keys[0] + b"\x00") if keys else b"z"):
                if probe not in keys:
                    assert b.get(probe) is None and b.bucket(probe) is None


def test_payment_bucket_sequences():
    """Alice's allocators (fixtures README): root sequence 3000 on both payment allocators."""
    with BboltReader(fixture_file("lnd-regtest-alice-channel.db")) as r, r.read() as root:
        assert root.bucket(b"payments-root-bucket").sequence() == 3000
        assert root.bucket(b"next-payment-id-key").sequence() == 3000
        idx = root.bucket(b"payments-index-bucket")
        assert [int.from_bytes(k, "big") for k in idx.keys()] == [1, 4, 5, 6, 7, 1001, 1002, 2001]


def test_writes_refused():
    with BboltReader(fixture_file(SYNTHETIC)) as r:
        with r.read() as root:
            b = root.bucket(b"metadata")
            for op in (
                lambda: b.put(b"k", b"v"),
                lambda: b.delete(b"dbp"),
                lambda: b.create_bucket(b"x"),
                lambda: b.create_bucket_if_not_exists(b"x"),
                lambda: b.delete_bucket(b"x"),
                lambda: b.set_sequence(1),
                lambda: b.next_sequence(),
            ):
                with pytest.raises(ReadOnlyError, match="read-only"):
                    op()
        with pytest.raises(ReadOnlyError):
            with r.write():
                pass


def _corrupt_meta(path, page_size, which):
    with open(path, "r+b") as f:
        f.seek(which * page_size + 16 + 40)  # inside hwm: checksum no longer matches
        f.write(b"\x99")


def test_meta_fallback_to_older(tmp_path):
    db = copy_fixture(SYNTHETIC, tmp_path)
    with BboltReader(db) as r:
        newest = r.meta.page
        older_txid = r.metas[1 - newest].txid
        ps = r.page_size
    _corrupt_meta(db, ps, newest)
    with BboltReader(db) as r, r.read() as root:
        assert r.meta.page == 1 - newest and r.meta.txid == older_txid
        assert r.meta_fallback
        assert not r.metas[newest].valid and "checksum" in r.metas[newest].problem
        assert channeldb_version(root) is not None


def test_meta0_damaged_page_size_probe(tmp_path):
    """Meta 0 unreadable: page size comes from probing meta 1 at 1024<<i (16 KiB file)."""
    db = copy_fixture("lndinit-testdata-channel-v35.db", tmp_path)
    with open(db, "r+b") as f:
        f.seek(16)
        f.write(b"\0" * 64)
    with BboltReader(db) as r, r.read() as root:
        assert r.page_size == 16384 and r.meta.page == 1
        assert channeldb_version(root) == 35


def test_both_metas_corrupt(tmp_path):
    db = copy_fixture(SYNTHETIC, tmp_path)
    _corrupt_meta(db, 4096, 0)
    _corrupt_meta(db, 4096, 1)
    with pytest.raises(CorruptError, match="meta") as ei:
        BboltReader(db)
    assert str(db) in str(ei.value)


def test_big_endian_refused(tmp_path):
    ps = 4096
    data = bytearray(ps * 4)
    for page in (0, 1):
        fields = [0xED0CDAED, 2, ps, 0, 3, 0, 0xFFFFFFFFFFFFFFFF, 4, page]
        be = struct.pack(">IIIIQQQQQ", *fields)
        be += struct.pack(">Q", fnv1a64(be))
        assert len(be) == META.size
        struct.pack_into(">QHHI", data, page * ps, page, 0x04, 0, 0)
        data[page * ps + 16 : page * ps + 80] = be
    f = tmp_path / "s390x.db"
    f.write_bytes(bytes(data))
    with pytest.raises(UnsupportedError, match="big-endian"):
        BboltReader(f)


@pytest.mark.parametrize(
    "content, match",
    [
        (random.Random(7).randbytes(8192), "not a bbolt file"),
        (b"", "too small"),
        (b"SQLite format 3\0" + bytes(8000), "not a bbolt file"),
    ],
    ids=["random", "empty", "sqlite"],
)
def test_garbage_refused(tmp_path, content, match):
    f = tmp_path / "garbage.db"
    f.write_bytes(content)
    with pytest.raises(KVError, match=match):
        BboltReader(f)


def test_missing_and_directory(tmp_path):
    with pytest.raises(KVError, match="no such file"):
        BboltReader(tmp_path / "nope.db")
    with pytest.raises(KVError, match="directory"):
        BboltReader(tmp_path)


def test_truncated_file_refused(tmp_path):
    db = copy_fixture("lnd-regtest-alice-channel.db", tmp_path)
    with open(db, "r+b") as f:
        f.truncate(4096 * 8)
    with pytest.raises(CorruptError, match="truncated"):
        BboltReader(db)


def test_bad_page_id_reported_with_page(tmp_path):
    db = copy_fixture(SYNTHETIC, tmp_path)
    with BboltReader(db) as r:
        root_pg = r.meta.root
    with open(db, "r+b") as f:
        f.seek(root_pg * 4096)
        f.write(struct.pack("<Q", root_pg + 1))
    with BboltReader(db) as r, r.read() as root:
        with pytest.raises(CorruptError, match=rf"page {root_pg}, offset") as ei:
            list(walk(root))
    assert ei.value.page == root_pg and str(db) in str(ei.value)


def test_refuses_file_locked_by_lnd(tmp_path, hold):
    db = copy_fixture("lnd-regtest-dave-channel.db", tmp_path)
    h = hold(flock_code(db, "LOCK_EX"))
    with pytest.raises(LockedError, match="is lnd running") as ei:
        BboltReader(db)
    assert str(db) in str(ei.value)
    h.stop()
    with BboltReader(db) as r:  # released -> fine
        assert r.page_size == 4096


def test_shared_lock_coexists_and_blocks_writers(tmp_path, hold):
    """Another read-only bbolt opener (LOCK_SH) is fine; we keep lnd (LOCK_EX) out while open."""
    import fcntl

    db = copy_fixture("lnd-regtest-dave-channel.db", tmp_path)
    hold(flock_code(db, "LOCK_SH"))
    with BboltReader(db):
        fd = os.open(db, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_never_opens_for_write(tmp_path, monkeypatch):
    import migwizard.core.kv.bbolt as bb

    db = copy_fixture("lnd-regtest-carol-channel.db", tmp_path)
    before = db.read_bytes()
    st = db.stat()
    db.chmod(0o444)
    real_open = os.open
    seen = []

    def spy(path, flags, *a, **k):
        seen.append(flags)
        assert not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC), "opened for writing"
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(bb.os, "open", spy)
    with BboltReader(db) as r, r.read() as root:
        assert len(list(walk(root))) == 536
        with pytest.raises(TypeError):
            r._mm[0:1] = b"x"  # the map itself is read-only
    assert seen
    assert db.read_bytes() == before
    assert db.stat().st_mtime_ns == st.st_mtime_ns
    assert not (tmp_path / "lnd-regtest-carol-channel.db-lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lnd-regtest-carol-channel.db"]


def test_closed_reader_raises_kverror():
    r = BboltReader(fixture_file(SYNTHETIC))
    root = r.root()
    r.close()
    with pytest.raises(KVError, match="closed"):
        root.get(b"metadata")
