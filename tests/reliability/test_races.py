"""Two real processes, two stores, one fresh target, started at the same instant.

Whatever the interleaving: no traceback, only exit 0 or 2, never both stores' rows,
and the run left in the target is whole (finishing it gives verified tables)."""

from __future__ import annotations

import json
import re

import pytest

from .common import cli_env, rows, run_cli, spawn_cli

RACE_PAYMENTS = (40, 25)


def race_once(kv_a, kv_b, url, state) -> dict:
    env = cli_env(MIGWIZ_THROTTLE_CHUNK_S="0.01")
    procs = [spawn_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", "5", state=state, env=env)
             for kv in (kv_a, kv_b)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    for (out, err), code in zip(outs, codes):
        assert "Traceback" not in err, err[-3000:]
        assert code in (0, 2), (code, err[-3000:])
    assert 0 in codes or all("working on the target" in e or "different KV store" in e for _, e in outs), outs
    # The target holds exactly one store's run: finish it (if a refusal interrupted it) and verify.
    (n_runs,) = rows(url, "SELECT COUNT(*) FROM migwizard_runs")[0]
    assert n_runs == 1
    (src,) = rows(url, "SELECT source_path FROM migwizard_runs")[0]
    owner = kv_a if str(kv_a.resolve()) == src else kv_b
    if codes[(kv_a, kv_b).index(owner)] != 0:
        p = run_cli("--yes", "--kv", owner, "--sql", url, "--chunk-size", "5", state=state)
        assert p.returncode == 0, p.stderr[-3000:]
    p = run_cli("verify", "--kv", owner, "--sql", url, state=state)
    assert p.returncode == 0, p.stderr[-3000:]
    expected = RACE_PAYMENTS[(kv_a, kv_b).index(owner)]
    assert rows(url, "SELECT COUNT(*) FROM payments")[0][0] == expected  # none of the loser's, none lost
    return {"codes": codes, "winner": (kv_a, kv_b).index(owner)}


_BASES: dict = {}


def _stores(generated, tmp_path, i):
    import shutil

    if tmp_path not in _BASES:
        _BASES[tmp_path] = (generated("mixed", RACE_PAYMENTS[0], seed=11), generated("mixed", RACE_PAYMENTS[1], seed=12))
    a, b = _BASES[tmp_path]
    da, db = tmp_path / f"a{i}", tmp_path / f"b{i}"
    shutil.copytree(a, da)
    shutil.copytree(b, db)
    return da, db


def _targets(dialect, tmp_path, request):
    if dialect == "sqlite":
        return lambda i: f"sqlite:///{tmp_path / f'race{i}.db'}"
    from tests.support import pg

    pg.require_pg()

    def make(i):
        name = pg.create_database()
        request.addfinalizer(lambda: pg.drop_database(name))
        return pg.pg_url(name)

    return make


def run_races(n, dialect, generated, tmp_path, request) -> list[dict]:
    target = _targets(dialect, tmp_path, request)
    return [race_once(*_stores(generated, tmp_path, i), target(i), tmp_path / f"st{i}") for i in range(n)]


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_stores_race_into_one_target(dialect, generated, tmp_path, request):
    run_races(3, dialect, generated, tmp_path, request)


@pytest.mark.stress
@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_two_stores_race_stress(dialect, generated, tmp_path, request):
    results = run_races(10, dialect, generated, tmp_path, request)
    from pathlib import Path

    out = Path(__file__).resolve().parents[2] / ".stress"
    out.mkdir(exist_ok=True)
    (out / f"race-{dialect}.json").write_text(json.dumps({
        "family": "race", "dialect": dialect, "races": len(results),
        "both_ok": sum(r["codes"] == [0, 0] for r in results), "rows_lost": 0,
        "codes": [r["codes"] for r in results]}))
