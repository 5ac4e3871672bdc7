"""The heap of either phase's KV half (the second process's generator), run in this
process so it can be traced: which of its structures grows with the store?

``bench/memtrace.py`` shows the second process's RssAnon from outside; when it grows
from 100k to 1M payments this says whether live Python objects grow (tracemalloc),
glibc keeps more (mallinfo2) or pymalloc's arenas do, with a curve every ``--every``
items. The generator is the one the child runs (``migrate_kv.produce`` or
``fast.kvside._walk``), on a read-only snapshot of ``--kv``; its items are encoded as
the child encodes them and dropped. ``--tracemalloc`` adds the live Python objects and
the top allocation sites at the end (slower). Nothing is asserted.

    PYTHONPATH=src python bench/childheap.py --kv COPY/kv --phase validate --tracemalloc
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from memtrace import _MallInfo2, rss_anon_kib  # noqa: E402 - bench/ on the path first


def _items(kv: str, phase: str, after: int | None = None):
    from migwizard.core.engine import migrate_kv
    from migwizard.core.engine.rows import SwitchIdAllocator
    from migwizard.core.engine.tuning import chunk_rows, validation_batch
    from migwizard.core.fast import kvside
    from migwizard.core.kv.lmdb_store import LmdbStore

    if phase == "migrate":
        args = migrate_kv.producer_args(kv_path=kv, after=after, chunk_size=5000, max_rows=chunk_rows(),
                                        dialect="sqlite", fast=True, quarantine=False, taken=None, done=0,
                                        next_ids={}, switch_next=0, normalisations={}, counts={},
                                        progress_s=0.25)
        for item in migrate_kv.produce(args):
            yield item, migrate_kv.to_wire(item)
        return
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        for kind, payload in kvside._walk(root, validation_batch(), "sqlite", 1, SwitchIdAllocator(0)):
            yield (kind, payload), None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kv", required=True)
    ap.add_argument("--phase", choices=("migrate", "validate"), default="validate")
    ap.add_argument("--every", type=int, default=100, help="sample every this many items")
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--after", type=int, help="migrate: start after this index sequence")
    ap.add_argument("--chunks", action="store_true", help="migrate: one line per chunk (payments, rows, bytes)")
    a = ap.parse_args(argv)
    import tracemalloc

    if a.tracemalloc:
        tracemalloc.start(6)
    from migwizard.core.engine import workers

    workers._big_buffers_unmapped()  # as the child does
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    c0 = time.process_time()
    print("items | RssAnon MiB | malloc used / free MiB | Python traced MiB | gc objects")
    peak = 0
    n = 0
    for n, (item, blob) in enumerate(_items(a.kv, a.phase, a.after), 1):
        if a.chunks and hasattr(item, "rows"):
            print(f"chunk seq {item.first_seq}-{item.last_seq}: {item.payments} payments, "
                  f"{sum(map(len, item.rows.rows.values()))} rows, {len(blob) / 2**20:.1f} MiB wire, "
                  f"RssAnon {rss_anon_kib() / 1024:.1f} MiB", flush=True)
        if blob is None:
            blob = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
        item = blob = None  # noqa: F841 - dropped as the child drops it once queued
        anon = rss_anon_kib()
        peak = max(peak, anon)
        if n % a.every == 0:
            mi = libc.mallinfo2()
            traced = tracemalloc.get_traced_memory()[0] / 2**20 if a.tracemalloc else 0
            print(f"{n} | {anon / 1024:.1f} | {(mi.uordblks + mi.hblkhd) / 2**20:.1f} / {mi.fordblks / 2**20:.1f} | "
                  f"{traced:.1f} | {len(gc.get_objects())}", flush=True)
    print(f"{n} items, peak RssAnon {peak / 1024:.1f} MiB, {time.process_time() - c0:.1f} s CPU")
    if a.tracemalloc:
        for s in tracemalloc.take_snapshot().statistics("lineno")[:12]:
            print(f"{s.size / 1024:9.0f} KiB {s.count:8d} {s.traceback}")


if __name__ == "__main__":
    main()
