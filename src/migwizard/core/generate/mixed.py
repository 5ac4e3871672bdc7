"""Profile ``mixed`` (a busy routing/rebalancing node) and the helpers every profile shares.

The shares and kinds are documented in :mod:`.profiles`."""

from __future__ import annotations

from collections.abc import Iterator

from migwizard.core.codec.model import (
    AMP_ONION_TYPE,
    BLINDING_POINT_ONION_TYPE,
    ENCRYPTED_DATA_ONION_TYPE,
    KEYSEND_PREIMAGE_TYPE,
    METADATA_ONION_TYPE,
    MPP_ONION_TYPE,
    TOTAL_AMT_MSAT_BLINDED_TYPE,
    AMPRecord,
    FailureReason,
    Payment,
    Route,
)

from .builders import (
    MS,
    Builder,
    FailSpec,
    Generated,
    sha256,
)

#: Inclusive status-share ranges a ``mixed`` run of >= 2000 payments must hit.
MIXED_STATUS_RANGES: dict[str, tuple[float, float]] = {
    "succeeded": (0.57, 0.70),
    "failed": (0.25, 0.37),
    "in-flight": (0.025, 0.075),
    "initiated": (0.002, 0.025),
}

MIXED_KINDS: tuple[tuple[str, int], ...] = (
    ("settled", 420),
    ("settled_retry", 110),
    ("settled_mpp", 50),
    ("keysend_settled", 40),
    ("amp_settled", 8),
    ("blinded_settled", 7),
    ("failed", 255),
    ("failed_no_htlcs", 40),
    ("keysend_failed", 15),
    ("inflight", 35),
    ("retryable", 10),
    ("initiated", 10),
)
_KIND_NAMES = tuple(k for k, _ in MIXED_KINDS)
_KIND_WEIGHTS = tuple(w for _, w in MIXED_KINDS)

FAIL_REASONS = (
    (FailureReason.NO_ROUTE, 45),
    (FailureReason.TIMEOUT, 15),
    (FailureReason.INCORRECT_PAYMENT_DETAILS, 15),
    (FailureReason.ERROR, 10),
    (FailureReason.INSUFFICIENT_BALANCE, 8),
    (FailureReason.CANCELED, 7),
)

TAPROOT_ASSET_RECORD = 65543  # rfqmsg / taproot-assets style first-hop record type
WHATSAT_RECORD = 34349334  # chat message record seen with keysend


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def hop_record_types(hop) -> list[int]:
    if hop.legacy_payload:
        return []
    t = []
    if hop.mpp is not None:
        t.append(MPP_ONION_TYPE)
    if hop.encrypted_data is not None:
        t.append(ENCRYPTED_DATA_ONION_TYPE)
    if hop.blinding_point is not None:
        t.append(BLINDING_POINT_ONION_TYPE)
    if hop.amp is not None:
        t.append(AMP_ONION_TYPE)
    if hop.metadata is not None:
        t.append(METADATA_ONION_TYPE)
    if hop.total_amt_msat:
        t.append(TOTAL_AMT_MSAT_BLINDED_TYPE)
    t.extend(hop.custom_records)
    return t


def shuffle_record_order(b: Builder, p: Payment) -> None:
    """Give multi-record hops a random (Go map) write order; equality ignores it."""
    for h in p.htlcs:
        for hop in h.route.hops:
            types = hop_record_types(hop)
            if len(types) > 1:
                b.rng.shuffle(types)
                hop.record_order = tuple(types)


def _first_hop_records(b: Builder) -> dict[int, bytes]:
    return {TAPROOT_ASSET_RECORD: b.rng.randbytes(b.rng.randrange(8, 48))}


def _apply_first_hop(b: Builder, p: Payment, records: dict[int, bytes] | None) -> None:
    if not records:
        return
    for h in p.htlcs:
        h.route.first_hop_wire_custom_records = dict(records)
        h.route.first_hop_amount = b.rng.choice((354_000, 1_000_000, 550_000))


def _mark_pre018(p: Payment) -> None:
    """Write attempts the pre-0.18 way (hash, no TLV stream) where that is lossless."""
    for h in p.htlcs:
        if h.hash is not None and h.route.first_hop_amount == 0 and not h.route.first_hop_wire_custom_records:
            h.tlv_absent = True


def _pick_reason(b: Builder) -> FailureReason:
    return b.rng.choices([r for r, _ in FAIL_REASONS], weights=[w for _, w in FAIL_REASONS])[0]


def _n_failures(b: Builder, hi: int = 8) -> int:
    n = 1
    while n < hi and b.rng.random() < 0.45:
        n += 1
    return n


# ---------------------------------------------------------------------------
# mixed
# ---------------------------------------------------------------------------


def mixed_payment(b: Builder, *, pre018: bool = False, kind: str | None = None) -> Generated:
    """One payment of the ``mixed`` profile (kind drawn from :data:`MIXED_KINDS`)."""
    r = b.rng
    if kind is None:
        kind = r.choices(_KIND_NAMES, weights=_KIND_WEIGHTS)[0]
    value = b.random_value()
    fh = _first_hop_records(b) if r.random() < 0.02 else None
    rebalance = r.random() < 0.25
    keysend = kind.startswith("keysend")
    addr = None if keysend else b.bytes32()
    if kind == "amp_settled":
        gen = _amp_payment(b, value, shards=r.randrange(1, 4), fh=fh)
    elif kind == "blinded_settled":
        gen = _blinded_payment(b, value, fh=fh)
    else:
        p, pre = b.new_payment(value, payreq=not keysend, payment_addr=addr, first_hop_records=fh)
        phash = sha256(pre)
        dest = None
        final_records = None
        if keysend:
            rebalance = False
            dest = r.choice(b.node_keys)
            final_records = {KEYSEND_PREIMAGE_TYPE: pre}
            if r.random() < 0.2:
                final_records[WHATSAT_RECORD] = f"gm {r.randrange(1000)}".encode()
        t = p.info.creation_time
        kw = dict(value=value, payment_addr=addr, dest=dest, rebalance=rebalance, final_hop_records=final_records)
        if kind in ("settled", "settled_retry", "keysend_settled"):
            if kind == "settled_retry" or (keysend and r.random() < 0.2):
                t = b.failed_attempts(p, phash, _n_failures(b, 4), start=t, **kw)
            route = b.shard_route(value, value, addr, rebalance=rebalance, dest=dest)
            if final_records:
                route.hops[-1].custom_records = dict(final_records)
            h = b.attempt(route, payment_hash=phash, start_ns=t)
            b.settle(h, pre)
            p.htlcs.append(h)
        elif kind == "settled_mpp":
            if r.random() < 0.5:
                t = b.failed_attempts(p, phash, r.randrange(1, 3), start=t, **kw)
            shards = b.split(value, r.randrange(2, 5))
            for amt in shards:
                route = b.shard_route(amt, value, addr, rebalance=rebalance)
                h = b.attempt(route, payment_hash=phash, start_ns=t + r.randrange(0, 50 * MS))
                b.settle(h, pre)
                p.htlcs.append(h)
        elif kind in ("failed", "keysend_failed"):
            reason = _pick_reason(b)
            if keysend:
                reason = r.choice((FailureReason.NO_ROUTE, FailureReason.TIMEOUT))
            last = None
            if reason == FailureReason.INCORRECT_PAYMENT_DETAILS:
                last = "details"
            n = _n_failures(b, 3 if keysend else 8)
            if last == "details":
                t = b.failed_attempts(p, phash, n - 1, start=t, **kw) if n > 1 else t
                route = b.shard_route(value, value, addr, rebalance=rebalance, dest=dest)
                if final_records:
                    route.hops[-1].custom_records = dict(final_records)
                h = b.attempt(route, payment_hash=phash, start_ns=t)
                b.fail(h, FailSpec(0x400F, len(route.hops)))
                p.htlcs.append(h)
            else:
                b.failed_attempts(p, phash, n, start=t, **kw)
            p.failure_reason = int(reason)
        elif kind == "failed_no_htlcs":
            p.failure_reason = int(r.choice((FailureReason.NO_ROUTE, FailureReason.NO_ROUTE, FailureReason.INSUFFICIENT_BALANCE)))
        elif kind == "inflight":
            if r.random() < 0.6:
                t = b.failed_attempts(p, phash, _n_failures(b, 3), start=t, **kw)
            if addr is not None and r.random() < 0.2 and value >= 2:
                a1, a2 = b.split(value, 2)
                h1 = b.attempt(b.shard_route(a1, value, addr), payment_hash=phash, start_ns=t)
                b.settle(h1, pre)
                h2 = b.attempt(b.shard_route(a2, value, addr), payment_hash=phash, start_ns=t)
                p.htlcs += [h1, h2]
            else:
                route = b.shard_route(value, value, addr, rebalance=rebalance)
                p.htlcs.append(b.attempt(route, payment_hash=phash, start_ns=t))
        elif kind == "retryable":
            b.failed_attempts(p, phash, _n_failures(b, 3), start=t, **kw)
        elif kind == "initiated":
            pass
        else:  # pragma: no cover
            raise AssertionError(kind)
        if p.htlcs and r.random() < 0.005:
            for h in p.htlcs:
                h.route.hops[-1].metadata = r.randbytes(r.randrange(8, 32))
        _apply_first_hop(b, p, fh)
        gen = Generated(p, cases=(f"mixed:{kind}",))
    shuffle_record_order(b, gen.payment)
    if pre018:
        _mark_pre018(gen.payment)
    return gen


def _amp_payment(b: Builder, value: int, *, shards: int, fh=None, child_base: int = 0,
                 payreq: bool = False, settle: bool = True, n_hops: int | None = None) -> Generated:
    r = b.rng
    set_id = b.bytes32()
    root_share = b.bytes32()
    addr = b.bytes32()
    p, _ = b.new_payment(value, identifier=set_id, payreq=payreq, payment_addr=addr, first_hop_records=fh)
    t = p.info.creation_time
    for i, amt in enumerate(b.split(value, shards)):
        child = child_base + i
        child_pre = sha256(root_share + set_id + child.to_bytes(4, "big"))
        route = b.shard_route(amt, value, addr, n_hops=n_hops)
        route.hops[-1].amp = AMPRecord(root_share=root_share, set_id=set_id, child_index=child)
        h = b.attempt(route, payment_hash=sha256(child_pre), start_ns=t + r.randrange(0, 30 * MS))
        if settle:
            b.settle(h, child_pre)
        p.htlcs.append(h)
    _apply_first_hop(b, p, fh)
    return Generated(p, cases=("mixed:amp_settled",))


def _blinded_route(b: Builder, value: int, *, n_hops: int = 4, blinded: int = 2) -> Route:
    r = b.rng
    route = b.route(value, n_hops=n_hops)
    first_blinded = n_hops - blinded
    for i in range(first_blinded, n_hops):
        hop = route.hops[i]
        hop.encrypted_data = r.randbytes(r.randrange(40, 120))
        if i == first_blinded:
            hop.blinding_point = b.blinding_point()
    route.hops[-1].total_amt_msat = value
    return route


def _blinded_payment(b: Builder, value: int, *, fh=None) -> Generated:
    p, pre = b.new_payment(value, payment_addr=None, first_hop_records=fh)
    h = b.attempt(_blinded_route(b, value), payment_hash=sha256(pre), start_ns=p.info.creation_time)
    b.settle(h, pre)
    p.htlcs.append(h)
    _apply_first_hop(b, p, fh)
    return Generated(p, cases=("mixed:blinded_settled",))


def mixed_stream(b: Builder, count: int, *, start_index: int = 0, total: int | None = None) -> Iterator[Generated]:
    """``count`` mixed payments, with simulated restarts every 150-700 payments."""
    total = count if total is None else total
    until_restart = b.rng.randrange(150, 700)
    for i in range(count):
        if until_restart <= 0:
            b.restart()
            until_restart = b.rng.randrange(150, 700)
        until_restart -= 1
        yield mixed_payment(b, pre018=(start_index + i) < 0.35 * total)
