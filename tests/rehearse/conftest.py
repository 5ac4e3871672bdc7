"""Stores for rehearsal tests: generated profiles, hand-built failures, lnd's real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from migwizard.core.codec import decode_index_entry, fetch_payment
from migwizard.core.generate import generate_store
from migwizard.core.kv.lmdb_store import LmdbStore

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"LND fixtures not found at {FIXTURES} (the shared/ folder is absent)")
    return FIXTURES


@pytest.fixture
def generated(tmp_path):
    """generated("edge", payments=0, **kw) -> (store dir, GenerateResult)."""

    def make(profile: str, payments: int = 0, **kw):
        d = tmp_path / f"kv-{profile}-{payments}"
        return d, generate_store(d, payments=payments, profile=profile, seed=7, **kw)

    return make


def payments_in_index_order(kv: Path):
    """[(sequence, identifier, Payment)] of the main payments, decoded by the codec
    (test-side view, independent of the rehearsal walk)."""
    out = []
    with LmdbStore.open(kv, readonly=True, lock=False) as store, store.read() as root:
        rb = root.bucket(b"payments-root-bucket")
        for key, value in root.bucket(b"payments-index-bucket").items():
            h = decode_index_entry(value)
            pb = rb.bucket(h)
            if pb is None or pb.get(b"payment-sequence-key") != bytes(key):
                continue
            out.append((int.from_bytes(key, "big"), h, fetch_payment(pb, payment_id=h)))
    return out


def sequence_of(kv: Path, identifier: bytes) -> int:
    with LmdbStore.open(kv, readonly=True, lock=False) as store, store.read() as root:
        raw = root.bucket(b"payments-root-bucket").bucket(identifier).get(b"payment-sequence-key")
    return int.from_bytes(raw, "big")
