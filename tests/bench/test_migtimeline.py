"""bench/migtimeline.py's SQL-half timers: every load transaction's whole commit is timed on the
writer's thread (``load_commit_s``, one ``add`` per commit) and the WAL file's peak is reported
(``wal_peak_mb``), so a change that moves work into or out of the commit shows in the timeline."""

from __future__ import annotations

from pathlib import Path

from bench import migtimeline
from migwizard.core.engine import migrate
from migwizard.core.engine.api import Engine
from migwizard.core.sql import bulk

from tests.engine.kvbuild import build_store, make_attempt, make_payment, seed_hash


def test_every_load_commit_timed_and_the_wal_peak(tmp_path, monkeypatch):
    for obj, name in ((bulk.BulkWriter, "insert"), (migrate, "write_txn"), (migrate._Migration, "_flush"),
                      (migrate._Migration, "_commit"), (migrate.deferred_objects, "build_in_txn")):
        monkeypatch.setattr(obj, name, getattr(obj, name))  # time_sql_half patches them: undone after
    got: dict[str, float] = {}
    calls: dict[str, int] = {}

    def add(key, value):
        got[key] = got.get(key, 0.0) + value
        calls[key] = calls.get(key, 0) + 1

    migtimeline.time_sql_half(add)
    seen_wal: list[int] = []
    timed_commit = migrate._Migration._commit

    def commit(self, root):  # outside the timer: the WAL's size right after each commit
        timed_commit(self, root)
        wal = Path(str(self.db.database) + "-wal")
        seen_wal.append(wal.stat().st_size if wal.exists() else 0)

    monkeypatch.setattr(migrate._Migration, "_commit", commit)
    monkeypatch.setenv("MIGWIZ_TXN_ROWS", "1")  # a commit per chunk
    pays = []
    for seq in range(1, 13):
        h = seed_hash(700 + seq)
        pays.append(make_payment(seq, h, 1000, htlcs=[make_attempt(seq, hash=h, settled=h)]))
    kv = build_store(tmp_path / "kv", pays)
    with Engine(kv, f"sqlite:///{tmp_path / 'target.sqlite'}", chunk_size=2) as e:
        assert e.migrate().outcome == "complete"
    assert calls["load_commit_s"] == calls["load_commit_cpu_s"] == len(seen_wal) >= 6
    assert got["load_commit_s"] > 0 and got["load_commit_cpu_s"] > 0
    assert max(seen_wal) > 0 and abs(got["wal_peak_mb"] - max(seen_wal) / 1e6) < 1e-9
