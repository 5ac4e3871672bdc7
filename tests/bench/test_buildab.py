"""bench/buildab.py times LND's deferred index build per pragma variant and leaves the target
as it was (each build is rolled back), so rounds can run on one finished target."""

from __future__ import annotations

import json
import sys

from bench import buildab
from migwizard.core.engine.api import Engine
from migwizard.core.sql import deferred
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.dump import dump_tables

from tests.engine.kvbuild import build_store, make_attempt, make_payment, seed_hash


def _state(path):
    db = open_database(f"sqlite:///{path}")
    try:
        return dump_tables(db), sorted(deferred.deferrable(db)), db.execute_sql("PRAGMA integrity_check").fetchone()
    finally:
        db.close()


def test_one_line_per_build_and_the_target_left_as_it_was(tmp_path, monkeypatch, capsys):
    pays = []
    for seq in range(1, 5):
        h = seed_hash(120 + seq)
        pays.append(make_payment(seq, h, 1000, htlcs=[make_attempt(seq, hash=h, settled=h)]))
    kv = build_store(tmp_path / "kv", pays)
    target = tmp_path / "target.sqlite"
    with Engine(kv, f"sqlite:///{target}") as eng:
        assert eng.migrate().outcome == "complete"
    before = _state(target)
    assert before[1] and before[2] == ("ok",)
    monkeypatch.setattr(sys, "argv", ["buildab.py", str(target), "2", "mmap_size=0", "mmap_size=1048576"])
    buildab.main()
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["variant"] for x in lines] == ["mmap_size=0", "mmap_size=1048576"] * 2
    assert all(x["indexes"] == len(before[1]) and x["cpu_s"] >= 0 for x in lines)
    assert _state(target) == before
