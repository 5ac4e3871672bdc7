"""CPU seconds of each engine phase (preflight, migrate, validate, commit) on a copy
of a cached bench store, SQLite target: what the KV scans of issue 11 item 2 cost.

    PYTHONPATH=src python bench/phases.py .bench/stores/mixed-100000 [WORKDIR]

The store is copied (commit writes its tombstone); the target and the copy live in
WORKDIR (default: a temp dir, removed). One JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workcopy import work_copy  # noqa: E402


def main() -> None:
    src, work, kv, db = work_copy("phases-")
    from migwizard.core.engine import Engine

    out: dict = {"store": str(src), "load_before": os.getloadavg()[0]}
    with Engine(kv, f"sqlite:///{db}") as e:
        for phase in ("preflight", "migrate", "validate", "commit"):
            t, c = time.perf_counter(), time.process_time()
            r = getattr(e, phase)()
            out[f"{phase}_s"] = round(time.perf_counter() - t, 2)
            out[f"{phase}_cpu_s"] = round(time.process_time() - c, 2)
            ok = {"migrate": lambda: r.outcome == "complete", "validate": lambda: r.ok,
                  "commit": lambda: r.committed}.get(phase, lambda: True)()
            assert ok, (phase, r)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out), flush=True)
    if len(sys.argv) <= 2:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
