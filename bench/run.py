"""`make bench`: speed and memory of migrate + validate, measured in one run and
reported as ratios (issue 11, item 5).

Sizes: mixed stores (seed 1) of 10k, 50k and 100k payments, plus 1M with
``BENCH_1M=1`` (or exactly ``BENCH_SIZES=10000,100000``). A store is used from
``.bench/stores/mixed-N`` when complete (a ``.complete`` file; a symlink to a
store elsewhere counts), else from the first directory of ``BENCH_STORES``
(colon-separated, e.g. ``/work/main/.bench/stores``) that holds a complete
``mixed-N``, else it is generated into ``.bench/stores`` once. The stores are
only read (the session lock file aside); two benchmarks on one store at once
refuse each other, as two migrations would.

Per size and target (SQLite; PostgreSQL when one answers on 127.0.0.1:5432):
migrate and validate wall and CPU seconds, payments/s, the CPU of child
processes (the two-process pipeline) and of the PostgreSQL backends, peak heap
(RssAnon) of the process, of its children and of both together, peak RSS, and
the ratio to a RAW baseline measured in the same run (bench/steps.py
``step_raw``). Then the ratios the targets are stated in, the source read rates
(bbolt import, LMDB raw cursor, channeldb_kv on SQLite and PostgreSQL with
``BENCH_SMALL`` payments, default 5000) and, with ``BENCH_PROFILE=1`` (default),
a cProfile summary of the 100k SQLite run. Results: ``.bench/results.json``;
the rendered report (bench/report.py) on stdout and in ``.bench/report.md``.
Nothing here is asserted: timings belong in this report, never in tests.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # bench.* and tests.support

from bench.monitor import Monitor  # noqa: E402
from bench.report import cpu_all, e2e, render  # noqa: E402

OUT = ROOT / ".bench"
STORES = OUT / "stores"
SMALL = int(os.environ.get("BENCH_SMALL", "5000"))
PROFILE = os.environ.get("BENCH_PROFILE", "1") == "1"
PROFILE_SIZE = 100_000
# The SQLite migrate + validate of these sizes runs BENCH_REPEATS times (the first with everything
# measured, the rest end to end only) and the time ratios use the median: a single 100k run
# varied by 23% between three consecutive benches (docs/PERFORMANCE.md), more than any 1M run.
REPEATS = max(1, int(os.environ.get("BENCH_REPEATS", "3") or 1))
REPEAT_SIZES = {int(x) for x in os.environ.get("BENCH_REPEAT_SIZES", "100000").split(",") if x.strip()}


def sizes() -> list[int]:
    given = [int(x) for x in os.environ.get("BENCH_SIZES", "").split(",") if x.strip()]
    return given or [10_000, 50_000, 100_000] + ([1_000_000] if os.environ.get("BENCH_1M") == "1" else [])


def child(step: str, pg_db: str | None = None, **args) -> dict:
    """Run one step in its own process, sampled from here; its results plus the samples' peaks."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    load = os.getloadavg()[0]
    p = subprocess.Popen([sys.executable, str(HERE / "steps.py"), step, json.dumps(args)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mon = Monitor(p.pid, backends=pg_backends(pg_db) if pg_db else None).start()
    stdout, stderr = p.communicate()
    mon.stop()
    if p.returncode != 0:
        raise SystemExit(f"bench step {step} failed:\n{stderr}")
    out = json.loads(stdout.strip().splitlines()[-1])
    out["load"] = max(load, os.getloadavg()[0])
    whole = mon.window(out.get("migrate_t0", float("-inf")), out.get("validate_t1", float("inf")))
    out.update(peak_main_anon_kib=whole["peak_main_anon_kib"], peak_children_anon_kib=whole["peak_children_anon_kib"],
               peak_total_anon_kib=whole["peak_total_anon_kib"], children_cpu_sampled_s=whole["children_cpu_s"],
               backend_cpu_s=whole["backend_cpu_s"], backend_error=mon.backend_error)
    if "migrate_t0" in out:
        for phase in ("migrate", "validate"):
            w = mon.window(out[f"{phase}_t0"], out[f"{phase}_t1"])
            out[f"{phase}_peak_total_anon_kib"] = w["peak_total_anon_kib"]
            out[f"{phase}_backend_cpu_s"] = w["backend_cpu_s"]
    return out


def pg_backends(dbname: str):
    """pids of the server backends connected to ``dbname`` (pg_stat_activity), for the
    monitor; the server must run on this machine for their /proc entries to exist."""
    from tests.support import pg

    state: dict = {}

    def ask() -> list[int]:
        if "conn" not in state:
            state["conn"] = pg._connect(pg.pg_user())
        rows = state["conn"].execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,)).fetchall()
        return [r[0] for r in rows]
    return ask


class PgDatabases:
    """Throw-away PostgreSQL databases for one run, all dropped at the end."""

    def __init__(self) -> None:
        from tests.support import pg

        self.pg = pg
        self.created: list[str] = []
        self.available = pg.pg_reachable()

    def new(self) -> tuple[str, str] | None:
        if not self.available:
            return None
        name = self.pg.create_database("migwiz_bench_")
        self.created.append(name)
        return name, self.pg.pg_url(name)

    def server_version(self) -> str | None:
        if not self.available:
            return None
        with self.pg._connect(self.pg.pg_user()) as c:
            return "PostgreSQL " + c.execute("SHOW server_version").fetchone()[0]

    def drop_all(self) -> None:
        for name in self.created:
            self.pg.drop_database(name)
        self.created.clear()


def find_store(n: int) -> Path | None:
    """A complete cached store of ``n`` payments: ours, or one in a BENCH_STORES directory."""
    own = STORES / f"mixed-{n}"
    if (own / ".complete").exists():
        return own
    for d in filter(None, os.environ.get("BENCH_STORES", "").split(":")):
        cand = Path(d) / f"mixed-{n}"
        if (cand / ".complete").exists():
            return cand
    return None


def cached_store(n: int) -> tuple[Path, dict | None]:
    """The mixed store of ``n`` payments (seed 1), generated once if no complete one exists."""
    found = find_store(n)
    if found is not None:
        return found, None
    path = STORES / f"mixed-{n}"
    if path.is_symlink():  # never delete what a link points at: it may still be being generated
        raise SystemExit(f"{path} links to an incomplete store (no .complete): wait for it or remove the link")
    if path.exists():
        shutil.rmtree(path)  # our own half-generated store from an interrupted run
    STORES.mkdir(parents=True, exist_ok=True)
    print(f"generating {n:,} mixed payments (cached in {path}) ...", file=sys.stderr)
    g = child("generate", kv=str(path), n=n)
    (path / ".complete").write_text("1")
    return path, g


def measure(kv: Path, n: int, name: str, url: str, raw_url: str | None, tmp: Path, pg_db: str | None = None,
            raw_db: str | None = None) -> dict:
    print(f"{n:,} payments -> {name}: migrate + validate ...", file=sys.stderr)
    m = child("migrate", pg_db=pg_db, kv=str(kv), url=url)
    if PROFILE and n == PROFILE_SIZE and name == "sqlite":
        print(f"{n:,} payments -> {name}: again under cProfile ...", file=sys.stderr)
        p = child("migrate", kv=str(kv), url=f"sqlite:///{tmp / f'prof-{n}.sqlite'}",
                  profile=str(OUT / f"profile-{n}-{name}"))
        m["profile"] = dict(p["profile"], label=f"{n:,} payments, SQLite, migrate + validate")
    if raw_url:
        print(f"{n:,} payments -> {name}: raw baseline ...", file=sys.stderr)
        m["raw"] = child("raw", pg_db=raw_db, kv=str(kv), src=url, url=raw_url)
    return m


def repeat(kv: Path, n: int, tmp: Path, i: int) -> dict:
    """One more SQLite migrate + validate of the same store into a fresh target."""
    print(f"{n:,} payments -> sqlite: migrate + validate, run {i} of {REPEATS} ...", file=sys.stderr)
    x = child("migrate", kv=str(kv), url=f"sqlite:///{tmp / f'{n}-repeat.sqlite'}")
    for f in tmp.glob(f"{n}-repeat.sqlite*"):
        f.unlink()
    return x


def repeat_entry(x: dict) -> dict:
    return {"e2e_s": e2e(x), "cpu_s": cpu_all(x), "load": x.get("load")}


def measure_size(n: int, res: dict, tmp: Path, pgs: PgDatabases) -> None:
    kv, g = cached_store(n)
    if g:
        res["generate"][str(n)] = g
    runs = res["runs"][str(n)] = {}
    runs["sqlite"] = measure(kv, n, "sqlite", f"sqlite:///{tmp / f'{n}.sqlite'}",
                             f"sqlite:///{tmp / f'{n}-raw.sqlite'}", tmp)
    if runs["sqlite"].get("profile"):
        res["profile"] = runs["sqlite"].pop("profile")
    for f in tmp.glob(f"{n}*.sqlite*"):
        f.unlink()
    if n in REPEAT_SIZES and REPEATS > 1:
        runs["sqlite"]["repeats"] = [repeat_entry(runs["sqlite"])] + [
            repeat_entry(repeat(kv, n, tmp, i)) for i in range(2, REPEATS + 1)]
    target, raw = pgs.new(), pgs.new()
    if target and raw:
        runs["postgres"] = measure(kv, n, "postgres", target[1], raw[1], tmp, pg_db=target[0], raw_db=raw[0])
    pgs.drop_all()


def measure_sources(res: dict, tmp: Path, pgs: PgDatabases) -> None:
    """bbolt import (the largest synthetic fixture), channeldb_kv on SQLite and PostgreSQL
    (built from a small generated store); the LMDB raw cursor rates come from each raw baseline."""
    print(f"generating {SMALL:,} mixed payments for the source read rates ...", file=sys.stderr)
    small = tmp / "kv-small"
    child("generate", kv=str(small), n=SMALL)
    res["sqlite_insert_compare"] = child("insert_compare", url=f"sqlite:///{tmp / 'cmp.sqlite'}", n=50_000)
    print("reading sources: bbolt fixture, channeldb_kv (SQLite, PostgreSQL) ...", file=sys.stderr)
    fixture = ROOT.parent / "shared" / "fixtures" / "synthetic-bbolt-4k-freelist-overflow.db"
    res["bbolt_import"] = (child("source_read", kind="bbolt", src=str(fixture), dst=str(tmp / "bb-copy"), all=True)
                           if fixture.exists() else None)
    child("kvsql_build", kv=str(small), dest=str(tmp / "channel.sqlite"))
    res["kvsql_sqlite"] = child("source_read", kind="kvsql", src=str(tmp / "channel.sqlite"),
                                dst=str(tmp / "kvs-copy"))
    kv_db, cmp_db = pgs.new(), pgs.new()
    if kv_db and cmp_db:
        child("kvsql_build", kv=str(small), dest=kv_db[1])
        res["kvsql_postgres"] = child("source_read", kind="kvsql", src=kv_db[1], dst=str(tmp / "kvp-copy"))
        res["postgres_insert_compare"] = child("insert_compare", url=cmp_db[1], n=50_000)
    pgs.drop_all()


def machine(pgs: PgDatabases) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from migwizard.core.engine.workers import WORKERS_ENV, worker_count

    return {"python": sys.version.split()[0], "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "sqlite": sqlite3.sqlite_version, "postgres": pgs.server_version(),
            "workers_env": os.environ.get(WORKERS_ENV), "workers": worker_count()}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    pgs = PgDatabases()
    res: dict = {"sizes": sizes(), "small": SMALL, "machine": machine(pgs), "runs": {}, "generate": {},
                 "load": {"start": os.getloadavg()[0]}}
    try:
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            for n in res["sizes"]:
                measure_size(n, res, Path(tmp), pgs)
            measure_sources(res, Path(tmp), pgs)
    finally:
        pgs.drop_all()
    res["load"]["end"] = os.getloadavg()[0]
    (OUT / "results.json").write_text(json.dumps(res, indent=2))
    text = render(res)
    (OUT / "report.md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
