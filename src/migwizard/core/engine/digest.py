"""The content digest: what validation compared, re-checked at commit.

The run's fingerprint covers the payment index; a payment whose bucket changes
while its index entry stays (an in-flight HTLC settled by a tool writing the
copy, a hand edit) would pass it. Validation records a digest of the payment
tree computed in its own read transaction, commit computes it again and refuses
a difference (issue 9, item 10). The digest is one raw pass, no payment decoded
(issue 11 item 2); a run validated by an older migwizard (no digest version in
its record) is re-checked the way it was digested.
"""

from __future__ import annotations

import hashlib
import sys

from ..codec.errors import DecodeError
from ..codec.keys import PAYMENTS_ROOT_BUCKET
from ..codec.walk import PaymentEntry, walk_payment_index
from ..kv.errors import KVError
from ..kv.rawpass import tree_digest_steps
from .markers import damaged
from .results import EngineError, ExitCode


# What run.stats["content_digest"] was computed over: absent = the first way (the
# payment buckets in index order, through the bucket interface; runs validated by
# migwizard before issue 11), 2 = the whole payment tree by raw records (tree_digest).
CONTENT_DIGEST_VERSION = 2


def payment_tree_digest(root) -> tuple[str, int]:
    """The content digest of everything under payments-root-bucket, and the payment
    buckets directly under it, in one raw pass (no payment decoded).

    Validation computes it inside its own read transaction (a snapshot: exactly what
    it compared, and more: payments the index does not list too); commit computes it
    again, so a payment changed between validation and commit is caught (issue 9,
    item 10). A damaged record is a typed refusal naming it (exit 2)."""
    return PaymentTreeDigest(root).result()


class PaymentTreeDigest:
    """:func:`payment_tree_digest` a few payments at a time.

    Validation's comparing process advances it as it compares (the pass is ~10% of
    the walking process's CPU: done there, it made that process the slower one).
    A failure is kept and raised by :meth:`result`, where the walk reported it before
    (after every payment was compared), so a damaged payment the walk's decode meets
    is still reported as such, and the outcome does not depend on who digests."""

    def __init__(self, root) -> None:
        self._h = hashlib.sha256()
        self._steps = self._run(root)
        self._done: tuple[str, int] | None = None
        self._error: BaseException | None = None

    def _run(self, root):
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        return (yield from tree_digest_steps(self._h, rb)) if rb is not None else 0

    def advance(self, payments: int) -> None:
        """Digest up to ``payments`` more payment buckets (and the records between them)."""
        steps = self._steps
        if steps is None:
            return
        try:
            for _ in range(payments):
                next(steps)
        except StopIteration as done:
            self._steps, self._done = None, (self._h.hexdigest(), done.value)
        except (KVError, DecodeError) as e:
            self._steps, self._error = None, damaged(e)
        except Exception as e:  # noqa: BLE001 -- raised by result(), where the whole pass raised it
            self._steps, self._error = None, e

    def result(self) -> tuple[str, int]:
        """The digest and the payment buckets, once the rest of the pass is done."""
        self.advance(sys.maxsize)
        if self._error is not None:
            raise self._error
        assert self._done is not None
        return self._done

    def close(self) -> None:
        if self._steps is not None:
            self._steps.close()
            self._steps = None


def content_digest(root, version: int | None = CONTENT_DIGEST_VERSION) -> str:
    """The content digest the way ``version`` computed it (see CONTENT_DIGEST_VERSION)."""
    if version is None:
        return content_digest_v1(root)
    if version != CONTENT_DIGEST_VERSION:
        raise EngineError(f"the run's content digest is of an unknown kind ({version}): it was validated by a "
                          "newer migwizard", exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint="commit with that migwizard, or validate again with this one")
    return payment_tree_digest(root)[0]


def digest_bucket(h, bucket, depth: int = 0) -> None:
    """Feed a payment bucket's raw content (keys, values, sub-buckets) into ``h``
    (the first digest's per-payment part, kept for runs validated that way)."""
    for k, v in bucket.items():
        k = bytes(k)
        if v is None:
            h.update(b"B" + len(k).to_bytes(4, "big") + k)
            sub = bucket.bucket(k)
            if sub is not None and depth < 8:
                digest_bucket(h, sub, depth + 1)
            h.update(b"E")
        else:
            v = bytes(v)
            h.update(b"V" + len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v)


def content_digest_v1(root) -> str:
    """The first content digest: the indexed payment buckets' content, in index order.
    Only for a run validated by a migwizard that recorded no digest version."""
    h = hashlib.sha256()
    try:
        for entry in walk_payment_index(root):
            if isinstance(entry, PaymentEntry):
                h.update(entry.key)
                digest_bucket(h, entry.bucket)
    except (KVError, DecodeError) as e:
        raise damaged(e) from None
    return h.hexdigest()
