"""Fixtures for engine tests: real LND fixture stores, generated stores, digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from migwizard.core.kv.bucket import walk
from migwizard.core.kv.lmdb_store import LmdbStore

@pytest.fixture
def import_fixture(fixtures_dir, tmp_path):
    """import_fixture("carol") -> LMDB store dir holding that channel.db's payment buckets."""
    from migwizard.core.kv.importer import import_bbolt

    def make(name: str) -> Path:
        dst = tmp_path / f"kv-{name}"
        import_bbolt(fixtures_dir / f"lnd-regtest-{name}-channel.db", dst)
        return dst

    return make


@pytest.fixture
def generated(generated_use, tmp_path):
    """generated("mixed", 60) -> a private copy of a generated LMDB store dir (the test may write it)."""

    def make(profile: str, payments: int, seed: int = 1) -> Path:
        return generated_use.copy(tmp_path / f"kv-{profile}-{payments}-{seed}", profile, payments, seed)[0]

    return make


@pytest.fixture
def generated_ro(generated_use):
    """generated_ro("mixed", 60) -> the session's shared generated store dir, for tests that
    never commit or otherwise write the KV store (checked after the test)."""

    def make(profile: str, payments: int, seed: int = 1) -> Path:
        return generated_use.shared(profile, payments, seed)[0]

    return make


def kv_digest(path: Path) -> str:
    """sha256 over the whole bucket tree (keys, values, bucket flags, sequences) and meta."""
    h = hashlib.sha256()
    with LmdbStore.open(path, readonly=True) as store:
        with store.read() as root:
            for e in walk(root):
                h.update(repr((e.path, e.key, e.is_bucket, e.sequence, e.value)).encode())
        for k, v in sorted(store.meta_items().items()):
            h.update(k + b"=" + v)
    return h.hexdigest()


@pytest.fixture
def pg_or_sqlite_second(target_url, tmp_path):
    """A second empty target of the same dialect as ``target_url``."""
    if target_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    from tests.support import pg

    name = pg.create_database()
    try:
        yield pg.pg_url(name)
    finally:
        pg.drop_database(name)
