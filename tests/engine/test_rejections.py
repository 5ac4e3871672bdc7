"""Fail closed where LND's migration aborts: the failing payment named, the target left as it was."""

from __future__ import annotations

import pytest

from migwizard.core.engine import Engine
from migwizard.core.generate import generate_store
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.introspect import table_names

from .conftest import kv_digest

EXPECT = {
    "blinding": "blinding point requires encrypted recipient data",
    "sent-exceeds": "total sent exceeds total amount",
    "unknown-failure-code": "payment-htlcs-bucket/fi",
    "truncated-failure": "payment-htlcs-bucket/fi",
    "zero-hops": "hops",
    "hop-custom-below-min": "below 65536",
    "duplicate-settle-and-fail": "settle and fail",
    "missing-sequence": "sequence number not found",
    "settle-without-attempt": "attempt info",
    "duplicate-missing-creation": "creation info",
    "creation-custom-below-min": "65536",
}


@pytest.mark.parametrize("case", sorted(EXPECT))
def test_reject_case_fails_closed(case, tmp_path):
    kv = tmp_path / "kv"
    res = generate_store(kv, payments=12, seed=3, profile=f"reject-{case}")
    bad = res.cases.get(case) or res.cases.get(f"reject-{case}") or next(iter(res.cases.values()))
    url = f"sqlite:///{tmp_path / 't.sqlite'}"
    digest = kv_digest(kv)
    with Engine(kv, url, chunk_size=4) as e:
        r = e.migrate()
        assert r.outcome == "failed"
        assert EXPECT[case].lower() in r.error.lower(), r.error
        assert r.failing_payment is not None
        assert bytes.fromhex(r.failing_payment) in {bytes(b) for b in bad}, (r.failing_payment, bad)
        e.rollback()
    assert not (tmp_path / "t.sqlite").exists()
    assert kv_digest(kv) == digest


def test_unindexed_payment_is_silently_not_migrated_like_lnd(tmp_path, target_url):
    kv = tmp_path / "kv"
    res = generate_store(kv, payments=8, seed=3, profile="reject-unindexed-payment")
    with Engine(kv, target_url) as e:
        r = e.migrate()
        assert r.outcome == "complete"
        rep = e.validate()
        assert rep.ok
    db = open_database(target_url)
    try:
        assert "payments" in table_names(db)
        n = db.execute_sql("SELECT COUNT(*) FROM payments").fetchone()[0]
    finally:
        db.close()
    assert n == r.stats.payments == res.payments - 1 if hasattr(res, "payments") else True
