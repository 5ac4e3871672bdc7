"""Speed knobs of the migration and validation hot loops (issue 11), read per call
so a test or a bench can switch them through the environment.

``MIGWIZ_FASTPATH=0`` keeps every payment on the full decoder (codec objects,
transform, tree diff): the reference the fast paths are differentially tested
against, and a way out should a fast path ever be suspected in the field.
``MIGWIZ_CHUNK_ROWS`` bounds a chunk by rows (all tables together): the SQL cost of
a chunk follows its rows, not its payments, and a payment may carry one row or
hundreds. ``--chunk-size`` stays an upper bound in payments.
"""

from __future__ import annotations

import os

DEFAULT_CHUNK_ROWS = 50_000
VALIDATION_BATCH = 250  # payments per validation batch: one payments.id range read back per batch


def fastpath_enabled() -> bool:
    return os.environ.get("MIGWIZ_FASTPATH", "1").strip() != "0"


def chunk_rows() -> int:
    raw = os.environ.get("MIGWIZ_CHUNK_ROWS", "").strip()
    try:
        n = int(raw) if raw else DEFAULT_CHUNK_ROWS
    except ValueError:
        n = DEFAULT_CHUNK_ROWS
    return max(1, n)


def validation_batch() -> int:
    """``MIGWIZ_VALIDATION_BATCH``: payments compared per batch (the bench tries sizes)."""
    raw = os.environ.get("MIGWIZ_VALIDATION_BATCH", "").strip()
    try:
        n = int(raw) if raw else VALIDATION_BATCH
    except ValueError:
        n = VALIDATION_BATCH
    return max(1, n)
