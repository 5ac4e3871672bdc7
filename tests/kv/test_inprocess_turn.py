"""One store, several threads of one process: a second opener waits for the first to close.

The wizard reads a store from several workers at once (the welcome screen's markers read
beside its run probe). LMDB allows one environment per store per process and migwizard's
flock cannot tell threads apart, so without a turn the later opener failed at random.
"""

from __future__ import annotations

import threading
import time

import pytest

from migwizard.core.kv import inprocess
from migwizard.core.kv.errors import KVError
from migwizard.core.kv.lmdb_store import LmdbStore


@pytest.fixture
def store_dir(tmp_path):
    path = tmp_path / "kv"
    LmdbStore.open(path, create=True).close()
    return path


def _hold(path, seconds, *, readonly=True):
    held = threading.Event()

    def run():
        store = LmdbStore.open(path, readonly=readonly)
        held.set()
        time.sleep(seconds)
        store.close()

    t = threading.Thread(target=run)
    t.start()
    assert held.wait(10)
    return t


def test_writer_waits_for_a_brief_reader_of_the_same_process(store_dir):
    t = _hold(store_dir, 0.3)
    start = time.monotonic()
    with LmdbStore.open(store_dir) as store, store.write() as root:  # exclusive: refused before
        root.create_bucket(b"b").put(b"k", b"v")
    assert time.monotonic() - start >= 0.2
    t.join()


def test_reader_waits_for_a_brief_writer_of_the_same_process(store_dir):
    t = _hold(store_dir, 0.3, readonly=False)
    with LmdbStore.open(store_dir, readonly=True) as store, store.read() as root:
        assert root.bucket(b"b") is None
    t.join()


def test_a_long_holder_still_refuses_after_the_wait(store_dir, monkeypatch):
    monkeypatch.setattr(inprocess, "WAIT_S", 0.2)
    t = _hold(store_dir, 1.5)
    start = time.monotonic()
    with pytest.raises(KVError):  # the typed refusal of before, not a hang
        LmdbStore.open(store_dir)
    assert 0.15 <= time.monotonic() - start < 1.4
    t.join()
    LmdbStore.open(store_dir).close()  # and the turn came back with the holder's close


def test_many_threads_open_read_close_the_same_store(store_dir):
    with LmdbStore.open(store_dir) as store, store.write() as root:
        root.create_bucket(b"b").put(b"k", b"v")
    errors: list[BaseException] = []

    def worker(i):
        try:
            for _ in range(15):
                with LmdbStore.open(store_dir, readonly=(i % 3 != 0)) as store, store.read() as root:
                    assert root.bucket(b"b").get(b"k") == b"v"
        except BaseException as exc:  # collected: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_failed_open_gives_the_turn_back(tmp_path, monkeypatch):
    monkeypatch.setattr(inprocess, "WAIT_S", 2.0)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "data.mdb").write_bytes(b"not an LMDB file" * 512)  # the open fails inside the turn
    with pytest.raises(KVError):
        LmdbStore.open(junk, readonly=True)
    start = time.monotonic()
    with pytest.raises(KVError):
        LmdbStore.open(junk, readonly=True)  # a leaked turn would make this wait WAIT_S first
    assert time.monotonic() - start < 1.0


def test_a_store_collected_without_close_gives_the_turn_back(store_dir, monkeypatch):
    import gc

    monkeypatch.setattr(inprocess, "WAIT_S", 3.0)
    store = LmdbStore.open(store_dir, readonly=True, lock=False)  # no flock: only the turn is left behind
    del store
    gc.collect()
    start = time.monotonic()
    LmdbStore.open(store_dir, readonly=True, lock=False).close()
    assert time.monotonic() - start < 2.0
