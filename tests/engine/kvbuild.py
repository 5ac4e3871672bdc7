"""Build LND-shaped KV stores (LMDB, layout A) for engine tests.

``build_store`` writes exactly the top-level layout LND's payments code reads
(lnd-payments.md §1.2-§1.5):

* ``payments-root-bucket/<identifier>/...`` from :func:`payment_to_kv`
  (sequence key, creation info, fail info, ``payment-htlcs-bucket`` with the
  ``ai``/``si``/``fi`` keys, ``payment-duplicate-bucket/<seq>/...``);
* ``payments-index-bucket``: ``u64 BE seq -> 00 20 <hash>`` for every main
  payment **and every duplicate** (LND's index holds the duplicates' sequence
  numbers too);
* ``next-payment-id-key`` with the HTLC switch sequence as its bucket
  sequence (the bucket is absent when ``switch_sequence`` is None);
* ``metadata/dbp`` = u32 BE 33 (the channeldb version of LND 0.18+).

The small builders (``make_hop``, ``make_attempt``, ``make_payment``,
``make_duplicate``) give valid values: 33-byte pubkeys are real compressed
secp256k1 points, session keys are distinct valid scalars, and the payment
value always covers what its non-failed HTLCs send (LND's ``setState``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from migwizard.core.codec import encode_index_entry
from migwizard.core.codec.keys import (
    NEXT_PAYMENT_ID_KEY,
    PAYMENTS_INDEX_BUCKET,
    PAYMENTS_ROOT_BUCKET,
    PAYMENTS_TOMBSTONE_KEY,
)
from migwizard.core.codec.model import (
    AMPRecord,
    DuplicatePayment,
    FailureMessage,
    HTLCAttempt,
    HTLCFailInfo,
    HTLCSettleInfo,
    Hop,
    MPPRecord,
    Payment,
    PaymentCreationInfo,
    Route,
)
from migwizard.core.codec.onion import encode_failure_message
from migwizard.core.codec.primitives import w_time
from migwizard.core.codec.secp256k1 import N
from migwizard.core.generate import Generated, payment_tree
from migwizard.core.generate._secp import compress, point_mul
from migwizard.core.generate.writer import (
    DEFAULT_CHANNELDB_VERSION,
    index_sequences,
    init_layout,
    put_index_entry,
    put_payment,
    set_horizons,
)
from migwizard.core.kv.lmdb_store import LmdbStore

ROOT_BUCKET = PAYMENTS_ROOT_BUCKET
INDEX_BUCKET = PAYMENTS_INDEX_BUCKET
SWITCH_BUCKET = NEXT_PAYMENT_ID_KEY
CHANNELDB_VERSION = DEFAULT_CHANNELDB_VERSION

# 2024-01-01T12:00:00Z plus a sub-microsecond remainder, so that SQLite (ns)
# and PostgreSQL (µs) precision both get exercised.
BASE_TIME_NS = 1_704_110_400_000_000_000 + 123_456_789

_session_counter = itertools.count(1)
_pubkey_counter = itertools.count(1)


# -- keys -----------------------------------------------------------------------


def pubkey(k: int) -> bytes:
    """k*G, compressed (33 bytes): a valid route.Vertex / blinding point."""
    return compress(point_mul(k))


def fresh_pubkey() -> bytes:
    return pubkey(1000 + next(_pubkey_counter))


def session_key(n: int | None = None) -> bytes:
    """A distinct, valid secp256k1 scalar (< N) as 32 bytes."""
    if n is None:
        n = next(_session_counter)
    while True:
        raw = hashlib.sha256(b"migwizard-test-session-key:%d" % n).digest()
        if 0 < int.from_bytes(raw, "big") < N:
            return raw
        n += 1_000_003  # astronomically unlikely


def seed_hash(seed: int) -> bytes:
    """LND's createTestPaymentHash: sha256(byte(seed))."""
    return hashlib.sha256(bytes([seed & 0xFF])).digest()


def padded(text: str | bytes, size: int = 32) -> bytes:
    """Go's ``copy(arr[:], []byte(text))`` into a fixed-size array."""
    b = text.encode() if isinstance(text, str) else bytes(text)
    return b[:size].ljust(size, b"\x00")


# -- builders -------------------------------------------------------------------


def make_hop(
    index: int = 0,
    *,
    amt: int = 1000,
    channel_id: int | None = None,
    time_lock: int | None = None,
    pub_key: bytes | None = None,
    legacy_payload: bool = False,
    mpp: MPPRecord | None = None,
    amp: AMPRecord | None = None,
    encrypted_data: bytes | None = None,
    blinding_point: bytes | None = None,
    metadata: bytes | None = None,
    total_amt_msat: int = 0,
    custom_records: Mapping[int, bytes] | None = None,
) -> Hop:
    return Hop(
        pub_key=pub_key if pub_key is not None else fresh_pubkey(),
        channel_id=channel_id if channel_id is not None else 100_000 + index,
        outgoing_time_lock=time_lock if time_lock is not None else 500_000 - 40 * index,
        amt_to_forward=amt,
        legacy_payload=legacy_payload,
        mpp=mpp,
        amp=amp,
        encrypted_data=encrypted_data,
        blinding_point=blinding_point,
        metadata=metadata,
        total_amt_msat=total_amt_msat,
        custom_records=dict(custom_records or {}),
    )


def make_hops(n: int, *, base_amount: int, base_channel_id: int = 100_000, base_time_lock: int = 500_000,
              configure=None) -> list[Hop]:
    """LND's createTestHops: amounts base-100*i, scids base+i, locks base-40*i.

    ``configure(hop, index, is_final)`` mutates each hop (feature set-up)."""
    hops = []
    for i in range(n):
        hop = make_hop(i, amt=base_amount - 100 * i, channel_id=base_channel_id + i,
                       time_lock=base_time_lock - 40 * i)
        if configure is not None:
            configure(hop, i, i == n - 1)
        hops.append(hop)
    return hops


def make_route(hops: Sequence[Hop], *, total_amount: int | None = None, total_time_lock: int = 500_000,
               source_pub_key: bytes | None = None, first_hop_amount: int = 0,
               first_hop_wire_custom_records: Mapping[int, bytes] | None = None) -> Route:
    return Route(
        total_time_lock=total_time_lock,
        total_amount=total_amount if total_amount is not None else (hops[0].amt_to_forward if hops else 0),
        source_pub_key=source_pub_key if source_pub_key is not None else fresh_pubkey(),
        hops=list(hops),
        first_hop_amount=first_hop_amount,
        first_hop_wire_custom_records=dict(first_hop_wire_custom_records or {}),
    )


def make_fail_info(*, reason: int = 3, source_index: int = 1, message: FailureMessage | None = None,
                   fail_time: int | None = BASE_TIME_NS + 90 * 10**9) -> HTLCFailInfo:
    return HTLCFailInfo(
        fail_time=fail_time,
        message=message,
        reason=reason,
        failure_source_index=source_index,
        raw_message=encode_failure_message(message) if message is not None else b"",
    )


def make_attempt(
    attempt_id: int,
    *,
    hash: bytes | None,
    route: Route | None = None,
    n_hops: int = 2,
    amount: int = 900,
    attempt_time: int | None = BASE_TIME_NS + 60 * 10**9,
    session: bytes | None = None,
    settled: bool | bytes = False,
    settle_time: int | None = BASE_TIME_NS + 120 * 10**9,
    failed: bool | HTLCFailInfo = False,
) -> HTLCAttempt:
    """One HTLC attempt. ``settled`` may be the preimage (True: the hash, or zeros);
    ``failed`` may be an HTLCFailInfo (True: a no-message internal failure)."""
    if route is None:
        route = make_route(make_hops(n_hops, base_amount=amount), total_amount=amount)
    settle = None
    if settled is not False:
        preimage = settled if isinstance(settled, bytes) else (hash or bytes(32))
        settle = HTLCSettleInfo(preimage=preimage, settle_time=settle_time)
    failure = None
    if failed is not False:
        failure = failed if isinstance(failed, HTLCFailInfo) else make_fail_info(reason=2, source_index=0)
    return HTLCAttempt(
        attempt_id=attempt_id,
        session_key=session if session is not None else session_key(),
        route=route,
        attempt_time=attempt_time,
        hash=hash,
        settle=settle,
        failure=failure,
    )


def make_duplicate(seq: int, hash: bytes, value: int, *, settle: bytes | None = None, fail: bytes | None = None,
                   creation_secs: int = 1_704_000_000, payment_request: bytes = b"lnbc1duplicate",
                   attempt_raw: bytes | None = None) -> DuplicatePayment:
    """A migration-9 duplicate: creation time in whole seconds, the sequence key stored."""
    return DuplicatePayment(
        sequence_num=seq,
        payment_hash=hash,
        value=value,
        creation_time=creation_secs * 10**9,
        payment_request=payment_request,
        settle_raw=settle,
        fail_raw=fail,
        attempt_raw=attempt_raw,
        stored_sequence=seq.to_bytes(8, "big"),
    )


def settle_info_40(preimage: bytes, settle_time_ns: int | None) -> bytes:
    """A modern 40-byte HTLCSettleInfo (as LND's tests write for duplicates)."""
    return bytes(preimage) + w_time(settle_time_ns)


def make_payment(
    seq: int,
    hash: bytes,
    value: int,
    *,
    htlcs: Sequence[HTLCAttempt] = (),
    payment_request: bytes = b"lnbc1test",
    creation_time: int | None = BASE_TIME_NS,
    failure_reason: int | None = None,
    duplicates: Sequence[DuplicatePayment] = (),
    first_hop_custom_records: Mapping[int, bytes] | None = None,
    has_htlc_bucket: bool = True,
) -> Payment:
    return Payment(
        sequence_num=seq,
        info=PaymentCreationInfo(
            payment_identifier=hash,
            value=value,
            creation_time=creation_time,
            payment_request=payment_request,
            first_hop_custom_records=dict(first_hop_custom_records or {}),
        ),
        htlcs=sorted(htlcs, key=lambda a: a.attempt_id),
        failure_reason=failure_reason,
        duplicates=list(duplicates),
        has_htlc_bucket=has_htlc_bucket,
    )


# -- the store ------------------------------------------------------------------


def build_store(
    kv_dir: str | Path,
    payments: Sequence[tuple[int, Payment]] | Sequence[Payment],
    *,
    switch_sequence: int | None = None,
    extra_index: Mapping[int, bytes] | None = None,
    root_sequence: int | None = None,
    channeldb_version: int | None = CHANNELDB_VERSION,
    patch_tree: Callable[[bytes, dict[bytes, Any]], None] | None = None,
) -> Path:
    """Write an LND payments KV store into the (new or empty) directory ``kv_dir``.

    ``payments`` are Payments, or ``(seq, Payment)`` pairs whose ``seq``
    overrides the payment's ``sequence_num``. ``extra_index`` adds raw index
    values (``{seq: value bytes}``), e.g. entries whose payment bucket is
    missing. ``root_sequence`` is the ``payments-root-bucket`` sequence (the
    payment sequence allocator); default: the highest sequence written.
    ``patch_tree(identifier, tree)`` may edit a payment's ``{key: bytes | dict}``
    tree before it is written (raw forms LND's writer never produces).
    Returns the store path. The store is closed again.

    The bytes come from the generator's writer (``core/generate``: the same
    layout, encoder and tree writer as ``migwizard generate``); only the choice
    of payments and the raw edits are this module's.
    """
    plist: list[Payment] = []
    for item in payments:
        if isinstance(item, tuple):
            seq, p = item
            p = dataclasses.replace(p, sequence_num=seq)
        else:
            p = item
        plist.append(p)

    index: dict[int, bytes] = {}
    for p in plist:
        ident = p.info.payment_identifier
        for seq in index_sequences(p):
            if seq in index:
                raise ValueError(f"index sequence {seq} used twice")
            index[seq] = encode_index_entry(ident)
    for seq, raw in (extra_index or {}).items():
        if seq in index:
            raise ValueError(f"extra index sequence {seq} collides with a payment")
        index[seq] = bytes(raw)
    if root_sequence is None:
        root_sequence = max(index, default=0)

    def write(root) -> None:
        init_layout(root, channeldb_version=channeldb_version, switch_bucket=switch_sequence is not None)
        for p in plist:
            tree = payment_tree(Generated(p))
            if patch_tree is not None:
                patch_tree(p.info.payment_identifier, tree)
            put_payment(root, p.info.payment_identifier, tree)
        for seq in sorted(index):
            put_index_entry(root, seq, index[seq])
        set_horizons(root, payment_sequence=root_sequence, switch_sequence=switch_sequence)

    path = Path(kv_dir)
    with LmdbStore.open(path, create=True) as store:
        store.update(write)
    return path


def read_switch_sequence(kv_dir: str | Path) -> int | None:
    """The ``next-payment-id-key`` bucket sequence, or None when the bucket is absent."""
    with LmdbStore.open(kv_dir, readonly=True) as store, store.read() as root:
        sb = root.bucket(SWITCH_BUCKET)
        return None if sb is None else sb.sequence()


def read_tombstone(kv_dir: str | Path) -> bytes | None:
    with LmdbStore.open(kv_dir, readonly=True) as store, store.read() as root:
        rb = root.bucket(ROOT_BUCKET)
        return None if rb is None else rb.get(PAYMENTS_TOMBSTONE_KEY)
