"""`make bench` part: the fast paths against the current ones, CPU seconds and ratios.

1. KV -> rows: ``fetch_payment`` + ``expected_sql_payment`` + ``add_payment_rows``
   (today's migration loop without the SQL insert) against ``fast.rows`` with the
   full decoder as fallback, over the same store, rows discarded every 500 payments.
2. Validation: the engine's ``validate()`` against ``fast.canon.validate_all`` on
   the same migrated SQLite target.
3. The fallback share on the mixed and edge profiles.

Sizes: BENCH_PAYMENTS (default 20000); the store is cached in .bench/. Nothing is
asserted: numbers are printed and written to .bench/fastpath.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from migwizard.core.codec import decode_index_entry, decode_sequence, fetch_payment, render_key  # noqa: E402
from migwizard.core.engine import Engine  # noqa: E402
from migwizard.core.engine.normalisations import NormalisationCounter  # noqa: E402
from migwizard.core.engine.rows import ChunkRows, IdCounters, add_payment_rows, expected_duplicates  # noqa: E402
from migwizard.core.engine.runs import latest_run  # noqa: E402
from migwizard.core.engine.transform import expected_sql_payment  # noqa: E402
from migwizard.core.fast import FALLBACK, append_rows, decode_payment  # noqa: E402
from migwizard.core.fast.canon import validate_all  # noqa: E402
from migwizard.core.fast.timefmt import ts_for  # noqa: E402
from migwizard.core.generate import generate_store  # noqa: E402
from migwizard.core.kv.lmdb_store import LmdbStore  # noqa: E402
from migwizard.core.sql.connect import open_database  # noqa: E402
from migwizard.core.sql.values import SQLITE, dialect_for  # noqa: E402

OUT = ROOT / ".bench"
N = int(os.environ.get("BENCH_PAYMENTS", "20000"))
ROOT_BUCKET = b"payments-root-bucket"


def store(profile: str, n: int) -> Path:
    path = OUT / f"fastpath-{profile}-{n}"
    if not (path / "data.mdb").exists():
        generate_store(path, payments=n, seed=1, profile=profile)
    return path


def payments(root):
    rb, ib = root.bucket(ROOT_BUCKET), root.bucket(b"payments-index-bucket")
    for key, value in ib.items():
        phash = decode_index_entry(value)
        pb = rb.bucket(phash)
        if pb is not None and decode_sequence(pb.get(b"payment-sequence-key")) == int.from_bytes(key, "big"):
            yield phash, pb


def _alloc():
    state = [1]

    def alloc() -> int:
        state[0] += 1
        return state[0] - 1

    return alloc


def current_rows(kv: Path) -> float:
    ts, alloc, counter = SQLITE.ts, _alloc(), NormalisationCounter()
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        t0 = time.process_time()
        chunk, ids, k = ChunkRows(), IdCounters({}), 0
        for phash, pb in payments(root):
            p = fetch_payment(pb, payment_id=phash, key_prefix=render_key(ROOT_BUCKET))
            t = expected_sql_payment(p, phash, allocate_zero_id=alloc, counter=counter, in_place=True)
            add_payment_rows(chunk, t.payment, phash, expected_duplicates(p, counter), ids, ts)
            k += 1
            if k % 500 == 0:
                chunk = ChunkRows()
        return time.process_time() - t0


def fast_rows(kv: Path) -> tuple[float, int, int]:
    ts, fts, alloc, counter = SQLITE.ts, ts_for(SQLITE), _alloc(), NormalisationCounter()
    n = fell = 0
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        t0 = time.process_time()
        chunk, ids = ChunkRows(), IdCounters({})
        for phash, pb in payments(root):
            fp = decode_payment(pb)
            if fp is FALLBACK:
                fell += 1
                p = fetch_payment(pb, payment_id=phash, key_prefix=render_key(ROOT_BUCKET))
                t = expected_sql_payment(p, phash, allocate_zero_id=alloc, counter=counter, in_place=True)
                add_payment_rows(chunk, t.payment, phash, expected_duplicates(p, counter), ids, ts)
            else:
                append_rows(chunk, fp, phash, ids, fts)
            n += 1
            if n % 500 == 0:
                chunk = ChunkRows()
        return time.process_time() - t0, n, fell


def scan_only(kv: Path) -> float:
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        t0 = time.process_time()
        for _phash, pb in payments(root):
            hb = pb.bucket(b"payment-htlcs-bucket")
            if hb is not None:
                for _kv in hb.items():
                    pass
        return time.process_time() - t0


def validation(kv: Path, url: str) -> dict[str, float]:
    with Engine(kv, url, chunk_size=2000) as e:
        assert e.migrate().outcome == "complete"
        t0, w0 = time.process_time(), time.perf_counter()
        rep = e.validate()
        cur_cpu, cur_wall = time.process_time() - t0, time.perf_counter() - w0
        assert rep.ok
    db = open_database(url)
    try:
        run = latest_run(db)
        with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
            t0, w0 = time.process_time(), time.perf_counter()
            routes: dict[str, int] = {}
            for v in validate_all(db, dialect_for(db), root, first_payment_id=run.first_payment_id,
                                  switch_seq_before=run.switch_seq_before or 0):
                assert not v.differences, v.differences[:3]
                routes[v.route] = routes.get(v.route, 0) + 1
            fast_cpu, fast_wall = time.process_time() - t0, time.perf_counter() - w0
    finally:
        db.close()
    return {"current_cpu_s": cur_cpu, "current_wall_s": cur_wall, "canon_cpu_s": fast_cpu, "canon_wall_s": fast_wall,
            "routes": routes}


def _pg():
    """tests.support.pg (as bench/run.py uses it), or None without a reachable server."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests.support import pg

        return pg if pg.pg_reachable() else None
    except Exception:  # noqa: BLE001
        return None


def main() -> None:
    OUT.mkdir(exist_ok=True)
    mixed = store("mixed", N)
    edge = store("edge", max(2000, N // 10))
    res: dict[str, object] = {"payments": N}
    res["scan_cpu_s"] = scan_only(mixed)
    res["current_rows_cpu_s"] = current_rows(mixed)
    cpu, n, fell = fast_rows(mixed)
    res["fast_rows_cpu_s"] = cpu
    res["fallback_mixed"] = fell / n
    _c, n_e, fell_e = fast_rows(edge)
    res["fallback_edge"] = fell_e / n_e
    res["edge_payments"] = n_e
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        res["validation"] = validation(mixed, f"sqlite:///{Path(tmp) / 'target.db'}")
    res["validation_postgres"] = None
    pg = _pg()
    if pg is not None:
        name = pg.create_database("migwiz_bench_fast_")
        try:
            res["validation_postgres"] = validation(mixed, pg.pg_url(name))
        finally:
            pg.drop_database(name)
    v = res["validation"]
    print(f"fast paths, {N} mixed payments (CPU seconds, this process)")
    print(f"  KV scan alone                     {res['scan_cpu_s']:7.2f} s")
    print(f"  decode+transform+rows (current)   {res['current_rows_cpu_s']:7.2f} s")
    print(f"  fast rows (+ fallback)            {res['fast_rows_cpu_s']:7.2f} s   "
          f"ratio {res['current_rows_cpu_s'] / res['fast_rows_cpu_s']:.2f}x")
    print(f"  validate (engine, SQLite)         {v['current_cpu_s']:7.2f} s   wall {v['current_wall_s']:.2f} s")
    print(f"  validate (canonical tuples)       {v['canon_cpu_s']:7.2f} s   wall {v['canon_wall_s']:.2f} s   "
          f"ratio {v['current_cpu_s'] / v['canon_cpu_s']:.2f}x   routes {v['routes']}")
    vp = res["validation_postgres"]
    if vp:
        print(f"  validate (engine, PostgreSQL)     {vp['current_cpu_s']:7.2f} s   wall {vp['current_wall_s']:.2f} s")
        print(f"  validate (canonical, PostgreSQL)  {vp['canon_cpu_s']:7.2f} s   wall {vp['canon_wall_s']:.2f} s   "
              f"ratio {vp['current_cpu_s'] / vp['canon_cpu_s']:.2f}x (client CPU)")
    else:
        print("  PostgreSQL: no server on 127.0.0.1:5432, skipped")
    print(f"  fallback share: mixed {100 * res['fallback_mixed']:.2f}%, "
          f"edge ({n_e}) {100 * res['fallback_edge']:.2f}%")
    (OUT / "fastpath.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
