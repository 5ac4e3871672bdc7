"""CPU seconds of ``fast.rows.decode_payment`` alone (its LMDB access included) over
every main payment of a copied store, as the migration and validation children call
it: the payment index walk runs first and is timed apart.

    PYTHONPATH=src python bench/decode.py .bench/stores/mixed-100000 [--profile] [--repeat N]
    PYTHONPATH=src python bench/decode.py STORE --base <(git show main:src/migwizard/core/fast/rows.py)

``--base FILE`` loads another version of ``rows.py`` next to this one and times the
two alternately in the same process on the same buckets (base, new, base, new, ...):
on a loaded 2-core machine that ratio is far steadier than two separate runs. A last
line says whether both versions gave the same answers for every payment.

The store's ``data.mdb`` is copied to a temp dir first (the cached stores are
read-only for benchmarks). One JSON line per repeat; ``--profile`` adds a cProfile
breakdown of one decode loop (top 25 by tottime) on stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
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

from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET  # noqa: E402
from migwizard.core.codec.walk import PaymentEntry, walk_payment_index  # noqa: E402
from migwizard.core.fast import rows  # noqa: E402
from migwizard.core.kv.lmdb_store import LmdbStore  # noqa: E402


def load_base(path: Path):
    """Another rows.py as a sibling module (its relative imports resolve as rows.py's)."""
    spec = importlib.util.spec_from_file_location("migwizard.core.fast._rows_base", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def loop(mod, rb, hashes, check=None) -> tuple[float, int, bool]:
    """(CPU seconds, fallbacks, same answers as ``check``'s module) over the payments
    ``hashes`` of ``rb``, 1000 at a time: handles are built (untimed) and results
    dropped per chunk, as the engine streams them, so the cyclic GC does not end up
    scanning 100k live objects (that alone doubled the figures)."""
    decode, fallback = mod.decode_payment, mod.FALLBACK
    cpu = 0.0
    fell = 0
    ok = True
    for i in range(0, len(hashes), 1000):
        chunk = [rb.bucket(h) for h in hashes[i:i + 1000]]
        c = time.process_time()
        out = [decode(pb) for pb in chunk]
        cpu += time.process_time() - c
        fell += sum(fp is fallback for fp in out)
        if check is not None:
            ok = ok and same([check.decode_payment(pb) for pb in chunk], out, check.FALLBACK, fallback)
    return cpu, fell, ok


def same(a, b, fa, fb) -> bool:
    return all((x is fa and y is fb) or (x is not fa and y is not fb and all(
        getattr(x, f) == getattr(y, f) for f in rows.FastPayment.__slots__)) for x, y in zip(a, b))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store", type=Path)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--base", type=Path, help="another rows.py to time alternately with this one")
    args = ap.parse_args()
    base = None
    if args.base is not None:
        copy = Path(tempfile.mkdtemp(prefix="decode-base-")) / "rows_base.py"
        copy.write_bytes(args.base.read_bytes())  # a process substitution can be read once only
        base = load_base(copy)
        shutil.rmtree(copy.parent)
    work = Path(tempfile.mkdtemp(prefix="decode-bench-"))
    try:
        kv = work / "kv"
        kv.mkdir()
        shutil.copy2(args.store / "data.mdb", kv / "data.mdb")
        with LmdbStore.open(kv, readonly=True, lock=False) as store, store.read() as root:
            c = time.process_time()
            hashes = [e.payment_hash for e in walk_payment_index(root) if isinstance(e, PaymentEntry)]
            walk_cpu = time.process_time() - c
            rb = root.bucket(PAYMENTS_ROOT_BUCKET)
            for _ in range(args.repeat):
                line = {"payments": len(hashes), "walk_cpu_s": round(walk_cpu, 2)}
                if base is not None:
                    line["base_cpu_s"], _fell, _ok = loop(base, rb, hashes)
                line["decode_cpu_s"], line["fallback"], _ok = loop(rows, rb, hashes)
                if base is not None:
                    line["ratio"] = round(line["base_cpu_s"] / line["decode_cpu_s"], 3)
                    line["base_cpu_s"] = round(line["base_cpu_s"], 3)
                line["decode_cpu_s"] = round(line["decode_cpu_s"], 3)
                line["load"] = round(os.getloadavg()[0], 2)
                print(json.dumps(line), flush=True)
            if base is not None:
                print(json.dumps({"same_answers_as_base": loop(rows, rb, hashes, check=base)[2]}), flush=True)
            if args.profile:
                prof = cProfile.Profile()
                prof.enable()
                loop(rows, rb, hashes)
                prof.disable()
                pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
