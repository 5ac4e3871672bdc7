"""LND's two batch allocators, simulated: payment sequence numbers and HTLC attempt ids.

Kept apart from the builder because the writer and the tests reason about
their horizons (what lnd stored as the bucket sequence) on their own; the
block habits they mirror are described in :mod:`.builders`.
"""

from __future__ import annotations

BLOCK_SIZE = 1000  # paymentSeqBlockSize and the switch sequencer batch


class _BlockAllocator:
    """A sequence lnd reserves in blocks: on the first call after a (simulated)
    restart it reads the stored horizon ``S``, stores ``S + 1000`` and hands out
    from that block until it is used up."""

    def __init__(self, horizon: int = 0) -> None:
        self.horizon = horizon  # the bucket sequence as stored
        self._next = horizon
        self._end = horizon  # exhausted: the next call fetches a block
        self.blocks = 0

    def restart(self) -> None:
        self._next = self._end = self.horizon

    def _first(self, start: int) -> int:
        return start

    def _reserve(self) -> None:
        """Fetch a new block when the current one is used up."""
        if self._next >= self._end:
            start = self.horizon
            self.horizon = start + BLOCK_SIZE
            self._next, self._end = self._first(start), self.horizon
            self.blocks += 1


class PaymentSeqAllocator(_BlockAllocator):
    """payments-root-bucket sequence: blocks of 1000, handed out from S+1."""

    def next(self) -> int:
        self._reserve()
        self._next += 1
        return self._next


class AttemptIdAllocator(_BlockAllocator):
    """htlcswitch persistentSequencer: blocks of 1000 handed out from S, never 0."""

    def _first(self, start: int) -> int:
        return max(start, 1)

    def next(self) -> int:
        self._reserve()
        n = self._next
        self._next += 1
        return n
