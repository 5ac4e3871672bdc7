"""Hostile bytes: every truncation and every single-bit flip of real and
generated records either decodes or raises DecodeError, never anything else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migwizard.core.codec import (
    DecodeError,
    DictBucket,
    decode_attempt_info,
    decode_creation_info,
    decode_fail_info,
    decode_failure_message,
    decode_failure_reason,
    decode_index_entry,
    decode_legacy_creation_info,
    decode_sequence,
    decode_settle_info,
    encode_attempt_info,
    encode_creation_info,
    encode_fail_info,
    encode_failure_message,
    fetch_payment,
    parse_duplicate_settle,
    parse_pubkey,
    payment_to_kv,
)

from .golden import CAROL_AI_1, CAROL_CREATION_INFO, CAROL_INDEX_VALUE, CAROL_SI_1, DAVE_CREATION_INFO
from .strategies import attempts, creation_infos, fail_infos, failure_messages, payments

DECODERS: dict[str, Callable[[bytes], object]] = {
    "creation": decode_creation_info,
    "attempt": lambda b: decode_attempt_info(b, 1),
    "settle": decode_settle_info,
    "fail": decode_fail_info,
    "message": decode_failure_message,
    "index": decode_index_entry,
    "sequence": decode_sequence,
    "reason": decode_failure_reason,
    "legacy_creation": decode_legacy_creation_info,
    "dup_settle": parse_duplicate_settle,
    "pubkey": parse_pubkey,
}


def only_decode_errors(decoder, raw: bytes) -> None:
    try:
        decoder(raw)
    except DecodeError as e:
        assert isinstance(e.offset, int) and 0 <= e.offset <= max(len(raw), 0) + 8
    # Anything else propagates and fails the test.


def mutations(raw: bytes):
    for n in range(len(raw)):
        yield raw[:n]
    for i in range(len(raw) * 8):
        b = bytearray(raw)
        b[i // 8] ^= 1 << (i % 8)
        yield bytes(b)


REAL = [
    ("creation", CAROL_CREATION_INFO),
    ("creation", DAVE_CREATION_INFO),
    ("attempt", CAROL_AI_1),
    ("settle", CAROL_SI_1),
    ("index", CAROL_INDEX_VALUE),
    ("legacy_creation", CAROL_CREATION_INFO[:300]),
]


@pytest.mark.parametrize("kind,raw", REAL, ids=[k for k, _ in REAL])
def test_real_records_truncations_and_bit_flips(kind, raw):
    decoder = DECODERS[kind]
    for m in mutations(raw):
        only_decode_errors(decoder, m)
    # Truncations of the attempt below the hash are the legacy nil-hash case;
    # everything shorter than the attempt time must fail.
    if kind == "attempt":
        with pytest.raises(DecodeError):
            decode_attempt_info(raw[:-40], 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(
    attempts().map(lambda a: ("attempt", encode_attempt_info(a))),
    creation_infos().map(lambda c: ("creation", encode_creation_info(c))),
    fail_infos().map(lambda f: ("fail", encode_fail_info(f))),
    failure_messages().map(lambda m: ("message", encode_failure_message(m))),
))
def test_generated_records_truncations_and_bit_flips(item):
    kind, raw = item
    decoder = DECODERS[kind]
    decoder(raw)
    for m in mutations(raw[:400]):
        only_decode_errors(decoder, m)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(DECODERS)), raw=st.binary(max_size=300))
def test_random_bytes(kind, raw):
    only_decode_errors(DECODERS[kind], raw)


def _flip_tree(tree, path_key, i):
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out[k] = _flip_tree(v, path_key, i)
        elif (id(v), k) == path_key:
            b = bytearray(v)
            b[i // 8] ^= 1 << (i % 8)
            out[k] = bytes(b)
        else:
            out[k] = v
    return out


def _values(tree):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _values(v)
        else:
            yield k, v


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(p=payments(max_htlcs=2), data=st.data())
def test_fetch_with_corrupted_values(p, data):
    tree = payment_to_kv(p)
    vals = [(k, v) for k, v in _values(tree) if v]
    for _ in range(20):
        k, v = data.draw(st.sampled_from(vals))
        i = data.draw(st.integers(0, len(v) * 8 - 1))
        bad = _flip_tree(tree, (id(v), k), i)
        try:
            fetch_payment(DictBucket(bad), payment_id=p.info.payment_identifier, key_prefix="payments-root-bucket")
        except DecodeError as e:
            assert e.payment == p.info.payment_identifier and e.key is not None
