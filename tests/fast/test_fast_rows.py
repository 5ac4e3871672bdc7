"""Fast rows == current rows, every table and column, ids, counters and stats."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migwizard.core.codec import DictBucket, payment_to_kv
from migwizard.core.fast import FALLBACK, decode_payment
from migwizard.core.sql.values import POSTGRES, SQLITE

from tests.codec.strategies import payments

from .reference import Side, assert_same, compare_store

DIALECTS = [pytest.param(SQLITE, id="sqlite"), pytest.param(POSTGRES, id="postgres")]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_edge_profile_rows_identical(generated_ro, dialect):
    n, taken = compare_store(generated_ro("edge", 400), dialect)
    assert n > 300 and 0 < taken < n  # the edge cases fall back, the mixed tail does not


@pytest.mark.parametrize("dialect", DIALECTS)
def test_mixed_profile_rows_identical(generated_ro, dialect):
    n, taken = compare_store(generated_ro("mixed", 3000, seed=7), dialect)
    assert n == 3000 and taken > 0.9 * n


@pytest.mark.parametrize("name", ["alice", "carol", "dave"])
def test_real_fixture_rows_identical(import_fixture, name):
    n, _taken = compare_store(import_fixture(name), SQLITE)
    assert n > 0


@pytest.mark.parametrize("name", ["alice", "carol", "dave"])
def test_real_channel_db_read_in_place_rows_identical(fixtures_dir, name):
    """The bbolt reader's buckets (lnd's channel.db, no import) take the same fast path."""
    n, _taken = compare_store(fixtures_dir / f"lnd-regtest-{name}-channel.db", POSTGRES)
    assert n > 0


def _side_by_side(p, switch_start=500):
    pb = DictBucket(payment_to_kv(p))
    ref, fast = Side(switch_start), Side(switch_start)
    try:
        ref.full(pb, p.info.payment_identifier, SQLITE.ts)
    except Exception:  # noqa: BLE001 - whatever the full path refuses, the fast path must not take
        assert decode_payment(pb) is FALLBACK
        return None
    took = fast.fast(pb, p.info.payment_identifier, SQLITE)
    assert_same(ref, fast)
    return took


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(payments(max_htlcs=3))
def test_property_payments_rows_identical(p):
    _side_by_side(p)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_mutated_bytes_never_accepted_wrongly(generated_plain_values, data):
    """Flip, cut or extend one value of a payment the fast path accepts: it either falls
    back or still gives exactly the full path's rows (it never guesses)."""
    tree = data.draw(st.sampled_from(generated_plain_values))
    keys = _value_paths(tree)
    path = data.draw(st.sampled_from(keys))
    raw = _get(tree, path)
    op = data.draw(st.sampled_from(["flip", "cut", "extend", "set"]))
    if op == "flip" and raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        new = raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1:]
    elif op == "cut":
        new = raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))]
    elif op == "extend":
        new = raw + data.draw(st.binary(min_size=1, max_size=12))
    else:
        i = data.draw(st.integers(0, max(0, len(raw) - 1)))
        new = raw[:i] + data.draw(st.sampled_from([b"\x00", b"\xff", b"\xfd", b"\xfe", b"\x21", b"\x08"])) + raw[i + 1:]
    mutated = _set(tree, path, new)
    pb = DictBucket(mutated)
    phash = b"\x11" * 32
    ref, fast = Side(7), Side(7)
    try:
        ref.full(pb, phash, SQLITE.ts)
    except Exception:  # noqa: BLE001
        assert decode_payment(pb) is FALLBACK
        return
    fast.fast(pb, phash, SQLITE)
    assert_same(ref, fast)


def _value_paths(tree, prefix=()):
    out = []
    for k, v in tree.items():
        if isinstance(v, dict):
            out.extend(_value_paths(v, prefix + (k,)))
        else:
            out.append(prefix + (k,))
    return out


def _get(tree, path):
    for k in path:
        tree = tree[k]
    return tree


def _set(tree, path, value):
    out = dict(tree)
    if len(path) == 1:
        out[path[0]] = value
    else:
        out[path[0]] = _set(tree[path[0]], path[1:], value)
    return out


@pytest.fixture(scope="module")
def generated_plain_values(tmp_path_factory):
    """Value trees of mixed-profile payments the fast path accepts."""
    from migwizard.core.generate import generate_store
    from migwizard.core.kv.lmdb_store import LmdbStore

    from .reference import main_payments

    kv = tmp_path_factory.mktemp("plain") / "kv"
    generate_store(kv, payments=200, seed=3, profile="mixed")
    trees = []
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        for _phash, pb in main_payments(root):
            if decode_payment(pb) is not FALLBACK:
                trees.append(_to_tree(pb))
    assert len(trees) > 150
    return trees


def _to_tree(b):
    out = {}
    for k, v, child in b.entries():
        out[bytes(k)] = _to_tree(child) if child is not None else bytes(v)
    return out


def test_scid_text_cache_bounded(generated_ro, monkeypatch):
    """The channel-id text cache stops growing at its bound (the child's heap stays flat on a
    store with more channels than that) and the rows stay identical past it."""
    from migwizard.core.fast import rows

    monkeypatch.setattr(rows, "_SCID", {})
    monkeypatch.setattr(rows, "_SCID_MAX", 5)
    n, taken = compare_store(generated_ro("mixed", 600, seed=3), SQLITE)
    assert taken > 0.9 * n
    assert len(rows._SCID) == 5 and all(text == str(chan) for chan, text in rows._SCID.items())
