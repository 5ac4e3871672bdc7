"""The migration's SQL half alone, replayed from captured chunks (issue 11, the parent at 1M).

    PYTHONPATH=src python bench/migreplay.py capture .bench/stores/mixed-1000000 WORKDIR
    PYTHONPATH=src python bench/migreplay.py replay  .bench/stores/mixed-1000000 WORKDIR

``capture`` copies the store into WORKDIR (bench/workcopy.py) and runs a real migrate whose
item stream is recorded as it reaches the parent (chunks as their marshal wire blob, other
items pickled) into ``WORKDIR/items.bin``. ``replay`` runs ``Engine.migrate`` on a fresh
target with the same KV copy, the stream read back from that file in this process: the
parent's real ``_flush``, commits and index build, with no second process competing for the
CPU, so on a shared 2-core machine one replay uses one core and its CPU is the parent's
alone. The engine is unchanged (monkeypatching only). One JSON line on stdout: wall, CPU
(user/sys), the peak RssAnon (``peak_anon_mib``), main-thread CPU in the inserts per table (``executemany_cpu_s``, ``cpu_<table>``), the commits, the index build, and the
file's bytes written (``/proc/self/io``).
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import struct
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

_C: dict[str, float] = {}
_HDR = struct.Struct("<BQ")  # kind (0 pickled, 1 wire), length


def _add(k: str, v: float) -> None:
    _C[k] = _C.get(k, 0.0) + v


def _io() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = int(v)
    return out


class _Replay:
    """An ItemStream over the captured file (in_child, as the real child stream would be)."""

    in_child = True

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb")

    def __iter__(self):
        from migwizard.core.engine import migrate_kv

        while True:
            h = self._f.read(_HDR.size)
            if not h:
                return
            kind, n = _HDR.unpack(h)
            blob = self._f.read(n)
            t = time.thread_time()
            item = migrate_kv.from_wire(blob) if kind else pickle.loads(blob)
            _add("decode_cpu_s", time.thread_time() - t)
            blob = None
            yield item

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def capture(work: Path, kv: Path, db: Path) -> dict:
    from migwizard.core.engine import Engine, migrate, migrate_kv

    real_stream = migrate.workers.stream
    f = open(work / "items.bin", "wb")

    class Recording:
        def __init__(self, s) -> None:
            self._s, self.in_child = s, s.in_child

        def __iter__(self):
            for item in self._s:
                blob = migrate_kv.to_wire(item)
                kind = 1 if blob is not None else 0
                blob = blob if blob is not None else pickle.dumps(item)
                f.write(_HDR.pack(kind, len(blob)))
                f.write(blob)
                yield item

        def close(self) -> None:
            self._s.close()

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.close()

    migrate.workers.stream = lambda *a, **k: Recording(real_stream(*a, **k))  # type: ignore[attr-defined]
    with Engine(kv, f"sqlite:///{db}") as e:
        r = e.migrate()
        assert r.outcome == "complete", r
    f.close()
    return {"captured_mb": round((work / "items.bin").stat().st_size / 1e6, 1)}


def replay(work: Path, kv: Path, db: Path) -> dict:
    from migtimeline import time_sql_half
    from migwizard.core.engine import Engine, migrate

    migrate.workers.stream = lambda *a, **k: _Replay(work / "items.bin")  # type: ignore[attr-defined]

    time_sql_half(_add)
    _variants(migrate)

    from monitor import Monitor

    out: dict = {}
    io0 = _io()
    mon = Monitor(os.getpid()).start()  # RssAnon (the heap) every 50 ms: the page cache counts in it
    with Engine(kv, f"sqlite:///{db}") as e:
        t, c = time.perf_counter(), time.process_time()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        r = e.migrate()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        out["wall_s"] = time.perf_counter() - t
        out["cpu_s"] = time.process_time() - c
        out["user_s"] = ru1.ru_utime - ru0.ru_utime
        out["sys_s"] = ru1.ru_stime - ru0.ru_stime
        assert r.outcome == "complete", r
    mon.stop()
    out["peak_anon_mib"] = mon.window()["peak_main_anon_kib"] / 1024
    io1 = _io()
    out["write_gb"] = (io1["write_bytes"] - io0["write_bytes"]) / 1e9
    out["rchar_gb"] = (io1["rchar"] - io0["rchar"]) / 1e9
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["db_mb"] = db.stat().st_size / 1e6
    out.update(_C)
    return out


def _variants(migrate) -> None:
    """A/B knobs, by monkeypatching (the engine is unchanged): ``MIGREPLAY_SORT=1`` inserts each
    chunk's payments and attempts ordered by their random unique key (same rows, same ids);
    ``MIGREPLAY_PRAGMAS="cache_spill=0;mmap_size=..."`` set for the load (after its cache);
    ``MIGREPLAY_BUILD_PRAGMAS`` the same around the final index build."""
    from operator import itemgetter

    from migwizard.core.engine.rows import TABLE_COLUMNS

    if os.environ.get("MIGREPLAY_SORT") == "1":
        keys = {"payments": itemgetter(TABLE_COLUMNS["payments"].index("payment_identifier")),
                "payment_htlc_attempts": itemgetter(TABLE_COLUMNS["payment_htlc_attempts"].index("session_key"))}
        real_flush = migrate._Migration._flush

        def flush(self, chunk, root):
            for t, k in keys.items():
                chunk.rows.rows[t].sort(key=k)
            return real_flush(self, chunk, root)

        migrate._Migration._flush = flush
    pragmas = [p.strip() for p in os.environ.get("MIGREPLAY_PRAGMAS", "").split(";") if p.strip()]
    if pragmas:
        real_cache = migrate.load_cache

        @contextmanager
        def load_cache(db):
            with real_cache(db):
                for p in pragmas:
                    db.execute_sql(f"PRAGMA {p}")
                yield

        migrate.load_cache = load_cache
    bpragmas = [p.strip() for p in os.environ.get("MIGREPLAY_BUILD_PRAGMAS", "").split(";") if p.strip()]
    if bpragmas:
        from migwizard.core.sql import deferred

        real_build = deferred.build

        def build(db, names):
            for p in bpragmas:
                db.execute_sql(f"PRAGMA {p}")
            return real_build(db, names)

        deferred.build = build


def main() -> None:
    mode, src, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    load_before = os.getloadavg()[0]  # before the run (the dict below is built after it)
    kv, db = work / "kv", work / "target.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    if mode == "capture":
        sys.argv = [sys.argv[0], str(src), str(work)]
        from workcopy import work_copy

        _src, work, kv, db = work_copy("migreplay-")
        (work / "items.bin").unlink(missing_ok=True)
        out = capture(work, kv, db)
    else:
        out = replay(work, kv, db)
    out = {"mode": mode, "store": str(src), "load_before": load_before, **out,
           "load_after": os.getloadavg()[0], "env": {k: v for k, v in os.environ.items() if k.startswith("MIGWIZ_")}}
    print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in out.items()}), flush=True)


if __name__ == "__main__":
    main()
