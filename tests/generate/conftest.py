"""Shared fixtures: small generated stores, built once per test session."""

from __future__ import annotations

import pytest

from migwizard.core.codec import fetch_payment
from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
from migwizard.core.generate import generate_store
from migwizard.core.kv import LmdbStore

MIXED_N = 1500


def read_payments(path):
    """Every payment bucket of a store, decoded with the codec (sorted by key)."""
    out = []
    with LmdbStore.open(path, readonly=True) as store, store.read() as root:
        pr = root.bucket(PAYMENTS_ROOT_BUCKET)
        for key, value in pr.items():
            assert value is None, "payments-root-bucket holds only sub-buckets"
            out.append(fetch_payment(pr.bucket(key), payment_id=key))
    return out


@pytest.fixture(scope="session")
def read_all():
    return read_payments


@pytest.fixture(scope="session")
def mixed_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "mixed"
    calls = []
    result = generate_store(path, payments=MIXED_N, seed=7, profile="mixed", progress=lambda d, t: calls.append((d, t)))
    return path, result, calls


@pytest.fixture(scope="session")
def edge_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "edge"
    result = generate_store(path, payments=80, seed=11, profile="edge")
    return path, result
