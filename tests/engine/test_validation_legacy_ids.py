"""Validation of payments holding legacy ID-0 attempts (§4.6): remapped order and remapped indexes."""

from __future__ import annotations

from migwizard.core.engine.api import Engine

from tests.engine.kvbuild import (
    build_store,
    make_attempt,
    make_payment,
    seed_hash,
)
from tests.engine.sqlexec import explain as _explain


# ---------------------------------------------------------------------------
# A payment holding a legacy ID-0 attempt next to ordinary attempts (§4.6
# "Remapped attempts can sort after non-remapped ones within a payment"): the KV
# list is in pre-remap order, SQL's sorted by attempt_index; comparing them in
# those orders would report a false mismatch and block every commit.
# ---------------------------------------------------------------------------


def test_zero_id_attempt_next_to_nonzero_attempts_validates(tmp_path, target_url):
    h = seed_hash(7)
    p = make_payment(
        1, h, 1_000_000,
        htlcs=[make_attempt(0, hash=h, failed=True), make_attempt(5, hash=h, settled=h)],
    )
    kv = build_store(tmp_path / "kv", [p], switch_sequence=100)
    with Engine(kv, target_url) as eng:
        res = eng.migrate()
        assert res.outcome == "complete", res.error
        rep = eng.validate()
        assert rep.ok, _explain(rep)


# ---------------------------------------------------------------------------
# The attempt_index LND's allocator gives a legacy ID-0 attempt is validated,
# not copied from SQL: an index moved to the new switch horizon (the very next id
# lnd's runtime sequencer issues) would collide on UNIQUE(attempt_index) with the
# first live payment.
# ---------------------------------------------------------------------------


def test_tampered_remapped_attempt_index_is_detected(tmp_path, sqlite_url):
    import sqlite3

    h = seed_hash(4)
    p = make_payment(1, h, 1_000_000, htlcs=[make_attempt(0, hash=h, settled=h)])
    kv = build_store(tmp_path / "kv", [p], switch_sequence=10)
    with Engine(kv, sqlite_url) as eng:
        assert eng.migrate().outcome == "complete"
    path = sqlite_url[len("sqlite:///"):]
    con = sqlite3.connect(path)  # foreign_keys off: move the attempt and its children together
    with con:
        (old,) = con.execute("SELECT attempt_index FROM payment_htlc_attempts").fetchone()
        assert old == 10
        for t, c in (("payment_htlc_attempts", "attempt_index"),
                     ("payment_htlc_attempt_resolutions", "attempt_index"),
                     ("payment_route_hops", "htlc_attempt_index"),
                     ("payment_attempt_first_hop_custom_records", "htlc_attempt_index")):
            con.execute(f"UPDATE {t} SET {c} = 11 WHERE {c} = 10")
    con.close()
    with Engine(kv, sqlite_url) as eng:
        rep = eng.validate()
        assert not rep.ok, "attempt_index 11 (= switch horizon after the run) passed validation"
