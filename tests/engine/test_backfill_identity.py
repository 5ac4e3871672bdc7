"""Backfill preflight checks the node identity as the tracker-13 path does (attack review,
finding 7; issue 13 item 3): another node's KV store is refused, --allow-foreign-source
overrides and the override is recorded in the run and the report."""

from __future__ import annotations

import io
import json

from migwizard.core.engine import Engine
from migwizard.core.engine.results import CheckStatus
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.lnd.identity import GRAPH_NODE_BUCKET, SOURCE_KEY
from migwizard.core.sql.connect import open_database
from migwizard.headless import run_pipeline
from tests.support.lnddb import SAMPLE_SOURCE_PUBKEY

from .backfill_support import build_live_store

OTHER_NODE = bytes.fromhex("02" + "99" * 32)


def _claim_node(kv, pubkey: bytes) -> None:
    with LmdbStore.open(kv, readonly=False) as store:
        store.update(lambda root: root.create_bucket_if_not_exists(GRAPH_NODE_BUCKET).put(SOURCE_KEY, pubkey))


def test_backfill_from_another_nodes_kv_is_refused_then_overridden(generated, target_url, tmp_path):
    kv = generated("mixed", 40)
    build_live_store(target_url, kv)
    _claim_node(kv, OTHER_NODE)
    with Engine(kv, target_url, backfill=True) as eng:
        pre = eng.preflight()
    ident = [c for c in pre.checks if c.id == "lnd.identity"]
    assert not pre.ok and ident and ident[0].status is CheckStatus.FAIL, ident
    assert OTHER_NODE.hex() in ident[0].reason and "--allow-foreign-source" in ident[0].hint
    out, err = io.StringIO(), io.StringIO()
    code = run_pipeline(kv, target_url, chunk_size=10, report_path=tmp_path / "r.json", as_json=False,
                        confirm=None, out=out, err=err, backfill=True)
    assert code == 2, err.getvalue()
    db = open_database(target_url)
    try:
        assert db.execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0] == 3  # lnd's rows only
        assert "migwizard_runs" not in db.get_tables()
    finally:
        db.close()

    out, err = io.StringIO(), io.StringIO()
    code = run_pipeline(kv, target_url, chunk_size=10, report_path=tmp_path / "r.json", as_json=False,
                        confirm=None, out=out, err=err, backfill=True, allow_foreign_source=True)
    assert code == 0, err.getvalue()
    override = json.loads((tmp_path / "r.json").read_text())["lnd"]["foreign_source_override"]
    assert any(OTHER_NODE.hex() in r for r in override["reasons"])


def test_backfill_from_this_nodes_kv_passes_the_identity_check(generated, target_url):
    kv = generated("mixed", 40)
    build_live_store(target_url, kv)
    _claim_node(kv, SAMPLE_SOURCE_PUBKEY)
    with Engine(kv, target_url, backfill=True) as eng:
        pre = eng.preflight()
    ident = [c for c in pre.checks if c.id == "lnd.identity"]
    assert pre.ok and ident and ident[0].status is not CheckStatus.FAIL, ident
