"""Full disk, a lost PostgreSQL connection, a failing tombstone, damaged entries, bad paths:
each a typed error with its documented exit code, never a traceback, and a run that resumes
to the same tables as an uninterrupted one (issue 9, items 11 and 13)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from migwizard.core.engine import Engine, EngineError, RunState
from migwizard.core.engine import finish

from .common import cli_env, rows, run_cli, spawn_cli, tables

PAYMENTS, CHUNK = 120, 10


def _wait_chunks(url: str, n: int, proc, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            got = rows(url, "SELECT chunks_done FROM migwizard_runs")
            if got and got[0][0] >= n:
                return
        except Exception:  # noqa: BLE001 - the table may not exist yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"no {n} chunks within {timeout}s")


def _reference(kv_src, url, state) -> dict:
    kv = shutil.copytree(kv_src, state.parent / f"ref-{uuid.uuid4().hex[:6]}")
    p = run_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=state)
    assert p.returncode == 0, p.stderr
    return tables(url)


# -- a full disk (a small tmpfs) ------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN): {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(mnt: Path) -> Path:
    """Fill the filesystem to the last block."""
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 4096, 512):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_disk_full_mid_run_is_typed_and_resumes_identically(generated, tmpfs, tmp_path):
    kv = generated("mixed", PAYMENTS, seed=5)
    ref = _reference(kv, f"sqlite:///{tmp_path / 'ref.db'}", tmp_path / "st-ref")
    url = f"sqlite:///{tmpfs / 'target.db'}"
    proc = spawn_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=tmp_path / "st",
                     env=cli_env(MIGWIZ_THROTTLE_CHUNK_S="0.3"))
    _wait_chunks(url, 2, proc)
    filler = _fill(tmpfs)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err[-3000:]
    assert proc.returncode in (3, 4), (proc.returncode, err[-3000:])
    assert "full" in err.lower() or "disk" in err.lower(), err[-3000:]
    if proc.returncode == 4:
        assert "resumable" in err
    filler.unlink()
    p = run_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=tmp_path / "st")
    assert p.returncode == 0, p.stderr[-3000:]
    assert tables(url) == ref


# -- a lost PostgreSQL connection ----------------------------------------------------------------


@pytest.mark.postgres
def test_connection_loss_mid_chunk_is_typed_and_resumes_identically(generated, tmp_path):
    from tests.support import pg

    pg.require_pg()
    names = [pg.create_database(), pg.create_database()]
    try:
        base = generated("mixed", PAYMENTS, seed=5)
        ref = _reference(base, pg.pg_url(names[0]), tmp_path / "st-ref")
        kv = shutil.copytree(base, tmp_path / "kv-copy")
        url = pg.pg_url(names[1])
        proc = spawn_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=tmp_path / "st",
                         env=cli_env(MIGWIZ_THROTTLE_CHUNK_S="0.3"))
        _wait_chunks(url, 2, proc)
        killed = rows(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name LIKE 'migwizard pid%%' AND datname = current_database()")
        assert killed and all(k[0] for k in killed)
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err[-3000:]
        assert proc.returncode in (3, 4), (proc.returncode, err[-3000:])
        if proc.returncode == 4:
            assert "resumable" in err, err[-3000:]
        p = run_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=tmp_path / "st")
        assert p.returncode == 0, p.stderr[-3000:]
        assert tables(url) == ref
    finally:
        for n in names:
            pg.drop_database(n)


# -- the tombstone failing after the SQL commit ------------------------------------------------------


def test_tombstone_failure_after_commit_is_truthful_and_recovered(generated, target_url, monkeypatch):
    kv = generated("mixed", 20)
    real = finish.write_tombstone

    def broken(ctx, run):
        raise OSError(28, "No space left on device")

    with Engine(kv, target_url) as e:
        assert e.migrate().outcome == "complete" and e.validate().ok
        monkeypatch.setattr(finish, "write_tombstone", broken)
        with pytest.raises(EngineError, match="committed, tombstone missing") as ei:
            e.commit()
        assert ei.value.exit_code == 4
        assert e.state() is RunState.COMMITTED_NO_TOMBSTONE
        with pytest.raises(EngineError) as ei:  # every rerun says the same, truthfully
            e.reconcile()
        assert "tombstone missing" in str(ei.value)
        with pytest.raises(EngineError) as ei:
            e.rollback()
        assert "tombstoned" not in str(ei.value).replace("tombstone is still missing", "")
        assert "tombstone is still missing" in str(ei.value)
        monkeypatch.setattr(finish, "write_tombstone", real)
        assert e.reconcile() is RunState.COMPLETE


# -- item 13: a resume needs space only for what remains ------------------------------------------


def test_resume_estimates_only_what_remains(generated, target_url):
    import threading

    from migwizard.core.engine import ChunkCommitted

    kv = generated("mixed", 60)
    with Engine(kv, target_url, chunk_size=10) as e:
        fresh = {c.id: c for c in e.preflight().checks}
    cancel = threading.Event()

    def sink(ev):
        if isinstance(ev, ChunkCommitted) and ev.chunk == 4:
            cancel.set()

    with Engine(kv, target_url, chunk_size=10, on_event=sink) as e:
        assert e.migrate(cancel=cancel).outcome == "cancelled"
        resumed = {c.id: c for c in e.preflight().checks}
    key = "sql.free_space"
    if "required" not in fresh[key].details:
        pytest.skip("the server's disk is not visible from here")
    assert resumed[key].details["required"] < fresh[key].details["required"]
    assert "after checkpoint" in resumed[key].reason


# -- typed errors at the edges -----------------------------------------------------------------------


def test_bad_sql_url_with_yes_and_migrate_is_a_usage_error(generated, tmp_path):
    kv = generated("mixed", 5)
    for cmd in (("--yes",), ("migrate",)):
        p = run_cli(*cmd, "--kv", kv, "--sql", "mysql://u@h/db", state=tmp_path / "st")
        assert p.returncode == 64, (cmd, p.returncode, p.stderr)
        assert "Traceback" not in p.stderr


def test_damaged_entry_is_a_typed_refusal(generated, tmp_path):
    """A raw LMDB entry with an unknown type tag (the fuzz harness's 18 tracebacks)."""
    import lmdb

    kv = generated("mixed", 8)
    env = lmdb.open(str(kv), max_dbs=8, subdir=True, lock=True)
    dbs = [k for k, _ in env.begin().cursor()]
    env.close()
    damaged = 0
    env = lmdb.open(str(kv), max_dbs=8, subdir=True)
    for name in dbs:
        try:
            sub = env.open_db(name, create=False)
        except lmdb.Error:
            continue
        with env.begin(write=True, db=sub) as txn:
            for k, v in txn.cursor():
                if b"payment-creation-info" in k and v:
                    txn.put(k, b"\x09" + v[1:])
                    damaged += 1
                    break
        if damaged:
            break
    env.close()
    if not damaged:
        pytest.skip("store layout without a findable creation-info entry")
    url = f"sqlite:///{tmp_path / 't.db'}"
    for cmd in (("--yes",), ("preflight",)):
        p = run_cli(*cmd, "--kv", kv, "--sql", url, state=tmp_path / "st")
        assert p.returncode in (2, 3), (cmd, p.returncode, p.stderr[-2000:])
        assert "Traceback" not in p.stderr


def test_report_directory_and_full_filesystem_refused_before_work(generated, tmp_path, tmpfs):
    kv = generated("mixed", 5)
    url = f"sqlite:///{tmp_path / 't.db'}"
    p = run_cli("--yes", "--kv", kv, "--sql", url, "--report", tmp_path, state=tmp_path / "st")
    assert p.returncode == 64 and not (tmp_path / "t.db").exists()
    _fill(tmpfs)
    p = run_cli("--yes", "--kv", kv, "--sql", url, "--report", tmpfs / "r.json", state=tmp_path / "st")
    assert p.returncode == 64 and "full" in p.stderr and not (tmp_path / "t.db").exists(), p.stderr
