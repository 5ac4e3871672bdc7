"""Rate and ETA over a rolling window, as LND's migration logs them (300 s window).

A whole-run average makes the ETA lie after a slow start or a resume; a rolling
window tracks what the disk is doing now.
"""

from __future__ import annotations

from collections import deque


class RollingRate:
    def __init__(self, window_s: float = 300.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int, int]] = deque()

    def add(self, t: float, payments: int, attempts: int) -> None:
        self._samples.append((t, payments, attempts))
        while len(self._samples) > 2 and t - self._samples[0][0] > self.window_s:
            self._samples.popleft()

    def rates(self) -> tuple[float, float]:
        if len(self._samples) < 2:
            return 0.0, 0.0
        t0, p0, a0 = self._samples[0]
        t1, p1, a1 = self._samples[-1]
        dt = t1 - t0
        if dt <= 0:
            return 0.0, 0.0
        return (p1 - p0) / dt, (a1 - a0) / dt

    def eta(self, remaining: int) -> float | None:
        pps, _ = self.rates()
        if pps <= 0:
            return None
        return max(0.0, remaining / pps)
