"""SIGKILL of migwizard while its KV half runs in a second process (``MIGWIZ_WORKERS=2``): the
child dies with it -- no orphan keeps an LMDB reader or the store's lock -- and the same
command again resumes to the tables of an uninterrupted one-process run."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from .common import cli_env, rows, run_cli, spawn_cli, tables
from .test_crash import _tombstoned, copy_store

PAYMENTS, CHUNK = 45, 5


def _readers(kv: Path) -> set[int]:
    """Processes with the store's data file mapped: every LMDB reader of it."""
    data = str((kv / "data.mdb").resolve())
    found = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/maps") as f:
                    if data in f.read():
                        found.add(int(d))
            except OSError:
                pass
    return found


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _chunks_done(url: str) -> int:
    try:
        got = rows(url, "SELECT chunks_done FROM migwizard_runs")
        return int(got[0][0]) if got else 0
    except Exception:  # noqa: BLE001 - not created yet, or the writer holds it right now
        return 0


@pytest.mark.parametrize("point", [None, "chunk.rows_written:4"], ids=["external-kill", "kill-inside-a-chunk"])
def test_sigkill_with_the_second_process_leaves_no_orphan_and_resumes(generated, tmp_path, point):
    pristine = generated("mixed", PAYMENTS, seed=7)
    ref_url = f"sqlite:///{tmp_path / 'ref.db'}"
    p = run_cli("--yes", "--kv", copy_store(pristine, tmp_path / "kv-ref"), "--sql", ref_url, "--chunk-size", CHUNK,
                state=tmp_path / "st-ref", env=cli_env(MIGWIZ_WORKERS="1"))
    assert p.returncode == 0, p.stderr
    kv = copy_store(pristine, tmp_path / "kv")
    url = f"sqlite:///{tmp_path / 't.db'}"
    extra = {"MIGWIZ_WORKERS": "2", "MIGWIZ_THROTTLE_CHUNK_S": "0.3"}
    if point:
        extra["MIGWIZ_CRASH_AT"] = point
    proc = spawn_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=tmp_path / "st",
                     env=cli_env(**extra))
    try:
        child = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            kids = {pid for pid in _readers(kv) if _ppid(pid) == proc.pid}
            if kids:
                child = kids.pop()
            if child and (point or _chunks_done(url) >= 2):
                break
            time.sleep(0.05)
        assert child is not None, "no second process was reading the store"
        if point is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=120)
        assert proc.returncode == -signal.SIGKILL
        assert 1 <= _chunks_done(url) < PAYMENTS // CHUNK, "the kill should land mid-run"
        deadline = time.monotonic() + 10
        while _readers(kv):
            assert time.monotonic() < deadline, f"an orphan still reads the store: {_readers(kv)}"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()
    p = run_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=tmp_path / "st",
                env=cli_env(MIGWIZ_WORKERS="2"))
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert _tombstoned(kv)
    assert tables(url) == tables(ref_url)
