"""Every exit code of the README table, from a real subprocess, plus the usage and file-safety edges.

A script branches on these numbers, so each one is produced here by a real run:
0 success (and "already complete"), 1 validation differences, 2 preflight refused,
3 migration failed and rolled back, 4 not committed / resumable, 64 usage error
(click's own errors included, and bad ``--report``/``--log`` paths before any work).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections import Counter
from pathlib import Path

import pytest

from migwizard.core.kv.lmdb_store import LmdbStore

from .conftest import kv_digest
from .test_cli_headless import run


@pytest.fixture
def state(tmp_path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def env(state) -> dict:
    return {"XDG_STATE_HOME": str(state), "MIGWIZ_STATE_DIR": ""}


@pytest.fixture
def kv(generated):
    return generated("mixed", 12)


def _yes(kv, db, *extra, env=None):
    return run("--yes", "--kv", kv, "--sql", f"sqlite:///{db}", *extra, env=env)


# -- 0 -------------------------------------------------------------------------
def test_exit_0_committed_then_already_complete(kv, tmp_path, env, state):
    db = tmp_path / "t.sqlite"
    p = _yes(kv, db, env=env)
    assert p.returncode == 0, p.stderr
    assert f"state directory {state / 'migwizard'}" in p.stderr  # announced at start
    reports = list((state / "migwizard" / "reports").glob("run-*.json"))
    assert len(reports) == 1 and stat.S_IMODE(reports[0].stat().st_mode) == 0o600  # one report per run
    p = _yes(kv, db, env=env)
    assert p.returncode == 0, p.stderr
    assert "already complete" in p.stdout and "[FAIL]" not in p.stdout + p.stderr
    p = _yes(kv, db, "--json", env=env)
    assert p.returncode == 0 and json.loads(p.stdout)["outcome"] == "already_complete"


def test_exit_0_when_the_rerun_writes_the_missing_tombstone(kv, tmp_path, env):
    db = tmp_path / "t.sqlite"
    assert _yes(kv, db, env=env).returncode == 0
    with LmdbStore.open(kv) as s, s.write() as root:  # as if it crashed between SQL commit and tombstone
        root.bucket(b"payments-root-bucket").delete(b"payments-tombstone")
        s.meta_delete(b"migwizard-tombstone", within=root)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        assert root.bucket(b"payments-root-bucket").get(b"payments-tombstone") is None
    p = _yes(kv, db, env=env)
    assert p.returncode == 0, p.stderr
    assert "tombstone has now been written" in p.stdout and "[FAIL]" not in p.stdout + p.stderr
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        assert root.bucket(b"payments-root-bucket").get(b"payments-tombstone") == b"1"


# -- 1 -------------------------------------------------------------------------
def test_exit_1_verify_finds_differences(kv, tmp_path, env):
    db = tmp_path / "t.sqlite"
    assert _yes(kv, db, env=env).returncode == 0
    con = sqlite3.connect(db)
    con.execute("UPDATE payments SET amount_msat = amount_msat + 1 WHERE id = (SELECT MIN(id) FROM payments)")
    con.commit()
    con.close()
    p = run("verify", "--kv", kv, "--sql", f"sqlite:///{db}", env=env)
    assert p.returncode == 1, p.stderr
    assert "Validation:    FAILED" in p.stdout


# -- 2 -------------------------------------------------------------------------
def test_exit_2_preflight_refused_tombstone_without_target(kv, tmp_path, env):
    assert _yes(kv, tmp_path / "t.sqlite", env=env).returncode == 0
    p = _yes(kv, tmp_path / "other.sqlite", env=env)
    assert p.returncode == 2, p.stderr
    assert "no committed migration" in p.stderr


# -- 3 -------------------------------------------------------------------------
def test_exit_3_failed_and_rolled_back(generated, tmp_path, env):
    from migwizard.core.generate import corrupt_payment_value

    kv = generated("mixed", 15)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        h = list(root.bucket(b"payments-index-bucket").items())[7][1][2:]
    corrupt_payment_value(kv, h, b"payment-creation-info", 50, mode="truncate")
    p = _yes(kv, tmp_path / "t.sqlite", "--chunk-size", "4", env=env)
    assert p.returncode == 3, p.stderr
    assert "rolled back" in p.stderr


# -- 4 -------------------------------------------------------------------------
def test_exit_4_not_committed_without_a_terminal(kv, tmp_path, env):
    db = tmp_path / "t.sqlite"
    p = run("migrate", "--kv", kv, "--sql", f"sqlite:///{db}", env=env, input="")
    assert p.returncode == 4, p.stderr
    assert "refusing to commit" in p.stderr
    p = run("migrate", "--kv", kv, "--sql", f"sqlite:///{db}", "--yes", env=env)  # resumes and commits
    assert p.returncode == 0, p.stderr


# -- 64 ------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["--bogus"],
    ["--yes", "--sql", "sqlite:///x.db"],  # --kv missing
    ["--yes", "--kv", "KV", "--sql", "sqlite:///x.db", "--chunk-size", "0"],
    ["--yes", "--kv", "KV", "--sql", "sqlite:///x.db", "--chunk-size", "many"],
    ["migrate", "--kv", "KV"],  # --sql missing (click's MissingParameter)
    ["verify", "--kv", "KV", "--sql", "sqlite:///x.db", "--bogus"],
    ["no-such-command-or-path", "--bogus"],
    ["generate", "--kv", "G", "--payments", "1", "--profile", "nope"],
    ["inspect"],
])
def test_exit_64_usage_errors(args, kv, tmp_path, env):
    args = [str(kv) if a == "KV" else str(tmp_path / "gen") if a == "G" else a for a in args]
    p = run(*args, env=env)
    assert p.returncode == 64, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "usage error" in lines[0], p.stderr  # one line, no traceback
    assert "Traceback" not in p.stderr


def _bad_report_paths(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "a-directory"
    d.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere.json")
    return {"directory": d, "missing parent": tmp_path / "no" / "such" / "r.json", "symlink": link,
            "dangling symlink": dangling}


@pytest.mark.parametrize("case", ["directory", "missing parent", "symlink", "dangling symlink"])
def test_bad_report_path_refused_before_any_work(case, kv, tmp_path, env):
    path = _bad_report_paths(tmp_path)[case]
    db = tmp_path / "t.sqlite"
    digest = kv_digest(kv)
    p = _yes(kv, db, "--report", path, env=env)
    assert p.returncode == 64, p.stderr
    assert "--report" in p.stderr and "Traceback" not in p.stderr
    assert not db.exists() and kv_digest(kv) == digest  # nothing was done
    assert (tmp_path / "victim.txt").read_text() == "keep me\n"
    assert not (tmp_path / "nowhere.json").exists()
    p = run("verify", "--kv", kv, "--sql", f"sqlite:///{db}", "--report", path, env=env)
    assert p.returncode == 64 and not db.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any directory; permissions cannot refuse it")
def test_unwritable_report_directory_refused(kv, tmp_path, env):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    p = _yes(kv, tmp_path / "t.sqlite", "--report", ro / "r.json", env=env)
    assert p.returncode == 64 and "not writable" in p.stderr


def test_symlinked_log_refused_and_target_unchanged(kv, tmp_path, env):
    victim = tmp_path / "victim.log"
    victim.write_text("keep me\n")
    os.chmod(victim, 0o644)
    link = tmp_path / "m.log"
    link.symlink_to(victim)
    db = tmp_path / "t.sqlite"
    p = _yes(kv, db, "--log", link, env=env)
    assert p.returncode == 64, p.stderr
    assert "--log" in p.stderr and "symlink" in p.stderr
    assert victim.read_text() == "keep me\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not db.exists()


def test_symlink_at_a_temp_name_is_not_followed(kv, tmp_path, env):
    """The old writer used ``<report>.tmp``: a link planted there was truncated, written and chmodded."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    os.chmod(victim, 0o644)
    report = tmp_path / "r.json"
    (tmp_path / "r.json.tmp").symlink_to(victim)
    p = _yes(kv, tmp_path / "t.sqlite", "--report", report, env=env)
    assert p.returncode == 0, p.stderr
    assert victim.read_text() == "keep me\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not report.is_symlink() and json.loads(report.read_text())["ok"] is True
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.glob(".r.json.*")] == []  # no temp file left behind


def test_log_holds_each_line_once_and_no_password(kv, tmp_path, env):
    log = tmp_path / "run.log"
    p = _yes(kv, tmp_path / "t.sqlite", "--log", log, env=env)
    assert p.returncode == 0, p.stderr
    lines = log.read_text().splitlines()
    assert any("Started run" in x for x in lines)
    dup = [x for x, n in Counter(lines).items() if n > 1]
    assert not dup, dup
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_state_dir_option_holds_log_and_reports(kv, tmp_path, env):
    chosen = tmp_path / "chosen-state"
    p = run("--state-dir", chosen, "--yes", "--kv", kv, "--sql", f"sqlite:///{tmp_path / 't.sqlite'}", env=env)
    assert p.returncode == 0, p.stderr
    assert f"state directory {chosen}" in p.stderr
    assert "Started run" in (chosen / "migwizard.log").read_text()
    assert len(list((chosen / "reports").glob("run-*.json"))) == 1
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o700


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (a directory no one can create files in)")
def test_output_paths_checked_on_every_path_even_already_complete(kv, tmp_path, env):
    """Attack review, finding 4: a bad --report/--log is a usage error before any work,
    also when the store is already complete (nothing else to do)."""
    db = tmp_path / "t.sqlite"
    assert _yes(kv, db, env=env).returncode == 0
    assert _yes(kv, db, env=env).returncode == 0  # already complete
    for extra in (("--report", "/proc/r.json"), ("--log", "/proc/r.log")):
        p = _yes(kv, db, *extra, env=env)
        assert p.returncode == 64 and "usage error" in p.stderr and extra[0] in p.stderr, (extra, p.stderr)
    for cmd in ("migrate", "verify"):
        p = run(cmd, "--kv", kv, "--sql", f"sqlite:///{db}", "--report", "/proc/r.json", env=env)
        assert p.returncode == 64 and "--report" in p.stderr, (cmd, p.stderr)
