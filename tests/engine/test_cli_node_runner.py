"""The node runner's headless experience (issue 12), from real subprocesses and real
stores: validation's own progress figures, the wrong target named, an empty store,
one confirmation word, a bar that fits 80 columns, and connection errors with a fix.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from migwizard.core.engine.events import LogRecord, Phase, PhaseFinished, PhaseStarted, Progress
from migwizard.headless import StderrProgress

from .test_cli_headless import run


@pytest.fixture
def env(tmp_path) -> dict:
    return {"MIGWIZ_STATE_DIR": str(tmp_path / "state")}


def _yes(kv, url, *extra, env=None, input=None):
    return run("--yes", "--kv", kv, "--sql", url, *extra, env=env, input=input)


# -- 2: validation progress lines carry validation's own figures ---------------------
def test_validation_progress_lines_say_payments_checked_and_differences(generated, tmp_path, env):
    kv = generated("mixed", 600)
    p = _yes(kv, f"sqlite:///{tmp_path / 't.sqlite'}", env=env)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("validate:") and "payments checked" in ln]
    assert lines, p.stderr
    assert all("differences so far" in ln and "attempts" not in ln and "chunk" not in ln for ln in lines)
    assert lines[-1].startswith("validate: 600/600 payments checked (~100.0%), 0 differences so far")
    # the 100% line of each phase once
    assert sum(1 for ln in p.stderr.splitlines() if ln.startswith("validate: 600/600")) == 1
    assert sum(1 for ln in p.stderr.splitlines() if ln.startswith("migrate: 600/600")) == 1


# -- 8: the TTY bar fits the terminal and redraws in place ----------------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tty_bar_redraws_in_place_within_80_columns(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    out = _Tty()
    t = [0.0]
    bar = StderrProgress(out, clock=lambda: t[0], width=80)
    bar(PhaseStarted(Phase.MIGRATE, 123_456))
    for done in range(0, 123_457, 5_000):
        t[0] += 1.0
        bar(Progress(Phase.MIGRATE, done, 123_456, 10 * done, 40 * done, done // 500, t[0], 1234.5, 4567.8, 99.0))
    bar(Progress(Phase.MIGRATE, 123_456, 123_456, 1, 1, 247, t[0], 1.0, 1.0, 0.0))
    bar(Progress(Phase.MIGRATE, 123_456, 123_456, 1, 1, 247, t[0], 1.0, 1.0, 0.0))  # a repeated final sample
    bar(PhaseFinished(Phase.MIGRATE, True, "complete"))
    bar(PhaseStarted(Phase.VALIDATE, 123_456))
    t[0] += 1.0
    bar(Progress(Phase.VALIDATE, 61_000, 123_456, elapsed_s=t[0], payments_per_s=900.0, differences=3))
    bar(LogRecord("error", "something broke"))
    text = out.getvalue()
    frames = text.split("\r")[1:]
    assert len(frames) >= 20
    for frame in frames:
        drawn = frame.split("\x1b[K", 1)[0]
        assert len(drawn) <= 79, drawn  # never wraps at 80 columns
        assert "\n" not in drawn
    assert text.count("100.0% migrate") == 1  # the 100% frame once
    assert "validate 61,000/123,456, 3 diff" in text
    assert text.count("error: something broke\n") == 1
    # no new line per update: only the bar's end before each printed line, and those lines
    assert text.count("\n") == 4 and text.count("migrate: complete\n") == 1


def test_plain_lines_when_not_a_tty():
    out = io.StringIO()
    bar = StderrProgress(out, clock=lambda: 0.0)
    bar(PhaseStarted(Phase.VALIDATE, 10))
    bar(Progress(Phase.VALIDATE, 10, 10, elapsed_s=1.0, payments_per_s=10.0, differences=0))
    assert "\r" not in out.getvalue()
    assert out.getvalue().startswith("validate: 10/10 payments checked (~100.0%), 0 differences so far")


# -- 3: error lines once ---------------------------------------------------------------
def test_failure_error_and_rollback_lines_printed_once(generated, tmp_path, env):
    from migwizard.core.generate import corrupt_payment_value
    from migwizard.core.kv.lmdb_store import LmdbStore

    kv = generated("mixed", 15)
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        h = list(root.bucket(b"payments-index-bucket").items())[7][1][2:]
    corrupt_payment_value(kv, h, b"payment-creation-info", 50, mode="truncate")
    p = _yes(kv, f"sqlite:///{tmp_path / 't.sqlite'}", "--chunk-size", "4", env=env)
    assert p.returncode == 3, p.stderr
    assert p.stderr.count("byte offset") == 1, p.stderr
    assert p.stderr.count("rolled back run") == 1, p.stderr


# -- 4: the wrong target, named; verify/rollback never create a SQLite file --------------
def test_wrong_target_names_the_recorded_target_and_the_other_run(generated, tmp_path, env):
    a, b = generated("mixed", 12, seed=1), generated("mixed", 12, seed=2)
    url_a = f"sqlite:///{tmp_path / 'a.sqlite'}"
    p = _yes(a, url_a, "--json", env=env)
    assert p.returncode == 0, p.stderr
    run_a = json.loads(p.stdout)["run_id"]
    # B pointed at A's target: whose run is there
    p = _yes(b, url_a, env=env)
    assert p.returncode == 2, p.stderr
    assert f"this target holds run {run_a[:8]} (committed) of a different KV store ({a.resolve()})" in p.stderr
    assert "payment index changed" not in p.stderr
    p = run("verify", "--kv", b, "--sql", url_a, env=env)
    assert p.returncode == 2, p.stderr
    assert f"this target holds run {run_a[:8]}" in p.stderr and "payment index changed" not in p.stderr
    # A pointed at a new target: where it went
    new = tmp_path / "new.sqlite"
    p = _yes(a, f"sqlite:///{new}", env=env)
    assert p.returncode == 2, p.stderr
    assert f"this store was migrated to {url_a}, run {run_a[:8]}" in p.stderr
    assert not new.exists()


def test_verify_and_rollback_never_create_a_sqlite_file(generated, tmp_path, env):
    kv = generated("mixed", 5)
    missing = tmp_path / "nothing-here.sqlite"
    p = run("verify", "--kv", kv, "--sql", f"sqlite:///{missing}", env=env)
    assert p.returncode == 64, p.stderr
    assert "does not exist" in p.stderr
    p = run("rollback", "--kv", kv, "--sql", f"sqlite:///{missing}", "--yes", env=env)
    assert p.returncode == 0, p.stderr
    assert "nothing to roll back" in p.stdout
    assert not missing.exists()


# -- 5: an empty store is a warning; headless needs --allow-empty --------------------------
def test_empty_store_warns_with_path_and_network_and_needs_allow_empty(tmp_path, env):
    from migwizard.core.generate import generate_store

    kv = tmp_path / "data" / "graph" / "testnet" / "kv"
    generate_store(kv, payments=0, seed=1, profile="mixed")
    db = tmp_path / "t.sqlite"
    p = run("preflight", "--kv", kv, "--sql", f"sqlite:///{db}", env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"[WARN] Empty store: 0 payments in {kv.absolute()} (network testnet)" in p.stdout
    p = _yes(kv, f"sqlite:///{db}", env=env)
    assert p.returncode == 2, p.stderr
    assert "--allow-empty" in p.stderr and not db.exists()
    p = _yes(kv, f"sqlite:///{db}", "--allow-empty", env=env)
    assert p.returncode == 0, p.stderr


# -- 7: one confirmation word --------------------------------------------------------------
def test_migrate_asks_for_the_same_word_as_the_wizard(generated, tmp_path, env):
    kv = generated("mixed", 6)
    p = run("migrate", "--kv", kv, "--sql", f"sqlite:///{tmp_path / 't.sqlite'}", env=env, input="COMMIT\n")
    # stdin is not a terminal here: refused, but the word is the wizard's
    assert p.returncode == 4, p.stderr
    from migwizard.cli import CONFIRM_WORD
    from migwizard.screens.commit import WORD

    assert CONFIRM_WORD == WORD == "COMMIT"


# -- 9: connection errors: one sentence, a specific fix ---------------------------------------
def test_directory_as_sqlite_file_says_so(generated, tmp_path, env):
    kv = generated("mixed", 3)
    d = tmp_path / "adir"
    d.mkdir()
    p = run("preflight", "--kv", kv, "--sql", f"sqlite:///{d}", env=env)
    assert p.returncode == 2
    assert f"{d} is a directory, not a SQLite file" in p.stdout
    assert f"name a file inside it, e.g. sqlite:///{d / 'payments.sqlite'}" in p.stdout


def test_refused_port_names_host_and_port(generated, tmp_path, env):
    kv = generated("mixed", 3)
    p = run("preflight", "--kv", kv, "--sql", "postgresql://postgres@127.0.0.1:1/x", env=env)
    assert p.returncode == 2
    assert "nothing accepts connections on 127.0.0.1:1 (connection refused)" in p.stdout


def test_missing_database_suggests_createdb(generated, tmp_path, env):
    from tests.support import pg

    pg.require_pg()  # skips locally with the reason, fails in CI
    kv = generated("mixed", 3)
    name = f"migwizard_absent_{tmp_path.name[-12:].lower()}".replace("-", "_")
    p = run("preflight", "--kv", kv, "--sql", pg.pg_url(name), env=env)
    assert p.returncode == 2
    assert f'has no database "{name}"' in p.stdout
    assert "createdb" in p.stdout and name in p.stdout.split("fix:")[1]


def test_explain_connect_error_forms():
    from migwizard.core.sql.connect import TargetURL
    from migwizard.core.sql.explain import explain_connect_error

    url = TargetURL.parse("postgresql://mig@db.example:5433/lnd")
    reason, fix = explain_connect_error(url, 'connection failed: FATAL:  database "lnd" does not exist')
    assert reason == 'PostgreSQL on db.example:5433 has no database "lnd"'
    assert fix == "create it: createdb -h db.example -p 5433 -U mig lnd"
    reason, fix = explain_connect_error(url, "connection to server ... failed: Connection refused")
    assert "db.example:5433" in reason and "db.example:5433" in fix
    reason, fix = explain_connect_error(url, 'FATAL:  password authentication failed for user "mig"')
    assert "refused the password" in reason and "PGPASSWORD" in fix
    assert "\n" not in reason
