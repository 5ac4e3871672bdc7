"""Property: any valid LND payment either migrates and validates field by field with zero
differences, or LND's migration would refuse it too (and we name the payment)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from migwizard.core.engine import Engine
from migwizard.core.engine.transform import MigrationReject, expected_sql_payment

from tests.codec.strategies import payments

from .kvbuild import build_store


def _lnd_rejects(p) -> bool:
    try:
        expected_sql_payment(p, p.info.payment_identifier, allocate_zero_id=lambda: 1)
    except MigrationReject:
        return True
    return False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(payments(max_htlcs=3), min_size=1, max_size=3))
def test_any_valid_payment_migrates_and_validates_or_is_refused_like_lnd(plist):
    seqs = [p.sequence_num for p in plist] + [d.sequence_num for p in plist for d in p.duplicates]
    assume(len(set(seqs)) == len(seqs))
    assume(len({p.info.payment_identifier for p in plist}) == len(plist))
    keys = [h.session_key for p in plist for h in p.htlcs]
    assume(len(set(keys)) == len(keys))  # UNIQUE(session_key): LND aborts on a repeat too
    ids = [h.attempt_id for p in plist for h in p.htlcs if h.attempt_id]
    assume(len(set(ids)) == len(ids))  # attempt IDs are globally unique in LND data
    with tempfile.TemporaryDirectory() as tmp:
        kv = build_store(Path(tmp) / "kv", plist, switch_sequence=10_000)
        with Engine(kv, f"sqlite:///{tmp}/t.sqlite", chunk_size=2) as e:
            res = e.migrate()
            if res.outcome == "failed":
                bad = next(p for p in plist if p.info.payment_identifier.hex() == res.failing_payment)
                assert _lnd_rejects(bad), res.error
                event("refused like LND")
                return
            assert res.outcome == "complete", res.error
            rep = e.validate()
            assert rep.ok, (rep.error, [(d.path, d.kv, d.sql) for d in rep.differences[:5]])
            assert rep.payments_checked == len(plist)
            event("migrated and validated")
