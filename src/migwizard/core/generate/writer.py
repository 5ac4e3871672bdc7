"""Write generated payments THROUGH THE CODEC into a new migwizard LMDB store.

Layout written (spec §1.2): ``metadata``/``dbp`` (channeldb version, u32 BE),
``next-payment-id-key`` (sequence = switch sequencer horizon),
``payments-index-bucket`` (u64 BE seq -> ``00 20 <hash>`` for every payment
and every duplicate) and ``payments-root-bucket`` (sequence = payment sequence
horizon; one sub-bucket per payment from :func:`codec.payment_to_kv`).

Payments are built (pure) a batch at a time and each batch is one LMDB write
transaction (``LmdbStore.update``, which retries on MapFull; a batch is
rebuilt-free on retry because it is materialised before the transaction).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from migwizard.core.codec import decide_status, encode_index_entry, payment_to_kv
from migwizard.core.codec.keys import (
    DB_VERSION_KEY,
    HTLC_FAIL_INFO_PREFIX,
    METADATA_BUCKET,
    NEXT_PAYMENT_ID_KEY,
    PAYMENT_HTLCS_BUCKET,
    PAYMENTS_INDEX_BUCKET,
    PAYMENTS_ROOT_BUCKET,
)
from migwizard.core.codec.model import PaymentStatus
from migwizard.core.codec.primitives import w_time, w_u8, w_u32, w_var_bytes
from migwizard.core.kv import LmdbStore, TargetNotEmptyError

from .builders import Builder
from .generated import Generated, htlc_key
from .profiles import PROFILES, corrupt_cases, edge_payments, legacy_zero_id_payments, mixed_stream

DEFAULT_BATCH = 2000
DEFAULT_CHANNELDB_VERSION = 33

ProgressFn = Callable[[int, int], None]


@dataclass
class GenerateResult:
    path: str
    profile: str
    seed: int
    payments: int = 0  # payment buckets written
    index_entries: int = 0  # payments + duplicates (unless a reject case skips its index)
    statuses: dict[str, int] = field(default_factory=lambda: {s.label: 0 for s in PaymentStatus})
    attempts: int = 0
    settled_attempts: int = 0
    failed_attempts: int = 0
    inflight_attempts: int = 0
    zero_id_attempts: int = 0
    hops: int = 0
    duplicates: int = 0
    payment_sequence: int = 0  # payments-root-bucket sequence (horizon)
    switch_sequence: int = 0  # next-payment-id-key sequence (horizon)
    max_attempt_id: int = 0
    restarts: int = 0
    bytes_written: int = 0  # sum of key + value bytes put (logical, not file size)
    file_bytes: int = 0  # data.mdb size on disk
    seconds: float = 0.0
    cases: dict[str, list[bytes]] = field(default_factory=dict)  # case label -> payment identifiers

    @property
    def rate(self) -> float:
        return self.payments / self.seconds if self.seconds else 0.0

    def summarize(self) -> str:
        return summarize(self)


def summarize(r: GenerateResult) -> str:
    st = ", ".join(f"{k} {v:,}" for k, v in r.statuses.items())
    lines = [
        f"Generated {r.payments:,} payments (profile {r.profile}, seed {r.seed}) into {r.path}",
        f"  statuses: {st}",
        f"  attempts: {r.attempts:,} (settled {r.settled_attempts:,}, failed {r.failed_attempts:,}, "
        f"unresolved {r.inflight_attempts:,}, legacy id 0: {r.zero_id_attempts:,}); hops {r.hops:,}",
        f"  duplicates: {r.duplicates:,}; index entries: {r.index_entries:,}",
        f"  payment sequence horizon {r.payment_sequence:,}; switch sequence horizon {r.switch_sequence:,} "
        f"(max attempt id {r.max_attempt_id:,}); simulated restarts {r.restarts}",
        f"  {r.bytes_written / 1e6:,.1f} MB of keys+values, data.mdb {r.file_bytes / 1e6:,.1f} MB, "
        f"{r.seconds:.2f} s ({r.rate:,.0f} payments/s)",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# profile streams
# ---------------------------------------------------------------------------


def iter_profile(b: Builder, profile: str, payments: int) -> Iterator[Generated]:
    """The payments of ``profile``: its fixed set first (edge / legacy / reject
    case), then ``mixed`` up to ``payments`` in total."""
    if profile == "mixed":
        head: list[Generated] = []
    elif profile == "edge":
        head = edge_payments(b)
    elif profile == "legacy-zero-ids":
        head = legacy_zero_id_payments(b)
    elif profile.startswith("reject-") and profile[7:] in corrupt_cases():
        head = corrupt_cases()[profile[7:]](b)
        b.restart()
    else:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    yield from head
    fill = max(0, payments - len(head))
    if fill:
        yield from mixed_stream(b, fill)


def _batches(it: Iterable[Generated], n: int) -> Iterator[list[Generated]]:
    batch: list[Generated] = []
    for g in it:
        batch.append(g)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------------------
# encoding one payment
# ---------------------------------------------------------------------------


def payment_tree(g: Generated) -> dict:
    """codec.payment_to_kv plus the generator's raw-byte overrides."""
    tree = payment_to_kv(g.payment)
    if g.raw_fail_messages:
        htlcs = tree[PAYMENT_HTLCS_BUCKET]
        by_id = {h.attempt_id: h for h in g.payment.htlcs}
        for aid, raw in g.raw_fail_messages.items():
            f = by_id[aid].failure
            htlcs[htlc_key(HTLC_FAIL_INFO_PREFIX, aid)] = (
                w_time(f.fail_time) + w_var_bytes(raw) + w_u8(f.reason) + w_u32(f.failure_source_index)
            )
    for path, value in g.overrides.items():
        node = tree
        for part in path[:-1]:
            node = node[part]
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return tree


# ---------------------------------------------------------------------------
# the store layout, one piece at a time (also the engine tests' hand-built stores)
# ---------------------------------------------------------------------------


def init_layout(root, *, channeldb_version: int | None = DEFAULT_CHANNELDB_VERSION,
                switch_bucket: bool = True) -> int:
    """The top-level buckets LND's payments code reads (spec §1.2); returns the bytes put.

    ``channeldb_version=None`` leaves ``metadata`` out and ``switch_bucket=False``
    leaves ``next-payment-id-key`` out: stores of nodes that never had them."""
    n = 0
    if channeldb_version is not None:
        root.create_bucket(METADATA_BUCKET).put(DB_VERSION_KEY, channeldb_version.to_bytes(4, "big"))
        n += len(DB_VERSION_KEY) + 4
    if switch_bucket:
        root.create_bucket(NEXT_PAYMENT_ID_KEY)
    root.create_bucket(PAYMENTS_INDEX_BUCKET)
    root.create_bucket(PAYMENTS_ROOT_BUCKET)
    return n


def index_sequences(p) -> list[int]:
    """The index entries a payment owns: its own sequence and every duplicate's (LND's index
    holds the duplicates' sequence numbers too)."""
    return [p.sequence_num] + [d.sequence_num for d in p.duplicates]


def put_payment(root, identifier: bytes, tree: dict) -> int:
    """``payments-root-bucket/<identifier>`` from a ``{key: bytes | dict}`` tree; returns the bytes put."""
    return len(identifier) + _put_tree(root.bucket(PAYMENTS_ROOT_BUCKET).create_bucket(identifier), tree)


def put_index_entry(root, seq: int, value: bytes) -> int:
    """``payments-index-bucket/<u64 BE seq>`` = ``value`` (raw: tests store malformed ones)."""
    root.bucket(PAYMENTS_INDEX_BUCKET).put(seq.to_bytes(8, "big"), value)
    return 8 + len(value)


def set_horizons(root, *, payment_sequence: int, switch_sequence: int | None) -> None:
    """The two allocators' stored horizons: the payment sequence and the switch sequencer."""
    root.bucket(PAYMENTS_ROOT_BUCKET).set_sequence(payment_sequence)
    if switch_sequence is not None:
        root.bucket(NEXT_PAYMENT_ID_KEY).set_sequence(switch_sequence)


def _put_tree(bucket, tree: dict) -> int:
    n = 0
    for k in sorted(tree):
        v = tree[k]
        if isinstance(v, dict):
            n += len(k) + _put_tree(bucket.create_bucket(k), v)
        else:
            bucket.put(k, v)
            n += len(k) + len(v)
    return n


def _count(r: GenerateResult, g: Generated) -> None:
    p = g.payment
    r.payments += 1
    try:
        r.statuses[decide_status(p).label] += 1
    except Exception:  # pragma: no cover - reject cases still have a status
        pass
    for h in p.htlcs:
        r.attempts += 1
        r.hops += len(h.route.hops)
        if h.attempt_id == 0:
            r.zero_id_attempts += 1
        r.max_attempt_id = max(r.max_attempt_id, h.attempt_id)
        if h.settle is not None:
            r.settled_attempts += 1
        elif h.failure is not None:
            r.failed_attempts += 1
        else:
            r.inflight_attempts += 1
    r.duplicates += len(p.duplicates)
    for c in g.cases:
        r.cases.setdefault(c, []).append(p.info.payment_identifier)


# ---------------------------------------------------------------------------
# the entry point
# ---------------------------------------------------------------------------


def generate_store(
    kv_dir: str | os.PathLike[str],
    *,
    payments: int,
    seed: int = 1,
    profile: str = "mixed",
    progress: ProgressFn | None = None,
    switch_sequence: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    channeldb_version: int = DEFAULT_CHANNELDB_VERSION,
) -> GenerateResult:
    """Write a deterministic synthetic LND payments store into a new LMDB store.

    ``payments`` is the total number of payment buckets for ``mixed``; for the
    other profiles their fixed set is always written first and ``mixed`` fills
    up to ``payments`` (so the result may hold more than asked). Same
    arguments -> byte-identical store. ``switch_sequence`` overrides the
    ``next-payment-id-key`` horizon (e.g. 0 with ``legacy-zero-ids``); it must
    not be below an attempt id already used. ``progress(done, total)`` is
    called after every batch. Refuses a target that already holds data.
    """
    if payments < 0:
        raise ValueError("payments must be >= 0")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    path = Path(kv_dir)
    t0 = time.perf_counter()
    result = GenerateResult(path=str(path), profile=profile, seed=seed)
    b = Builder(seed)
    stream = iter_profile(b, profile, payments)

    store = LmdbStore.open(path, create=True, sync=False)
    try:
        with store.read() as root:
            existing = [k for k, _v in root.items()]
        if existing:
            raise TargetNotEmptyError(
                f"{path}: the KV store already holds data ({len(existing)} top-level buckets); "
                "generate into a new or empty directory"
            )

        result.bytes_written += store.update(lambda root: init_layout(root, channeldb_version=channeldb_version))
        total = payments
        done = 0
        if progress is not None:
            progress(0, total)
        for batch in _batches(stream, batch_size):
            trees = [(g, payment_tree(g)) for g in batch]

            def write_batch(root, trees=trees):
                n = 0
                entries = 0
                for g, tree in trees:
                    ident = g.payment.info.payment_identifier
                    n += put_payment(root, ident, tree)
                    if not g.skip_index:
                        entry = encode_index_entry(ident)
                        for seq in index_sequences(g.payment):
                            n += put_index_entry(root, seq, entry)
                            entries += 1
                return n, entries

            n, entries = store.update(write_batch)
            result.bytes_written += n
            result.index_entries += entries
            for g, _t in trees:
                _count(result, g)
            done += len(batch)
            total = max(total, done)
            if progress is not None:
                progress(done, total)

        nonzero_max = result.max_attempt_id
        switch = b.attempt_ids.horizon
        if switch_sequence is not None:
            if nonzero_max and switch_sequence <= nonzero_max:
                raise ValueError(
                    f"switch_sequence={switch_sequence} is not above the highest attempt id in use ({nonzero_max})"
                )
            switch = switch_sequence

        store.update(lambda root: set_horizons(root, payment_sequence=b.seq.horizon, switch_sequence=switch))
        store.sync()
        result.payment_sequence = b.seq.horizon
        result.switch_sequence = switch
        result.restarts = b.restarts
    finally:
        store.close()
    data = path / "data.mdb"
    result.file_bytes = data.stat().st_size if data.exists() else 0
    result.seconds = time.perf_counter() - t0
    return result
