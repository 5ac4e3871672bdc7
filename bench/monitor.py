"""Samples a measured process tree from outside: heap and CPU of the process, of
its children, and of the PostgreSQL server backends working for it.

Why from outside (the bench's parent process): a sampler thread inside the
measured process would charge its own CPU to the numbers it reports, and it
could not see the memory of the child process the two-process pipeline starts.
Why sampling CPU from ``/proc`` at all when ``RUSAGE_CHILDREN`` exists: rusage
only counts children once they are joined, and a PostgreSQL backend is no child
of ours; sampling sees both while they live (the last value seen is kept, so a
child that exits loses at most one interval).

All times are ``time.monotonic()``: CLOCK_MONOTONIC is one clock for every
process of the machine, so the measured process can report its phase
boundaries and this module cuts its samples there (:meth:`Monitor.window`).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    t: float  # time.monotonic()
    main_anon_kib: int  # RssAnon of the measured process
    children_anon_kib: int  # sum of its descendants' RssAnon at this instant
    children_cpu_s: float  # cumulative CPU of every descendant seen so far (last value seen)
    backend_cpu_s: float  # cumulative CPU of every PostgreSQL backend seen so far


def rss_anon_kib(pid: int) -> int:
    """RssAnon: the heap, without the memory-mapped LMDB/SQLite file pages RSS also counts."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_of(pid: int) -> tuple[int, float] | None:
    """(start time in ticks, user + system CPU seconds) of a live process, or None.

    The start time tells a reused pid from the process seen before."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    utime, stime, start = int(fields[11]), int(fields[12]), int(fields[19])
    return start, (utime + stime) / CLK_TCK


def children_of(pid: int) -> list[int]:
    """Direct children (every thread's, since a child belongs to the thread that forked it)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            out.extend(int(x) for x in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = children_of(pid)
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children_of(p))
    return found


class _CpuLedger:
    """Last CPU value seen per process; the sum is monotonic even as processes exit."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], float] = {}

    def see(self, pids: list[int]) -> None:
        for pid in pids:
            c = cpu_of(pid)
            if c is not None:
                self._last[(pid, c[0])] = c[1]

    @property
    def total(self) -> float:
        return sum(self._last.values())


class Monitor:
    """Samples ``pid`` every ``interval`` seconds until :meth:`stop`.

    ``backends`` returns the pids of the PostgreSQL backends to count (e.g. those of
    pg_stat_activity for the benchmark's database); it is asked every
    ``backend_every`` seconds, their CPU is read at every sample."""

    def __init__(self, pid: int, interval: float = 0.05,
                 backends: Callable[[], list[int]] | None = None, backend_every: float = 0.5) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[Sample] = []
        self._backends, self._backend_every = backends, backend_every
        self._backend_pids: list[int] = []
        self._backend_asked = -1e9
        self.backend_error: str | None = None
        self._children, self._server = _CpuLedger(), _CpuLedger()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "Monitor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self._tick()
            if self._stop.wait(self.interval):
                return

    def _tick(self) -> None:
        now = time.monotonic()
        kids = descendants(self.pid)
        self._children.see(kids)
        if self._backends is not None:
            if now - self._backend_asked >= self._backend_every:
                self._backend_asked = now
                self._ask_backends()
            self._server.see(self._backend_pids)
        self.samples.append(Sample(now, rss_anon_kib(self.pid), sum(rss_anon_kib(k) for k in kids),
                                   self._children.total, self._server.total))

    def _ask_backends(self) -> None:
        try:
            self._backend_pids = list(self._backends())  # type: ignore[misc]
        except Exception as e:  # noqa: BLE001 - the server's CPU is then reported as not counted
            self.backend_error = f"{type(e).__name__}: {e}"
            self._backends = None

    def window(self, t0: float = float("-inf"), t1: float = float("inf")) -> dict:
        """Peaks and CPU between two monotonic instants (the whole run by default)."""
        ts = [s.t for s in self.samples]
        inside = self.samples[bisect.bisect_left(ts, t0):bisect.bisect_right(ts, t1)]

        def at(t: float, field: str) -> float:
            i = bisect.bisect_right(ts, t) - 1
            return getattr(self.samples[i], field) if i >= 0 else 0.0

        last = min(t1, ts[-1]) if ts else t1
        return {
            "samples": len(inside),
            "peak_main_anon_kib": max((s.main_anon_kib for s in inside), default=0),
            "peak_children_anon_kib": max((s.children_anon_kib for s in inside), default=0),
            "peak_total_anon_kib": max((s.main_anon_kib + s.children_anon_kib for s in inside), default=0),
            "children_cpu_s": at(last, "children_cpu_s") - at(t0, "children_cpu_s"),
            "backend_cpu_s": (at(last, "backend_cpu_s") - at(t0, "backend_cpu_s")
                              if self._backends is not None else None),  # None: not counted
        }
