"""CPU seconds of ``fast.rows.decode_payment`` alone (its LMDB access included) over
every main payment of a copied store, as the migration and validation children call
it: the payment index walk runs first and is timed apart.

    PYTHONPATH=src python bench/decode.py .bench/stores/mixed-100000 [--profile] [--repeat N]

The store's ``data.mdb`` is copied to a temp dir (the cached stores are read-only for
benchmarks; opening read-only without a lock still needs no writes, but a copy keeps
concurrent engine runs on the original out of the way). One JSON line per repeat;
``--profile`` adds a cProfile breakdown of the decode loop (top 25 by tottime).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from migwizard.core.codec.walk import PaymentEntry, walk_payment_index  # noqa: E402
from migwizard.core.fast.rows import FALLBACK, decode_payment  # noqa: E402
from migwizard.core.kv.lmdb_store import LmdbStore  # noqa: E402


def run(kv: Path, profile: bool) -> dict:
    with LmdbStore.open(kv, readonly=True, lock=False) as store, store.read() as root:
        c = time.process_time()
        buckets = [e.bucket for e in walk_payment_index(root) if isinstance(e, PaymentEntry)]
        walk_cpu = time.process_time() - c
        prof = cProfile.Profile() if profile else None
        c = time.process_time()
        if prof is not None:
            prof.enable()
        fell = 0
        for pb in buckets:
            if decode_payment(pb) is FALLBACK:
                fell += 1
        if prof is not None:
            prof.disable()
        decode_cpu = time.process_time() - c
    out = {"payments": len(buckets), "fallback": fell, "walk_cpu_s": round(walk_cpu, 2),
           "decode_cpu_s": round(decode_cpu, 2), "load": round(os.getloadavg()[0], 2)}
    if prof is not None:
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store", type=Path)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="decode-bench-"))
    try:
        kv = work / "kv"
        kv.mkdir()
        shutil.copy2(args.store / "data.mdb", kv / "data.mdb")
        for _ in range(args.repeat):
            print(json.dumps(run(kv, args.profile)), flush=True)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
