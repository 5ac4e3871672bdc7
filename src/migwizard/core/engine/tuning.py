"""Speed knobs of the migration and validation hot loops (issue 11), read per call
so a test or a bench can switch them through the environment.

``MIGWIZ_FASTPATH=0`` keeps every payment on the full decoder (codec objects,
transform, tree diff): the reference the fast paths are differentially tested
against, and a way out should a fast path ever be suspected in the field.
``MIGWIZ_CHUNK_ROWS`` bounds a chunk by rows (all tables together): the SQL cost of
a chunk follows its rows, not its payments, and a payment may carry one row or
hundreds. ``--chunk-size`` stays an upper bound in payments.
``MIGWIZ_TXN_ROWS`` (SQLite): a transaction carries whole chunks, each with its own
checkpoint, until it holds this many rows; only chunks of at least
``MIGWIZ_TXN_MIN_CHUNK_ROWS`` rows share one (see ``migrate._Migration._keep_open``).
``MIGWIZ_TXN_ROWS=1`` commits every chunk alone. Why several chunks per transaction: LND's
inline random-keyed UNIQUE indexes (``payments.payment_identifier``,
``payment_htlc_attempts.session_key``) outgrow the 64 MB page cache near 1M payments; then every
COMMIT wrote thousands of their leaf pages to the WAL again and each checkpoint copied them back
(1M mixed: 15.7 GB written for a 1.5 GB file). A page several chunks of one transaction dirty is
written once (8.7 GB). Each chunk keeps its own checkpoint in the transaction, so a kill loses
the open transaction's chunks with their checkpoints and a resume redoes exactly those. Small
chunks (``--chunk-size``, a store's tail) and throttled runs commit alone: their commits are
cheap, and a stop or a kill loses no more than one chunk.
"""

from __future__ import annotations

import os

DEFAULT_CHUNK_ROWS = 50_000
# Rows per SQLite transaction during the load (5 default chunks; docs/PERFORMANCE.md, "1M: chunks
# per transaction"), and the smallest chunk that may share one.
DEFAULT_TXN_ROWS = 250_000
DEFAULT_TXN_MIN_CHUNK_ROWS = 10_000
VALIDATION_BATCH = 250  # payments per validation batch: one payments.id range read back per batch


def fastpath_enabled() -> bool:
    return os.environ.get("MIGWIZ_FASTPATH", "1").strip() != "0"


def chunk_rows() -> int:
    return _positive_int("MIGWIZ_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)


def txn_rows() -> int:
    return _positive_int("MIGWIZ_TXN_ROWS", DEFAULT_TXN_ROWS)


def txn_min_chunk_rows() -> int:
    return _positive_int("MIGWIZ_TXN_MIN_CHUNK_ROWS", DEFAULT_TXN_MIN_CHUNK_ROWS)


def validation_batch() -> int:
    """``MIGWIZ_VALIDATION_BATCH``: payments compared per batch (the bench tries sizes)."""
    return _positive_int("MIGWIZ_VALIDATION_BATCH", VALIDATION_BATCH)


def _positive_int(name: str, default: int) -> int:
    """A tuning knob from the environment: a bad value falls back to the default, never below 1."""
    raw = os.environ.get(name, "").strip()
    try:
        n = int(raw) if raw else default
    except ValueError:
        n = default
    return max(1, n)
