"""``--lnddir DIR [--network NET]`` on the root command: headless and the wizard's arguments."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from tests.support.lnddir import make_lnddir

CLI = [sys.executable, "-m", "migwizard.cli"]


def run(*args, cwd, state, timeout=300):
    env = dict(os.environ)
    env["MIGWIZ_STATE_DIR"] = str(state)
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def test_yes_with_lnddir_migrates_into_lnds_own_database(tmp_path):
    lnddir = make_lnddir(tmp_path)
    graph = lnddir / "data" / "graph" / "regtest"
    # a relative --lnddir works (resolved against the cwd, not joined twice)
    p = run("--yes", "--lnddir", "lnd", "--network", "regtest", "--json", cwd=tmp_path, state=tmp_path / "state")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["outcome"] == "committed"
    assert f"source: kvsql-sqlite {graph / 'channel.sqlite'}" in p.stderr
    assert "lnd already runs native SQL for invoices" in p.stderr
    with sqlite3.connect(graph / "lnd.sqlite") as db:
        assert db.execute("SELECT max(version) FROM migration_tracker").fetchone()[0] == 14
        assert db.execute("SELECT count(*) FROM payments").fetchone()[0] > 0
    # the copy lives in the state directory, nothing new beside lnd's files
    assert not [x for x in graph.iterdir() if "migwizard" in x.name or x.is_dir()]
    assert any((tmp_path / "state" / "imports").iterdir())


@pytest.mark.parametrize("args,word", [(("--network", "regtest"), "--network needs --lnddir"),
                                       (("--lnddir", "nowhere"), "no such lnd directory")])
def test_lnddir_usage_errors(tmp_path, args, word):
    p = run("--yes", *args, cwd=tmp_path, state=tmp_path / "state")
    assert p.returncode == 64 and word in p.stderr


def test_wizard_gets_a_postgres_kv_url_and_lnddir_unmangled(monkeypatch, tmp_path):
    """``Path(kv)`` turned ``postgresql://u@h/db`` into ``postgresql:/u@h/db``; the wizard gets it as typed."""
    from typer.testing import CliRunner

    from migwizard import cli
    from migwizard.tui import app as tui_app

    seen = {}

    def fake_run_wizard(kv=None, sql=None, **kwargs):
        seen.update(kv=kv, sql=sql, **kwargs)
        return 0

    monkeypatch.setattr(tui_app, "run_wizard", fake_run_wizard)
    monkeypatch.setenv("MIGWIZ_STATE_DIR", str(tmp_path / "state"))
    url = "postgresql://lnd@127.0.0.1:5432/lnd"
    result = CliRunner().invoke(cli.app, ["--kv", url, "--kv-table", "other_kv", "--lnddir", "/srv/lnd",
                                          "--network", "signet", "--log", str(tmp_path / "w.log")])
    assert result.exit_code == 0, result.output
    assert seen["kv"] == url and seen["kv_table"] == "other_kv"
    assert seen["lnddir"] == "/srv/lnd" and seen["network"] == "signet"


def test_postgres_lnd_conf_needs_no_graph_dir(tmp_path):
    """Attack review, finding 6: db.backend=postgres keeps nothing under data/graph/<net>/."""
    root = tmp_path / "lnd"
    root.mkdir()
    (root / "lnd.conf").write_text("[Bitcoin]\nbitcoin.regtest=1\n[db]\ndb.backend=postgres\n"
                                   "db.postgres.dsn=postgresql://nobody:pw@127.0.0.1:1/lnd\n")
    p = run("preflight", "--lnddir", "lnd", cwd=tmp_path, state=tmp_path / "state", timeout=120)
    assert "no regtest data" not in p.stderr, p.stderr
    assert "lnddir: source postgresql://" in p.stderr
    assert "pw@" not in p.stderr and p.stderr.endswith("\n") and "Traceback" not in p.stderr
