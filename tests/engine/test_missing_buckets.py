"""Index entries whose payment bucket is missing (attack review, finding 1): a few are
LND's own silent skip (a warning naming them); many of them, or no payments-root-bucket
at all, are damage - preflight refuses (exit 2, nothing written) instead of migrating
"0 payments" and tombstoning the store."""

from __future__ import annotations

import io
import json

from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
from migwizard.core.engine import Engine
from migwizard.core.engine.results import CheckStatus
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.headless import run_pipeline

from .backfill_support import kv_identifiers
from .conftest import kv_digest


def _drop_root(kv) -> None:
    with LmdbStore.open(kv, readonly=False) as store:
        store.update(lambda root: root.delete_bucket(PAYMENTS_ROOT_BUCKET))


def _drop_payments(kv, n: int) -> list[bytes]:
    idents, _ = kv_identifiers(kv)
    gone = idents[:n]

    def write(root):
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        for i in gone:
            rb.delete_bucket(i)

    with LmdbStore.open(kv, readonly=False) as store:
        store.update(write)
    return gone


def _refused(kv, target_url, tmp_path, needle: str) -> None:
    before = kv_digest(kv)
    with Engine(kv, target_url) as eng:
        pre = eng.preflight()
    miss = [c for c in pre.checks if c.id == "kv.missing"]
    assert not pre.ok and miss and miss[0].status is CheckStatus.FAIL, miss
    assert needle in miss[0].reason
    out, err = io.StringIO(), io.StringIO()
    code = run_pipeline(kv, target_url, chunk_size=50, report_path=tmp_path / "r.json", as_json=True,
                        confirm=lambda rep: True, out=out, err=err)
    assert code == 2, (out.getvalue(), err.getvalue())
    assert json.loads(out.getvalue())["outcome"] != "committed"
    assert kv_digest(kv) == before  # no tombstone, nothing written
    with Engine(kv, target_url) as eng:
        assert eng._ctx.target_absent() or eng._ctx.run() is None


def test_root_bucket_gone_is_refused(generated, target_url, tmp_path):
    kv = generated("edge", 150)
    _drop_root(kv)
    _refused(kv, target_url, tmp_path, "payments-root-bucket is absent")


def test_many_missing_buckets_are_refused_naming_count_and_first(generated, target_url, tmp_path):
    kv = generated("mixed", 150)
    gone = _drop_payments(kv, 11)  # above max(10, 1% of 150)
    _refused(kv, target_url, tmp_path, "11 of ")
    with Engine(kv, target_url) as eng:
        miss = [c for c in eng.preflight().checks if c.id == "kv.missing"][0]
    assert miss.details["total"] == 11 and gone[0].hex()[:16] in miss.reason


def test_a_few_missing_buckets_warn_and_migrate(generated, target_url, tmp_path):
    kv = generated("mixed", 150)
    _drop_payments(kv, 3)
    with Engine(kv, target_url) as eng:
        pre = eng.preflight()
    miss = [c for c in pre.checks if c.id == "kv.missing"]
    assert pre.ok and miss and miss[0].status is CheckStatus.WARN and "3 index entries" in miss[0].reason
    out, err = io.StringIO(), io.StringIO()
    code = run_pipeline(kv, target_url, chunk_size=50, report_path=tmp_path / "r.json", as_json=False,
                        confirm=lambda rep: True, out=out, err=err)
    assert code == 0, err.getvalue()
    assert "3 index entries without a payment bucket skipped" in out.getvalue()
    assert "without a payment bucket skipped" in json.loads((tmp_path / "r.json").read_text())["validation"]


def test_the_edge_profile_still_migrates(generated, target_url, tmp_path):
    kv = generated("edge", 150)
    out, err = io.StringIO(), io.StringIO()
    code = run_pipeline(kv, target_url, chunk_size=50, report_path=tmp_path / "r.json", as_json=False,
                        confirm=lambda rep: True, out=out, err=err)
    assert code == 0, err.getvalue()
