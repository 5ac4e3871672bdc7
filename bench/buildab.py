"""LND's deferred index build alone, A/B by connection pragmas, on a finished SQLite target.

    PYTHONPATH=src python bench/buildab.py TARGET.sqlite ROUNDS "mmap_size=0" "mmap_size=2147418112"

Why: the build is ~7 s of the parent's CPU at 1M payments, too little to see a change to it
through a whole replay (bench/migreplay.py: 6-10 s for the same build as the machine's load
moves). Here each round, per variant in turn (A B A B ...), opens one write transaction, drops
LND's deferrable indexes, sets the variant's pragmas (``;``-separated), times
``deferred.build`` (main-thread CPU, rusage user/sys, wall, bytes read from the OS), then rolls
back, so the target is left as it was and every build scans the same tables. The dropped
indexes' pages go to the freelist and the build reuses them (the real build appends): the
tables' scans, the part a pragma like ``mmap_size`` changes, are the same. One JSON line per
build on stdout. Work on a copy: the run takes the target's write lock for its duration.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    from migwizard.core.sql import deferred
    from migwizard.core.sql.connect import open_database

    target, rounds, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:] or [""]
    db = open_database(f"sqlite:///{target}")
    names = deferred.deferrable(db)
    before = {p.split("=")[0].strip(): db.execute_sql(f"PRAGMA {p.split('=')[0].strip()}").fetchone()[0]
              for v in variants for p in v.split(";") if p.strip()}
    try:
        for _ in range(rounds):
            for v in variants:
                load = os.getloadavg()[0]
                db.execute_sql("BEGIN IMMEDIATE")
                deferred.drop(db, names)
                for name, value in before.items():
                    db.execute_sql(f"PRAGMA {name} = {value}")
                for p in (p.strip() for p in v.split(";")):
                    if p:
                        db.execute_sql(f"PRAGMA {p}")
                r0, c0, w0 = _rchar(), time.thread_time(), time.perf_counter()
                ru0 = resource.getrusage(resource.RUSAGE_SELF)
                deferred.build(db, names)
                ru1 = resource.getrusage(resource.RUSAGE_SELF)
                out = {"variant": v, "cpu_s": time.thread_time() - c0, "user_s": ru1.ru_utime - ru0.ru_utime,
                       "sys_s": ru1.ru_stime - ru0.ru_stime, "wall_s": time.perf_counter() - w0,
                       "read_gb": (_rchar() - r0) / 1e9, "load_before": load, "load_after": os.getloadavg()[0],
                       "indexes": len(names)}
                db.execute_sql("ROLLBACK")
                print(json.dumps({k: round(x, 2) if isinstance(x, float) else x for k, x in out.items()}), flush=True)
    finally:
        for name, value in before.items():
            db.execute_sql(f"PRAGMA {name} = {value}")
        db.close()


if __name__ == "__main__":
    main()
