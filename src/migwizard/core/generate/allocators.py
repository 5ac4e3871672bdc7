"""LND's two batch allocators, simulated: payment sequence numbers and HTLC attempt ids.

Kept apart from the builder because the writer and the tests reason about
their horizons (what lnd stored as the bucket sequence) on their own; the
block habits they mirror are described in :mod:`.builders`.
"""

from __future__ import annotations

BLOCK_SIZE = 1000  # paymentSeqBlockSize and the switch sequencer batch


class PaymentSeqAllocator:
    """payments-root-bucket sequence: blocks of 1000, handed out from S+1."""

    def __init__(self, horizon: int = 0) -> None:
        self.horizon = horizon  # the bucket sequence as stored
        self._next = horizon
        self._end = horizon  # exhausted: the next call fetches a block
        self.blocks = 0

    def restart(self) -> None:
        self._next = self._end = self.horizon

    def next(self) -> int:
        if self._next >= self._end:
            start = self.horizon
            self.horizon = start + BLOCK_SIZE
            self._next, self._end = start, self.horizon
            self.blocks += 1
        self._next += 1
        return self._next


class AttemptIdAllocator:
    """htlcswitch persistentSequencer: blocks of 1000, never 0."""

    def __init__(self, horizon: int = 0) -> None:
        self.horizon = horizon  # next-payment-id-key bucket sequence
        self._next = horizon
        self._end = horizon
        self.blocks = 0

    def restart(self) -> None:
        self._next = self._end = self.horizon

    def next(self) -> int:
        if self._next >= self._end:
            start = self.horizon
            self.horizon = start + BLOCK_SIZE
            self._next, self._end = max(start, 1), self.horizon
            self.blocks += 1
        n = self._next
        self._next += 1
        return n
