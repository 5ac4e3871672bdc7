"""The flat batch check's read shape (``canon_flat.read_flat``: attempts and hops in their
stored order, the hops' MPP/AMP/blinded parts and custom records read by hop-id range)
against the shape it replaced (one query per table, attempts and hops sorted by their
indexes, the hop parts LEFT JOINed to every hop), kept here as the reference.

A batch the new check calls equal must be one the old check called equal (never a
corruption let through), and on clean stores both call every batch equal (no batch
sent to the slow comparison for nothing). The corruptions planted here aim at what
the new shape reads differently; each must fail its batch and give the full
validator's verdict."""

from __future__ import annotations

import pytest

from migwizard.core.engine.runs import latest_run
from migwizard.core.engine.sqlread import _query
from migwizard.core.fast.canon import SAMPLE_PERCENT, KvSide, iter_main_payments, replay_allocator
from migwizard.core.fast.canon_flat import read_flat, with_times
from migwizard.core.fast.timefmt import sqlite_time
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.connect import open_database

from .test_canon import CORRUPTIONS, SQLITE_ONLY, _exec, _migrated, _same_verdicts

# The read before this shape (canon_flat.QUERIES until 2026-12-01), verbatim.
_OLD_QUERIES = (
    ("SELECT id - ?, amount_msat, created_at, payment_identifier, fail_reason FROM payments "
     "WHERE id BETWEEN ? AND ? ORDER BY id", True),
    ("SELECT payment_id - ?, intent_type, intent_payload FROM payment_intents "
     "WHERE payment_id BETWEEN ? AND ? ORDER BY payment_id, id", True),
    ("SELECT payment_id - ?, key, value FROM payment_first_hop_custom_records "
     "WHERE payment_id BETWEEN ? AND ? ORDER BY payment_id, id", True),
    ("SELECT a.payment_id - ?, a.attempt_index, a.session_key, a.attempt_time, a.payment_hash, "
     "a.first_hop_amount_msat, a.route_total_time_lock, a.route_total_amount, a.route_source_key, "
     "r.attempt_index IS NOT NULL, r.resolution_time, r.resolution_type, r.settle_preimage, "
     "r.failure_source_index, r.htlc_fail_reason, r.failure_msg "
     "FROM payment_htlc_attempts a LEFT JOIN payment_htlc_attempt_resolutions r ON r.attempt_index = a.attempt_index "
     "WHERE a.payment_id BETWEEN ? AND ? ORDER BY a.payment_id, a.attempt_index", True),
    ("SELECT c.htlc_attempt_index, c.key, c.value FROM payment_htlc_attempts a "
     "CROSS JOIN payment_attempt_first_hop_custom_records c ON c.htlc_attempt_index = a.attempt_index "
     "WHERE a.payment_id BETWEEN ? AND ? ORDER BY a.payment_id, c.htlc_attempt_index, c.id", False),
    ("SELECT h.htlc_attempt_index, h.hop_index, h.pub_key, h.scid, h.outgoing_time_lock, h.amt_to_forward, "
     "h.meta_data, m.hop_id IS NOT NULL, m.payment_addr, m.total_msat, p.hop_id IS NOT NULL, p.root_share, "
     "p.set_id, p.child_index, b.hop_id IS NOT NULL, b.encrypted_data, b.blinding_point, "
     "b.blinded_path_total_amt FROM payment_htlc_attempts a "
     "CROSS JOIN payment_route_hops h ON h.htlc_attempt_index = a.attempt_index "
     "LEFT JOIN payment_route_hop_mpp m ON m.hop_id = h.id "
     "LEFT JOIN payment_route_hop_amp p ON p.hop_id = h.id "
     "LEFT JOIN payment_route_hop_blinded b ON b.hop_id = h.id "
     "WHERE a.payment_id BETWEEN ? AND ? ORDER BY a.payment_id, h.htlc_attempt_index, h.hop_index", False),
    ("SELECT h.htlc_attempt_index, h.hop_index, c.key, c.value FROM payment_htlc_attempts a "
     "CROSS JOIN payment_route_hops h ON h.htlc_attempt_index = a.attempt_index "
     "CROSS JOIN payment_hop_custom_records c ON c.hop_id = h.id "
     "WHERE a.payment_id BETWEEN ? AND ? ORDER BY a.payment_id, h.htlc_attempt_index, h.hop_index, c.id", False),
    ("SELECT payment_id - ?, amount_msat, created_at, fail_reason, settle_preimage, settle_time "
     "FROM payment_duplicates WHERE payment_id BETWEEN ? AND ? ORDER BY payment_id, id", True),
)


def _old_read(db, lo, hi):
    return tuple(_query(db, sql, (lo, lo, hi) if offset else (lo, hi)) for sql, offset in _OLD_QUERIES)


def _old_times(tables):
    pay, intents, first, att, *rest = tables
    ts = sqlite_time
    pay = [(k, a, ts(c), i, f) if c.__class__ is int else (k, a, c, i, f) for k, a, c, i, f in pay]
    att = [(*t[:3], ts(t[3]), *t[4:10], ts(t[10]) if t[10].__class__ is int else t[10], *t[11:])
           if t[3].__class__ is int else t for t in att]
    return (pay, intents, first, att, *rest)


def _both(kv, url, batch_size=40):
    """Per batch: (old check equal, new check equal)."""
    db = open_database(url)
    try:
        run = latest_run(db)
        out = []
        with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
            side = KvSide(sqlite_time, SAMPLE_PERCENT, False, replay_allocator(run.switch_seq_before or 0))
            items = []

            def check():
                b = side.batch(items)
                lo = run.first_payment_id + sum(len(x) for x in done)
                hi = lo + len(b) - 1
                if b.flat is None:
                    out.append((False, False))
                else:
                    out.append((_old_read(db, lo, hi) == _old_times(b.flat),
                                read_flat(db, lo, hi) == with_times(b.flat, sqlite_time)))
                done.append(list(b))

            done: list = []
            for it in iter_main_payments(root):
                items.append(side.item(*it))
                if len(items) == batch_size:
                    check()
                    items = []
            if items:
                check()
        return out
    finally:
        db.close()


@pytest.mark.parametrize("profile,count", [("edge", 260), ("mixed", 400), ("legacy-zero-ids", 60)])
def test_clean_stores_both_shapes_equal_everywhere(generated_ro, sqlite_url, profile, count):
    kv = generated_ro(profile, count)
    _migrated(kv, sqlite_url)
    both = _both(kv, sqlite_url)
    assert both and all(old and new for old, new in both)


@pytest.mark.parametrize("name", ["alice", "carol", "dave"])
def test_real_fixtures_both_shapes_equal_everywhere(import_fixture, sqlite_url, name):
    kv = import_fixture(name)
    _migrated(kv, sqlite_url)
    both = _both(kv, sqlite_url)
    assert both and all(old and new for old, new in both)


# Aimed at the new shape: rows keyed by hop id that no LEFT JOIN from a hop reads any
# more, and the stored order the attempts and hops are now read in.
HOP_KEYED = {
    "extra_mpp_row": (
        "INSERT INTO payment_route_hop_mpp (hop_id, payment_addr, total_msat) SELECT MIN(id), x'0102', 7 "
        "FROM payment_route_hops WHERE id NOT IN (SELECT hop_id FROM payment_route_hop_mpp)"),
    "extra_amp_row": (
        "INSERT INTO payment_route_hop_amp (hop_id, root_share, set_id, child_index) SELECT MIN(id), x'01', x'02', 3 "
        "FROM payment_route_hops WHERE id NOT IN (SELECT hop_id FROM payment_route_hop_amp)"),
    "extra_blinded_row": (
        "INSERT INTO payment_route_hop_blinded (hop_id, encrypted_data, blinding_point, blinded_path_total_amt) "
        "SELECT MAX(id), x'01', NULL, NULL FROM payment_route_hops "
        "WHERE id NOT IN (SELECT hop_id FROM payment_route_hop_blinded)"),
    "mpp_row_moved_to_first_hop": (
        "UPDATE payment_route_hop_mpp SET hop_id = (SELECT MIN(h.id) FROM payment_route_hops h WHERE "
        "h.htlc_attempt_index = (SELECT htlc_attempt_index FROM payment_route_hops WHERE id = hop_id)) "
        "WHERE hop_id = (SELECT MIN(m.hop_id) FROM payment_route_hop_mpp m JOIN payment_route_hops h "
        "ON h.id = m.hop_id WHERE h.hop_index > 0)"),
    "extra_hop_record": (
        "INSERT INTO payment_hop_custom_records (hop_id, key, value) SELECT MAX(id), 65599, x'05' "
        "FROM payment_route_hops"),
    "hop_record_value": (
        "UPDATE payment_hop_custom_records SET value = x'ee' WHERE id = (SELECT MIN(id) FROM payment_hop_custom_records)"),
    "deleted_last_hop": (
        "DELETE FROM payment_route_hops WHERE id = (SELECT MAX(id) FROM payment_route_hops)"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS) + sorted(SQLITE_ONLY) + sorted(HOP_KEYED))
def test_planted_corruption_never_equal_in_the_new_shape(generated_ro, sqlite_url, corruption):
    kv = generated_ro("edge" if corruption in ("extra_hop_record", "hop_record_value") else "mixed", 150)
    _migrated(kv, sqlite_url)
    _exec(sqlite_url, "PRAGMA foreign_keys = OFF")
    _exec(sqlite_url, {**CORRUPTIONS, **SQLITE_ONLY, **HOP_KEYED}[corruption])
    both = _both(kv, sqlite_url)
    assert not all(new for _old, new in both)
    assert all(old for old, new in both if new)  # new equal => old equal, batch by batch
    if corruption in HOP_KEYED:
        rep, _ = _same_verdicts(kv, sqlite_url)
        assert not rep.ok


def test_attempts_stored_out_of_index_order_take_the_slow_comparison(generated_ro, sqlite_url):
    """Two attempts of one payment whose rowids are swapped: LND reads the same payment
    (by attempt index), the old check saw the same rows; the new one reads them in stored
    order, so its batch differs and the per-payment comparison clears it (it reads by
    attempt index, as LND does)."""
    kv = generated_ro("mixed", 150)
    _migrated(kv, sqlite_url)
    _exec(sqlite_url, (
        "UPDATE payment_htlc_attempts SET id = -id WHERE payment_id = (SELECT payment_id FROM payment_htlc_attempts "
        "GROUP BY payment_id HAVING COUNT(*) > 1 ORDER BY payment_id LIMIT 1)"))
    both = _both(kv, sqlite_url)
    assert sum(not new for _old, new in both) == 1 and all(old for old, _new in both)
    rep, verdicts = _same_verdicts(kv, sqlite_url)
    assert rep.ok and not any(v.differences for v in verdicts)


def test_a_hop_stored_far_from_its_batch_takes_the_slow_comparison(generated_ro, sqlite_url):
    """One hop (and its MPP row) renumbered past every other: LND reads the same payments;
    its batch's hop-id range now spans the later batches' hops, so that batch differs
    and the per-payment comparison clears it; no other batch changes."""
    import sqlite3

    kv = generated_ro("mixed", 150)
    _migrated(kv, sqlite_url)
    con = sqlite3.connect(sqlite_url[len("sqlite:///"):])
    with con:
        (hid,) = con.execute("SELECT MIN(hop_id) FROM payment_route_hop_mpp").fetchone()
        con.execute("UPDATE payment_route_hops SET id = id + 100000 WHERE id = ?", (hid,))
        con.execute("UPDATE payment_route_hop_mpp SET hop_id = hop_id + 100000 WHERE hop_id = ?", (hid,))
    con.close()
    both = _both(kv, sqlite_url)
    assert [new for _old, new in both].count(False) == 1 and not both[0][1] and all(old for old, _new in both)
    rep, verdicts = _same_verdicts(kv, sqlite_url)
    assert rep.ok and not any(v.differences for v in verdicts)
