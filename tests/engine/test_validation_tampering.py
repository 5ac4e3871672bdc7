"""Validation reports rows LND could not load or would read differently: times, id order, int32, scid."""

from __future__ import annotations

import pytest

from migwizard.core.engine.api import Engine

from tests.engine.kvbuild import (
    build_store,
    make_attempt,
    make_payment,
    seed_hash,
)
from tests.engine.sqlexec import exec_sql as _exec


# ---------------------------------------------------------------------------
# A SQLite time value validate()/verify() cannot parse is a difference, not a
# ValueError (sqlread's contract: "a tampered row must surface as a difference
# in validation, not as an exception").
# ---------------------------------------------------------------------------


def test_unparseable_sqlite_time_is_a_difference_not_a_crash(tmp_path, sqlite_url):
    h = seed_hash(2)
    kv = build_store(tmp_path / "kv", [make_payment(1, h, 1000, htlcs=[make_attempt(1, hash=h, settled=h)])])
    with Engine(kv, sqlite_url) as eng:
        assert eng.migrate().outcome == "complete"
    _exec(sqlite_url, "UPDATE payment_htlc_attempts SET attempt_time = 'yesterday'")
    with Engine(kv, sqlite_url) as eng:
        try:
            rep = eng.validate()
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"validate() raised {type(e).__name__}: {e}")
        assert not rep.ok


# ---------------------------------------------------------------------------
# payments.id order is validated: LND reads SequenceNum = payments.id (§3.5) and
# requires ids in KV-sequence order (§4.13), so two payments whose ids (and
# children) are swapped are a difference.
# ---------------------------------------------------------------------------


def test_swapped_payment_ids_are_detected(tmp_path, sqlite_url):
    import sqlite3

    pays = []
    for seq, seed in ((1, 11), (2, 12)):
        h = seed_hash(seed)
        pays.append(make_payment(seq, h, 1000 + seq, htlcs=[make_attempt(seq, hash=h, settled=h)]))
    kv = build_store(tmp_path / "kv", pays)
    with Engine(kv, sqlite_url) as eng:
        assert eng.migrate().outcome == "complete"
    con = sqlite3.connect(sqlite_url[len("sqlite:///"):])
    with con:
        for t, c in (("payments", "id"), ("payment_intents", "payment_id"),
                     ("payment_htlc_attempts", "payment_id"), ("payment_first_hop_custom_records", "payment_id"),
                     ("payment_duplicates", "payment_id")):
            con.execute(f"UPDATE {t} SET {c} = CASE {c} WHEN 1 THEN 1002 WHEN 2 THEN 1001 ELSE {c} END")
            con.execute(f"UPDATE {t} SET {c} = {c} - 1000 WHERE {c} > 1000")
    con.close()
    with Engine(kv, sqlite_url) as eng:
        rep = eng.validate()
        assert not rep.ok, "payments in reverse KV-sequence order passed validation"


# ---------------------------------------------------------------------------
# Values LND cannot load are differences even when a lenient read would make
# them equal to the KV value: a SQLite int32 column outside int32 (LND's sqlc
# scan fails: "value out of range"; masking with & 0xFFFFFFFF would hide it) and
# a scid strconv.ParseUint rejects ("+100000", "100_000"; Python's int() accepts).
# ---------------------------------------------------------------------------


def _one_settled_payment(tmp_path, sqlite_url):
    h = seed_hash(30)
    kv = build_store(tmp_path / "kv", [make_payment(1, h, 1000, htlcs=[make_attempt(1, hash=h, settled=h)])])
    with Engine(kv, sqlite_url) as eng:
        assert eng.migrate().outcome == "complete"
    return kv


def test_int32_column_out_of_range_is_detected(tmp_path, sqlite_url):
    kv = _one_settled_payment(tmp_path, sqlite_url)
    _exec(sqlite_url, "UPDATE payment_route_hops SET outgoing_time_lock = outgoing_time_lock + 4294967296")
    with Engine(kv, sqlite_url) as eng:
        rep = eng.validate()
        assert not rep.ok, "outgoing_time_lock outside int32 passed validation"


def test_scid_not_parseable_by_lnd_is_detected(tmp_path, sqlite_url):
    kv = _one_settled_payment(tmp_path, sqlite_url)
    _exec(sqlite_url, "UPDATE payment_route_hops SET scid = '+' || scid")
    with Engine(kv, sqlite_url) as eng:
        rep = eng.validate()
        assert not rep.ok, "scid '+100000' (rejected by strconv.ParseUint) passed validation"
