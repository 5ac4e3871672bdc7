"""Issue 9 item 1: the commit sets only the payment tables' sequences, and no
table name from the catalog ever becomes SQL text.

Real PostgreSQL: lnd's own database holds invoices, graph and more beside the
payment tables; their sequences are lnd's, not ours.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from migwizard.core.sql import bulk
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.schema import apply_migrations
from migwizard.core.sql.transactions import write_txn
from tests.support import pg

pytestmark = pytest.mark.postgres

INJECT = 't" WHERE false UNION SELECT pg_sleep(7) --'
SIDE_EFFECT = 'x" (id) ; CREATE TABLE pwned (i int); --'
LONE_QUOTE = 'a"b'
HOSTILE = (INJECT, SIDE_EFFECT, LONE_QUOTE)


def _raw(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def _plant_foreign_tables(url: str) -> None:
    """invoices_like: 100 rows, ids above 50 deleted (sequence at 100); hostile names with sequences."""
    with _raw(url) as c:
        c.execute("CREATE TABLE invoices_like (id BIGSERIAL PRIMARY KEY, v INT)")
        c.execute("INSERT INTO invoices_like (v) SELECT g FROM generate_series(1, 100) g")
        c.execute("DELETE FROM invoices_like WHERE id > 50")
        for name in HOSTILE:
            ident = psycopg.sql.Identifier(name)
            c.execute(psycopg.sql.SQL("CREATE TABLE {} (id BIGSERIAL PRIMARY KEY)").format(ident))
            c.execute(psycopg.sql.SQL("INSERT INTO {} DEFAULT VALUES").format(ident))
            c.execute(psycopg.sql.SQL("INSERT INTO {} DEFAULT VALUES").format(ident))
            c.execute(psycopg.sql.SQL("DELETE FROM {} WHERE id = 2").format(ident))


def _foreign_state(url: str) -> dict:
    with _raw(url) as c:
        state = {"invoices_like": c.execute("SELECT last_value, is_called FROM invoices_like_id_seq").fetchone()}
        for name in HOSTILE:
            (seq,) = c.execute(
                "SELECT pg_get_serial_sequence(quote_ident(%s), 'id')", (name,)
            ).fetchone()
            state[name] = c.execute(
                psycopg.sql.SQL("SELECT last_value, is_called FROM {}").format(psycopg.sql.SQL(seq))
            ).fetchone()
        state["pwned"] = c.execute("SELECT to_regclass('pwned')").fetchone()[0]
    return state


def test_fix_sequences_touches_only_payment_tables(pg_url):
    _plant_foreign_tables(pg_url)
    before = _foreign_state(pg_url)
    assert before["invoices_like"] == (100, True) and before["pwned"] is None
    db = open_database(pg_url)
    try:
        apply_migrations(db)
        with write_txn(db):
            db.execute_sql(
                "INSERT INTO payments (id, amount_msat, created_at, payment_identifier) "
                "VALUES (7, 1, now(), %s)",
                (b"\x01" * 32,),
            )
        with write_txn(db):
            seqs = bulk.fix_sequences(db)
    finally:
        db.close()
    assert seqs["public.payments_id_seq"] == 8
    assert all("invoices_like" not in s and '"' not in s for s in seqs)
    assert _foreign_state(pg_url) == before  # invoices_like still at 100, nothing injected ran


def test_yes_commit_keeps_foreign_sequences(pg_url, tmp_path):
    """The whole headless pipeline, committing into a database with hostile neighbours."""
    from migwizard.core.generate import generate_store

    kv = tmp_path / "kv"
    generate_store(kv, payments=30, seed=3, profile="mixed")
    _plant_foreign_tables(pg_url)
    before = _foreign_state(pg_url)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    p = subprocess.run(
        [sys.executable, "-m", "migwizard.cli", "--yes", "--kv", str(kv), "--sql", pg_url],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert p.returncode == 0, p.stderr
    assert _foreign_state(pg_url) == before
    with _raw(pg_url) as c:
        (n,) = c.execute("SELECT count(*) FROM payments").fetchone()
        (last,) = c.execute("SELECT last_value FROM payments_id_seq").fetchone()
        (mx,) = c.execute("SELECT max(id) FROM payments").fetchone()
    assert n > 0 and last == mx + 1  # setval(..., false): next id is max + 1


def test_next_id_quotes_names(pg_url):
    """next_id on a name with a lone quote is an identifier, not SQL."""
    _plant_foreign_tables(pg_url)
    db = open_database(pg_url)
    try:
        assert bulk.next_id(db, LONE_QUOTE) == 2
        assert bulk.next_id(db, INJECT) == 2
    finally:
        db.close()
    assert pg.pg_user() is not None
