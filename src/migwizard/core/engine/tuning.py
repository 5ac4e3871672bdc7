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
    return _positive_int("MIGWIZ_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)


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
