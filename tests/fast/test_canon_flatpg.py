"""The flat batch check on PostgreSQL (``fast.canon_flatpg.read_flat_pg``) against the check
it replaced there: every payment's canonical tuple from the KV side (``kv_item``)
compared with the keyed reader's (``canon_pg.read_canonical_pg``) one by one.

On clean stores both call every batch equal (no batch sent to the slow comparison
for nothing); after every planted corruption a batch the new check calls equal is
one whose payments the old check all called equal (never a corruption let
through), some batch fails, and the engine gives the full validator's verdict."""

from __future__ import annotations

import re

import pytest

from migwizard.core.engine.runs import latest_run
from migwizard.core.fast.canon import (SAMPLE_PERCENT, Batch, CanonValidator, KvSide, iter_main_payments,
                                       replay_allocator)
from migwizard.core.fast.canon_flat import with_times
from migwizard.core.fast.canon_flatpg import read_flat_pg
from migwizard.core.fast.timefmt import ts_for
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.values import POSTGRES

from ..engine.test_fastpath_engine import _exec  # one SQL statement in its own transaction
from .test_canon import CORRUPTIONS, _migrated, _same_verdicts
from .test_canon_flat_shape import HOP_KEYED

pytestmark = pytest.mark.postgres


def _pg_sql(sql: str) -> str:
    """SQLite's blob literals as PostgreSQL's."""
    return re.sub(r"x'([0-9a-f]*)'", r"'\\x\1'::bytea", sql)


# The migration writes its own ids: an INSERT here takes the next one after them.
_SYNC_SEQUENCES = ("SELECT setval(pg_get_serial_sequence(t, 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM "
                   "payment_hop_custom_records), false) FROM (VALUES ('payment_hop_custom_records')) v(t)")


def _both(kv, url, batch_size=40):
    """Per batch: (old check: every payment's tuple equal, new check: the flat lists equal)."""
    db = open_database(url)
    try:
        run = latest_run(db)
        ts = ts_for(POSTGRES)
        out = []
        with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
            rb = root.bucket(b"payments-root-bucket")
            new = KvSide(ts, SAMPLE_PERCENT, True, replay_allocator(run.switch_seq_before or 0))
            old = KvSide(ts, SAMPLE_PERCENT, True, replay_allocator(run.switch_seq_before or 0))
            old.flat = None  # the tuples path: kv_item per payment
            v = CanonValidator(db, POSTGRES, rb, first_payment_id=run.first_payment_id,
                               alloc=replay_allocator(run.switch_seq_before or 0))
            done = 0
            payments = list(iter_main_payments(root))
            for i in range(0, len(payments), batch_size):
                chunk = payments[i:i + batch_size]
                b = new.batch([new.item(*it) for it in chunk])
                ob = old.batch([old.item(*it) for it in chunk])
                assert b.flat is not None and ob.flat is None
                lo = run.first_payment_id + done
                flat_equal = read_flat_pg(db, lo, lo + len(b) - 1) == with_times(b.flat, ts)
                verdicts = v.compare(Batch(ob), done)
                out.append((not any(x.route == "diff" for x in verdicts), flat_equal))
                done += sum(x.counted for x in verdicts)
        return out
    finally:
        db.close()


@pytest.mark.parametrize("profile,count", [("edge", 260), ("mixed", 400), ("legacy-zero-ids", 60)])
def test_clean_stores_both_checks_equal_everywhere(generated_ro, pg_url, profile, count):
    kv = generated_ro(profile, count)
    _migrated(kv, pg_url)
    both = _both(kv, pg_url)
    assert len(both) > 1 and all(old and new for old, new in both)


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS) + sorted(HOP_KEYED))
def test_planted_corruption_never_equal_in_the_flat_check(generated_ro, pg_url, corruption):
    kv = generated_ro("edge" if corruption in ("extra_hop_record", "hop_record_value") else "mixed", 150)
    _migrated(kv, pg_url)
    _exec(pg_url, _SYNC_SEQUENCES)
    _exec(pg_url, _pg_sql({**CORRUPTIONS, **HOP_KEYED}[corruption]).replace("?", "%s"))
    both = _both(kv, pg_url)
    assert not all(new for _old, new in both)
    assert all(old for old, new in both if new)  # new equal => old equal, batch by batch
    rep, verdicts = _same_verdicts(kv, pg_url)
    assert not rep.ok and any(v.route == "diff" for v in verdicts)


def test_a_hop_stored_far_from_its_batch_takes_the_slow_comparison(generated_ro, pg_url):
    """One hop (and its MPP row) renumbered past every other: its batch's hop-id range now
    spans the later batches' hops, so that batch alone differs, and the per-payment
    comparison clears it (LND reads the same payments)."""
    kv = generated_ro("mixed", 150)
    _migrated(kv, pg_url)
    _exec(pg_url, "ALTER TABLE payment_route_hop_mpp DROP CONSTRAINT payment_route_hop_mpp_hop_id_fkey")
    _exec(pg_url, "UPDATE payment_route_hops SET id = id + 100000 "
                  "WHERE id = (SELECT MIN(hop_id) FROM payment_route_hop_mpp)")
    _exec(pg_url, "UPDATE payment_route_hop_mpp SET hop_id = hop_id + 100000 "
                  "WHERE hop_id = (SELECT MIN(hop_id) FROM payment_route_hop_mpp)")
    both = _both(kv, pg_url)
    assert [new for _old, new in both].count(False) == 1 and not both[0][1] and all(old for old, _new in both)
    rep, verdicts = _same_verdicts(kv, pg_url)
    assert rep.ok and not any(v.differences for v in verdicts)


def _plans(db, lo, hi):
    """The flat reads' plans for ``lo..hi`` (one text per query)."""
    from migwizard.core.fast.canon_flatpg import BY_HOP, LEVEL1, SPAN

    out = [" ".join(r[0] for r in db.execute_sql("EXPLAIN " + sql, (lo, lo, hi) if offset else (lo, hi)))
           for _slot, sql, offset in LEVEL1]
    out.append(" ".join(r[0] for r in db.execute_sql("EXPLAIN " + SPAN, (lo, hi))))
    return out + [" ".join(r[0] for r in db.execute_sql("EXPLAIN " + sql, (1, 10 ** 6))) for _slot, sql in BY_HOP]


def test_keyed_plans_read_by_index_and_restore_the_session(generated_ro, pg_url):
    """Small tables invite the planner to scan them whole; inside ``keyed_plans`` every
    flat read is index lookups (no sequential scan, no hash join), and the session's
    settings are back afterwards, also when the reads raise."""
    from migwizard.core.fast.canon_flatpg import keyed_plans

    kv = generated_ro("mixed", 400)
    _migrated(kv, pg_url)
    db = open_database(pg_url)
    try:
        assert any("Seq Scan" in p or "Hash" in p for p in _plans(db, 1, 400))  # what it guards against
        with keyed_plans(db):
            plans = _plans(db, 1, 400)
        assert not [p for p in plans if "Seq Scan" in p or "Hash Join" in p or "Hash Right Join" in p]
        show = [db.execute_sql(f"SHOW {n}").fetchone()[0] for n in ("enable_hashjoin", "enable_seqscan")]
        assert show == ["on", "on"]
        with pytest.raises(ZeroDivisionError):
            with keyed_plans(db):
                1 / 0
        assert db.execute_sql("SHOW enable_mergejoin").fetchone()[0] == "on"
    finally:
        db.close()
