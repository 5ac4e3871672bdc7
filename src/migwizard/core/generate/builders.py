"""Pure, deterministic builders: (seed, ...) -> :class:`~migwizard.core.codec.model.Payment`.

Nothing here touches a store. A :class:`Builder` owns one ``random.Random``
stream, a simulated wall clock, LND's two allocators and the key/channel pools,
so the same seed and the same sequence of calls always produce the same
payments, byte for byte once encoded.

Allocation habits mirrored from LND (spec §1.2, §6 alice fixture):

* **Payment sequence numbers** (``payments-root-bucket`` sequence): on the first
  allocation after a (simulated) restart LND reads the bucket sequence ``S``,
  writes ``S + 1000`` and hands out ``S+1 .. S+1000``. A restart therefore makes
  the next payment jump to the next block (alice: 1, 4..7, 1001, 1002, 2001).
* **Attempt ids** (``next-payment-id-key`` sequence, htlcswitch sequencer): on the
  first ``NextID`` after a restart it reads ``S``, writes ``S + 1000`` and hands
  out ``S .. S+999``, except that 0 is never issued (0 becomes 1). alice: 1..5,
  1000, 1001, 2000.

A :class:`Generated` wraps each payment with a case label and optional raw-byte
overrides for values the codec's (canonical) encoders cannot produce, e.g. an
onion failure whose stored bytes are non-canonical or a 65-byte blinding point.
(Pre-0.18 attempt infos without the trailing TLV use the codec's own
``HTLCAttempt.tlv_absent``.) The overrides never change what the codec
decodes (tests check ``fetch_payment(...) == generated payment``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from migwizard.core.codec.model import (
    ChannelUpdate,
    FailureMessage,
    HTLCAttempt,
    HTLCFailInfo,
    HTLCFailReason,
    HTLCSettleInfo,
    Hop,
    MPPRecord,
    Payment,
    PaymentCreationInfo,
    Route,
)

from . import _secp, bolt11
from .allocators import BLOCK_SIZE, AttemptIdAllocator, PaymentSeqAllocator  # noqa: F401 - re-exported
from .generated import Generated, htlc_key  # noqa: F401 - re-exported

NS = 1_000_000_000
MS = 1_000_000

#: Bitcoin mainnet genesis hash as it appears in a ChannelUpdate (internal byte order).
MAINNET_CHAIN_HASH = bytes.fromhex("6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000")

#: 2021-03-01T00:00:00Z, the start of the simulated history of ``mixed``.
MIXED_EPOCH_NS = 1_614_556_800 * NS
#: 2018-06-01T00:00:00Z, where the legacy (pre-MPP) edge cases live.
LEGACY_EPOCH_NS = 1_527_811_200 * NS
#: Block height at MIXED_EPOCH_NS (approximately mainnet's).
MIXED_EPOCH_HEIGHT = 672_000

U32 = 1 << 32


def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def scid(block: int, tx: int, out: int) -> int:
    """Short channel id as LND stores it: block<<40 | tx<<16 | output."""
    return (block << 40) | (tx << 16) | out


def scid_parts(chan_id: int) -> tuple[int, int, int]:
    return chan_id >> 40, (chan_id >> 16) & 0xFFFFFF, chan_id & 0xFFFF


# ---------------------------------------------------------------------------
# the builder
# ---------------------------------------------------------------------------


@dataclass
class FailSpec:
    """How one HTLC attempt failed: which hop reported what."""

    code: int | None  # onion failure code, None for no message
    source_index: int
    reason: int = HTLCFailReason.MESSAGE


class Builder:
    """Deterministic factory for LND-shaped payments.

    Methods named ``*_payment`` return a fully consistent :class:`Payment`
    (statuses per LND's ``decidePaymentStatus``; never ``ErrSentExceedsTotal``;
    every non-failed HTLC has >= 1 hop), allocating sequence numbers and
    attempt ids from the builder's allocators.
    """

    NODE_POOL = 48
    BLINDING_POOL = 8

    def __init__(self, seed: int, *, epoch_ns: int = MIXED_EPOCH_NS) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.clock = epoch_ns + self.rng.randrange(0, 86_400 * NS)
        self.seq = PaymentSeqAllocator()
        self.attempt_ids = AttemptIdAllocator()
        self.restarts = 0
        self._session_ctr = 0
        self._used_session_keys: set[bytes] = set()
        self._seed_tag = seed.to_bytes(8, "big", signed=True)
        pool = _secp.key_pool(b"nodes", self.NODE_POOL)
        # Which pool keys are "ours" and which peers depends on the seed.
        order = list(range(self.NODE_POOL))
        self.rng.shuffle(order)
        self.self_key = _secp.compress(pool[order[0]][1])
        self.node_keys = [_secp.compress(pool[i][1]) for i in order[1:]]
        self.blinding_points = [p for _k, p in _secp.key_pool(b"blinding", self.BLINDING_POOL)]
        # Channels: our own (first hops / rebalance last hops) and the wider graph.
        self.our_channels = [self._random_scid(500_000, MIXED_EPOCH_HEIGHT - 1000) for _ in range(10)]
        self.peer_of = {c: self.node_keys[i % 8] for i, c in enumerate(self.our_channels)}
        self.graph_channels = [self._random_scid(400_000, MIXED_EPOCH_HEIGHT - 100) for _ in range(400)]

    # -- primitives ---------------------------------------------------------
    def _random_scid(self, lo: int, hi: int) -> int:
        r = self.rng
        return scid(r.randrange(lo, hi), r.randrange(0, 3000), r.randrange(0, 4))

    def bytes32(self) -> bytes:
        return self.rng.randbytes(32)

    def session_key(self) -> bytes:
        """A fresh session key: unique across the store and a valid scalar (< N)."""
        while True:
            self._session_ctr += 1
            k = sha256(b"session" + self._seed_tag + self._session_ctr.to_bytes(8, "big"))
            v = int.from_bytes(k, "big")
            if 0 < v < _secp.N and k not in self._used_session_keys:
                self._used_session_keys.add(k)
                return k

    def blinding_point(self, *, uncompressed: bool = False) -> bytes:
        p = self.rng.choice(self.blinding_points)
        return _secp.uncompressed(p) if uncompressed else _secp.compress(p)

    def tick(self, lo_ns: int, hi_ns: int) -> int:
        """Advance the clock by a random amount in [lo, hi) ns and return it."""
        self.clock += self.rng.randrange(lo_ns, hi_ns)
        return self.clock

    def height(self, t_ns: int | None = None) -> int:
        t = self.clock if t_ns is None else t_ns
        return MIXED_EPOCH_HEIGHT + (t - MIXED_EPOCH_NS) // (600 * NS)

    def restart(self) -> None:
        """A simulated lnd restart: both allocators fetch a new block next time."""
        self.seq.restart()
        self.attempt_ids.restart()
        self.restarts += 1

    # -- payment requests -----------------------------------------------------
    DESCRIPTIONS = (
        "coffee", "Rebalance", "rebalance 1M", "Payment for order #{n}", "tip", "boltz swap {n}",
        "LNURL-pay", "sats for podcast", "invoice {n}", "loop out", "Top up account {n}", "",
    )

    def payment_request(self, value: int, payment_hash: bytes, payment_addr: bytes | None, t_ns: int) -> bytes:
        r = self.rng
        desc = r.choice(self.DESCRIPTIONS).format(n=r.randrange(1000, 99999))
        return bolt11.encode_invoice(
            value_msat=value,
            timestamp=t_ns // NS - r.randrange(1, 600),
            payment_hash=payment_hash,
            payment_secret=payment_addr,
            description=desc,
            expiry=r.choice((3600, 86400, 600)),
            min_final_cltv=r.choice((40, 80, 144)),
            signature=r.randbytes(65),
        )

    # -- routes ------------------------------------------------------------
    def route(
        self,
        amt: int,
        *,
        n_hops: int | None = None,
        dest: bytes | None = None,
        rebalance: bool = False,
        final_cltv: int | None = None,
    ) -> Route:
        """A plausible route: fees and CLTV deltas accumulate backwards from the
        destination, so TotalAmount >= every AmtToForward and the final hop
        receives exactly ``amt``."""
        r = self.rng
        if n_hops is None:
            n_hops = r.choices((1, 2, 3, 4, 5, 6), weights=(8, 22, 32, 22, 11, 5))[0]
        if rebalance:
            n_hops = max(n_hops, 3)
        first_chan = r.choice(self.our_channels)
        peer = self.peer_of[first_chan]
        last_chan = None
        if rebalance:
            dest = self.self_key
            last_chan = r.choice([c for c in self.our_channels if self.peer_of[c] != peer])
        elif n_hops == 1:
            dest = peer
        elif dest is None or dest == peer:
            dest = r.choice(self.node_keys)
            while dest == peer:
                dest = r.choice(self.node_keys)
        keys: list[bytes] = []
        chans: list[int] = []
        for i in range(n_hops):
            if i == n_hops - 1:
                chans.append(first_chan if n_hops == 1 else (last_chan or r.choice(self.graph_channels)))
                keys.append(dest)
            elif i == 0:
                chans.append(first_chan)
                keys.append(peer)
            else:
                k = r.choice(self.node_keys)
                while k == keys[-1] or k == dest:
                    k = r.choice(self.node_keys)
                keys.append(k)
                chans.append(r.choice(self.graph_channels))
        if rebalance:
            # Circular: ... -> peer on last_chan -> us (over last_chan).
            keys[-2] = self.peer_of[last_chan]
            if n_hops >= 4 and keys[-3] == keys[-2]:
                keys[-3] = next(k for k in self.node_keys if k not in (keys[-2], keys[-4]))
        if final_cltv is None:
            final_cltv = self.height() + r.choice((40, 80, 144)) + r.randrange(0, 3)
        amts = [0] * n_hops
        locks = [0] * n_hops
        amts[-1] = amt
        locks[-1] = final_cltv
        if n_hops >= 2:
            amts[-2] = amt
            locks[-2] = final_cltv
        # hop j (0 <= j <= n-2) is an intermediate node; it charges a fee and a
        # CLTV delta for forwarding to hop j+1.
        fees = [0] * n_hops
        deltas = [0] * n_hops
        for j in range(n_hops - 2, -1, -1):
            fees[j] = r.choice((0, 1000, 1000, 500, 100)) + amts[j] * r.choice((1, 10, 50, 100, 250, 500, 1000)) // 1_000_000
            deltas[j] = r.choice((40, 80, 144, 18, 34))
            if j > 0:
                amts[j - 1] = amts[j] + fees[j]
                locks[j - 1] = locks[j] + deltas[j]
        total_amt = amts[0] + (fees[0] if n_hops >= 2 else 0)
        total_lock = locks[0] + (deltas[0] if n_hops >= 2 else 0)
        hops = [
            Hop(pub_key=keys[i], channel_id=chans[i], outgoing_time_lock=locks[i], amt_to_forward=amts[i])
            for i in range(n_hops)
        ]
        return Route(total_time_lock=total_lock, total_amount=total_amt, source_pub_key=self.self_key, hops=hops)

    # -- failures ------------------------------------------------------------
    def channel_update(self, chan_id: int, t_ns: int, *, code: int, htlc_max: bool | None = None,
                       inbound: bool | None = None) -> ChannelUpdate:
        r = self.rng
        if htlc_max is None:
            htlc_max = r.random() < 0.85
        if inbound is None:
            inbound = r.random() < 0.12
        flags = r.randrange(0, 2)
        if code == 0x1014:  # ChannelDisabled: the update says so
            flags |= 2
        return ChannelUpdate(
            signature=r.randbytes(64),
            chain_hash=MAINNET_CHAIN_HASH,
            short_channel_id=chan_id,
            timestamp=(t_ns // NS - r.randrange(0, 3600)) % U32,
            message_flags=1 if htlc_max else 0,
            channel_flags=flags,
            time_lock_delta=r.choice((40, 80, 144, 18)),
            htlc_minimum_msat=r.choice((1, 1000, 1)),
            base_fee=r.choice((0, 1000, 1000, 100)),
            fee_rate=r.choice((1, 10, 100, 250, 500, 1000, 2500)),
            htlc_maximum_msat=r.choice((990_000_000, 5_000_000_000, 16_777_215_000)) if htlc_max else 0,
            inbound_fee=(-r.choice((0, 100, 1000)), -r.choice((10, 100, 250))) if inbound else None,
        )

    def failure_message(self, code: int, route: Route, source_index: int, t_ns: int, *,
                        update: bool = True, htlc_max: bool | None = None,
                        inbound: bool | None = None) -> FailureMessage:
        """A FailureMessage for ``code`` as reported by hop ``source_index``."""
        r = self.rng
        hops = route.hops
        # The failing channel is the reporting node's *outgoing* channel.
        out_idx = min(source_index, len(hops) - 1)
        chan = hops[out_idx].channel_id
        amt_at = hops[out_idx].amt_to_forward
        msg = FailureMessage(code=code)
        if code in (0xC004, 0xC005, 0xC006, 0xC018):
            msg.onion_sha256 = r.randbytes(32)
        elif code == 0x1007:
            if update:
                msg.update = self.channel_update(chan, t_ns, code=code, htlc_max=htlc_max, inbound=inbound)
        elif code in (0x100B, 0x100C, 0x100D, 0x100E, 0x1014):
            if code in (0x100B, 0x100C):
                msg.htlc_msat = amt_at
            elif code == 0x100D:
                msg.cltv_expiry = hops[out_idx].outgoing_time_lock
            elif code == 0x1014:
                msg.flags = 0
            msg.update = self.channel_update(chan, t_ns, code=code, htlc_max=htlc_max, inbound=inbound)
        elif code == 0x400F:
            msg.amount_msat = hops[-1].amt_to_forward
            msg.height = self.height(t_ns)
        elif code == 0x0012:
            msg.cltv_expiry = hops[-1].outgoing_time_lock
        elif code == 0x0013:
            msg.htlc_msat = hops[-1].amt_to_forward
        elif code == 0x4016:
            msg.tlv_type = r.choice((2, 4, 8, 5482373484))
            msg.tlv_offset = r.randrange(0, 300)
        return msg

    # -- attempts ------------------------------------------------------------
    def attempt(
        self,
        route: Route,
        *,
        payment_hash: bytes | None,
        start_ns: int,
        attempt_id: int | None = None,
    ) -> HTLCAttempt:
        t = start_ns + self.rng.randrange(1 * MS, 400 * MS)
        return HTLCAttempt(
            attempt_id=self.attempt_ids.next() if attempt_id is None else attempt_id,
            session_key=self.session_key(),
            route=route,
            attempt_time=t,
            hash=payment_hash,
        )

    def settle(self, htlc: HTLCAttempt, preimage: bytes) -> int:
        t = htlc.attempt_time + self.rng.randrange(80 * MS, 6 * NS)
        htlc.settle = HTLCSettleInfo(preimage=preimage, settle_time=t)
        return t

    def fail(self, htlc: HTLCAttempt, spec: FailSpec, **msg_kw) -> int:
        t = htlc.attempt_time + self.rng.randrange(30 * MS, 4 * NS)
        msg = None
        if spec.code is not None:
            msg = self.failure_message(spec.code, htlc.route, spec.source_index, t, **msg_kw)
        htlc.failure = HTLCFailInfo(fail_time=t, message=msg, reason=int(spec.reason),
                                    failure_source_index=spec.source_index)
        return t

    # Routing failures reported by intermediate hops, weighted like a busy node sees them.
    ROUTING_CODES = (0x1007, 0x100C, 0x1014, 0x400A, 0x2002, 0x100E, 0x100B, 0x4008, 0x100D)
    ROUTING_WEIGHTS = (46, 14, 10, 10, 5, 4, 3, 3, 1)

    def random_fail_spec(self, route: Route) -> FailSpec:
        r = self.rng
        n = len(route.hops)
        x = r.random()
        if x < 0.04:
            return FailSpec(None, 0, HTLCFailReason.INTERNAL)
        if x < 0.07:
            return FailSpec(None, r.randrange(0, n + 1), HTLCFailReason.UNREADABLE)
        if n == 1 or x < 0.12:
            return FailSpec(0x400F, n)  # the destination says no
        code = r.choices(self.ROUTING_CODES, weights=self.ROUTING_WEIGHTS)[0]
        # Hop i (0-based) that cannot forward reports source index i+1; the
        # first hop is our peer (index 1), the last possible forwarder n-1.
        return FailSpec(code, r.randrange(1, n))

    # -- payments -------------------------------------------------------------
    def new_payment(
        self,
        value: int,
        *,
        preimage: bytes | None = None,
        identifier: bytes | None = None,
        payreq: bool = True,
        payment_addr: bytes | None = None,
        creation_ns: int | None = None,
        first_hop_records: dict[int, bytes] | None = None,
    ) -> tuple[Payment, bytes]:
        """Allocate a sequence number and build the creation info; returns (payment, preimage)."""
        if preimage is None:
            preimage = self.bytes32()
        payment_hash = sha256(preimage)
        ident = payment_hash if identifier is None else identifier
        t = self.tick(1 * NS, 900 * NS) if creation_ns is None else creation_ns
        req = self.payment_request(value, payment_hash, payment_addr, t) if payreq else b""
        info = PaymentCreationInfo(
            payment_identifier=ident,
            value=value,
            creation_time=t,
            payment_request=req,
            first_hop_custom_records=dict(first_hop_records or {}),
        )
        return Payment(sequence_num=self.seq.next(), info=info), preimage

    def random_value(self) -> int:
        r = self.rng
        x = r.random()
        if x < 0.35:
            sat = r.randrange(1, 10_000)
        elif x < 0.75:
            sat = r.randrange(10_000, 500_000)
        elif x < 0.95:
            sat = r.randrange(500_000, 5_000_000)
        else:
            sat = r.randrange(5_000_000, 40_000_000)
        return sat * 1000 if r.random() < 0.9 else sat * 1000 + r.randrange(1, 1000)

    def split(self, value: int, k: int) -> list[int]:
        """Split ``value`` into ``k`` positive shards summing to it."""
        if k <= 1 or value < k:
            return [value]
        cuts = sorted(self.rng.sample(range(1, value), k - 1))
        parts = [b - a for a, b in zip([0] + cuts, cuts + [value])]
        return parts

    def shard_route(self, amt: int, value: int, payment_addr: bytes | None, *, rebalance: bool = False,
                    dest: bytes | None = None, n_hops: int | None = None) -> Route:
        route = self.route(amt, rebalance=rebalance, dest=dest, n_hops=n_hops)
        if payment_addr is not None:
            route.hops[-1].mpp = MPPRecord(payment_addr=payment_addr, total_msat=value)
        return route

    def settled_mpp_payment(self, value: int = 3_000_000, n_hops: int = 3, *,
                            payment_addr: bytes | None = None) -> tuple[Payment, bytes, HTLCAttempt]:
        """A payment settled by one MPP attempt for the whole value; returns (payment, preimage, attempt).

        ``payment_addr``: drawn here when not given (a caller that reuses it draws it first).
        """
        addr = self.bytes32() if payment_addr is None else payment_addr
        p, pre = self.new_payment(value, payment_addr=addr)
        h = self.attempt(self.shard_route(value, value, addr, n_hops=n_hops), payment_hash=sha256(pre),
                         start_ns=p.info.creation_time)
        self.settle(h, pre)
        p.htlcs.append(h)
        return p, pre, h

    def failed_attempts(self, p: Payment, payment_hash: bytes, count: int, *, value: int,
                        payment_addr: bytes | None, dest: bytes | None, rebalance: bool,
                        start: int, final_hop_records: dict[int, bytes] | None = None,
                        last_spec: FailSpec | None = None) -> int:
        """Append ``count`` failed attempts (each for the full ``value`` or a shard); returns the clock."""
        t = start
        for i in range(count):
            amt = value if payment_addr is None or self.rng.random() < 0.7 else max(1, value // self.rng.choice((2, 3, 4)))
            route = self.shard_route(amt, value, payment_addr, rebalance=rebalance, dest=dest)
            if final_hop_records:
                route.hops[-1].custom_records = dict(final_hop_records)
            h = self.attempt(route, payment_hash=payment_hash, start_ns=t)
            spec = last_spec if (last_spec is not None and i == count - 1) else self.random_fail_spec(route)
            t = self.fail(h, spec)
            p.htlcs.append(h)
        return t
