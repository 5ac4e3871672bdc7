"""Stores for rehearsal tests: generated profiles, hand-built failures, lnd's real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from migwizard.core.codec import decode_index_entry, fetch_payment
from migwizard.core.codec.keys import PAYMENT_SEQUENCE_KEY, PAYMENTS_INDEX_BUCKET, PAYMENTS_ROOT_BUCKET
from migwizard.core.kv.lmdb_store import LmdbStore

@pytest.fixture
def generated(generated_use):
    """generated("edge", payments=0, **kw) -> (store dir, GenerateResult): the session's shared
    store (a rehearsal writes nothing, not even a lock file; checked after the test)."""

    def make(profile: str, payments: int = 0, **kw):
        return generated_use.shared(profile, payments, 7, **kw)

    return make


@pytest.fixture
def generated_copy(generated_use, tmp_path):
    """Like ``generated``, but a private copy the test may edit (corrupt, drop keys)."""

    def make(profile: str, payments: int = 0, **kw):
        return generated_use.copy(tmp_path / f"kv-{profile}-{payments}", profile, payments, 7, **kw)

    return make


def payments_in_index_order(kv: Path):
    """[(sequence, identifier, Payment)] of the main payments, decoded by the codec
    (test-side view, independent of the rehearsal walk)."""
    out = []
    with LmdbStore.open(kv, readonly=True, lock=False) as store, store.read() as root:
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        for key, value in root.bucket(PAYMENTS_INDEX_BUCKET).items():
            h = decode_index_entry(value)
            pb = rb.bucket(h)
            if pb is None or pb.get(PAYMENT_SEQUENCE_KEY) != bytes(key):
                continue
            out.append((int.from_bytes(key, "big"), h, fetch_payment(pb, payment_id=h)))
    return out


def sequence_of(kv: Path, identifier: bytes) -> int:
    with LmdbStore.open(kv, readonly=True, lock=False) as store, store.read() as root:
        raw = root.bucket(PAYMENTS_ROOT_BUCKET).bucket(identifier).get(PAYMENT_SEQUENCE_KEY)
    return int.from_bytes(raw, "big")
