"""The validate phase alone, again and again, on one migrated copy: per-payment CPU of
each process at 100k and 1M without paying for a migration each time.

    PYTHONPATH=src python bench/valrerun.py .bench/stores/mixed-1000000 WORKDIR migrate
    PYTHONPATH=src python bench/valrerun.py - WORKDIR [cprofile-out]

The first form copies the store into WORKDIR and migrates it (once); the second runs
validate on WORKDIR's copy (validation writes nothing but its run record, so the copy
can be validated any number of times). One JSON line per run: wall, the parent's CPU,
the validation child's CPU (rusage of reaped children), the parent's garbage-collector
time per generation, and the 1-minute load average before and after: on the shared
2-core machine the same 1M validation took 58 s or 99 s of parent CPU depending on the
load (docs/PERFORMANCE.md, "Validate at 1M"), so compare runs interleaved.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


class GcTime:
    """CPU seconds the collector spent, per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds, self.runs, self._t = [0.0, 0.0, 0.0], [0, 0, 0], 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.process_time()
        else:
            g = info["generation"]
            self.seconds[g] += time.process_time() - self._t
            self.runs[g] += 1


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    from migwizard.core.engine import Engine

    work = Path(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3] == "migrate":
        from workcopy import work_copy

        _src, work, kv, db = work_copy("valrerun-")
        with Engine(kv, f"sqlite:///{db}") as e:
            t, c = time.perf_counter(), time.process_time()
            r = e.migrate()
            assert r.outcome.value == "complete", r
            print(json.dumps({"migrate_s": round(time.perf_counter() - t, 2),
                              "migrate_cpu_s": round(time.process_time() - c, 2)}), flush=True)
        return
    prof_out = sys.argv[3] if len(sys.argv) > 3 else None
    with Engine(work / "kv", f"sqlite:///{work / 'target.sqlite'}") as e:
        out: dict = {"work": str(work), "load_before": os.getloadavg()[0]}
        gct = GcTime()
        prof = None
        if prof_out:
            import cProfile

            prof = cProfile.Profile(time.process_time)  # CPU, not wall: the machine is shared
            prof.enable()
        t, c, k = time.perf_counter(), time.process_time(), _children_cpu()
        v = e.validate()
        out.update(ok=v.ok, validate_s=round(time.perf_counter() - t, 2),
                   parent_cpu_s=round(time.process_time() - c, 2), child_cpu_s=round(_children_cpu() - k, 2))
        if prof:
            prof.disable()
            prof.dump_stats(prof_out)
        out.update(gc_s=[round(s, 2) for s in gct.seconds], gc_runs=gct.runs, load_after=os.getloadavg()[0])
        print(json.dumps(out), flush=True)
        assert v.ok, v.error


if __name__ == "__main__":
    main()
