"""The validate phase alone, again and again, on one PostgreSQL database migrated once:
``bench/valrerun.py`` for PostgreSQL, with the server's CPU beside the two processes'.

    PYTHONPATH=src:. python bench/pgvalrerun.py .bench/stores/mixed-100000 WORKDIR migrate DBNAME
    PYTHONPATH=src:. python bench/pgvalrerun.py - WORKDIR validate DBNAME [cprofile-out]
    PYTHONPATH=src:. python bench/pgvalrerun.py - WORKDIR drop DBNAME

``migrate`` copies the store into WORKDIR, creates DBNAME (dropping an older one) and
migrates into it; ``validate`` validates WORKDIR's copy against it (validation writes
only its run record, so the same database can be validated any number of times).
One JSON line per run: wall, the parent's CPU, the validation child's CPU (rusage of
reaped children), the server backends' CPU (``pgsplit.ServerCPU``, /proc), and the
1-minute load average before and after. The machine is shared: compare interleaved runs.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    from migwizard.core.engine import Engine
    from pgsplit import ServerCPU
    from tests.support.pg import _connect, drop_database, pg_url, require_pg

    work, step, name = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    if step == "drop":
        drop_database(name)
        return
    if step == "migrate":
        from workcopy import work_copy

        _src, work, kv, _db = work_copy("pgvalrerun-")
        drop_database(name)
        with _connect(require_pg()) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    server = ServerCPU(name)
    try:
        with Engine(work / "kv", pg_url(name)) as e:
            out: dict = {"step": step, "load_before": os.getloadavg()[0]}
            prof = None
            if step == "validate" and len(sys.argv) > 5:
                import cProfile

                prof = cProfile.Profile(time.process_time)
                prof.enable()
            s0, t, c, k = server.total(), time.perf_counter(), time.process_time(), _children_cpu()
            r = e.migrate() if step == "migrate" else e.validate()
            out.update(wall_s=round(time.perf_counter() - t, 2), parent_cpu_s=round(time.process_time() - c, 2),
                       child_cpu_s=round(_children_cpu() - k, 2), server_cpu_s=round(server.total() - s0, 2))
            if prof:
                prof.disable()
                prof.dump_stats(sys.argv[5])
            ok = r.outcome.value == "complete" if step == "migrate" else r.ok
            out.update(ok=ok, load_after=os.getloadavg()[0])
            print(json.dumps(out), flush=True)
            assert ok, r
    finally:
        server.close()


if __name__ == "__main__":
    main()
