"""Where a migrate + validate spends its time: wall, this process's CPU, and (PostgreSQL)
the server's CPU, read from /proc for every backend of the run's database.

``python bench/pgsplit.py pg|sqlite KV_DIR`` prints one JSON line. PostgreSQL runs in a
fresh database (created and dropped here, through tests/support/pg.py); SQLite in a
temporary file. The server's processes must be readable in /proc (same machine).
Used for issue 11's "PostgreSQL within 1.3x of SQLite" (docs/PERFORMANCE.md,
"PostgreSQL"); nothing here is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return None


class ServerCPU:
    """Polls pg_stat_activity for the backends of one database and keeps each one's last
    CPU reading (a backend that ends between polls loses at most 0.1 s)."""

    def __init__(self, dbname: str) -> None:
        from tests.support.pg import _connect, pg_user

        self.conn = _connect(pg_user())
        self.dbname = dbname
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        for (pid,) in self.conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                                        "AND pid <> pg_backend_pid()", (self.dbname,)).fetchall():
            c = proc_cpu(pid)
            if c is not None:
                self.first.setdefault(pid, c)
                self.last[pid] = c

    def _loop(self) -> None:
        while not self.stop.is_set():
            self._poll()
            time.sleep(0.1)

    def total(self) -> float:
        self._poll()
        return sum(c - self.first[p] for p, c in self.last.items())

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.conn.close()


def main() -> None:
    from migwizard.core.engine import Engine

    target, kv = sys.argv[1], sys.argv[2]
    out: dict = {"target": target, "load": os.getloadavg()[0]}
    tmp = server = None
    if target == "pg":
        from tests.support.pg import create_database, drop_database, pg_url

        name = create_database("migwiz_bench_")
        url = pg_url(name)
        server = ServerCPU(name)
    else:
        tmp = tempfile.mkdtemp(prefix="migwiz-pgsplit-")
        url = f"sqlite:///{tmp}/target.sqlite"
    try:
        with Engine(kv, url) as e:
            for step in ("migrate", "validate"):
                s0 = server.total() if server else 0.0
                t, c = time.perf_counter(), time.process_time()
                r = getattr(e, step)()
                out[f"{step}_wall_s"] = round(time.perf_counter() - t, 2)
                out[f"{step}_cpu_s"] = round(time.process_time() - c, 2)
                out[f"{step}_server_cpu_s"] = round(server.total() - s0, 2) if server else 0.0
                ok = r.outcome == "complete" if step == "migrate" else r.ok
                if not ok:
                    raise SystemExit(f"{step} did not succeed: {getattr(r, 'error', None)}")
        out["load_end"] = os.getloadavg()[0]
    finally:
        if server is not None:
            server.close()
            drop_database(name)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
