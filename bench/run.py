"""`make bench`: speed and memory, measured in one run and reported as ratios.

Every step runs in its own child process so its peak RSS is its own. Nothing
here is asserted: timings belong in this report, never in tests.

Mixed stores of 10k and 100k payments (and 1M with ``BENCH_1M=1``; or the sizes
in ``BENCH_SIZES=10000,100000``) are generated once and cached under
``.bench/stores/``. Per size and target (SQLite, PostgreSQL when one answers):
migrate and validate seconds, payments/s, peak heap (RssAnon) and RSS, and the
ratio to a RAW baseline measured in the same run: a raw LMDB cursor scan of the
whole store plus a raw driver load of the identical output rows (read back from
the migrated target) into a fresh copy of the schema -- ``executemany`` on
SQLite, binary ``COPY`` on PostgreSQL (its raw driver path); only the scan and
the inserts are timed. ``BENCH_PROFILE=1`` (default on) also runs the 100k SQLite
migrate + validate under cProfile into ``.bench/profile-100000.txt``.
The source read rates (bbolt import, channeldb_kv) use BENCH_SMALL payments
(default 5000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".bench"
SMALL = int(os.environ.get("BENCH_SMALL", "5000"))
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "").split(",") if x.strip()] or \
    [10_000, 100_000] + ([1_000_000] if os.environ.get("BENCH_1M") == "1" else [])
PROFILE = os.environ.get("BENCH_PROFILE", "1") == "1"
STORES = OUT / "stores"

CHILD = r"""
import json, resource, sys, threading, time
PEAK_ANON = [0]
def _sample():
    # RssAnon: the heap, without the LMDB/SQLite file pages that mmap reads also count in RSS.
    while True:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    PEAK_ANON[0] = max(PEAK_ANON[0], int(line.split()[1]))
        time.sleep(0.02)
threading.Thread(target=_sample, daemon=True).start()
step = sys.argv[1]
args = json.loads(sys.argv[2])
t0 = time.perf_counter()
out = {}
if step == "generate":
    from migwizard.core.generate import generate_store
    r = generate_store(args["kv"], payments=args["n"], seed=1, profile="mixed")
    out["payments"] = args["n"]
elif step == "migrate":
    from migwizard.core.engine import Engine
    prof = None
    if args.get("profile"):
        import cProfile
        prof = cProfile.Profile()
    with Engine(args["kv"], args["url"]) as e:
        prof and prof.enable()
        t = time.perf_counter(); c = time.process_time(); r = e.migrate()
        out["migrate_s"] = time.perf_counter() - t; out["migrate_cpu_s"] = time.process_time() - c
        assert r.outcome == "complete", r.error
        out["payments"] = r.stats.payments; out["attempts"] = r.stats.attempts; out["hops"] = r.stats.hops
        out["rows"] = sum(r.stats.rows.values()); out["chunks"] = r.stats.chunks
        t = time.perf_counter(); c = time.process_time(); v = e.validate()
        out["validate_s"] = time.perf_counter() - t; out["validate_cpu_s"] = time.process_time() - c
        prof and prof.disable()
        assert v.ok, (v.error, v.differences[:3])
    if prof is not None:
        import io, pstats
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(40)
            with open(args["profile"] + f".{key}.txt", "w") as f:
                f.write(buf.getvalue())
elif step == "raw":
    # The floor: every byte of the store through an LMDB cursor, and the identical
    # output rows through the driver into a fresh schema. Only these two are timed.
    from migwizard.core.kv.lmdb_store import LmdbStore
    from migwizard.core.sql.connect import open_database
    from migwizard.core.sql.schema import apply_migrations
    from migwizard.core.sql.bulk import BulkWriter
    from migwizard.core.sql.dump import _order_columns
    from migwizard.core.engine.rows import TABLE_COLUMNS
    with LmdbStore.open(args["kv"], readonly=True) as st:
        t = time.perf_counter(); n = nb = 0
        with st._env.begin(db=st._kv) as txn:
            for k, v in txn.cursor():
                n += 1; nb += len(k) + len(v)
        out["scan_s"] = time.perf_counter() - t; out["scan_entries"] = n; out["scan_bytes"] = nb
    src = open_database(args["src"]); dst = open_database(args["url"]); apply_migrations(dst)
    writer = BulkWriter(dst)
    pg = args["url"].startswith("postgres")
    ins = 0.0; rows = 0
    for table, cols in TABLE_COLUMNS.items():
        order = ", ".join(f'"{c}"' for c in _order_columns(src, table))
        cur = src.cursor()
        cur.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}" ORDER BY {order}')
        while True:
            batch = cur.fetchmany(50_000)
            if not batch:
                break
            t = time.perf_counter()
            with dst.atomic():
                if pg:
                    writer.insert(table, cols, batch)
                else:
                    dst.cursor().executemany(writer.insert_sql(table, cols), batch)
            ins += time.perf_counter() - t; rows += len(batch)
    out["insert_s"] = ins; out["rows"] = rows
    out["raw_s"] = out["scan_s"] + ins
    src.close(); dst.close()
elif step == "insert_compare":
    import peewee
    from migwizard.core.sql.connect import open_database
    from migwizard.core.sql.schema import apply_migrations
    from migwizard.core.sql.bulk import BulkWriter
    from migwizard.core.sql.values import dialect_for
    from migwizard.core.sql.models import Payment
    db = open_database(args["url"]); apply_migrations(db)
    n = args["n"]
    ts = dialect_for(db).ts(1722824281891209181)
    rows = [(i, 1000 + i, ts, i.to_bytes(32, "big"), None) for i in range(1, n + 1)]
    cols = ("id", "amount_msat", "created_at", "payment_identifier", "fail_reason")
    t = time.perf_counter()
    with db.atomic():
        BulkWriter(db, dialect_for(db)).insert("payments", cols, rows)
    out["bulk_s"] = time.perf_counter() - t
    db.execute_sql("DELETE FROM payments")
    dicts = [dict(zip(cols, r)) for r in rows]
    t = time.perf_counter()
    with db.bind_ctx([Payment]), db.atomic():
        for chunk in peewee.chunked(dicts, 500):
            Payment.insert_many(chunk).execute()
    out["orm_s"] = time.perf_counter() - t
elif step == "kvsql_build":
    from migwizard.core.generate.kvsql import write_kvsql
    from migwizard.core.kv import LmdbStore
    with LmdbStore.open(args["kv"], readonly=True) as st, st.read() as root:
        out["rows"] = write_kvsql(root, args["dest"]).rows
elif step in ("kvsql_read", "bbolt_import"):
    from migwizard.core.kv import BboltReader, walk
    from migwizard.core.kv.importer import import_from, selected_buckets
    from migwizard.core.kv.kvsql import KvSqlReader
    def reader():
        return BboltReader(args["src"]) if step == "bbolt_import" else KvSqlReader(args["src"])
    with reader() as r, r.read() as root:
        top = set(selected_buckets(root, all_buckets=bool(args.get("all"))))
        t = time.perf_counter(); n = nbytes = 0
        for e in walk(root, top=top):
            n += 1; nbytes += len(e.key) + len(e.value or b"")
        out["read_s"] = time.perf_counter() - t; out["entries"] = n; out["bytes"] = nbytes
    with reader() as r:
        t = time.perf_counter(); res = import_from(r, args["dst"], all_buckets=bool(args.get("all")))
        out["import_s"] = time.perf_counter() - t
        assert res.verified and res.entries == n
out["seconds"] = time.perf_counter() - t0
out["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out["peak_anon_kib"] = PEAK_ANON[0]
print(json.dumps(out))
"""


def child(step: str, **args) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, step, json.dumps(args)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"bench step {step} failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


CREATED: list[str] = []


def pg_url() -> str | None:
    sys.path.insert(0, str(ROOT))
    try:
        from tests.support import pg

        if not pg.pg_reachable():
            return None
        name = pg.create_database("migwiz_bench_")
        CREATED.append(name)
        return pg.pg_url(name)
    except Exception:  # noqa: BLE001
        return None


def drop_created() -> None:
    if not CREATED:
        return
    from tests.support import pg

    for name in CREATED:
        pg.drop_database(name)


def cached_store(n: int) -> tuple[Path, dict | None]:
    """The mixed store of ``n`` payments (seed 1), generated once."""
    path = STORES / f"mixed-{n}"
    if (path / ".complete").exists():
        return path, None
    if path.exists():
        import shutil

        shutil.rmtree(path)
    STORES.mkdir(parents=True, exist_ok=True)
    print(f"generating {n} mixed payments (cached in {path}) ...", file=sys.stderr)
    g = child("generate", kv=str(path), n=n)
    (path / ".complete").write_text("1")
    return path, g


def measure(kv: Path, n: int, name: str, url: str, url_raw: str | None, tmp: Path) -> dict:
    print(f"{n} payments -> {name}: migrate + validate ...", file=sys.stderr)
    prof = str(OUT / f"profile-{n}-{name}") if PROFILE and n == 100_000 and name == "sqlite" else None
    m = child("migrate", kv=str(kv), url=url)
    if prof:
        print(f"{n} payments -> {name}: again under cProfile ...", file=sys.stderr)
        purl = f"sqlite:///{tmp / f'prof-{n}.sqlite'}"
        child("migrate", kv=str(kv), url=purl, profile=prof)
        m["profile"] = prof
    if url_raw:
        print(f"{n} payments -> {name}: raw baseline ...", file=sys.stderr)
        m["raw"] = child("raw", kv=str(kv), src=url, url=url_raw)
    return m


def main() -> None:
    OUT.mkdir(exist_ok=True)
    res: dict = {"sizes": SIZES, "small": SMALL, "python": sys.version.split()[0], "cpus": os.cpu_count(),
                 "affinity": len(os.sched_getaffinity(0)), "runs": {}, "generate": {}}
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        tmp = Path(tmp)
        for n in SIZES:
            kv, g = cached_store(n)
            if g:
                res["generate"][str(n)] = g
            runs = res["runs"][str(n)] = {}
            runs["sqlite"] = measure(kv, n, "sqlite", f"sqlite:///{tmp / f'{n}.sqlite'}",
                                     f"sqlite:///{tmp / f'{n}-raw.sqlite'}", tmp)
            url, url_raw = pg_url(), pg_url()
            if url and url_raw:
                runs["postgres"] = measure(kv, n, "postgres", url, url_raw, tmp)
                drop_created()
                CREATED.clear()
            for f in tmp.glob("*.sqlite*"):
                f.unlink()
        print(f"generating {SMALL} mixed payments for the source read rates ...", file=sys.stderr)
        gs = child("generate", kv=str(tmp / "kv-small"), n=SMALL)
        ic = child("insert_compare", url=f"sqlite:///{tmp / 'cmp.sqlite'}", n=50_000)
        res["sqlite_insert_compare"] = ic
        print("reading sources: bbolt fixture, channeldb_kv (SQLite, PostgreSQL) ...", file=sys.stderr)
        fixture = ROOT.parent / "shared" / "fixtures" / "synthetic-bbolt-4k-freelist-overflow.db"
        res["bbolt_import"] = (child("bbolt_import", src=str(fixture), dst=str(tmp / "bb-copy"), all=True)
                               if fixture.exists() else None)
        child("kvsql_build", kv=str(tmp / "kv-small"), dest=str(tmp / "channel.sqlite"))
        res["kvsql_sqlite"] = child("kvsql_read", src=str(tmp / "channel.sqlite"), dst=str(tmp / "kvs-copy"))
        kv_url = pg_url()
        if kv_url:
            child("kvsql_build", kv=str(tmp / "kv-small"), dest=kv_url)
            res["kvsql_postgres"] = child("kvsql_read", src=kv_url, dst=str(tmp / "kvp-copy"))
        url2 = pg_url()
        res["postgres_insert_compare"] = child("insert_compare", url=url2, n=50_000) if url2 else None
    (OUT / "results.json").write_text(json.dumps(res, indent=2))
    print(render(res))


def render(r: dict) -> str:
    lines = [f"# migwizard benchmark (one run; {r['cpus']} CPUs, {r['affinity']} usable, "
             f"Python {r['python']})", ""]
    for n, g in r["generate"].items():
        lines.append(f"Generated {n} mixed payments in {g['seconds']:.1f} s ({int(n) / g['seconds']:.0f} payments/s).")
    lines.append("")
    lines.append("| payments | target | SQL rows | chunks | migrate s | validate s | end to end s | payments/s | "
                 "raw s (scan + insert) | x raw | peak heap (RssAnon) | peak RSS |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, runs in r["runs"].items():
        for name, x in runs.items():
            e2e = x["migrate_s"] + x["validate_s"]
            raw = x.get("raw")
            rawtxt = f"{raw['raw_s']:.1f} ({raw['scan_s']:.1f} + {raw['insert_s']:.1f})" if raw else "-"
            ratio = f"{e2e / raw['raw_s']:.2f}x" if raw else "-"
            lines.append(f"| {int(n):,} | {name} | {x['rows']:,} | {x['chunks']} | {x['migrate_s']:.1f} | "
                         f"{x['validate_s']:.1f} | {e2e:.1f} | {x['payments'] / e2e:,.0f} | {rawtxt} | {ratio} | "
                         f"{x['peak_anon_kib'] / 1024:.0f} MiB | {x['maxrss_kib'] / 1024:.0f} MiB |")
    lines.append("")
    sq = {int(n): runs["sqlite"] for n, runs in r["runs"].items() if "sqlite" in runs}
    if len(sq) >= 2:
        lo, hi = min(sq), max(sq)
        t_lo = sq[lo]["migrate_s"] + sq[lo]["validate_s"]
        t_hi = sq[hi]["migrate_s"] + sq[hi]["validate_s"]
        lines.append(f"Scaling (SQLite): {hi:,} payments take {t_hi / t_lo:.1f}x the time of {lo:,} "
                     f"({hi / lo:.0f}x the payments); peak heap {sq[hi]['peak_anon_kib'] / sq[lo]['peak_anon_kib']:.2f}x.")
    for n, runs in r["runs"].items():
        if "sqlite" in runs and "postgres" in runs:
            a, b = runs["sqlite"], runs["postgres"]
            lines.append(f"PostgreSQL / SQLite end to end at {int(n):,}: "
                         f"{(b['migrate_s'] + b['validate_s']) / (a['migrate_s'] + a['validate_s']):.2f}x.")
    ic = r["sqlite_insert_compare"]
    lines.append(f"SQLite, 50k payment rows: peewee insert_many takes {ic['orm_s'] / ic['bulk_s']:.1f}x "
                 "the time of the rendered-statement executemany path.")
    pc = r.get("postgres_insert_compare")
    if pc:
        lines.append(f"PostgreSQL, 50k payment rows: peewee insert_many takes {pc['orm_s'] / pc['bulk_s']:.1f}x "
                     "the time of the COPY path.")
    lines.append("")
    lines.append("Source read rates (the snapshot into the LMDB working store; import = copy + verifying re-walk):")
    lines.append("")
    lines.append("| source | entries | MiB (keys+values) | read entries/s | read MB/s | import entries/s | import MB/s |")
    lines.append("|---|---|---|---|---|---|---|")
    for name, key in (("bbolt (synthetic fixture, all buckets)", "bbolt_import"),
                      (f"channeldb_kv, SQLite ({r['small']} payments)", "kvsql_sqlite"),
                      (f"channeldb_kv, PostgreSQL ({r['small']} payments)", "kvsql_postgres")):
        x = r.get(key)
        if not x:
            continue
        mb = x["bytes"] / 1e6
        lines.append(f"| {name} | {x['entries']} | {x['bytes'] / 2**20:.1f} | {x['entries'] / x['read_s']:.0f} | "
                     f"{mb / x['read_s']:.1f} | {x['entries'] / x['import_s']:.0f} | {mb / x['import_s']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        main()
    finally:
        drop_created()
