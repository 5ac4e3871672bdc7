"""`make bench`: speed and memory, measured in one run and reported as ratios.

Every step runs in its own child process so its peak RSS is its own. Nothing
here is asserted: timings belong in this report, never in tests. Sizes can be
changed with BENCH_PAYMENTS (default 20000) and BENCH_SMALL (default 5000).
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
N = int(os.environ.get("BENCH_PAYMENTS", "20000"))
SMALL = int(os.environ.get("BENCH_SMALL", "5000"))

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
    with Engine(args["kv"], args["url"], chunk_size=args.get("chunk", 500)) as e:
        t = time.perf_counter(); r = e.migrate(); out["migrate_s"] = time.perf_counter() - t
        assert r.outcome == "complete", r.error
        out["payments"] = r.stats.payments; out["attempts"] = r.stats.attempts; out["hops"] = r.stats.hops
        out["rows"] = sum(r.stats.rows.values())
        t = time.perf_counter(); v = e.validate(); out["validate_s"] = time.perf_counter() - t
        assert v.ok, (v.error, v.differences[:3])
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


def main() -> None:
    OUT.mkdir(exist_ok=True)
    res: dict = {"payments": N, "small": SMALL, "python": sys.version.split()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        tmp = Path(tmp)
        print(f"generating {N} and {SMALL} mixed payments ...", file=sys.stderr)
        g = child("generate", kv=str(tmp / "kv"), n=N)
        gs = child("generate", kv=str(tmp / "kv-small"), n=SMALL)
        res["generate"] = g
        print("migrating to SQLite ...", file=sys.stderr)
        m = child("migrate", kv=str(tmp / "kv"), url=f"sqlite:///{tmp / 'big.sqlite'}")
        ms = child("migrate", kv=str(tmp / "kv-small"), url=f"sqlite:///{tmp / 'small.sqlite'}")
        res["sqlite"] = m
        res["sqlite_small"] = ms
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
        url = pg_url()
        if url:
            print("migrating to PostgreSQL ...", file=sys.stderr)
            res["postgres"] = child("migrate", kv=str(tmp / "kv"), url=url)
            url2 = pg_url()
            res["postgres_insert_compare"] = child("insert_compare", url=url2, n=50_000) if url2 else None
        else:
            res["postgres"] = None
    (OUT / "results.json").write_text(json.dumps(res, indent=2))
    print(render(res))


def render(r: dict) -> str:
    m, ms = r["sqlite"], r["sqlite_small"]
    lines = [f"# migwizard benchmark (one run; {r['cpus']} CPUs, Python {r['python']})", ""]
    lines.append(f"Generated {r['payments']} mixed payments in {r['generate']['seconds']:.1f} s "
                 f"({r['payments'] / r['generate']['seconds']:.0f} payments/s).")
    lines.append("")
    lines.append("| target | payments | attempts | hops | SQL rows | migrate pmt/s | rows/s | validate pmt/s | "
                 "validate/migrate time | peak RSS | peak heap (RssAnon) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")

    def row(name, x):
        lines.append(f"| {name} | {x['payments']} | {x['attempts']} | {x['hops']} | {x['rows']} | "
                     f"{x['payments'] / x['migrate_s']:.0f} | {x['rows'] / x['migrate_s']:.0f} | "
                     f"{x['payments'] / x['validate_s']:.0f} | {x['validate_s'] / x['migrate_s']:.2f}x | "
                     f"{x['maxrss_kib'] / 1024:.0f} MiB | {x['peak_anon_kib'] / 1024:.0f} MiB |")

    row("SQLite", m)
    row(f"SQLite ({r['small']})", ms)
    if r.get("postgres"):
        row("PostgreSQL", r["postgres"])
    lines.append("")
    lines.append(f"Memory flatness: peak heap at {r['payments']} payments is "
                 f"{m['peak_anon_kib'] / ms['peak_anon_kib']:.2f}x the peak at {r['small']} "
                 f"({r['payments'] / r['small']:.0f}x the payments); peak RSS, which also counts the "
                 f"memory-mapped store and database pages, is {m['maxrss_kib'] / ms['maxrss_kib']:.2f}x.")
    if r.get("postgres"):
        lines.append(f"PostgreSQL vs SQLite migrate throughput: "
                     f"{(r['postgres']['payments'] / r['postgres']['migrate_s']) / (m['payments'] / m['migrate_s']):.2f}x.")
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
