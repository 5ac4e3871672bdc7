"""The generator's bytes are pinned: splitting or tidying ``core/generate`` must not change a store.

Digests were taken before ``profiles.py`` was split by family (mixed, edge cases,
failure edge cases, rejections) and match after it. A deliberate change to what a
profile writes updates them here, in the same commit, with the reason.
"""

from __future__ import annotations

import hashlib

import pytest

from migwizard.core.generate import generate_store
from migwizard.core.kv.bucket import walk
from migwizard.core.kv.lmdb_store import LmdbStore

GOLDEN = {
    ("edge", 0): "809e9ef425e101eb184249e8397c9896283ca93056ecf53d5ec8675f43287ec2",
    ("legacy-zero-ids", 0): "2112b0ce4b6c2402c9e5760eabf33beaaa5a75cc5e727fb3750e3d3084251aab",
    ("mixed", 150): "d8c9d88043d616946c98adc6f0581f5e3fe61d3805fb4a90e97b26842eaa7680",
    ("reject-blinding", 3): "c96440fa40bcbd6948eeec327ef06cc10929d33b7252c2c99d5c5204f5006d51",
    ("reject-unindexed-payment", 3): "7a97239feaf5b5a54da979e3f8a9c3d13c9b508709a67c8da2a589e0c99da41a",
}


def store_digest(path) -> str:
    """sha256 over every bucket entry and the store metadata except its creation time."""
    h = hashlib.sha256()
    with LmdbStore.open(path, readonly=True) as s, s.read() as root:
        for e in walk(root):
            h.update(repr((e.path, e.key, e.is_bucket, e.sequence, e.value)).encode())
        for k, v in sorted(s.meta_items().items()):
            if k != b"created-at":
                h.update(k + b"=" + v)
    return h.hexdigest()


@pytest.mark.parametrize("profile,payments", sorted(GOLDEN))
def test_store_bytes_unchanged(profile, payments, tmp_path):
    generate_store(tmp_path / "kv", payments=payments, seed=7, profile=profile)
    assert store_digest(tmp_path / "kv") == GOLDEN[(profile, payments)]
