"""generate_store: layout, allocation habits, determinism, read-back, refusal, corruption."""

from __future__ import annotations

import pytest

from migwizard.core.codec import DecodeError, decode_index_entry, fetch_payment
from migwizard.core.codec.keys import (
    HTLC_ATTEMPT_INFO_PREFIX,
    NEXT_PAYMENT_ID_KEY,
    PAYMENT_CREATION_INFO_KEY,
    PAYMENT_HTLCS_BUCKET,
    PAYMENTS_INDEX_BUCKET,
    PAYMENTS_ROOT_BUCKET,
)
from migwizard.core.generate import Builder, corrupt_payment_value, generate_store, iter_profile
from migwizard.core.kv import LmdbStore, TargetNotEmptyError, channeldb_version, walk



def _walk(path):
    with LmdbStore.open(path, readonly=True) as store, store.read() as root:
        return list(walk(root))


def _top(path):
    with LmdbStore.open(path, readonly=True) as store, store.read() as root:
        index = {k: v for k, v in root.bucket(PAYMENTS_INDEX_BUCKET).items()}
        return {
            "root_seq": root.bucket(PAYMENTS_ROOT_BUCKET).sequence(),
            "switch_seq": root.bucket(NEXT_PAYMENT_ID_KEY).sequence(),
            "index": index,
            "version": channeldb_version(root),
            "top": [k for k, _ in root.items()],
        }


def test_layout_and_result(mixed_store):
    path, result, calls = mixed_store
    MIXED_N = 1500
    top = _top(path)
    assert top["top"] == [b"metadata", b"next-payment-id-key", b"payments-index-bucket", b"payments-root-bucket"]
    assert top["version"] == 33
    assert result.payments == MIXED_N
    assert sum(result.statuses.values()) == MIXED_N
    assert result.index_entries == len(top["index"]) == MIXED_N  # no duplicates in mixed
    assert result.attempts > MIXED_N and result.hops > result.attempts
    assert result.bytes_written > 0 and result.seconds > 0
    assert "payments" in result.summarize() and "statuses" in result.summarize()
    assert calls and calls[-1] == (MIXED_N, MIXED_N)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_readback_equals_generated(mixed_store, read_all):
    path, result, _ = mixed_store
    MIXED_N = result.payments
    expected = {g.payment.identifier: g.payment for g in iter_profile(Builder(7), "mixed", MIXED_N)}
    got = read_all(path)
    assert len(got) == len(expected)
    for p in got:
        assert p == expected[p.identifier]


def test_sequence_blocks_and_index(mixed_store, read_all):
    path, result, _ = mixed_store
    top = _top(path)
    payments = read_all(path)
    seqs = sorted(p.sequence_num for p in payments)
    # the index covers exactly the payments, each entry pointing at its hash
    assert sorted(int.from_bytes(k, "big") for k in top["index"]) == seqs
    by_seq = {p.sequence_num: p for p in payments}
    for k, v in top["index"].items():
        assert len(v) == 34 and v[:2] == b"\x00\x20"
        assert decode_index_entry(v) == by_seq[int.from_bytes(k, "big")].identifier
    # blocks of 1000: every run starts at a block start (k*1000 + 1) and the
    # root sequence is the horizon of the last block
    starts = [s for i, s in enumerate(seqs) if i == 0 or s != seqs[i - 1] + 1]
    assert len(starts) >= 2, "restarts must make the sequence jump"
    assert all(s % 1000 == 1 for s in starts)
    assert top["root_seq"] == result.payment_sequence
    assert top["root_seq"] % 1000 == 0 and seqs[-1] <= top["root_seq"] < seqs[-1] + 1000


def test_attempt_id_horizon(mixed_store, read_all):
    path, result, _ = mixed_store
    ids = sorted(h.attempt_id for p in read_all(path) for h in p.htlcs)
    assert ids[0] == 1  # the sequencer never issues 0
    assert len(ids) == len(set(ids))
    starts = [a for i, a in enumerate(ids) if i == 0 or a != ids[i - 1] + 1]
    assert len(starts) >= 2
    assert all(a % 1000 == 0 for a in starts[1:])
    switch = _top(path)["switch_seq"]
    assert switch == result.switch_sequence and switch % 1000 == 0
    assert ids[-1] < switch <= ids[-1] + 1000


def test_deterministic_and_seed_sensitive(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_store(a, payments=300, seed=42, profile="edge")
    generate_store(b, payments=300, seed=42, profile="edge")
    generate_store(c, payments=300, seed=43, profile="edge")
    wa, wb, wc = _walk(a), _walk(b), _walk(c)
    assert wa == wb
    assert wa != wc
    assert len(wa) > 1000


def test_refuses_non_empty_target(tmp_path, mixed_store):
    path, _, _ = mixed_store
    with pytest.raises(TargetNotEmptyError):
        generate_store(path, payments=1)
    other = tmp_path / "x"
    other.mkdir()
    (other / "junk.txt").write_text("hi")
    with pytest.raises(TargetNotEmptyError):
        generate_store(other, payments=1)


def test_unknown_profile(tmp_path):
    with pytest.raises(ValueError):
        generate_store(tmp_path / "x", payments=1, profile="nope")


def test_legacy_zero_ids_switch_sequence(tmp_path, read_all):
    r0 = generate_store(tmp_path / "z0", payments=3, profile="legacy-zero-ids")
    assert r0.switch_sequence == 0 and r0.zero_id_attempts == 3
    r10 = generate_store(tmp_path / "z10", payments=3, profile="legacy-zero-ids", switch_sequence=10)
    assert _top(tmp_path / "z10")["switch_seq"] == 10 == r10.switch_sequence
    payments = read_all(tmp_path / "z0")
    assert sorted(len(p.htlcs) for p in payments) == [1, 1, 1]
    assert all(h.attempt_id == 0 for p in payments for h in p.htlcs)
    # an override below ids in use would make the migration collide: refused
    with pytest.raises(ValueError):
        generate_store(tmp_path / "bad", payments=50, profile="mixed", switch_sequence=0)


def test_corrupt_payment_value(tmp_path, read_all):
    path = tmp_path / "s"
    generate_store(path, payments=20, seed=3)
    p = next(p for p in read_all(path) if p.htlcs)
    res = corrupt_payment_value(path, p.identifier, PAYMENT_CREATION_INFO_KEY, 10, mode="truncate")
    assert res.new == res.old[:10]
    assert res.key == f"payments-root-bucket/{p.identifier.hex()}/payment-creation-info"
    with LmdbStore.open(path, readonly=True) as store, store.read() as root:
        with pytest.raises(DecodeError) as ei:
            fetch_payment(root.bucket(PAYMENTS_ROOT_BUCKET).bucket(p.identifier), payment_id=p.identifier)
    assert ei.value.payment == p.identifier and ei.value.key == res.key
    # flip the hop-count high byte inside an attempt info: the route runs out of bytes
    aid = p.htlcs[0].attempt_id
    key = (PAYMENT_HTLCS_BUCKET, HTLC_ATTEMPT_INFO_PREFIX + aid.to_bytes(8, "big"))
    res2 = corrupt_payment_value(path, p.identifier, key, 0, mode="set", value=0x55)
    assert res2.new[0] == 0x55 and res2.new[1:] == res2.old[1:]
    with pytest.raises(KeyError):
        corrupt_payment_value(path, b"\x00" * 32, PAYMENT_CREATION_INFO_KEY, 0)
    with pytest.raises(ValueError):
        corrupt_payment_value(path, p.identifier, PAYMENT_CREATION_INFO_KEY, 10_000)
