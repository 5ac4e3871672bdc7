"""How much disk the payment rows take in SQL, from the KV bytes they come from.

One formula for everyone who has to warn about space: preflight (migwizard's
chunked run) and the rehearsal (lnd's single transaction). The factor was
measured on the ``mixed`` profile: rows + indexes run at about 2.5x the KV
value bytes.
"""

from __future__ import annotations

ROWS_PER_KV_BYTE = 2.5
BASE_BYTES = 1024 * 1024


def sql_rows_bytes(kv_value_bytes: int) -> int:
    """Rows + indexes the payments tables will hold for ``kv_value_bytes`` of KV data."""
    return int(kv_value_bytes * ROWS_PER_KV_BYTE) + BASE_BYTES


def single_transaction_wal_bytes(kv_value_bytes: int) -> int:
    """WAL that one all-or-nothing transaction needs (lnd's migration).

    Every page the transaction writes goes through the WAL before the database
    file (SQLite's WAL cannot be checkpointed past an open writer; PostgreSQL
    logs each new heap and index page, plus full-page images), so it holds at
    least the size of all rows and indexes until the commit.
    """
    return sql_rows_bytes(kv_value_bytes)
