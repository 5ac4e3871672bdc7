"""LmdbStore: bbolt semantics on top of LMDB layout A, growth, locking, layout checks."""

from __future__ import annotations

import os
import random
from pathlib import Path

import lmdb
import pytest

from migwizard.core.kv import (
    BucketExistsError,
    BucketNotFoundError,
    IncompatibleError,
    KeyTooLongError,
    KVError,
    LmdbStore,
    LockedError,
    MapFullError,
    ReadOnlyError,
    TargetNotEmptyError,
    UnsupportedError,
    walk,
)
from migwizard.core.kv.bucket import Bucket, Entry
from migwizard.core.kv.lmdb_store import LOCK_FILE

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def store(tmp_path):
    s = LmdbStore.open(tmp_path / "kv", create=True)
    yield s
    s.close()


def raw_count(store: LmdbStore) -> int:
    with store.read() as root:
        return sum(1 for _ in root._txn.cursor(db=store._kv))


def test_basic_put_get_delete(store):
    with store.write() as root:
        assert isinstance(root, Bucket)
        b = root.create_bucket(b"b")
        b.put(b"k", b"v")
        b.put(b"empty", b"")
        b.put(b"k2", bytearray(b"x"))
    with store.read() as root:
        b = root.bucket(b"b")
        assert b.get(b"k") == b"v"
        assert b.get(b"empty") == b""  # empty value is not "absent"
        assert b.get(b"k2") == b"x"
        assert b.get(b"nope") is None
        assert root.get(b"b") is None  # a bucket key has no value
        assert root.is_bucket(b"b") and not b.is_bucket(b"k")
        assert b.bucket(b"k") is None
        assert list(b.items()) == [(b"empty", b""), (b"k", b"v"), (b"k2", b"x")]
    with store.write() as root:
        b = root.bucket(b"b")
        b.delete(b"k")
        b.delete(b"never-there")  # bbolt: not an error
        b.put(b"k2", b"overwritten")
    with store.read() as root:
        assert list(root.bucket(b"b").items()) == [(b"empty", b""), (b"k2", b"overwritten")]


def test_bbolt_error_semantics(store):
    with store.write() as root:
        b = root.create_bucket(b"b")
        b.put(b"v", b"1")
        b.create_bucket(b"sub")
        with pytest.raises(KVError, match="top level: it holds only buckets"):
            root.put(b"x", b"1")
        with pytest.raises(BucketExistsError):
            root.create_bucket(b"b")
        with pytest.raises(IncompatibleError):
            b.create_bucket(b"v")
        with pytest.raises(IncompatibleError):
            b.create_bucket_if_not_exists(b"v")
        with pytest.raises(IncompatibleError):
            b.put(b"sub", b"x")
        with pytest.raises(IncompatibleError):
            b.delete(b"sub")
        with pytest.raises(IncompatibleError):
            b.delete_bucket(b"v")
        with pytest.raises(BucketNotFoundError):
            b.delete_bucket(b"missing")
        with pytest.raises(KVError, match="empty key"):
            b.put(b"", b"x")
        with pytest.raises(TypeError):
            b.put(b"k", None)
        assert b.create_bucket_if_not_exists(b"sub").path == (b"b", b"sub")
    with store.read() as root:
        with pytest.raises(ReadOnlyError):
            root.bucket(b"b").put(b"k", b"v")


def test_nested_buckets_and_sequences(store):
    with store.write() as root:
        a = root.create_bucket(b"a")
        c = a.create_bucket(b"c")
        c.create_bucket(b"d").put(b"deep", b"1")
        assert c.sequence() == 0
        c.set_sequence(3000)
        assert a.bucket(b"c").sequence() == 3000  # a second handle sees it
        assert c.next_sequence() == 3001
        root.set_sequence(5)
        assert root.next_sequence() == 6
        with pytest.raises(ValueError):
            c.set_sequence(-1)
        c.set_sequence(2**64 - 1)
    with store.read() as root:
        assert root.sequence() == 6
        c = root.bucket(b"a").bucket(b"c")
        assert c.sequence() == 2**64 - 1
        assert c.path == (b"a", b"c")
        assert c.bucket(b"d").get(b"deep") == b"1"


def test_iteration_is_byte_order_with_buckets_interleaved(store):
    rng = random.Random(1234)
    keys = {b"\x00", b"\xff", b"a", b"ab", b"a\x00", b"b", b"\x7f\x80", b"\x80"}
    while len(keys) < 400:
        keys.add(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))))
    buckets = {k for k in keys if rng.random() < 0.3}
    with store.write() as root:
        top = root.create_bucket(b"top")
        for k in sorted(keys, key=lambda _: rng.random()):  # insert in random order
            if k in buckets:
                top.create_bucket(k).put(b"inner", k)
            else:
                top.put(k, k * 2)
    with store.read() as root:
        top = root.bucket(b"top")
        items = list(top.items())
        assert [k for k, _ in items] == sorted(keys)
        for k, v in items:
            assert (v is None) == (k in buckets)
            assert v is None or v == k * 2
        flat = list(walk(root))
        assert flat[0] == Entry((), b"top", True, 0, None)
        assert len(flat) == 1 + len(keys) + len(buckets)


def test_prefix_buckets_do_not_leak(store):
    with store.write() as root:
        a = root.create_bucket(b"a")
        ab = root.create_bucket(b"ab")
        a.put(b"b", b"in a")
        ab.put(b"x", b"in ab")
        a.create_bucket(b"bb").put(b"y", b"in a/bb")
    with store.read() as root:
        assert list(root.keys()) == [b"a", b"ab"]
        assert list(root.bucket(b"a").items()) == [(b"b", b"in a"), (b"bb", None)]
        assert list(root.bucket(b"ab").items()) == [(b"x", b"in ab")]
        assert [(e.path, e.key) for e in walk(root)] == [
            ((), b"a"),
            ((b"a",), b"b"),
            ((b"a",), b"bb"),
            ((b"a", b"bb"), b"y"),
            ((), b"ab"),
            ((b"ab",), b"x"),
        ]
        assert [e.key for e in walk(root, top={b"ab"})] == [b"ab", b"x"]


def test_delete_bucket_is_recursive(store):
    with store.write() as root:
        keep = root.create_bucket(b"keep")
        keep.put(b"k", b"v")
        gone = root.create_bucket(b"gone")
        for i in range(50):
            sub = gone.create_bucket(b"s%02d" % i)
            sub.put(b"x", b"y")
            sub.create_bucket(b"deeper").put(b"z", b"w")
    before = raw_count(store)
    assert before == 3 + 50 * 4
    with store.write() as root:
        root.delete_bucket(b"gone")
        assert root.bucket(b"gone") is None
    assert raw_count(store) == 2  # keep + keep/k: nothing orphaned
    with store.read() as root:
        assert [e.key for e in walk(root)] == [b"keep", b"k"]


def test_key_length_limit(store):
    limit = store.max_key_size - 8
    assert limit == 503
    with store.write() as root:
        b = root.create_bucket(b"b")
        b.put(b"k" * limit, b"ok")
        with pytest.raises(KeyTooLongError, match="503"):
            b.put(b"k" * (limit + 1), b"no")
        with pytest.raises(KeyTooLongError):
            b.create_bucket(b"k" * (limit + 1))
        assert b.get(b"k" * (limit + 1)) is None
        assert b.get(b"k" * limit) == b"ok"


def test_write_aborts_on_exception(store):
    with pytest.raises(RuntimeError):
        with store.write() as root:
            root.create_bucket(b"b")
            store.meta_put(b"note", b"x", within=root)
            raise RuntimeError("boom")
    with store.read() as root:
        assert root.bucket(b"b") is None
    assert store.meta_get(b"note") is None


def test_meta_get_put(store):
    assert store.layout_version == 1
    meta = store.meta_items()
    assert meta[b"layout-version"] == b"1"
    assert meta[b"created-by"].startswith(b"migwizard ")
    assert b"created-at" in meta
    store.meta_put(b"fingerprint", b"\x01\x02")
    assert store.meta_get(b"fingerprint") == b"\x01\x02"
    store.meta_delete(b"fingerprint")
    assert store.meta_get(b"fingerprint") is None
    with pytest.raises(KVError, match="managed by the store"):
        store.meta_put(b"layout-version", b"9")
    with store.write() as root:
        store.meta_put(b"tombstone", b"1", within=root)
        assert store.meta_get(b"tombstone", within=root) == b"1"
    assert store.meta_get(b"tombstone") == b"1"


def test_update_grows_tiny_map(tmp_path):
    s = LmdbStore.open(tmp_path / "kv", create=True, map_size=64 * 1024)
    try:
        calls = []

        def fill(root):
            calls.append(1)
            b = root.create_bucket_if_not_exists(b"big")
            for i in range(20_000):
                b.put(i.to_bytes(8, "big"), b"x" * 100)
            return "done"

        assert s.update(fill) == "done"
        assert len(calls) >= 2  # it really hit MapFull and retried
        assert s.map_size() >= 2 * 1024 * 1024
        with s.read() as root:
            assert sum(1 for _ in root.bucket(b"big").keys()) == 20_000
    finally:
        s.close()


def test_write_context_mapfull_is_retryable(tmp_path):
    s = LmdbStore.open(tmp_path / "kv", create=True, map_size=64 * 1024)
    try:
        before = s.map_size()

        def body(root):
            b = root.create_bucket_if_not_exists(b"big")
            for i in range(3000):
                b.put(i.to_bytes(8, "big"), b"y" * 100)

        with pytest.raises(MapFullError, match="run the transaction again"):
            with s.write() as root:
                body(root)
        assert s.map_size() > before
        with s.read() as root:
            assert root.bucket(b"big") is None  # nothing half-written
        for _ in range(10):
            try:
                with s.write() as root:
                    body(root)
                break
            except MapFullError:
                continue
        with s.read() as root:
            assert sum(1 for _ in root.bucket(b"big").keys()) == 3000
    finally:
        s.close()


def test_reopen_and_readonly_without_lock_writes_nothing(tmp_path):
    d = tmp_path / "kv"
    with LmdbStore.open(d, create=True) as s:
        with s.write() as root:
            root.create_bucket(b"b").put(b"k", b"v")
    for name in ("lock.mdb", LOCK_FILE):
        (d / name).unlink()
    before = {p.name: p.stat().st_mtime_ns for p in d.iterdir()}
    with LmdbStore.open(d, readonly=True, lock=False) as s:
        with s.read() as root:
            assert root.bucket(b"b").get(b"k") == b"v"
        with pytest.raises(ReadOnlyError):
            with s.write():
                pass
        with pytest.raises(ReadOnlyError):
            s.meta_put(b"x", b"y")
    after = {p.name: p.stat().st_mtime_ns for p in d.iterdir()}
    assert after == before == {"data.mdb": before["data.mdb"]}


def test_readonly_directory_snapshot(tmp_path):
    d = tmp_path / "kv"
    with LmdbStore.open(d, create=True) as s:
        with s.write() as root:
            root.create_bucket(b"b")
    (d / "lock.mdb").unlink()
    (d / LOCK_FILE).unlink()
    os.chmod(d, 0o555)
    try:
        with LmdbStore.open(d, readonly=True, lock=False) as s, s.read() as root:
            assert list(root.keys()) == [b"b"]
    finally:
        os.chmod(d, 0o755)


def test_open_errors(tmp_path):
    with pytest.raises(KVError, match="no migwizard KV store"):
        LmdbStore.open(tmp_path / "missing")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "something.txt").write_text("x")
    with pytest.raises(TargetNotEmptyError, match="not empty"):
        LmdbStore.open(tmp_path / "busy", create=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(KVError, match="not a directory"):
        LmdbStore.open(tmp_path / "file", create=True)
    with pytest.raises(ValueError):
        LmdbStore.open(tmp_path / "x", readonly=False, lock=False)


def test_open_twice_in_process_is_a_clear_error(tmp_path):
    d = tmp_path / "kv"
    with LmdbStore.open(d, create=True):
        with pytest.raises(KVError, match="in use|already open"):
            LmdbStore.open(d)
        with pytest.raises(KVError, match="in use|already open"):
            LmdbStore.open(d, readonly=True)


def _set_raw_layout(d: Path, value: bytes | None):
    env = lmdb.open(str(d), max_dbs=2)
    try:
        meta = env.open_db(b"meta")
        with env.begin(write=True) as txn:
            if value is None:
                txn.delete(b"layout-version", db=meta)
            else:
                txn.put(b"layout-version", value, db=meta)
    finally:
        env.close()


@pytest.mark.parametrize(
    "value, exc, match",
    [
        (b"2", UnsupportedError, "newer migwizard"),
        (b"v1?", UnsupportedError, "unknown KV layout"),
        (b"0", UnsupportedError, "unknown KV layout"),
        (None, KVError, "no layout-version"),
    ],
)
def test_layout_version_refusal(tmp_path, value, exc, match):
    d = tmp_path / "kv"
    LmdbStore.open(d, create=True).close()
    _set_raw_layout(d, value)
    for kwargs in ({}, {"readonly": True}, {"readonly": True, "lock": False}):
        with pytest.raises(exc, match=match):
            LmdbStore.open(d, **kwargs)


def test_foreign_lmdb_env_refused(tmp_path):
    d = tmp_path / "foreign"
    env = lmdb.open(str(d))
    with env.begin(write=True) as txn:
        txn.put(b"hello", b"world")
    env.close()
    with pytest.raises(KVError, match="not a migwizard KV store"):
        LmdbStore.open(d)
    with pytest.raises(KVError, match="not a migwizard KV store"):
        LmdbStore.open(d, readonly=True)


def _holder_code(d: Path, readonly: bool) -> str:
    return (
        f"import sys, time; sys.path.insert(0, {SRC!r})\n"
        "from migwizard.core.kv import LmdbStore\n"
        f"s = LmdbStore.open({str(d)!r}, readonly={readonly})\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )


def test_concurrent_writer_refused(tmp_path, hold):
    d = tmp_path / "kv"
    LmdbStore.open(d, create=True).close()
    h = hold(_holder_code(d, readonly=False))
    with pytest.raises(LockedError, match="another migwizard process"):
        LmdbStore.open(d)
    with pytest.raises(LockedError):
        LmdbStore.open(d, readonly=True)
    with pytest.raises(LockedError):
        LmdbStore.open(d, readonly=True, lock=False)
    h.stop()
    LmdbStore.open(d).close()


def test_concurrent_reader_blocks_writer_only(tmp_path, hold):
    d = tmp_path / "kv"
    LmdbStore.open(d, create=True).close()
    hold(_holder_code(d, readonly=True))
    with pytest.raises(LockedError):
        LmdbStore.open(d)
    with LmdbStore.open(d, readonly=True) as s, s.read() as root:
        assert list(root.keys()) == []


def test_closed_store(tmp_path):
    s = LmdbStore.open(tmp_path / "kv", create=True)
    s.close()
    s.close()  # idempotent
    with pytest.raises(KVError, match="closed"):
        with s.read():
            pass



def _model_walk(tree: dict, path=()):
    for key in sorted(tree):
        node = tree[key]
        if isinstance(node, dict):
            yield Entry(path, key, True, node.get(None, 0), None)
            yield from _model_walk({k: v for k, v in node.items() if k is not None}, path + (key,))
        else:
            yield Entry(path, key, False, 0, node)


def test_random_operations_match_a_model(store):
    """Seeded random put/delete/create/delete_bucket/set_sequence against a dict model."""
    rng = random.Random(99)
    alphabet = [b"a", b"ab", b"b", b"\x00", b"\xff", b"a\x00", b"abc"]
    model: dict = {}
    for _round in range(30):
        with store.write() as root:
            for _ in range(60):
                # pick a bucket (dict node) by walking down randomly
                node, handle = model, root
                while True:
                    subs = [k for k, v in node.items() if k is not None and isinstance(v, dict)]
                    if not subs or rng.random() < 0.4:
                        break
                    k = rng.choice(subs)
                    node, handle = node[k], handle.bucket(k)
                key = rng.choice(alphabet)
                existing = node.get(key)
                op = rng.random()
                if handle.path == ():  # top level: buckets only
                    if existing is None:
                        handle.create_bucket(key)
                        node[key] = {}
                    elif rng.random() < 0.2:
                        handle.delete_bucket(key)
                        del node[key]
                elif op < 0.4:
                    if isinstance(existing, dict):
                        with pytest.raises(IncompatibleError):
                            handle.put(key, b"v")
                    else:
                        v = rng.randbytes(rng.randrange(0, 5))
                        handle.put(key, v)
                        node[key] = v
                elif op < 0.55:
                    if isinstance(existing, dict):
                        with pytest.raises(IncompatibleError):
                            handle.delete(key)
                    else:
                        handle.delete(key)
                        node.pop(key, None)
                elif op < 0.8:
                    if existing is None:
                        handle.create_bucket(key)
                        node[key] = {}
                    elif isinstance(existing, dict):
                        n = rng.randrange(0, 10_000)
                        handle.bucket(key).set_sequence(n)
                        existing[None] = n
                else:
                    if isinstance(existing, dict):
                        handle.delete_bucket(key)
                        del node[key]
        with store.read() as root:
            assert list(walk(root)) == list(_model_walk(model))
