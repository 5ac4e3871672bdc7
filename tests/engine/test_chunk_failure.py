"""A chunk the database refuses leaves the run record counting only committed payments."""

from __future__ import annotations

from migwizard.core.engine.api import Engine

from tests.engine.kvbuild import (
    build_store,
    make_attempt,
    make_payment,
    seed_hash,
)
from tests.engine.sqlexec import exec_sql as _exec


# ---------------------------------------------------------------------------
# After a chunk the database refused, the run record's payments_done /
# attempts_done / hops_done ... are restored with the checkpoint, ids and stats:
# they count the committed chunks only.
# ---------------------------------------------------------------------------


def test_refused_chunk_does_not_count_as_done(tmp_path, target_url, monkeypatch):
    from migwizard.core.sql import bulk

    pays = []
    for seq in range(1, 5):
        h = seed_hash(20 + seq)
        pays.append(make_payment(seq, h, 1000, htlcs=[make_attempt(seq, hash=h, settled=h)]))
    kv = build_store(tmp_path / "kv", pays)
    real = bulk.BulkWriter.insert
    state = {"chunk_payments_inserts": 0}

    def refusing(self, table, columns, rows):
        if table == "payments":
            state["chunk_payments_inserts"] += 1
            if state["chunk_payments_inserts"] >= 2:  # chunk 2 and its culprit replay
                raise RuntimeError("simulated constraint violation")
        return real(self, table, columns, rows)

    monkeypatch.setattr(bulk.BulkWriter, "insert", refusing)
    with Engine(kv, target_url, chunk_size=2) as eng:
        res = eng.migrate()
        assert res.outcome == "failed"
    monkeypatch.setattr(bulk.BulkWriter, "insert", real)
    (row,) = _exec(target_url, "SELECT payments_done, attempts_done FROM migwizard_runs")
    (n,) = _exec(target_url, "SELECT COUNT(*) FROM payments")[0]
    assert n == 2
    assert tuple(row) == (2, 2), f"run record claims {tuple(row)} with only {n} payments committed"
