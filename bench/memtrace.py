"""Where the heap goes: RssAnon over one migrate + validate, with phase marks.

`make bench` reports only the peak. Finding what grows between 100k and 1M
payments needs the curve and the split between Python objects, SQLite's own
allocations and free memory glibc keeps, so this samples, every ``--interval``
seconds and in-process:

- RssAnon (the heap as the kernel counts it);
- ``sqlite3_memory_used()`` of the libsqlite3 the ``sqlite3`` module loaded
  (page cache, sorter, statements: the library's global allocator counter);
- glibc ``mallinfo2``: bytes in use and bytes free but kept by the allocator;
- the RssAnon of the second process (``core.engine.workers``), from ``/proc``;
- optionally ``tracemalloc`` (Python objects only; slows the run ~2x), with a
  top-N snapshot at every phase end.

Phase marks come from the engine's events plus two labels this tool adds by
wrapping ``deferred.build`` (post-load CREATE INDEX) and validation's
``scan_kv``. Extra SQLite pragmas (``--pragma cache_size=-16384``) replace the
engine's speed pragmas for an A/B run. Output: a per-phase table on stdout and
all samples in ``--json``. Nothing is asserted.

    PYTHONPATH=src python bench/memtrace.py --kv .bench/stores/mixed-100000
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from monitor import descendants  # noqa: E402 - bench/ on the path first
from monitor import rss_anon_kib as anon_of  # noqa: E402 - 0 for a process that just ended


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]


def _libs():
    """libsqlite3 as already loaded by ``_sqlite3`` (same global counters) and glibc."""
    import sqlite3  # noqa: F401 - loads libsqlite3 first, so CDLL returns that instance

    sq = ctypes.CDLL("libsqlite3.so.0")
    sq.sqlite3_memory_used.restype = ctypes.c_int64
    sq.sqlite3_memory_highwater.restype = ctypes.c_int64
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    return sq, libc


def rss_anon_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class Sampler:
    """A daemon thread appending one sample per interval, tagged with the current phase."""

    def __init__(self, interval: float, traced: bool) -> None:
        self.interval, self.traced = interval, traced
        self.phase = "start"
        self.samples: list[dict] = []
        self.marks: list[tuple[float, str]] = []
        self.snapshots: dict[str, list[str]] = {}
        self.t0 = time.perf_counter()
        self._sq, self._libc = _libs()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def mark(self, phase: str) -> None:
        """A new phase: sample now so the previous one's end and this one's start are exact."""
        self.sample()
        if self.traced:
            self._snapshot(self.phase)
        self.phase = phase
        self.marks.append((time.perf_counter() - self.t0, phase))

    def sample(self) -> None:
        import tracemalloc

        mi = self._libc.mallinfo2()
        self.samples.append({
            "t": round(time.perf_counter() - self.t0, 3), "phase": self.phase,
            "rss_anon_kib": rss_anon_kib(),
            "children_anon_kib": sum(anon_of(p) for p in descendants(os.getpid())),
            "sqlite_kib": self._sq.sqlite3_memory_used() // 1024,
            "malloc_used_kib": (mi.uordblks + mi.hblkhd) // 1024, "malloc_free_kib": mi.fordblks // 1024,
            "py_traced_kib": tracemalloc.get_traced_memory()[0] // 1024 if self.traced else None,
        })

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def _snapshot(self, label: str) -> None:
        import tracemalloc

        top = tracemalloc.take_snapshot().statistics("lineno")[:15]
        self.snapshots[label] = [f"{s.size / 1024:9.0f} KiB {s.count:8d} {s.traceback}" for s in top]


def _wrap(module, name: str, sampler: Sampler, label: str, after: str) -> None:
    """Label the time spent in ``module.name`` (looked up at call time by the engine)."""
    inner = getattr(module, name)

    def wrapped(*a, **kw):
        sampler.mark(label)
        try:
            return inner(*a, **kw)
        finally:
            sampler.mark(after)

    setattr(module, name, wrapped)


def _on_event(sampler: Sampler):
    from migwizard.core.engine import PhaseFinished, PhaseStarted

    def sink(ev) -> None:
        if isinstance(ev, PhaseStarted):
            sampler.mark(ev.phase.value)
        elif isinstance(ev, PhaseFinished):
            sampler.mark(f"after {ev.phase.value}")
    return sink


def _pragmas(items: list[str]) -> None:
    """Replace the engine's speed pragmas (connection-only) for an A/B run."""
    if not items:
        return
    from migwizard.core.sql import connect

    pairs = []
    for it in items:
        k, v = it.split("=", 1)
        pairs.append((k, int(v) if v.lstrip("-").isdigit() else v))
    connect.SQLITE_SPEED_PRAGMAS = tuple(pairs)


def summarise(samples: list[dict]) -> list[dict]:
    """Per phase, in order of appearance: RssAnon at start, peak and end, and the other peaks."""
    out: dict[str, dict] = {}
    for s in samples:
        p = out.setdefault(s["phase"], {"phase": s["phase"], "t0": s["t"], "start": s["rss_anon_kib"],
                                        "peak": 0, "sqlite_peak": 0, "free_peak": 0, "py_peak": 0,
                                        "child_peak": 0})
        p["t1"] = s["t"]
        p["end"] = s["rss_anon_kib"]
        p["peak"] = max(p["peak"], s["rss_anon_kib"])
        p["sqlite_peak"] = max(p["sqlite_peak"], s["sqlite_kib"])
        p["free_peak"] = max(p["free_peak"], s["malloc_free_kib"])
        p["py_peak"] = max(p["py_peak"], s["py_traced_kib"] or 0)
        p["child_peak"] = max(p["child_peak"], s.get("children_anon_kib", 0))
    return list(out.values())


def render(rows: list[dict]) -> str:
    lines = ["| phase | s | RssAnon start / peak / end MiB | SQLite peak MiB | malloc free peak MiB | "
             "Python traced peak MiB | second process peak MiB |", "|---|---|---|---|---|---|---|"]
    for p in rows:
        lines.append(f"| {p['phase']} | {p['t1'] - p['t0']:.1f} | {p['start'] / 1024:.0f} / {p['peak'] / 1024:.0f}"
                     f" / {p['end'] / 1024:.0f} | {p['sqlite_peak'] / 1024:.0f} | {p['free_peak'] / 1024:.0f} | "
                     f"{p['py_peak'] / 1024:.0f} | {p['child_peak'] / 1024:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kv", required=True)
    ap.add_argument("--sql", help="target URL (default: a fresh SQLite file in a temp dir)")
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--pragma", action="append", default=[], help="name=value, replaces the speed pragmas")
    ap.add_argument("--build-cache-kib", type=int,
                    help="page cache for the deferred index build (65536: as before the memory fix)")
    ap.add_argument("--migrate-only", action="store_true", help="skip validation")
    ap.add_argument("--json", help="write every sample here")
    a = ap.parse_args(argv)
    if a.tracemalloc:
        import tracemalloc

        tracemalloc.start(8)
    _pragmas(a.pragma)
    if a.build_cache_kib:
        from migwizard.core.sql import connect

        connect.SQLITE_BUILD_CACHE_KIB = a.build_cache_kib
    import importlib

    from migwizard.core.engine import Engine

    vmod = importlib.import_module("migwizard.core.engine.validate")
    deferred = importlib.import_module("migwizard.core.sql.deferred")

    s = Sampler(a.interval, a.tracemalloc)
    _wrap(deferred, "build", s, "index build", "migrate")
    if hasattr(vmod, "scan_kv"):  # validation no longer scans (it walks the index itself)
        _wrap(vmod, "scan_kv", s, "validate scan_kv", "validate")
    with tempfile.TemporaryDirectory() as tmp:
        url = a.sql or f"sqlite:///{Path(tmp) / 'memtrace.sqlite'}"
        s.start()
        c0, t0 = time.process_time(), time.perf_counter()
        with Engine(a.kv, url, on_event=_on_event(s)) as e:
            r = e.migrate()
            v = None if a.migrate_only else e.validate()
        s.stop()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = summarise(s.samples)
    print(f"migrate {r.outcome.value}, validate ok={v.ok if v else '-'}; {wall:.1f} s wall, {cpu:.1f} s CPU, "
          f"load {os.getloadavg()[0]:.1f}; peak RssAnon {max(x['rss_anon_kib'] for x in s.samples) / 1024:.0f} MiB,"
          f" maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
          f"sqlite3_memory_highwater {s._sq.sqlite3_memory_highwater(0) / 2**20:.0f} MiB")
    print(render(rows))
    for label, top in s.snapshots.items():
        print(f"\ntracemalloc at the end of {label}:")
        print("\n".join(top))
    if a.json:
        Path(a.json).write_text(json.dumps({"samples": s.samples, "marks": s.marks, "phases": rows}))


if __name__ == "__main__":
    main()
