"""Canonical-tuple validation gives the current validator's verdicts: equal on clean
migrations, and the same differences (payment, path, values) on every planted corruption."""

from __future__ import annotations

import os

import pytest

from migwizard.core.codec import fetch_payment, render_key
from migwizard.core.engine import Engine
from migwizard.core.engine.runs import latest_run
from migwizard.core.engine.transform import MigrationReject, expected_sql_payment, truncate_ns_to_us
from migwizard.core.engine.rows import expected_duplicates
from migwizard.core.fast import FALLBACK, decode_payment
from migwizard.core.fast.canon import canon_fast, canon_model, in_sample, validate_all
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.values import POSTGRES, SQLITE, dialect_for

from .reference import main_payments


def _fast_verdicts(kv, url, **kw):
    db = open_database(url)
    try:
        run = latest_run(db)
        with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
            return list(validate_all(db, dialect_for(db), root, first_payment_id=run.first_payment_id,
                                     switch_seq_before=run.switch_seq_before or 0, **kw))
    finally:
        db.close()


def _current(kv, url):
    """The engine's validation on the full decoder and tree diff (the reference)."""
    old = os.environ.get("MIGWIZ_FASTPATH")
    os.environ["MIGWIZ_FASTPATH"] = "0"
    try:
        with Engine(kv, url) as e:
            return e.validate()
    finally:
        if old is None:
            os.environ.pop("MIGWIZ_FASTPATH", None)
        else:
            os.environ["MIGWIZ_FASTPATH"] = old


def _same_verdicts(kv, url, batch_size=40):
    rep = _current(kv, url)
    verdicts = _fast_verdicts(kv, url, batch_size=batch_size)
    mine = [(d.payment, d.path, d.kv, d.sql) for v in verdicts for d in v.differences]
    theirs = [(d.payment, d.path, d.kv, d.sql) for d in rep.differences]
    assert mine == theirs
    assert sum(v.counted for v in verdicts) == rep.payments_checked
    assert sum(v.duplicates for v in verdicts if v.counted) == rep.duplicates_checked
    rows = [(v.identifier.hex(), v.sequence, v.sql_id, v.status, v.amount_msat, v.attempts, v.created_ns,
             v.normalisations, len(v.differences)) for v in verdicts if v.counted]
    assert rows == [(r.identifier, r.sequence, r.sql_id, r.status, r.amount_msat, r.attempts, r.created_ns,
                     r.normalisations, r.differences) for r in rep.payments]
    return rep, verdicts


def _migrated(kv, url):
    with Engine(kv, url, chunk_size=97) as e:
        assert e.migrate().outcome == "complete"


def _exec(url, sql):
    db = open_database(url)
    try:
        if db.param != "?":
            sql = sql.replace("?", "%s")
        with db.atomic():
            db.execute_sql(sql)
    finally:
        db.close()


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgres"])
def test_kv_tuple_from_fast_decode_equals_full_decoder(generated_ro, dialect):
    """The fast KV-side tuple is the full decoder's, for every payment the fast path takes."""
    kv = generated_ro("edge", 300)
    pg = dialect.is_postgres
    n = 0
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        for phash, pb in main_payments(root):
            fp = decode_payment(pb)
            if fp is FALLBACK:
                continue
            p = fetch_payment(pb, payment_id=phash, key_prefix=render_key(b"payments-root-bucket"))
            t = expected_sql_payment(p, phash, allocate_zero_id=None, truncate_us=pg, in_place=True,
                                     sort_remapped=True)
            assert canon_fast(fp, dialect.ts) == canon_model(t.payment, expected_duplicates(p), dialect.ts)
            n += 1
    assert n > 200


def test_sample_is_deterministic_and_about_one_percent():
    import hashlib

    ids = [hashlib.sha256(b"%d" % i).digest() for i in range(20000)]
    picked = [i for i in ids if in_sample(i)]
    assert 120 < len(picked) < 300
    assert picked == [i for i in ids if in_sample(i)]


@pytest.mark.parametrize("profile,count", [("edge", 260), ("mixed", 400)])
def test_clean_migration_is_equal_without_tree_diffs(generated_ro, target_url, profile, count):
    kv = generated_ro(profile, count)
    _migrated(kv, target_url)
    rep, verdicts = _same_verdicts(kv, target_url)
    assert rep.ok and not any(v.differences for v in verdicts)
    routes = {v.route for v in verdicts}
    assert "diff" not in routes  # no payment needed the tree diff
    assert sum(v.route == "fast" for v in verdicts) > 0.85 * len(verdicts)
    assert any(v.route == "sample" for v in verdicts)


@pytest.mark.parametrize("name", ["alice", "carol", "dave"])
def test_real_fixtures_validate_equal(import_fixture, sqlite_url, name):
    kv = import_fixture(name)
    _migrated(kv, sqlite_url)
    rep, verdicts = _same_verdicts(kv, sqlite_url)
    assert rep.ok and verdicts and not any(v.route == "diff" for v in verdicts)


CORRUPTIONS = {
    "hop_amount": "UPDATE payment_route_hops SET amt_to_forward = amt_to_forward + 1 WHERE id = 3",
    "resolution_time": (
        "UPDATE payment_htlc_attempt_resolutions SET resolution_time = (SELECT a.attempt_time FROM "
        "payment_htlc_attempts a WHERE a.attempt_index = payment_htlc_attempt_resolutions.attempt_index) "
        "WHERE attempt_index = (SELECT MIN(attempt_index) FROM payment_htlc_attempt_resolutions)"),
    "deleted_mpp_row": "DELETE FROM payment_route_hop_mpp WHERE hop_id = (SELECT MIN(hop_id) FROM payment_route_hop_mpp)",
    "payment_fail_reason": (
        "UPDATE payments SET fail_reason = CASE WHEN fail_reason = 1 THEN 2 ELSE 1 END WHERE id = "
        "(SELECT MIN(id) FROM payments WHERE fail_reason IS NOT NULL)"),
    "htlc_fail_reason": (
        "UPDATE payment_htlc_attempt_resolutions SET htlc_fail_reason = htlc_fail_reason + 1 WHERE attempt_index = "
        "(SELECT MAX(attempt_index) FROM payment_htlc_attempt_resolutions WHERE resolution_type = 2)"),
    "bad_scid": "UPDATE payment_route_hops SET scid = '+' || scid WHERE id = 5",
    "payment_amount": "UPDATE payments SET amount_msat = 42 WHERE id = 7",
    "deleted_payment_tail": "DELETE FROM payment_intents WHERE id = (SELECT MAX(id) FROM payment_intents)",
    "failure_msg": (
        "UPDATE payment_htlc_attempt_resolutions SET failure_msg = NULL WHERE attempt_index = "
        "(SELECT MIN(attempt_index) FROM payment_htlc_attempt_resolutions WHERE failure_msg IS NOT NULL)"),
}
SQLITE_ONLY = {
    "int32_overflow": "UPDATE payment_route_hops SET outgoing_time_lock = outgoing_time_lock + 4294967296 WHERE id = 2",
    "unreadable_time": "UPDATE payment_htlc_attempts SET attempt_time = 'yesterday' WHERE id = 4",
    "non_canonical_time": (
        "UPDATE payments SET created_at = replace(created_at, ' +0000 UTC', '+00:00') WHERE id = 6"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_planted_corruption_same_verdict(generated_ro, target_url, corruption):
    kv = generated_ro("mixed", 150)
    _migrated(kv, target_url)
    _exec(target_url, CORRUPTIONS[corruption])
    rep, verdicts = _same_verdicts(kv, target_url)
    assert not rep.ok and any(v.differences for v in verdicts)


@pytest.mark.parametrize("corruption", sorted(SQLITE_ONLY))
def test_planted_corruption_same_verdict_sqlite_forms(generated_ro, sqlite_url, corruption):
    kv = generated_ro("mixed", 150)
    _migrated(kv, sqlite_url)
    _exec(sqlite_url, SQLITE_ONLY[corruption])
    rep, verdicts = _same_verdicts(kv, sqlite_url)
    if corruption == "non_canonical_time":
        # Stored differently, read the same by LND: the tuple differs, the tree diff clears it.
        assert rep.ok and any(v.route == "diff" for v in verdicts)
    else:
        assert not rep.ok


def test_swapped_payment_ids_same_verdict(generated_ro, sqlite_url):
    import sqlite3

    kv = generated_ro("mixed", 120)
    _migrated(kv, sqlite_url)
    con = sqlite3.connect(sqlite_url[len("sqlite:///"):])
    with con:
        for t, c in (("payments", "id"), ("payment_intents", "payment_id"),
                     ("payment_htlc_attempts", "payment_id"), ("payment_first_hop_custom_records", "payment_id"),
                     ("payment_duplicates", "payment_id")):
            con.execute(f"UPDATE {t} SET {c} = CASE {c} WHEN 10 THEN 100002 WHEN 60 THEN 100001 ELSE {c} END")
            con.execute(f"UPDATE {t} SET {c} = {c} - 100000 + 9 WHERE {c} = 100001")
            con.execute(f"UPDATE {t} SET {c} = {c} - 100000 + 58 WHERE {c} = 100002")
    con.close()
    rep, _ = _same_verdicts(kv, sqlite_url)
    assert not rep.ok


def test_legacy_zero_remap_tampered_same_verdict(generated_ro, sqlite_url):
    """The edge store's legacy ID-0 attempts: a moved attempt_index is caught either way."""
    import sqlite3

    kv = generated_ro("edge", 120)
    _migrated(kv, sqlite_url)
    con = sqlite3.connect(sqlite_url[len("sqlite:///"):])
    with con:
        (top,) = con.execute("SELECT MAX(attempt_index) FROM payment_htlc_attempts").fetchone()
        (low,) = con.execute("SELECT MIN(attempt_index) FROM payment_htlc_attempts").fetchone()
        for t, c in (("payment_htlc_attempts", "attempt_index"),
                     ("payment_htlc_attempt_resolutions", "attempt_index"),
                     ("payment_route_hops", "htlc_attempt_index"),
                     ("payment_attempt_first_hop_custom_records", "htlc_attempt_index")):
            con.execute(f"UPDATE {t} SET {c} = ? WHERE {c} = ?", (top + 1000, low))
    con.close()
    rep, _ = _same_verdicts(kv, sqlite_url)
    assert not rep.ok


def test_pg_truncation_applies_to_fast_created(generated_ro, target_url):
    kv = generated_ro("mixed", 60)
    _migrated(kv, target_url)
    verdicts = _fast_verdicts(kv, target_url)
    fast = [v for v in verdicts if v.route == "fast" and v.created_ns is not None]
    assert fast
    if target_url.startswith("postgres"):
        assert all(v.created_ns == truncate_ns_to_us(v.created_ns) for v in fast)


def test_migration_reject_is_not_counted(tmp_path, sqlite_url):
    from tests.engine.kvbuild import build_store, make_attempt, make_payment, seed_hash

    assert MigrationReject  # the verdict mirrors the engine's `continue` on a refused payment
    h = seed_hash(9)
    kv = build_store(tmp_path / "kv", [make_payment(1, h, 1000, htlcs=[make_attempt(1, hash=h, settled=h)])])
    _migrated(kv, sqlite_url)
    rep, verdicts = _same_verdicts(kv, sqlite_url)
    assert rep.ok and [v.counted for v in verdicts] == [True]


from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.codec.strategies import payments as payment_strategy  # noqa: E402


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(payment_strategy(max_htlcs=3), min_size=1, max_size=3))
def test_property_payments_same_verdicts(tmp_path_factory, plist):
    """The engine property test's stores: same verdicts, with the tuple path on the fast-decodable ones."""
    import tempfile
    from pathlib import Path

    from tests.engine.kvbuild import build_store

    seqs = [p.sequence_num for p in plist] + [d.sequence_num for p in plist for d in p.duplicates]
    assume(len(set(seqs)) == len(seqs))
    assume(len({p.info.payment_identifier for p in plist}) == len(plist))
    keys = [h.session_key for p in plist for h in p.htlcs]
    assume(len(set(keys)) == len(keys))
    ids = [h.attempt_id for p in plist for h in p.htlcs if h.attempt_id]
    assume(len(set(ids)) == len(ids))
    with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as tmp:
        kv = build_store(Path(tmp) / "kv", plist, switch_sequence=10_000)
        url = f"sqlite:///{tmp}/t.sqlite"
        with Engine(kv, url, chunk_size=2) as e:
            if e.migrate().outcome != "complete":
                return
        rep, verdicts = _same_verdicts(kv, url, batch_size=2)
        assert rep.ok and not any(v.route == "diff" for v in verdicts)
