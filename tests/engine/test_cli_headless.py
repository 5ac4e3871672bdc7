"""`migwizard --yes` and friends, run as a real subprocess: exit codes, stdout, the JSON report."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path


from migwizard.core.kv.lmdb_store import LmdbStore

from .conftest import kv_digest

CLI = [sys.executable, "-m", "migwizard.cli"]


def run(*args, env=None, timeout=180, input=None):
    e = dict(os.environ)
    e["XDG_STATE_HOME"] = e["MIGWIZ_TEST_STATE"]  # set per test by tests/conftest.py, under tmp_path
    e.update(env or {})
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=e,
                          input=input)


def _wait_for_chunks(db: Path, n: int, timeout: float = 60) -> int:
    """Poll the target's run record (read-only) until ``n`` chunks are committed."""
    chunks = 0
    deadline = time.time() + timeout
    while time.time() < deadline and chunks < n:
        time.sleep(0.02)
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            row = con.execute("SELECT chunks_done FROM migwizard_runs").fetchone()
            con.close()
            chunks = row[0] if row else 0
        except sqlite3.Error:
            continue
    return chunks


def test_yes_end_to_end_json_and_report(generated, target_url, tmp_path):
    kv = generated("edge", 0)
    report = tmp_path / "report.json"
    p = run("--yes", "--kv", kv, "--sql", target_url, "--report", report, "--json", "--chunk-size", "9")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # stdout is only the summary
    assert doc["outcome"] == "committed" and doc["ok"] is True and doc["differences"] == 0
    assert doc["payments"] == doc["stats"]["payments"] > 0
    assert "migrate:" in p.stderr and "validate:" in p.stderr  # progress lines go to stderr
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    rep = json.loads(report.read_text())
    assert rep["kind"] == "migwizard-report" and rep["version"] == 1 and rep["ok"] is True
    assert rep["payments_checked"] == doc["payments"]
    assert {t["table"] for t in rep["tables"]} >= {"payments", "payment_htlc_attempts", "payment_duplicates"}
    assert rep["stats"]["normalisations"]["legacy_zero_attempt_id_remapped"] > 0
    assert "legacy_zero_attempt_id_remapped" in rep["normalisations"]
    # a second run: already complete, which is success for a script (exit 0), said plainly
    p2 = run("--yes", "--kv", kv, "--sql", target_url)
    assert p2.returncode == 0, p2.stderr
    assert "already complete" in p2.stdout and "[FAIL]" not in p2.stdout + p2.stderr
    # verify still works and exits 0
    p3 = run("verify", "--kv", kv, "--sql", target_url)
    assert p3.returncode == 0, p3.stderr
    assert "Validation:    OK" in p3.stdout


def test_yes_text_summary(import_fixture, sqlite_url):
    kv = import_fixture("alice")
    p = run("--yes", "--kv", kv, "--sql", sqlite_url)
    assert p.returncode == 0, p.stderr
    assert "Payments:      total 8, succeeded 8" in p.stdout
    assert "table name" in p.stdout and "Commit: committed; KV store tombstoned" in p.stdout
    # no secret material on stdout or stderr
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        rb = root.bucket(b"payments-root-bucket")
        keys = [k for k, v in rb.items() if v is None]
        htlcs = rb.bucket(keys[0]).bucket(b"payment-htlcs-bucket")
        ai = next(v for k, v in htlcs.items() if k.startswith(b"ai"))
        si = next(v for k, v in htlcs.items() if k.startswith(b"si"))
    assert ai[:32].hex() not in p.stdout + p.stderr
    assert si[:32].hex() not in p.stdout + p.stderr


def test_corrupt_store_fails_names_payment_key_offset_and_rolls_back(generated, tmp_path):
    from migwizard.core.generate import corrupt_payment_value

    kv = generated("mixed", 25)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        h = list(root.bucket(b"payments-index-bucket").items())[12][1][2:]
    corrupt_payment_value(kv, h, b"payment-creation-info", 50, mode="truncate")
    digest = kv_digest(kv)
    db = tmp_path / "t.sqlite"
    p = run("--yes", "--kv", kv, "--sql", f"sqlite:///{db}", "--chunk-size", "5")
    assert p.returncode == 3, p.stderr
    assert h.hex() in p.stderr and "payment-creation-info" in p.stderr and "byte offset" in p.stderr
    assert "rolled back" in p.stderr
    assert not db.exists()  # the run created the file, the rollback removed it
    assert kv_digest(kv) == digest


def test_preflight_json_and_refusals(import_fixture, tmp_path):
    kv = import_fixture("carol")
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    p = run("preflight", "--kv", kv, "--sql", url, "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    ids = {c["id"]: c["status"] for c in doc["checks"]}
    assert ids["kv.open"] == "pass" and ids["markers"] == "pass" and ids["sql.free_space"] == "pass"
    assert doc["counts"]["succeeded"] == 1
    # foreign payment rows in the target: refused
    con = sqlite3.connect(tmp_path / "foreign.sqlite")
    con.execute("CREATE TABLE payments (id INTEGER PRIMARY KEY, amount_msat BIGINT)")
    con.execute("INSERT INTO payments VALUES (1, 5)")
    con.commit()
    con.close()
    p = run("--yes", "--kv", kv, "--sql", f"sqlite:///{tmp_path / 'foreign.sqlite'}")
    assert p.returncode == 2
    assert "not written by migwizard" in p.stderr or "payment rows" in p.stderr + p.stdout


def test_usage_errors_and_password_never_printed(import_fixture):
    kv = import_fixture("carol")
    p = run("--yes", "--kv", kv)
    assert p.returncode == 64
    p = run("--yes", "--kv", kv, "--sql", "postgresql://bob:s3cr3tpw@127.0.0.1:1/nodb")
    assert p.returncode == 2
    assert "s3cr3tpw" not in p.stdout + p.stderr
    assert "bob" in p.stderr or "127.0.0.1" in p.stderr


def test_bbolt_import_then_inspect(fixtures_dir, tmp_path):
    kv = tmp_path / "kv"
    p = run("import-bbolt", fixtures_dir / "lnd-regtest-alice-channel.db", "--kv", kv)
    assert p.returncode == 0, p.stderr
    assert "verified" in p.stdout
    p = run("import-bbolt", fixtures_dir / "lnd-regtest-alice-channel.db", "--kv", kv)
    assert p.returncode != 0 and "not empty" in p.stderr
    p = run("inspect", "--kv", kv, "--json")
    doc = json.loads(p.stdout)
    assert doc["payments"] == 8 and doc["succeeded"] == 8 and doc["attempts"] == 8 and doc["errors"] == []
    p = run("inspect", fixtures_dir / "lnd-regtest-carol-channel.db", "--payment", "c25c")
    assert p.returncode == 0
    assert "<redacted>" in p.stdout and "4e6774ff" not in p.stdout
    p = run("inspect", fixtures_dir / "lnd-regtest-carol-channel.db", "--payment", "c25c", "--show-secrets")
    assert "4e6774ff" in p.stdout


def test_sigkill_mid_run_then_resume_matches_uninterrupted(generated, tmp_path):
    """A real crash: SIGKILL the process after a few chunks, resume, compare with a clean run."""
    kv = generated("mixed", 300)
    clean = tmp_path / "clean.sqlite"
    crashed = tmp_path / "crashed.sqlite"
    # `migrate` without a terminal validates but does not commit (exit 4): the store stays untombstoned
    p = run("migrate", "--kv", kv, "--sql", f"sqlite:///{clean}", "--chunk-size", "10")
    assert p.returncode == 4, p.stderr
    # 0.2 s per chunk: the 27 chunks after the third take >= 5.4 s, so a poll slowed by a loaded
    # machine still kills mid-run (at 0.05 s the window was 1.35 s; one loaded run failed it, cause unrecorded).
    e = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), MIGWIZ_THROTTLE_CHUNK_S="0.2")
    proc = subprocess.Popen([*CLI, "migrate", "--kv", str(kv), "--sql", f"sqlite:///{crashed}", "--chunk-size", "10"],
                            env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = _wait_for_chunks(crashed, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= chunks < 30, "the crash should land mid-run"
    p = run("migrate", "--kv", kv, "--sql", f"sqlite:///{crashed}", "--chunk-size", "10")
    assert p.returncode == 4, p.stderr
    a, b = sqlite3.connect(clean), sqlite3.connect(crashed)
    tables = [r[0] for r in a.execute("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'payment%'")]
    assert len(tables) == 12
    for t in tables:
        assert a.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() == \
            b.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall(), t


def test_sigint_stops_at_chunk_boundary_and_resumes(generated, tmp_path):
    kv = generated("mixed", 200)
    db = tmp_path / "t.sqlite"
    e = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), MIGWIZ_THROTTLE_CHUNK_S="0.2")  # see above
    proc = subprocess.Popen([*CLI, "--yes", "--kv", str(kv), "--sql", f"sqlite:///{db}", "--chunk-size", "10"],
                            env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_chunks(db, 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    assert "stopping at the next chunk boundary" in err
    con = sqlite3.connect(db)
    done, state = con.execute("SELECT payments_done, state FROM migwizard_runs").fetchone()
    assert state == "running" and 0 < done < 200 and done % 10 == 0
    assert con.execute("SELECT COUNT(*) FROM payments").fetchone()[0] == done
    con.close()
    p = run("--yes", "--kv", kv, "--sql", f"sqlite:///{db}", "--chunk-size", "10")
    assert p.returncode == 0, p.stderr


def test_preflight_does_not_create_the_sqlite_file(import_fixture, tmp_path):
    kv = import_fixture("carol")
    target = tmp_path / "not-yet.sqlite"
    p = run("preflight", "--kv", kv, "--sql", f"sqlite:///{target}", "--json")
    assert p.returncode == 0, p.stderr
    assert not target.exists() and list(tmp_path.glob("not-yet*")) == []
    p = run("preflight", "--kv", kv, "--sql", f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite'}", "--json")
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert any(c["id"] == "sql.target" and c["status"] == "fail" for c in doc["checks"])


def test_headless_path_never_imports_textual(import_fixture, sqlite_url):
    """harlequin's rule: scripts on small nodes must not pay for the TUI."""
    kv = import_fixture("carol")
    code = (
        "import sys; from migwizard import cli\n"
        "try:\n"
        f"    cli.app(['--yes', '--kv', {str(kv)!r}, '--sql', {sqlite_url!r}], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print('TEXTUAL' if bad else 'CLEAN')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, XDG_STATE_HOME=os.environ["MIGWIZ_TEST_STATE"]))
    assert p.stdout.strip().endswith("CLEAN"), p.stdout + p.stderr
    assert "Payments:      total 1" in p.stdout


def test_created_target_and_log_are_owner_only(import_fixture, tmp_path):
    kv = import_fixture("carol")
    db = tmp_path / "t.sqlite"
    state = tmp_path / "state"
    p = run("--yes", "--kv", kv, "--sql", f"sqlite:///{db}", env={"XDG_STATE_HOME": str(state)})
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600  # holds session keys and preimages
    log = state / "migwizard" / "migwizard.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert "Started run" in log.read_text()
