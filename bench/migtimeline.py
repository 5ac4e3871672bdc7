"""Where the migrate phase's wall time goes, in each process (issue 11, two-process pipeline).

    PYTHONPATH=src python bench/migtimeline.py .bench/stores/mixed-100000 [WORKDIR]

Copies the store, runs preflight, then migrate with the parent and child instrumented by
monkeypatching only (the engine is unchanged): the child runs a wrapper target that times
the generator (decode + row building: main thread CPU and wall), the time the main thread
waits for the bounded queue (``put`` blocked), and the feeder thread's pickling; the parent
times waiting on the queue, unpickling, each table's executemany, the commit and the final
index build (wall, and main-thread CPU per table, for the COMMITs and the build), the parent's
rusage user/sys CPU and bytes written, the whole of each load commit (``load_commit_s``/``_cpu_s``)
and the WAL file's peak (``wal_peak_mb``). ``MIGTL_PREFLIGHT=0`` skips preflight (the bench's
steps.py runs migrate without it). One JSON line on stdout.
"""

from __future__ import annotations

import json
import multiprocessing.queues as mpq
import os
import resource
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workcopy import work_copy  # noqa: E402

_C: dict[str, float] = {}


def _add(k: str, v: float) -> None:
    _C[k] = _C.get(k, 0.0) + v


class _TimedPickler:
    """Stands in for multiprocessing's ``_ForkingPickler`` to time dumps/loads."""

    def __init__(self, real) -> None:
        self._real = real

    def dumps(self, obj, protocol=None):
        t = time.perf_counter()
        out = self._real.dumps(obj, protocol)
        _add("pickle_s", time.perf_counter() - t)
        _add("pickled_bytes", len(out))
        return out

    def loads(self, data, *a, **k):
        t = time.perf_counter()
        out = self._real.loads(data, *a, **k)
        _add("unpickle_s", time.perf_counter() - t)
        return out

    def __getattr__(self, name):
        return getattr(self._real, name)


def child_produce(args: dict):
    """The migration's KV generator, timed (runs in the child)."""
    from migwizard.core.engine import migrate_kv

    mpq._ForkingPickler = _TimedPickler(mpq._ForkingPickler)
    out = args.pop("_timeline_out")
    w0, c0 = time.perf_counter(), time.process_time()
    gen = migrate_kv.produce(args)
    gen_wall = gen_cpu = yielded_wall = 0.0
    try:
        while True:
            t, tc = time.perf_counter(), time.thread_time()
            try:
                item = next(gen)
            except StopIteration:
                break
            gen_wall += time.perf_counter() - t
            gen_cpu += time.thread_time() - tc
            t = time.perf_counter()
            yield item  # the consumer puts it on the queue (blocks while the queue is full)
            yielded_wall += time.perf_counter() - t
    finally:
        d = {"child_wall_s": time.perf_counter() - w0, "child_cpu_s": time.process_time() - c0,
             "child_gen_wall_s": gen_wall, "child_gen_main_cpu_s": gen_cpu, "child_put_wall_s": yielded_wall,
             "child_pickle_s": _C.get("pickle_s", 0.0), "child_pickled_mb": _C.get("pickled_bytes", 0) / 1e6,
             "child_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        Path(out).write_text(json.dumps({k: round(v, 2) for k, v in d.items()}))


@contextmanager
def timed(add, key: str, cpu=time.thread_time):
    """The block's wall and CPU (the writer's thread unless ``cpu`` says otherwise), summed into
    ``add(key + "_s")`` and ``add(key + "_cpu_s")``, also when it raises."""
    t, c = time.perf_counter(), cpu()
    try:
        yield
    finally:
        add(f"{key}_s", time.perf_counter() - t)
        add(f"{key}_cpu_s", cpu() - c)


def time_sql_half(add) -> None:
    """Time the parent's SQL half by monkeypatching (the engine is unchanged): each table's
    executemany (wall, thread CPU, CPU per table), every commit, the chunk flushes and the
    final index build, summed into ``add(key, seconds)`` (also used by bench/migreplay.py)."""
    from migwizard.core.engine import migrate
    from migwizard.core.engine import indexes as deferred_objects
    from migwizard.core.sql import bulk

    real_insert = bulk.BulkWriter.insert

    def insert(self, table, columns, rows):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return real_insert(self, table, columns, rows)
        finally:
            add("executemany_s", time.perf_counter() - t)
            add("executemany_cpu_s", time.thread_time() - c)
            add(f"cpu_{table}", time.thread_time() - c)

    bulk.BulkWriter.insert = insert

    real_txn = migrate.write_txn

    @contextmanager
    def write_txn(dbh):
        cm = real_txn(dbh)
        r = cm.__enter__()
        try:
            yield r
        except BaseException:
            if not cm.__exit__(*sys.exc_info()):
                raise
        else:
            t, c = time.perf_counter(), time.thread_time()
            cm.__exit__(None, None, None)
            add("commit_s", time.perf_counter() - t)
            add("commit_cpu_s", time.thread_time() - c)

    migrate.write_txn = write_txn

    real_flush = migrate._Migration._flush

    def flush(self, chunk, root):
        with timed(add, "flush"):
            return real_flush(self, chunk, root)

    migrate._Migration._flush = flush

    # The whole of each load transaction's commit on the writer's thread (``commit_s`` is the COMMIT
    # statement alone, plus the final one with the index build): SQLite's automatic checkpoint runs
    # inside the COMMIT, a checkpoint the load would run itself after it. And the WAL file's peak
    # size after a commit (``wal_mb`` is its size at the end, after the engine closed it).
    real_commit = migrate._Migration._commit
    peak = [0.0]

    def commit(self, root):
        try:
            with timed(add, "load_commit"):
                return real_commit(self, root)
        finally:
            wal = Path(str(self.db.database) + "-wal")
            size = wal.stat().st_size / 1e6 if wal.exists() else 0.0
            if size > peak[0]:
                add("wal_peak_mb", size - peak[0])  # a sum of increases: the peak
                peak[0] = size

    migrate._Migration._commit = commit

    real_build = deferred_objects.build_in_txn

    def build(dbh, run):
        with timed(add, "index_build", time.process_time):
            return real_build(dbh, run)

    migrate.deferred_objects.build_in_txn = build


def main() -> None:
    src, work, kv, db = work_copy("migtl-")
    child_out = work / "child.json"
    child_out.unlink(missing_ok=True)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from migwizard.core.engine import Engine, migrate, migrate_kv, workers

    mpq._ForkingPickler = _TimedPickler(mpq._ForkingPickler)

    real_stream = workers.stream

    def stream(target, args, **kw):
        if target == migrate_kv.TARGET and kw.get("workers") == 2:
            target = "migtimeline:child_produce"
            args = {**args, "_timeline_out": str(child_out)}
        return real_stream(target, args, **kw)

    migrate.workers.stream = stream  # type: ignore[attr-defined]

    real_get = mpq.Queue.get

    def get(self, *a, **k):
        t = time.perf_counter()
        try:
            return real_get(self, *a, **k)
        finally:
            _add("queue_get_s", time.perf_counter() - t)

    mpq.Queue.get = get

    time_sql_half(_add)

    out: dict = {"store": str(src), "load_before": os.getloadavg()[0],
                 "workers": os.environ.get("MIGWIZ_WORKERS", ""),
                 "env": {k: v for k, v in os.environ.items() if k.startswith("MIGWIZ_")}}
    with Engine(kv, f"sqlite:///{db}") as e:
        if os.environ.get("MIGTL_PREFLIGHT", "1") != "0":
            e.preflight()
        t, c = time.perf_counter(), time.process_time()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        r = e.migrate()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        out["migrate_wall_s"] = time.perf_counter() - t
        out["parent_cpu_s"] = time.process_time() - c
        out["parent_user_s"] = ru1.ru_utime - ru0.ru_utime
        out["parent_sys_s"] = ru1.ru_stime - ru0.ru_stime
        out["parent_read_mb"] = (ru1.ru_inblock - ru0.ru_inblock) * 512 / 1e6
        out["parent_write_mb"] = (ru1.ru_oublock - ru0.ru_oublock) * 512 / 1e6
        assert r.outcome == "complete", r
    out.update(_C)
    out["commit_s"] = _C.get("commit_s", 0.0)  # chunk commits + the final one (index build inside)
    out["load_after"] = os.getloadavg()[0]
    out["parent_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if child_out.exists():
        out.update(json.loads(child_out.read_text()))
    out["wal_mb"] = round(Path(str(db) + "-wal").stat().st_size / 1e6, 1) if Path(str(db) + "-wal").exists() else 0
    print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in out.items()}), flush=True)
    if len(sys.argv) <= 2:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
