"""One benchmark step per process: ``python bench/steps.py STEP 'JSON args'``.

Each step runs in a fresh process so its peak heap and CPU are its own (and a
cold start is what a user sees); it prints one JSON line with its results on
stdout. The bench's parent samples the process tree from outside
(bench/monitor.py); phase boundaries are reported here as ``time.monotonic()``
instants so the parent can cut its samples per phase. Nothing is asserted but
the outcome: a bench of a failed migration would measure the wrong thing.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PROFILE_TOP = 15  # rows of the profile summary in the report


def _children_cpu_s() -> float:
    """CPU of the children this process has joined (the pipeline's decoder process)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Phase:
    """Wall, own CPU and joined children's CPU of one phase, with its monotonic bounds."""

    def __init__(self, out: dict, name: str) -> None:
        self.out, self.name = out, name

    def __enter__(self) -> "Phase":
        self.t, self.c, self.k = time.perf_counter(), time.process_time(), _children_cpu_s()
        self.out[f"{self.name}_t0"] = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        o, n = self.out, self.name
        o[f"{n}_t1"] = time.monotonic()
        o[f"{n}_s"] = time.perf_counter() - self.t
        o[f"{n}_cpu_s"] = time.process_time() - self.c
        o[f"{n}_children_cpu_s"] = _children_cpu_s() - self.k


def step_generate(args: dict, out: dict) -> None:
    from migwizard.core.generate import generate_store

    generate_store(args["kv"], payments=args["n"], seed=1, profile="mixed")
    out["payments"] = args["n"]


def step_migrate(args: dict, out: dict) -> None:
    """migrate() then validate() on a fresh target; optionally under cProfile."""
    from migwizard.core.engine import Engine

    prof = None
    if args.get("profile"):
        import cProfile

        prof = cProfile.Profile()
    with Engine(args["kv"], args["url"]) as e:
        if prof:
            prof.enable()
        with Phase(out, "migrate"):
            r = e.migrate()
        if r.outcome.value != "complete":
            raise SystemExit(f"migration did not complete: {r.error}")
        out.update(payments=r.stats.payments, attempts=r.stats.attempts, hops=r.stats.hops,
                   rows=sum(r.stats.rows.values()), chunks=r.stats.chunks)
        with Phase(out, "validate"):
            v = e.validate()
        if prof:
            prof.disable()
        if not v.ok:
            raise SystemExit(f"validation failed: {v.error} {v.differences[:3]}")
    if prof is not None:
        out["profile"] = write_profile(prof, args["profile"])


def write_profile(prof, stem: str) -> dict:
    """The full listings as text files, and the top by tottime as rows for the report."""
    import io
    import pstats

    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(40)
        Path(f"{stem}.{key}.txt").write_text(buf.getvalue())
    st = pstats.Stats(prof)
    rows = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": fn, "where": f"{_short(file)}:{line}", "calls": nc, "tottime": tt, "cumtime": ct})
    rows.sort(key=lambda r: r["tottime"], reverse=True)
    return {"total_s": st.total_tt, "top": rows[:PROFILE_TOP], "files": stem}  # type: ignore[attr-defined]


def _short(file: str) -> str:
    marker = "/migwizard/"
    if file == "~":
        return "(built-in)"
    return file[file.index(marker) + 1:] if marker in file else Path(file).name


def lmdb_scan(kv: str) -> dict:
    """Every key and value of the LMDB store through one raw cursor: the source's floor."""
    from migwizard.core.kv.lmdb_store import LmdbStore

    with LmdbStore.open(kv, readonly=True) as st:
        t, c = time.perf_counter(), time.process_time()
        n = nb = 0
        with st._env.begin(db=st._kv) as txn:
            for k, v in txn.cursor():
                n += 1
                nb += len(k) + len(v)
        return {"scan_s": time.perf_counter() - t, "scan_cpu_s": time.process_time() - c, "scan_entries": n,
                "scan_bytes": nb}


def step_raw(args: dict, out: dict) -> None:
    """The floor: the raw LMDB scan plus the identical output rows (read back from the
    migrated target) loaded through the driver into a fresh schema with LND's indexes:
    ``executemany`` on SQLite, binary ``COPY`` on PostgreSQL. Only those two are timed."""
    from migwizard.core.engine.rows import TABLE_COLUMNS
    from migwizard.core.sql.bulk import BulkWriter
    from migwizard.core.sql.connect import open_database
    from migwizard.core.sql.dump import _order_columns
    from migwizard.core.sql.schema import apply_migrations

    out.update(lmdb_scan(args["kv"]))
    src, dst = open_database(args["src"]), open_database(args["url"])
    apply_migrations(dst)
    writer = BulkWriter(dst)
    pg = args["url"].startswith("postgres")
    ins = ins_cpu = 0.0
    rows = 0
    for table, cols in TABLE_COLUMNS.items():
        order = ", ".join(f'"{c}"' for c in _order_columns(src, table))
        cur = src.cursor()
        cur.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}" ORDER BY {order}')
        while batch := cur.fetchmany(50_000):
            t, c = time.perf_counter(), time.process_time()
            with dst.atomic():
                if pg:
                    writer.insert(table, cols, batch)
                else:
                    dst.cursor().executemany(writer.insert_sql(table, cols), batch)
            ins += time.perf_counter() - t
            ins_cpu += time.process_time() - c
            rows += len(batch)
    out.update(insert_s=ins, insert_cpu_s=ins_cpu, rows=rows, raw_s=out["scan_s"] + ins,
               raw_cpu_s=out["scan_cpu_s"] + ins_cpu)  # + the server's backend CPU on PostgreSQL (bench/run.py)
    src.close()
    dst.close()


def step_insert_compare(args: dict, out: dict) -> None:
    """The same 50k payment rows through peewee's insert_many and through BulkWriter."""
    import peewee

    from migwizard.core.sql.bulk import BulkWriter
    from migwizard.core.sql.connect import open_database
    from migwizard.core.sql.models import Payment
    from migwizard.core.sql.schema import apply_migrations
    from migwizard.core.sql.values import dialect_for

    db = open_database(args["url"])
    apply_migrations(db)
    ts = dialect_for(db).ts(1722824281891209181)
    rows = [(i, 1000 + i, ts, i.to_bytes(32, "big"), None) for i in range(1, args["n"] + 1)]
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


def step_kvsql_build(args: dict, out: dict) -> None:
    from migwizard.core.generate.kvsql import write_kvsql
    from migwizard.core.kv import LmdbStore

    with LmdbStore.open(args["kv"], readonly=True) as st, st.read() as root:
        out["rows"] = write_kvsql(root, args["dest"]).rows


def step_source_read(args: dict, out: dict) -> None:
    """A bbolt file or a channeldb_kv database: walk every entry, then import it
    (copy into a fresh LMDB store + verifying re-walk)."""
    from migwizard.core.kv import BboltReader, walk
    from migwizard.core.kv.importer import import_from, selected_buckets
    from migwizard.core.kv.kvsql import KvSqlReader

    def reader():
        return BboltReader(args["src"]) if args["kind"] == "bbolt" else KvSqlReader(args["src"])

    with reader() as r, r.read() as root:
        top = set(selected_buckets(root, all_buckets=bool(args.get("all"))))
        t = time.perf_counter()
        n = nbytes = 0
        for e in walk(root, top=top):
            n += 1
            nbytes += len(e.key) + len(e.value or b"")
        out.update(read_s=time.perf_counter() - t, entries=n, bytes=nbytes)
    with reader() as r:
        t = time.perf_counter()
        res = import_from(r, args["dst"], all_buckets=bool(args.get("all")))
        out["import_s"] = time.perf_counter() - t
        if not (res.verified and res.entries == n):
            raise SystemExit(f"import not verified: {res.entries} entries, {n} read")


def step_lmdb_read(args: dict, out: dict) -> None:
    out.update(lmdb_scan(args["kv"]))


STEPS = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    out: dict = {"step": name}
    t0 = time.perf_counter()
    STEPS[name](args, out)
    out["seconds"] = time.perf_counter() - t0
    out["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["children_maxrss_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps(out))


if __name__ == "__main__":
    main()
