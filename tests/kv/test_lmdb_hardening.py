"""Issue 9 items 5 and 11 (KV layer): the LMDB store is private whatever the
umask, and damaged entries, a read-only filesystem or a non-UTF-8 path give
typed KV errors — never a raw ``lmdb.Error``, ``TypeError`` or ``UnicodeError``."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import lmdb
import pytest

from migwizard.core.kv import CorruptError, KVError, LmdbStore, walk
from migwizard.core.kv.lmdb_store import DATA_FILE, LMDB_LOCK_FILE, LOCK_FILE

from .conftest import fixture_file

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _modes(d: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(os.stat(d).st_mode)}
    for name in os.listdir(d):
        out[name] = stat.S_IMODE(os.stat(d / name).st_mode)
    return out


PRIVATE = {".": 0o700, DATA_FILE: 0o600, LMDB_LOCK_FILE: 0o600, LOCK_FILE: 0o600}


@pytest.fixture(params=[0o000, 0o022, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_new_store_is_private_whatever_the_umask(tmp_path, umask):
    d = tmp_path / "kv"
    with LmdbStore.open(d, create=True) as s:
        s.update(lambda r: r.create_bucket(b"a").put(b"k", b"v"))
    assert _modes(d) == PRIVATE


def test_existing_empty_directory_is_narrowed(tmp_path, umask):
    d = tmp_path / "kv"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o777)
    LmdbStore.open(d, create=True).close()
    assert _modes(d) == PRIVATE


def _cli(*args, umask_value=0o022):
    code = f"import os, sys; os.umask({umask_value}); from migwizard.cli import main; sys.argv = ['migwizard', *sys.argv[1:]]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": SRC},
    )


@pytest.mark.fixtures
def test_import_bbolt_and_generate_make_private_stores(tmp_path):
    src = fixture_file("lnd-regtest-alice-channel.db")
    p = _cli("import-bbolt", src, "--kv", tmp_path / "imported", umask_value=0)
    assert p.returncode == 0, p.stderr
    assert _modes(tmp_path / "imported") == PRIVATE
    p = _cli("generate", "--kv", tmp_path / "gen", "--payments", "5", umask_value=0)
    assert p.returncode == 0, p.stderr
    assert _modes(tmp_path / "gen") == PRIVATE


def test_symlinked_lock_file_refused(tmp_path):
    d = tmp_path / "kv"
    d.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (d / LOCK_FILE).symlink_to(victim)
    with pytest.raises(KVError, match="symbolic link"):
        LmdbStore.open(d, create=True)
    assert victim.read_text() == "keep"


def test_symlinked_store_directory_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(KVError, match="symbolic link"):
        LmdbStore.open(link, create=True)


def test_non_utf8_path(tmp_path):
    d = Path(os.fsdecode(os.fsencode(tmp_path) + b"/st\xffore"))
    with LmdbStore.open(d, create=True) as s:
        s.update(lambda r: r.create_bucket(b"a").put(b"k", b"v"))
    with LmdbStore.open(d, readonly=True) as s, s.read() as r:
        assert [e.key for e in walk(r)] == [b"a", b"k"]
    assert _modes(d) == PRIVATE


def test_read_only_filesystem_for_the_lock_file(tmp_path, monkeypatch):
    """EROFS on the lock file: a typed refusal for a writer, a read-only open still works."""
    d = tmp_path / "kv"
    with LmdbStore.open(d, create=True) as s:
        s.update(lambda r: r.create_bucket(b"a").put(b"k", b"v"))
    os.unlink(d / LOCK_FILE)
    real_open = os.open

    def erofs(path, flags, *a, **k):
        if os.fspath(path).endswith(LOCK_FILE) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", erofs)
    with pytest.raises(KVError, match="read-only filesystem"):
        LmdbStore.open(d)
    with LmdbStore.open(d, readonly=True, lock=False) as s, s.read() as r:
        assert r.bucket(b"a").get(b"k") == b"v"


def _store_with_raw(tmp_path, raw_value: bytes, key: bytes = b"bad") -> Path:
    """A store whose bucket ``a`` holds ``key`` with an arbitrary raw LMDB value."""
    d = tmp_path / "kv"
    with LmdbStore.open(d, create=True) as s:
        s.update(lambda r: r.create_bucket(b"a").put(b"ok", b"1"))
        with s.read() as r:
            bid = r.bucket(b"a")._id
    env = lmdb.open(str(d), max_dbs=2)
    kv = env.open_db(b"kv")
    with env.begin(write=True) as txn:
        txn.put(bid.to_bytes(8, "big") + key, raw_value, db=kv)
    env.close()
    return d


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x07junk", b"\x01\x00\x00", b"\x01" + b"\x00" * 20],
    ids=["empty", "unknown-tag", "short-bucket", "long-bucket"],
)
def test_corrupt_entries_are_typed(tmp_path, raw):
    d = _store_with_raw(tmp_path, raw)
    with LmdbStore.open(d, readonly=True) as s, s.read() as r:
        a = r.bucket(b"a")
        with pytest.raises(CorruptError, match=r"a/bad|bad"):
            list(walk(r))
        with pytest.raises(CorruptError):
            list(a.entries())
        if raw[:1] != b"\x01":
            with pytest.raises(CorruptError):
                a.get(b"bad")
        else:
            with pytest.raises(CorruptError):
                a.bucket(b"bad")


def test_corrupt_sequence_and_id_counter_are_typed(tmp_path):
    d = _store_with_raw(tmp_path, b"\x01" + b"\x00" * 10, key=b"sub")
    with LmdbStore.open(d) as s, s.read() as r:
        with pytest.raises(CorruptError):
            r.bucket(b"a").bucket(b"sub")
    env = lmdb.open(str(d), max_dbs=2)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"next-bucket-id", b"xx", db=meta)
    env.close()
    with LmdbStore.open(d) as s:
        with pytest.raises(CorruptError, match="next-bucket-id"):
            s.update(lambda r: r.create_bucket(b"new"))


@pytest.mark.parametrize("damage", ["truncate", "zero-meta", "garbage"])
def test_damaged_data_file_is_typed(tmp_path, damage):
    d = tmp_path / "kv"
    with LmdbStore.open(d, create=True) as s:
        s.update(lambda r: r.create_bucket(b"a").put(b"k", b"v" * 100))
    f = d / DATA_FILE
    data = bytearray(f.read_bytes())
    if damage == "truncate":
        data = data[:100]
    elif damage == "zero-meta":
        data[: 2 * 4096] = bytes(2 * 4096)
    else:
        data[:64] = b"\xa5" * 64
    f.write_bytes(bytes(data))
    with pytest.raises(KVError):
        with LmdbStore.open(d, readonly=True) as s, s.read() as r:
            list(walk(r))
