"""Validation's index walk, in one place, for whichever process runs it.

Validation has a KV half (walk the index, digest and decode every payment) and an
SQL half (read the rows back, compare). With two cores the KV half runs in a
second process (``fast.kvside``), else in this one; either way it is *this*
generator, so batch boundaries -- and with them what a run that stops on a bad
entry or a cancel has checked -- are the same in both modes.

Everything the walk learns besides the payments it hands on -- the index facts
(fingerprint, unmatched and missing entries; ``markers.IndexFacts``) and, once the
index is walked, the content digest of the payment tree that commit re-checks and
the number of payment buckets (one raw pass, ``digest.payment_tree_digest``) -- is
accumulated by :class:`WalkFacts`, fed every entry the walk yields, and delivered
once at the end as a picklable :class:`WalkResult`. Keeping it in one object means
a fact added to the walk is added once and is computed wherever the walk runs, in
the same read snapshot as the payments compared. Validation asks for the result
without the digest (``digest=False``) and digests in the comparing process
(``digest.PaymentTreeDigest``, a batch at a time, on its own snapshot of the same
version), which has the spare time while the walking process decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..codec.walk import BadEntry, PaymentEntry, walk_payment_index
from ..kv.errors import KVError
from .digest import payment_tree_digest
from .markers import IndexFacts

BATCH = "batch"
FACTS = "facts"


class SnapshotMismatch(KVError):
    """The second process's LMDB read snapshot is not the parent's: the two halves of
    the validation would compare different versions of the store."""


@dataclass(frozen=True)
class WalkResult:
    """What the finished walk learnt; crosses the process boundary."""

    index: IndexFacts  # fingerprint, entry counts, unmatched and missing entries (finished)
    content_digest: str | None  # the payment tree's digest (digest.CONTENT_DIGEST_VERSION); None: not asked
    root_payments: int | None  # payment buckets directly under payments-root-bucket; None: not asked


class WalkFacts:
    """Accumulates the walk's facts from each entry it yields (all kinds, in order)."""

    def __init__(self) -> None:
        self._index = IndexFacts()

    def feed(self, entry: Any) -> None:
        self._index.see(entry)

    def result(self, root: Any, digest: bool = True) -> WalkResult:
        if not digest:
            return WalkResult(self._index.frozen(), None, None)
        content, root_payments = payment_tree_digest(root)
        return WalkResult(self._index.frozen(), content, root_payments)


def validation_walk(root: Any, batch_size: int, item: Callable[[int, bytes, Any], Any],
                    finish: Callable[[list], Any] = lambda b: b, *, digest: bool = True) -> Iterator[tuple[str, Any]]:
    """``(BATCH, finish([item(seq, payment hash, bucket), ...]))`` of at most ``batch_size``
    main payments in index order, then ``(FACTS, WalkResult)``. ``finish`` may add what
    the batch says as a whole (it must stay a list of the items). ``digest=False``: the
    result leaves the payment tree's digest to the caller (validation's comparing process
    computes it, ``digest.PaymentTreeDigest``, on its own snapshot of the same version).

    Skips what LND's loop skips (non-value entries, missing buckets, duplicates' index
    entries); an entry LND's migration aborts on raises its located DecodeError, and
    the payments walked since the last full batch are then never handed on (as the
    in-process validation always did)."""
    facts = WalkFacts()
    batch: list = []
    for entry in walk_payment_index(root):
        facts.feed(entry)
        if isinstance(entry, BadEntry):
            if entry.value is None or (entry.stage == "sequence" and entry.sequence_raw is None):
                continue  # LND's loop never reaches a payment here; counts catch a mismatch
            raise entry.error
        if not isinstance(entry, PaymentEntry):
            continue  # duplicates' entries and missing buckets, skipped as the migration does
        batch.append(item(entry.seq, entry.payment_hash, entry.bucket))
        if len(batch) >= batch_size:
            yield BATCH, finish(batch)
            batch = []
    if batch:
        yield BATCH, finish(batch)
    yield FACTS, facts.result(root, digest)


def tree_item(seq: int, phash: bytes, bucket: Any) -> tuple[int, bytes, Any]:
    """The tree path's item: the bucket itself (that path never leaves this process)."""
    return seq, phash, bucket


def txn_id(root: Any) -> int:
    """The LMDB transaction id of a read snapshot (``store.read()``'s root bucket):
    equal ids are the same committed version of the store."""
    return root._txn.id()
