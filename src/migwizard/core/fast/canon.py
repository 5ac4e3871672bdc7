"""Validation by one canonical tuple per payment; the tree diff only where they differ.

The canonical tuple of a payment is its rows *as stored* (the dialect's value forms:
Go time strings or µs datetimes, signed int32/int64 casts, scid text), nested by
parent and stripped of the surrogate ids, which validation cannot predict. The SQL
side reads it for a whole ``payments.id`` range with a handful of joined queries;
the KV side builds it from a fresh decode (``fast.rows``, or the full decoder plus
LND's normalisations for the shapes the fast decoder leaves alone).

Equal tuples are *stronger* than "no difference": when every stored value is
exactly what the KV original maps to, LND's reader (``engine.sqlread``) reads back
what the tree diff expects, so such a payment needs nothing more. Anything else --
a different value, a value LND would read the same way but that is stored
differently, an unexpected payments.id -- goes to the existing reader and tree
diff, whose verdict is the one reported. A deterministic ~1% sample (by a hash of
the identifier) always goes the full way too, so a bug shared by the fast decoder
and the fast writer cannot hide behind equal tuples.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

from ..codec import decide_status, fetch_payment, render_key
from ..codec.keys import PAYMENTS_ROOT_BUCKET as ROOT_BUCKET
from ..engine.results import FieldDiff
from ..engine.rows import ChunkRows, IdCounters, SwitchIdAllocator, add_payment_rows, expected_duplicates
from ..engine.sqlread import read_payments, sql_ids_by_identifier
from ..engine.transform import MigrationReject, expected_sql_payment, truncate_ns_to_us
from ..engine.tree import compare_payment, payment_tree
from .canon_flat import FlatRows, read_flat, with_times
from .canon_flatpg import read_flat_pg
from .canon_sql import read_canonical
from .rows import FALLBACK, FastPayment, decode_payment
from .timefmt import ts_for

SAMPLE_SALT = b"migwizard-validation-sample\x00"
SAMPLE_PERCENT = 1

_U64 = 1 << 64
_MAX_I64 = (1 << 63) - 1
_MAX_I32 = (1 << 31) - 1


def in_sample(identifier: bytes, percent: int = SAMPLE_PERCENT) -> bool:
    """The deterministic sample that always takes the full decoder and tree diff:
    the same payments in every run of the same store."""
    d = hashlib.sha256(SAMPLE_SALT + bytes(identifier)).digest()
    return int.from_bytes(d[:4], "big") % 100 < percent


# -- KV side -------------------------------------------------------------------


def _i64(u: int) -> int:
    return u - _U64 if u > _MAX_I64 else u


def _i32(u: int) -> int:
    return u - (1 << 32) if u > _MAX_I32 else u


def canon_fast(fp: FastPayment, ts: Callable[[int | None], Any]) -> tuple:
    """The canonical tuple of a payment the fast decoder accepted (see module doc)."""
    attempts = []
    for aidx, skey, atime, phash, fha, ttl, tamt, src, hops, res, wire in fp.attempts:
        hs = tuple(
            (i, pub, str(chan), _i32(otl), _i64(amt), meta,
             (mpp[0], _i64(mpp[1])) if mpp is not None else None, None, None, custom)
            for i, (pub, chan, otl, amt, meta, mpp, custom) in enumerate(hops)
        )
        if res is None:
            r = None
        elif res[0] == 1:
            r = (ts(res[1]), 1, res[2], None, None, None)
        else:
            r = (ts(res[1]), 2, None, _i32(res[2]), res[3], res[4])
        attempts.append((aidx, skey, ts(atime), phash, _i64(fha), _i32(ttl), _i64(tamt), src, wire, hs, r))
    intents = ((0, fp.payment_request),) if fp.payment_request else ()
    return (_i64(fp.value), ts(fp.created), fp.identifier, fp.fail_reason, intents, fp.first_hop_records,
            tuple(attempts), ())


def canon_rows(rows: dict[str, list[tuple]]) -> tuple:
    """The canonical tuple of one payment's rows (``engine.rows`` layout, ids ignored)."""
    (_pid, amount, created, ident, fail_reason) = rows["payments"][0]
    mpp = {r[0]: r[1:] for r in rows["payment_route_hop_mpp"]}
    amp = {r[0]: r[1:] for r in rows["payment_route_hop_amp"]}
    blinded = {r[0]: r[1:] for r in rows["payment_route_hop_blinded"]}
    hcr: dict[int, list] = defaultdict(list)
    for _id, hid, k, v in rows["payment_hop_custom_records"]:
        hcr[hid].append((k, v))
    acr: dict[int, list] = defaultdict(list)
    for _id, aidx, k, v in rows["payment_attempt_first_hop_custom_records"]:
        acr[aidx].append((k, v))
    hops: dict[int, list] = defaultdict(list)
    for hid, aidx, i, pub, scid, otl, amt, meta in rows["payment_route_hops"]:
        hops[aidx].append((i, pub, scid, otl, amt, meta, mpp.get(hid), amp.get(hid), blinded.get(hid),
                           tuple(hcr.get(hid, ()))))
    res = {r[0]: r[1:] for r in rows["payment_htlc_attempt_resolutions"]}
    attempts = tuple(
        (aidx, skey, at, ph, fha, ttl, tamt, src, tuple(acr.get(aidx, ())), tuple(hops.get(aidx, ())), res.get(aidx))
        for _id, aidx, _p, skey, at, ph, fha, ttl, tamt, src in sorted(rows["payment_htlc_attempts"],
                                                                       key=lambda r: r[1])
    )
    return (amount, created, ident, fail_reason, tuple((t, p) for _i, _p, t, p in rows["payment_intents"]),
            tuple((k, v) for _i, _p, k, v in rows["payment_first_hop_custom_records"]), attempts,
            tuple(r[2:] for r in rows["payment_duplicates"]))


def canon_model(payment, duplicates, ts: Callable[[int | None], Any]) -> tuple:
    """The canonical tuple of a transformed payment (the full decoder's view), through
    the row mapping the migration used; the identifier is the payment's own, as the
    tree diff compares it."""
    return canon_rows(model_rows(payment, duplicates, ts))


def model_rows(payment, duplicates, ts: Callable[[int | None], Any]) -> dict[str, list[tuple]]:
    """A transformed payment's rows through the migration's row mapping (ids from 1)."""
    chunk = ChunkRows()
    add_payment_rows(chunk, payment, payment.info.payment_identifier, duplicates, IdCounters({}), ts)
    return chunk.rows


# -- the KV half of one payment (either process) -----------------------------------


class Full(NamedTuple):
    """The KV half of a payment that takes the full decoder, done where the walk runs
    (the full decode is most of what the ~2.5% fallback + sampled payments cost).

    ``canon``: its canonical tuple through the migration's row mapping (not for the
    sample, which always takes the tree diff); ``tree``: its KV tree for that diff
    (the sample only); ``info``: what its verdict lists. The legacy ID-0 allocator is
    called here, in index order: ``alloc_before``/``alloc_after`` are its horizon
    around this payment, so the comparing process can replay the same decode (when
    the tuples differ) and carry the horizon on. ``reject``: LND's migration refuses
    the payment (MigrationReject's message)."""

    sampled: bool
    canon: tuple | None
    info: tuple | None  # (status, value, attempts, created, normalisations, duplicates)
    tree: dict | None
    alloc_before: int
    alloc_after: int
    reject: str | None


def transform(bucket, phash: bytes, alloc: Callable[[], int], pg: bool):
    """The full decoder + LND's normalisations for one payment bucket: ``(Transformed,
    expected duplicates)``; DecodeError and MigrationReject propagate."""
    kvp = fetch_payment(bucket, payment_id=phash, key_prefix=render_key(ROOT_BUCKET))
    t = expected_sql_payment(kvp, phash, allocate_zero_id=alloc, truncate_us=pg, in_place=True,
                             sort_remapped=True)
    edups = expected_duplicates(kvp)
    if pg:
        for d in edups:
            d.created_ns = truncate_ns_to_us(d.created_ns)
            d.settle_time = truncate_ns_to_us(d.settle_time)
    return t, edups


def _info(t, edups) -> tuple:
    p = t.payment
    return (decide_status(p).label, p.info.value, len(p.htlcs), p.info.creation_time,
            sorted(set(t.names) - {"timestamps_truncated_to_microseconds"}), len(edups))


def full_item(phash: bytes, bucket, ts: Callable[[int | None], Any], sampled: bool, pg: bool,
              alloc: SwitchIdAllocator, flat: FlatRows | None = None) -> Full:
    """The full way for one payment (see :class:`Full`); ``flat``: the batch's flat rows
    to add its rows to."""
    before = alloc.next
    try:
        t, edups = transform(bucket, phash, alloc, pg)
    except MigrationReject as e:
        return Full(sampled, None, None, None, before, alloc.next, str(e))
    rows = model_rows(t.payment, edups, ts)
    if flat is not None:
        flat.add_rows(rows, phash)
    if sampled:
        return Full(True, None, _info(t, edups), payment_tree(t.payment, edups), before, alloc.next, None)
    return Full(False, canon_rows(rows), _info(t, edups), None, before, alloc.next, None)


def kv_item(seq: int, phash: bytes, bucket, ts: Callable[[int | None], Any], sample_percent: int,
            pg: bool, alloc: SwitchIdAllocator) -> tuple:
    """What :meth:`CanonValidator.compare` needs of one payment from the KV side, picklable:
    ``(seq, hash, canonical tuple, (status, value, attempts, created))`` for a payment the
    fast decoder accepted, ``(seq, hash, None, Full)`` for one that takes the full
    decoder (a shape it leaves alone, or the deterministic sample). ``alloc``: the
    legacy ID-0 allocator, called in index order (only the full decoder calls it)."""
    sampled = in_sample(phash, sample_percent)
    if not sampled:
        fp = decode_payment(bucket)
        if fp is not FALLBACK:
            created = truncate_ns_to_us(fp.created) if pg else fp.created
            return seq, phash, canon_fast(fp, ts), (fp.status.label, fp.value, len(fp.attempts), created)
    return seq, phash, None, full_item(phash, bucket, ts, sampled, pg, alloc)


class Batch(list):
    """One batch of :func:`kv_item`-like items; ``flat``: its :class:`FlatRows` prediction,
    or None (a batch the flat check cannot take)."""

    flat: tuple[list, ...] | None = None


class KvSide:
    """The KV half of validation, batch by batch (the walk's ``item`` and ``batch`` hooks,
    in whichever process walks). A fast payment travels as its flat rows
    (:mod:`.canon_flat`; PostgreSQL reads them back with :mod:`.canon_flatpg`) and its
    verdict facts, ``(seq, hash, None, facts)``; its canonical tuple is rebuilt only
    for a batch whose flat rows differ. ``flat`` None (tests: the check the flat rows
    replaced) sends every payment's canonical tuple instead (:func:`kv_item`)."""

    def __init__(self, ts: Callable[[int | None], Any], sample_percent: int, pg: bool,
                 alloc: SwitchIdAllocator) -> None:
        self.ts, self.sample_percent, self.pg, self.alloc = ts, sample_percent, pg, alloc
        self.flat = FlatRows()

    def item(self, seq: int, phash: bytes, bucket) -> tuple:
        flat = self.flat
        if flat is None:
            return kv_item(seq, phash, bucket, self.ts, self.sample_percent, self.pg, self.alloc)
        sampled = in_sample(phash, self.sample_percent)
        if not sampled:
            fp = decode_payment(bucket)
            if fp is not FALLBACK:
                flat.add_fast(fp, phash)
                created = truncate_ns_to_us(fp.created) if self.pg else fp.created
                return seq, phash, None, (fp.status.label, fp.value, len(fp.attempts), created)
        return seq, phash, None, full_item(phash, bucket, self.ts, sampled, self.pg, self.alloc, flat)

    def batch(self, items: list) -> Batch:
        out = Batch(items)
        if self.flat is not None:
            out.flat = self.flat.take()
        return out


def _no_alloc() -> int:
    raise RuntimeError("the fast decoder accepted a payment with a legacy ID-0 attempt")


# -- the per-batch check ---------------------------------------------------------


@dataclass
class Verdict:
    """One payment's validation result, with what the engine's report lists for it."""

    sequence: int
    identifier: bytes
    sql_id: int | None
    counted: bool  # False: LND's migration would refuse it (counts neither as checked nor in id order)
    status: str
    amount_msat: int
    attempts: int
    created_ns: int | None
    normalisations: list[str]
    duplicates: int
    differences: list[FieldDiff] = field(default_factory=list)
    route: str = "fast"  # fast | model (full decoder, tuple compare) | sample | diff (tree diff ran)


class CanonValidator:
    """Checks batches of main payments in KV index order against the target.

    ``rb``: the ``payments-root-bucket``; ``dialect``: the target's
    ``sql.values.Dialect``; ``first_payment_id``: the run's first payments.id (None:
    no id order to check, everything takes the tree diff, as today); ``alloc``: the
    legacy ID-0 allocator replayed from the run's ``switch_seq_before``; the walk
    calls it (or its copy in the second process) in the migration's order, and
    :meth:`compare` carries the walk's horizon over into it.
    """

    def __init__(self, db, dialect, rb, *, first_payment_id: int | None, alloc: SwitchIdAllocator,
                 sample_percent: int = SAMPLE_PERCENT) -> None:
        self.db = db
        self.dialect = dialect
        self.rb = rb
        self.first_payment_id = first_payment_id
        self.alloc = alloc
        self.sample_percent = sample_percent
        self.pg = dialect.is_postgres
        self._ts = ts_for(dialect)  # the fast payments' flat rows carry nanoseconds (canon_flat.with_times)
        self.routes: dict[str, int] = defaultdict(int)
        self.flat_batches: dict[bool, int] = defaultdict(int)  # batches by the flat check's outcome

    def check(self, batch: list[tuple[int, bytes]], checked_before: int) -> list[Verdict]:
        """``batch``: ``(index sequence, payment hash[, payment bucket])`` of main payments, in
        index order (the bucket saves a lookup when the caller has it);
        ``checked_before``: payments counted so far (the expected payments.id of the
        first one is ``first_payment_id + checked_before``). DecodeError propagates, as
        in the engine's validation. Both halves in this process: :func:`kv_item` per
        payment, then :meth:`compare`."""
        side = KvSide(ts_for(self.dialect), self.sample_percent, self.pg, self.alloc)
        items = side.batch([side.item(it[0], it[1], it[2] if len(it) > 2 else self.rb.bucket(it[1]))
                            for it in batch])
        return self.compare(items, checked_before)

    def compare(self, items: list[tuple], checked_before: int) -> list[Verdict]:
        """The SQL half: ``items`` from :func:`kv_item` (in this process or the second one),
        in index order. The full decode was done by the walk (which replays the legacy
        ID-0 allocator in index order); this process's allocator takes the walk's horizon.
        A payment whose tuples differ is decoded again here, from this process's own
        snapshot, for the tree diff."""
        sql: dict[bytes, tuple[int, tuple]] = {}
        same = False  # the whole batch's rows are the predicted ones (canon_flat)
        if self.first_payment_id is not None and items:
            lo = self.first_payment_id + checked_before
            hi = lo + len(items) - 1
            kv_flat = getattr(items, "flat", None)
            if kv_flat is not None:
                same = (read_flat_pg if self.pg else read_flat)(self.db, lo, hi) == with_times(kv_flat, self._ts)
                self.flat_batches[same] += 1
            if not same:
                for pid, (ident, canon) in read_canonical(self.db, lo, hi).items():
                    sql[ident] = (pid, canon)
        out: list[Verdict | None] = []
        full: list[tuple] = []  # (slot, seq, phash, Full | None, expected)
        counted = checked_before
        first = self.first_payment_id
        for seq, phash, canon, info in items:
            expected = first + counted if first is not None else None
            if isinstance(info, Full):  # the fast decoder's FALLBACK, or the sample
                f = info
                self.alloc.next = f.alloc_after
                if f.reject is not None:
                    out.append(Verdict(seq, phash, None, False, "", 0, 0, None, [], 0,
                                       [FieldDiff(phash.hex(), "payment", f.reject, None)], "model"))
                    continue
                counted += 1
                if not f.sampled:
                    got = sql.get(phash)
                    if same or (got is not None and got[0] == expected and f.canon == got[1]):
                        out.append(_verdict(seq, phash, expected, f.info, "model"))
                        continue
                full.append((len(out), seq, phash, f, expected))
                out.append(None)
                continue
            counted += 1
            if not same:
                got = sql.get(phash)
                if canon is None:  # sent as flat rows: its tuple, from this process's snapshot
                    canon = canon_fast(decode_payment(self.rb.bucket(phash)), ts_for(self.dialect))
                if got is None or got[0] != expected or canon != got[1]:
                    full.append((len(out), seq, phash, None, expected))
                    out.append(None)
                    continue
            status, value, attempts, created = info
            out.append(Verdict(seq, phash, expected, True, status, value, attempts, created, [], 0))
        if full:
            self._tree_diff(full, out)
        for v in out:
            self.routes[v.route] += 1
        return out  # type: ignore[return-value]

    def _kv_side(self, phash: bytes, f: Full | None) -> tuple[dict, tuple]:
        """The KV tree and verdict info of a payment for the tree diff: the walk's own
        for the sample, else decoded again here (a fast payment never calls the
        allocator; a full one replays it from the horizon the walk saw before it)."""
        if f is not None and f.tree is not None:
            return f.tree, f.info
        alloc = SwitchIdAllocator(f.alloc_before) if f is not None else _no_alloc
        t, edups = transform(self.rb.bucket(phash), phash, alloc, self.pg)
        return payment_tree(t.payment, edups), _info(t, edups)

    def _tree_diff(self, full, out) -> None:
        """The engine's detailed comparison (sqlread + tree diff) for the payments that need it."""
        idmap = sql_ids_by_identifier(self.db, [phash for _s, _q, phash, *_ in full])
        loaded = read_payments(self.db, list(idmap.values()), self.dialect.ts_to_ns)
        for slot, seq, phash, f, expected in full:
            sid = idmap.get(phash)
            sp = loaded.get(sid) if sid is not None else None
            kv_tree, info = self._kv_side(phash, f)
            diffs = compare_payment(phash.hex(), kv_tree, sp, sid, expected)
            v = _verdict(seq, phash, sid, info, "sample" if in_sample(phash, self.sample_percent) else "diff")
            v.differences = diffs
            out[slot] = v


def _verdict(seq: int, phash: bytes, sid: int | None, info: tuple, route: str) -> Verdict:
    status, value, attempts, created, names, dups = info
    return Verdict(seq, phash, sid, True, status, value, attempts, created, list(names), dups, [], route)


# -- driving a whole store (bench, tests; the engine wires ``CanonValidator`` itself) --


def replay_allocator(switch_seq_before: int) -> SwitchIdAllocator:
    """The engine's validation allocator: the switch sequencer replayed from the run's start."""
    return SwitchIdAllocator(switch_seq_before or 0)


def iter_main_payments(root):
    """``(index sequence, payment hash, bucket)`` of every main payment, in index order, skipping
    what the engine's validation skips (non-value entries, missing buckets, duplicates'
    index entries). Decode errors propagate."""
    from ..codec.walk import BadEntry, PaymentEntry, walk_payment_index

    for entry in walk_payment_index(root):
        if isinstance(entry, BadEntry):
            if entry.value is None or (entry.stage == "sequence" and entry.sequence_raw is None):
                continue
            raise entry.error
        if isinstance(entry, PaymentEntry):
            yield entry.seq, entry.payment_hash, entry.bucket


def validate_all(db, dialect, root, *, first_payment_id: int | None, switch_seq_before: int,
                 batch_size: int = 250, sample_percent: int = SAMPLE_PERCENT):
    """Every main payment's :class:`Verdict`, batch by batch (memory stays flat)."""
    v = CanonValidator(db, dialect, root.bucket(ROOT_BUCKET), first_payment_id=first_payment_id,
                       alloc=replay_allocator(switch_seq_before), sample_percent=sample_percent)
    checked = 0
    batch: list[tuple[int, bytes]] = []
    for item in iter_main_payments(root):
        batch.append(item)
        if len(batch) >= batch_size:
            for verdict in v.check(batch, checked):
                checked += verdict.counted
                yield verdict
            batch = []
    if batch:
        for verdict in v.check(batch, checked):
            yield verdict
