"""The validation parent's parts, each timed alone on one migrated copy (CPU seconds):
the payment tree's digest, the flat read-back (whole and query by query) and the
time text. For A/B of one part without a whole validation each time.

    PYTHONPATH=src python bench/valparts.py WORKDIR [part ...]

WORKDIR is a ``bench/valrerun.py ... migrate`` copy (``kv/`` and ``target.sqlite``).
Parts: digest, flat, queries, times (default: all). One JSON line per part, with the
1-minute load average beside it (the machine is shared: compare interleaved runs).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _cpu(fn, *a):
    t = time.process_time()
    out = fn(*a)
    return round(time.process_time() - t, 3), out


def main() -> None:
    from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
    from migwizard.core.engine.digest import PaymentTreeDigest
    from migwizard.core.engine.runs import latest_run
    from migwizard.core.fast import canon_flat
    from migwizard.core.fast.canon import SAMPLE_PERCENT, KvSide, iter_main_payments, replay_allocator
    from migwizard.core.fast.timefmt import sqlite_time
    from migwizard.core.kv.lmdb_store import LmdbStore
    from migwizard.core.sql.connect import open_database

    work = Path(sys.argv[1])
    parts = sys.argv[2:] or ["digest", "flat", "queries", "times"]
    db = open_database(f"sqlite:///{work / 'target.sqlite'}")
    run = latest_run(db)
    n, lo0, batch = run.payments_done, run.first_payment_id, 250
    ranges = [(lo, min(lo + batch - 1, lo0 + n - 1)) for lo in range(lo0, lo0 + n, batch)]
    with LmdbStore.open(work / "kv", readonly=True) as store, store.read() as root, canon_flat.mapped_reads(db):
        for part in parts:
            out = {"part": part, "load": os.getloadavg()[0], "payments": n}
            if part == "digest":
                out["cpu_s"], res = _cpu(lambda: PaymentTreeDigest(root).result())
                out["digest"] = res[0][:16]
            elif part == "flat":
                out["cpu_s"], rows = _cpu(lambda: sum(len(t) for lo, hi in ranges
                                                      for t in canon_flat.read_flat(db, lo, hi)))
                out["rows"] = rows
            elif part == "queries":
                from migwizard.core.engine.sqlread import _query

                for i, q in enumerate(canon_flat.QUERIES):  # (slot,) query, takes the offset
                    sql, offset = q[-2], q[-1]
                    out[f"q{i}"], _ = _cpu(lambda: [_query(db, sql, (lo, lo, hi) if offset else (lo, hi))
                                                    for lo, hi in ranges])
            elif part == "times":
                m = min(n, 20_000)
                side = KvSide(sqlite_time, SAMPLE_PERCENT, False, replay_allocator(run.switch_seq_before or 0))
                preds = []
                for i, it in enumerate(iter_main_payments(root)):
                    if i >= m:
                        break
                    side.item(*it)
                    if side.flat.n == batch:
                        p = side.batch([]).flat
                        if p is not None:
                            preds.append(p)
                out["cpu_s_per_100k"], _ = _cpu(lambda: [canon_flat.with_times(p, sqlite_time)
                                                         for _ in range(100_000 // m) for p in preds])
            elif part == "compare":
                from migwizard.core.fast.canon import CanonValidator
                from migwizard.core.sql.values import dialect_for

                alloc = replay_allocator(run.switch_seq_before or 0)
                side = KvSide(sqlite_time, SAMPLE_PERCENT, False, replay_allocator(run.switch_seq_before or 0))
                v = CanonValidator(db, dialect_for(db), root.bucket(PAYMENTS_ROOT_BUCKET),
                                   first_payment_id=lo0, alloc=alloc)
                t = {"compare": 0.0, "read_flat": 0.0, "with_times": 0.0, "eq": 0.0}
                items, checked = [], 0
                pc = time.process_time

                def one(items, checked):
                    b = side.batch(items)
                    lo = lo0 + checked
                    c0 = pc()
                    verdicts = v.compare(b, checked)
                    c1 = pc()
                    got = canon_flat.read_flat(db, lo, lo + len(b) - 1)
                    c2 = pc()
                    want = canon_flat.with_times(b.flat, sqlite_time)
                    c3 = pc()
                    assert got == want
                    c4 = pc()
                    for k, d in zip(t, (c1 - c0, c2 - c1, c3 - c2, c4 - c3)):
                        t[k] += d
                    return sum(x.counted for x in verdicts)

                for it in iter_main_payments(root):
                    items.append(side.item(*it))
                    if len(items) == batch:
                        checked += one(items, checked)
                        items = []
                if items:
                    checked += one(items, checked)
                out.update({k: round(x, 3) for k, x in t.items()}, routes=dict(v.routes))
            print(json.dumps(out), flush=True)
    db.close()


if __name__ == "__main__":
    main()
