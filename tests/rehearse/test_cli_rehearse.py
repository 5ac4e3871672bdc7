"""`migwizard rehearse`: writes nothing, prints the table or JSON, documented exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "migwizard.cli"]


def run(*args):
    env = dict(os.environ)
    env["XDG_STATE_HOME"] = env["MIGWIZ_TEST_STATE"]  # set per test by tests/conftest.py, under tmp_path
    return subprocess.run([*CLI, "rehearse", *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


def snapshot(path: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``path`` (or ``path`` itself): size, mtime_ns, sha256."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in files}


def test_lmdb_store_is_not_written_and_text_fits(generated):
    kv, _res = generated("edge", payments=50)
    before = snapshot(kv)
    p = run("--kv", kv)
    assert p.returncode == 0, p.stderr
    assert snapshot(kv) == before  # same files (no lock file created), bytes and mtimes
    lines = p.stdout.splitlines()
    assert lines[0].startswith("Rehearsal of lnd's payments migration on lmdb store")
    assert any(line.startswith("v0.21.1") and "fails: NOT NULL encrypted_data" in line for line in lines)
    assert any(line.startswith("v0.21.2") and "passes" in line for line in lines)
    assert max(map(len, lines)) <= 80
    assert p.stderr == ""


@pytest.mark.fixtures
def test_bbolt_channel_db_is_read_directly_and_not_written(fixtures_dir, tmp_path):
    db = tmp_path / "channel.db"
    shutil.copy2(fixtures_dir / "lnd-regtest-alice-channel.db", db)
    before = snapshot(tmp_path)
    p = run("--kv", db, "--json")
    assert p.returncode == 0, p.stderr
    assert snapshot(tmp_path) == before
    doc = json.loads(p.stdout)
    assert doc["kind"] == "migwizard-rehearsal" and doc["ok"] is True
    assert doc["source_kind"] == "bbolt" and doc["counts"]["payments"] == 8
    assert [v["release"] for v in doc["verdicts"]] == ["v0.21.0-rc1", "v0.21.0", "v0.21.1", "v0.21.2", "master"]
    assert all(v["outcome"] == "passes" for v in doc["verdicts"])
    assert doc["estimates"]["lnd_rate"] == 400.0 and doc["estimates"]["wal_bytes"] > 0


def test_json_names_the_failing_payment_and_exit_1_when_the_newest_release_fails(generated):
    kv, res = generated("reject-zero-hops", payments=10)
    (h,) = res.cases["reject:non_failed_htlc_without_hops"]
    p = run("--kv", kv, "--json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["ok"] is False and doc["newest_release"] == "v0.21.2"
    assert {v["failure"]["payment"] for v in doc["verdicts"]} == {h.hex()}
    assert all(v["outcome"] == "fails" for v in doc["verdicts"])


def test_usage_and_unreadable_source(tmp_path):
    p = run()
    assert p.returncode == 64 and "--kv is required" in p.stderr
    p = run("--kv", tmp_path / "nope")
    assert p.returncode == 2 and "no such file or directory" in p.stderr and "Traceback" not in p.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    p = run("--kv", junk)
    assert p.returncode == 2 and "not a migwizard LMDB store" in p.stderr and "Traceback" not in p.stderr
