"""PostgreSQL's canonical-tuple reader (fast/canon_pg.py: keyed lookups, pipelined, binary)
returns exactly what the portable joined reader returns on the same tables: clean, after
every planted corruption, and on tables without LND's unique and foreign keys."""

from __future__ import annotations

import pytest

from migwizard.core.engine import Engine
from migwizard.core.fast.canon_sql import read_canonical, read_canonical_joined
from migwizard.core.fast.canon_pg import read_canonical_pg
from migwizard.core.sql import pgconstraints
from migwizard.core.sql.connect import open_database

from .test_canon import CORRUPTIONS, _same_verdicts

SPANS = [(1, 1), (1, 37), (5, 250), (38, 38), (240, 10_000), (-5, 0), (10_000, 20_000)]


def _migrated(kv, url):
    with Engine(kv, url, chunk_size=97) as e:
        assert e.migrate().outcome == "complete"


def _same_rows(url, spans=SPANS):
    db = open_database(url)
    try:
        total = 0
        for lo, hi in spans:
            fast, joined = read_canonical_pg(db, lo, hi), read_canonical_joined(db, lo, hi)
            assert fast == joined, (lo, hi, [k for k in joined if fast.get(k) != joined[k]][:5])
            assert read_canonical(db, lo, hi) == fast  # the dispatch takes it on PostgreSQL
            total += len(fast)
        return total
    finally:
        db.close()


def _exec(url, *sqls):
    db = open_database(url)
    try:
        with db.atomic():
            for sql in sqls:
                db.execute_sql(sql)
    finally:
        db.close()


@pytest.mark.parametrize("profile,count", [("edge", 260), ("mixed", 400)])
def test_same_rows_as_the_joined_reader_on_clean_tables(generated_ro, pg_url, profile, count):
    kv = generated_ro(profile, count)
    _migrated(kv, pg_url)
    assert _same_rows(pg_url) > 0


def test_same_rows_after_every_planted_corruption(generated_ro, pg_url):
    kv = generated_ro("mixed", 150)
    _migrated(kv, pg_url)
    for sql in CORRUPTIONS.values():
        _exec(pg_url, sql)
    _exec(pg_url,
          "UPDATE payment_htlc_attempts SET payment_id = payment_id + 1 WHERE id = 4",  # moved to a neighbour
          "INSERT INTO payment_hop_custom_records (id, hop_id, key, value) VALUES (100000, 2, 70000, '\\x01')",
          "DELETE FROM payment_route_hops WHERE id = (SELECT MAX(id) FROM payment_route_hops)")
    assert _same_rows(pg_url) > 0
    rep, _ = _same_verdicts(kv, pg_url)  # and the engine's verdict is still the tree diff's
    assert not rep.ok


def test_same_rows_without_lnds_unique_and_foreign_keys(generated_ro, pg_url):
    """Rows LND's keys would refuse (a repeated attempt index, orphans, repeated records):
    still the joined reader's answer, so validation judges them the same way."""
    kv = generated_ro("mixed", 150)
    _migrated(kv, pg_url)
    db = open_database(pg_url)
    try:
        with db.atomic():
            pgconstraints.drop(db, pgconstraints.deferrable(db))
    finally:
        db.close()
    _exec(pg_url,
          # attempt 3's index again on another payment's attempt (both in range)
          "UPDATE payment_htlc_attempts SET attempt_index = (SELECT attempt_index FROM payment_htlc_attempts "
          "WHERE id = 3) WHERE id = 9",
          "INSERT INTO payment_route_hops (id, htlc_attempt_index, hop_index, scid, outgoing_time_lock, "
          "amt_to_forward) VALUES (900000, 987654321, 0, '1', 1, 1)",  # an orphan hop
          "INSERT INTO payment_intents (id, payment_id, intent_type, intent_payload) "
          "SELECT 900000, payment_id, intent_type, intent_payload FROM payment_intents WHERE id = 2",
          "INSERT INTO payment_attempt_first_hop_custom_records (id, htlc_attempt_index, key, value) "
          "SELECT 900000 + id, htlc_attempt_index, key, value FROM payment_attempt_first_hop_custom_records")
    assert _same_rows(pg_url) > 0
