"""bbolt -> LMDB import: every fixture round-trips and is verified, order included."""

from __future__ import annotations

import json

import pytest

from migwizard.core.kv import (
    PAYMENT_BUCKETS,
    BboltReader,
    LmdbStore,
    TargetNotEmptyError,
    VerifyError,
    format_import_summary,
    import_bbolt,
    walk,
)
from migwizard.core.kv.importer import verify_copy

from .conftest import ALL_DBS, SYNTHETIC, fixture_file

pytestmark = pytest.mark.fixtures


@pytest.mark.parametrize("all_buckets", [False, True], ids=["payments", "all"])
@pytest.mark.parametrize("name", ALL_DBS)
def test_import_every_fixture(tmp_path, name, all_buckets):
    src = fixture_file(name)
    dst = tmp_path / "kv"
    seen = []
    result = import_bbolt(src, dst, all_buckets=all_buckets, progress=seen.append)
    assert result.verified
    assert seen and seen[-1] == result.entries and seen == sorted(seen)

    with BboltReader(src) as r, r.read() as sroot:
        top = None if all_buckets else set(PAYMENT_BUCKETS)
        expected = list(walk(sroot, top=top))
        with LmdbStore.open(dst, readonly=True) as store, store.read() as lroot:
            got = list(walk(lroot))
            assert got == expected  # same keys, values, flags, sequences, and the same order
            assert store.meta_get(b"import-state") == b"complete"
            info = json.loads(store.meta_get(b"import-source"))
            assert info["txid"] == r.meta.txid and info["page_size"] == r.page_size
    assert result.entries == len(expected)
    assert result.buckets == sum(e.is_bucket for e in expected)
    assert result.value_bytes == sum(len(e.value) for e in expected if not e.is_bucket)
    assert sum(c.buckets + c.values for c in result.per_bucket.values()) == result.entries
    if not all_buckets:
        assert set(result.per_bucket) | set(result.missing) == set(PAYMENT_BUCKETS)
        assert not set(result.per_bucket) & set(result.missing)
    summary = format_import_summary(result)
    assert "verified" in summary and str(result.target) in summary


def test_import_matches_go_manifest_counts(tmp_path):
    manifest = json.loads(fixture_file(SYNTHETIC + ".json").read_text())
    result = import_bbolt(fixture_file(SYNTHETIC), tmp_path / "kv", all_buckets=True, batch_size=97)
    assert result.entries == len(manifest)
    assert result.buckets == sum(row["bucket"] for row in manifest)
    assert result.value_bytes == sum(row["vlen"] for row in manifest if not row["bucket"])
    with LmdbStore.open(tmp_path / "kv", readonly=True) as s, s.read() as root:
        assert root.bucket(b"empty").sequence() == 7
        assert root.bucket(b"metadata").get(b"empty-value") == b""
        assert list(root.keys())[:2] == [b"a", b"ab"]


def test_import_payment_buckets_only(tmp_path):
    result = import_bbolt(fixture_file("lndinit-testdata-channel-v35.db"), tmp_path / "kv")
    # v35 file: empty index bucket, no root bucket
    assert result.missing == [b"payments-root-bucket"]
    assert result.channeldb_version == 35
    with LmdbStore.open(tmp_path / "kv", readonly=True) as s, s.read() as root:
        assert list(root.keys()) == [b"metadata", b"next-payment-id-key", b"payments-index-bucket"]


def test_non_empty_target_refused(tmp_path):
    src = fixture_file("lnd-regtest-dave-channel.db")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(TargetNotEmptyError, match="not empty"):
        import_bbolt(src, busy)
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]

    import_bbolt(src, tmp_path / "kv")
    with pytest.raises(TargetNotEmptyError, match="existing KV store"):
        import_bbolt(src, tmp_path / "kv")
    f = tmp_path / "a-file"
    f.write_text("x")
    with pytest.raises(TargetNotEmptyError, match="not a directory"):
        import_bbolt(src, f)


def test_verify_copy_names_first_mismatch(tmp_path):
    src = fixture_file("lnd-regtest-alice-channel.db")
    import_bbolt(src, tmp_path / "kv")
    with LmdbStore.open(tmp_path / "kv") as store:
        with store.write() as root:
            idx = root.bucket(b"payments-index-bucket")
            key = next(idx.keys())
            idx.put(key, b"tampered")
        with BboltReader(src) as r, r.read() as sroot:
            with pytest.raises(VerifyError, match=f"payments-index-bucket/{key.hex()}"):
                verify_copy(sroot, store, top=set(PAYMENT_BUCKETS))
        with store.write() as root:
            root.bucket(b"next-payment-id-key").set_sequence(1)
        with BboltReader(src) as r, r.read() as sroot:
            with pytest.raises(VerifyError, match="next-payment-id-key.*sequence 3000.*sequence 1"):
                verify_copy(sroot, store, top=set(PAYMENT_BUCKETS))
