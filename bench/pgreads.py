"""PostgreSQL validation's read-back alone, reader by reader, over every batch of one
migrated database (``bench/pgvalrerun.py ... migrate``): this process's CPU and the
server backend's CPU (/proc) per reader, for A/B of a reader without a whole validation.

    PYTHONPATH=src:. python bench/pgreads.py DBNAME [reader ...]

Readers: flat (``canon_flatpg.read_flat_pg``, the flat check's), keyed
(``canon_pg.read_canonical_pg``, the per-payment comparison's). One JSON line per
reader with the 1-minute load average beside it (the machine is shared: interleave).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from pgsplit import proc_cpu

    from migwizard.core.engine.runs import latest_run
    from migwizard.core.fast.canon_flatpg import read_flat_pg
    from migwizard.core.fast.canon_pg import read_canonical_pg
    from migwizard.core.sql.connect import open_database
    from tests.support.pg import pg_url

    name, readers = sys.argv[1], sys.argv[2:] or ["flat", "keyed"]
    db = open_database(pg_url(name))
    run = latest_run(db)
    n, lo0, batch = run.payments_done, run.first_payment_id, 250
    ranges = [(lo, min(lo + batch - 1, lo0 + n - 1)) for lo in range(lo0, lo0 + n, batch)]
    backend = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    fns = {"flat": lambda lo, hi: sum(map(len, read_flat_pg(db, lo, hi))),
           "keyed": lambda lo, hi: len(read_canonical_pg(db, lo, hi))}
    for reader in readers:
        fn = fns[reader]
        s, t, c = proc_cpu(backend), time.perf_counter(), time.process_time()
        rows = sum(fn(lo, hi) for lo, hi in ranges)
        print(json.dumps({"reader": reader, "load": os.getloadavg()[0], "payments": n, "rows": rows,
                          "wall_s": round(time.perf_counter() - t, 2), "cpu_s": round(time.process_time() - c, 2),
                          "server_cpu_s": round(proc_cpu(backend) - s, 2)}), flush=True)
    db.close()


if __name__ == "__main__":
    main()
