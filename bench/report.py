"""The benchmark's results rendered as Markdown (stdout and .bench/report.md).

Pure functions of the results dict bench/run.py writes to .bench/results.json,
so a report can be re-rendered from an old run (``python bench/report.py
.bench/results.json``) and tested on a fake one (tests/bench). Every number a
target is judged by sits next to the CPU seconds behind it and the load average
it was measured under: on a shared 2-core machine wall time alone misleads.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

MIB = 1024  # KiB per MiB
TARGET_E2E_1M_S = 180.0
TARGET_PG_OVER_SQLITE = 1.3
TARGET_X_RAW = 3.0
TARGET_HEAP_MB = 300
TARGET_TIME_1M_OVER_100K = 11.0


def e2e(x: dict) -> float:
    return x["migrate_s"] + x["validate_s"]


def cpu_all(x: dict) -> float:
    """CPU of the whole job: this process, its children and (PostgreSQL) the server's backends."""
    return (x["migrate_cpu_s"] + x["validate_cpu_s"] + children_cpu(x) + (x.get("backend_cpu_s") or 0.0))


def raw_cpu(raw: dict) -> float | None:
    """CPU of the raw baseline's timed parts; on PostgreSQL with the server's backend
    (its whole step: the schema's creation is in it too, a fraction of a second)."""
    if "raw_cpu_s" not in raw:
        return None
    return raw["raw_cpu_s"] + (raw.get("backend_cpu_s") or 0.0)


def x_raw(x: dict) -> str:
    """End to end over the raw baseline, wall and CPU: the CPU ratio is the one a loaded
    machine does not distort (the raw steps ran at another moment than ours)."""
    raw = x.get("raw")
    if not raw:
        return "-"
    rc = raw_cpu(raw)
    return f"{e2e(x) / raw['raw_s']:.2f}x" + (f" / {cpu_all(x) / rc:.2f}x" if rc else "")


def _typical(x: dict, key: str, one_run) -> float:
    """A time for the ratios: the median of ``key`` over the size's repeated runs when it had them,
    else ``one_run(x)`` of its single run."""
    reps = x.get("repeats")
    return statistics.median(r[key] for r in reps) if reps else one_run(x)


def e2e_typical(x: dict) -> float:
    return _typical(x, "e2e_s", e2e)


def cpu_typical(x: dict) -> float:
    return _typical(x, "cpu_s", cpu_all)


def repeats_note(p: tuple[dict, dict]) -> str:
    """Which runs the ratio's times are medians of, with each run's wall, and the first runs' ratio."""
    parts = []
    for label, x in zip(("100k", "1M"), p):
        reps = x.get("repeats")
        if reps:
            parts.append(f"{label}: median of {len(reps)} runs, " + " / ".join(f"{r['e2e_s']:.1f}" for r in reps)
                         + " s")
    if not parts:
        return ""
    return f" ({'; '.join(parts)}; the first runs alone: {e2e(p[1]) / e2e(p[0]):.1f}x wall)"


def children_cpu(x: dict) -> float:
    """rusage of the joined children; the live sample when it saw more (a child not yet joined)."""
    ru = x.get("migrate_children_cpu_s", 0.0) + x.get("validate_children_cpu_s", 0.0)
    return max(ru, x.get("children_cpu_sampled_s") or 0.0)


def mib(kib: int | float | None) -> str:
    return "-" if not kib else f"{kib / MIB:,.0f} MiB"


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def header(r: dict) -> list[str]:
    m = r.get("machine", {})
    load = r.get("load", {})
    return [f"# migwizard benchmark (one run; {m.get('cpus')} CPUs, {m.get('affinity')} usable, "
            f"Python {m.get('python')}, SQLite {m.get('sqlite')}, {m.get('postgres') or 'no PostgreSQL'}, "
            f"MIGWIZ_WORKERS={m.get('workers_env') or 'unset'} -> {m.get('workers')} process(es))", "",
            f"Load average (1 min) at the start {_f(load.get('start'))}, at the end {_f(load.get('end'))}; "
            "each measured step's is in the tables. Wall times on a loaded machine are long; compare CPU.", ""]


def generated(r: dict) -> list[str]:
    return [f"Generated {int(n):,} mixed payments in {g['seconds']:.1f} s "
            f"({int(n) / g['seconds']:,.0f} payments/s)." for n, g in r.get("generate", {}).items()]


def speed_table(r: dict) -> list[str]:
    lines = ["## Migrate + validate", "",
             "| payments | target | SQL rows | chunks | migrate s (CPU) | validate s (CPU) | end to end s | "
             "payments/s | CPU s, all processes | raw s (scan + insert) | x raw (wall / CPU) | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, runs in r["runs"].items():
        for name, x in runs.items():
            raw = x.get("raw")
            rawtxt = f"{raw['raw_s']:.1f} ({raw['scan_s']:.1f} + {raw['insert_s']:.1f})" if raw else "-"
            ratio = x_raw(x)
            lines.append(
                f"| {int(n):,} | {name} | {x['rows']:,} | {x['chunks']} | {x['migrate_s']:.1f} "
                f"({x['migrate_cpu_s']:.1f}) | {x['validate_s']:.1f} ({x['validate_cpu_s']:.1f}) | {e2e(x):.1f} | "
                f"{x['payments'] / e2e(x):,.0f} | {cpu_all(x):.1f} | {rawtxt} | {ratio} | {_f(x.get('load'))} |")
    return lines + ["", "CPU s in the migrate/validate columns: the migwizard process alone. \"All processes\" adds "
                        "its child processes and, on PostgreSQL, the server backends (next table)."]


def process_table(r: dict) -> list[str]:
    lines = ["", "## Processes: heap and CPU", "",
             "| payments | target | main CPU s | children CPU s (rusage / sampled) | PostgreSQL server CPU s | "
             "peak heap main | peak heap children | peak heap all | peak RSS main |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n, runs in r["runs"].items():
        for name, x in runs.items():
            ru = x.get("migrate_children_cpu_s", 0.0) + x.get("validate_children_cpu_s", 0.0)
            server = ("not counted" if x.get("backend_cpu_s") is None else f"{x['backend_cpu_s']:.1f}") \
                if name == "postgres" else "-"
            lines.append(
                f"| {int(n):,} | {name} | {x['migrate_cpu_s'] + x['validate_cpu_s']:.1f} | {ru:.1f} / "
                f"{_f(x.get('children_cpu_sampled_s'))} | {server} | {mib(x.get('peak_main_anon_kib'))} | "
                f"{mib(x.get('peak_children_anon_kib'))} | {mib(x.get('peak_total_anon_kib'))} | "
                f"{mib(x.get('maxrss_kib'))} |")
    lines += ["", "Heap = RssAnon, sampled every 50 ms from outside the process; \"all\" is the largest sum of "
                  "main + children at one instant. RSS also counts the memory-mapped LMDB and SQLite file pages "
                  "(reclaimable), so it grows with the store; the heap must not."]
    return lines


def _pairs(r: dict, target: str) -> tuple[dict, dict] | None:
    runs = r["runs"]
    a, b = runs.get("100000", {}).get(target), runs.get("1000000", {}).get(target)
    return (a, b) if a and b else None


def ratios(r: dict) -> list[str]:
    lines = ["", "## Ratios", ""]
    for target in ("sqlite", "postgres"):
        p = _pairs(r, target)
        if p is None:
            lines.append(f"- {target}: time(1M) / time(100k) and heap(1M) / heap(100k): not measured "
                         "(needs both sizes: `BENCH_1M=1`).")
            continue
        a, b = p
        lines.append(f"- {target}: time(1M) / time(100k) = {e2e_typical(b) / e2e_typical(a):.1f}x wall, "
                     f"{cpu_typical(b) / cpu_typical(a):.1f}x CPU (all processes){repeats_note(p)}; peak heap (all) "
                     f"{b['peak_total_anon_kib'] / a['peak_total_anon_kib']:.2f}x "
                     f"({mib(a['peak_total_anon_kib'])} -> {mib(b['peak_total_anon_kib'])}).")
    for n, runs in r["runs"].items():
        if "sqlite" in runs and "postgres" in runs:
            a, b = runs["sqlite"], runs["postgres"]
            lines.append(f"- PostgreSQL / SQLite at {int(n):,}: {e2e(b) / e2e(a):.2f}x wall, "
                         f"{cpu_all(b) / cpu_all(a):.2f}x CPU (server included).")
    ic, pc = r.get("sqlite_insert_compare"), r.get("postgres_insert_compare")
    if ic:
        lines.append(f"- SQLite, 50k payment rows: peewee insert_many takes {ic['orm_s'] / ic['bulk_s']:.1f}x "
                     "the time of the rendered-statement executemany path.")
    if pc:
        lines.append(f"- PostgreSQL, 50k payment rows: peewee insert_many takes {pc['orm_s'] / pc['bulk_s']:.1f}x "
                     "the time of the COPY path.")
    return lines


def _status(ok: bool | None, text: str) -> str:
    return f"{'met' if ok else 'NOT met' if ok is not None else 'not measured'}: {text}"


def targets(r: dict) -> list[str]:
    runs = r["runs"]
    sq1m = runs.get("1000000", {}).get("sqlite")
    rows = [("1M mixed, migrate + validate on SQLite <= 3 min",
             _status(e2e(sq1m) <= TARGET_E2E_1M_S, f"{e2e(sq1m):.0f} s wall, {cpu_all(sq1m):.0f} s CPU")
             if sq1m else _status(None, "BENCH_1M=1"))]
    for n in ("50000", "1000000"):
        got = [(name, e2e(x) / x["raw"]["raw_s"], x_raw(x)) for name, x in runs.get(n, {}).items() if x.get("raw")]
        rows.append((f"end to end <= {TARGET_X_RAW}x raw at {int(n):,} (wall; CPU beside it)",
                     _status(all(v <= TARGET_X_RAW for _, v, _ in got) if got else None,
                             ", ".join(f"{name} {txt}" for name, _, txt in got) or "-")))
    pgs = [(n, e2e(x["postgres"]) / e2e(x["sqlite"])) for n, x in runs.items() if "sqlite" in x and "postgres" in x]
    big = max(pgs, key=lambda p: int(p[0])) if pgs else None
    rows.append((f"PostgreSQL within {TARGET_PG_OVER_SQLITE}x of SQLite (largest size)",
                 _status(big[1] <= TARGET_PG_OVER_SQLITE if big else None,
                         f"{big[1]:.2f}x at {int(big[0]):,}" if big else "-")))
    heaps = [x.get("peak_total_anon_kib", 0) for rs in runs.values() for x in rs.values()]
    rows.append((f"peak heap <= {TARGET_HEAP_MB} MB", _status(
        max(heaps) * 1024 <= TARGET_HEAP_MB * 1e6 if heaps else None, f"largest {mib(max(heaps, default=0))}")))
    p = _pairs(r, "sqlite")
    rows.append(("heap flat from 100k to 1M (SQLite, within 10%)", _status(
        p[1]["peak_total_anon_kib"] <= 1.1 * p[0]["peak_total_anon_kib"] if p else None,
        f"{p[1]['peak_total_anon_kib'] / p[0]['peak_total_anon_kib']:.2f}x" if p else "BENCH_1M=1")))
    rows.append((f"time(1M) <= {TARGET_TIME_1M_OVER_100K:g}x time(100k) (SQLite)", _status(
        e2e_typical(p[1]) / e2e_typical(p[0]) <= TARGET_TIME_1M_OVER_100K if p else None,
        f"{e2e_typical(p[1]) / e2e_typical(p[0]):.1f}x wall, {cpu_typical(p[1]) / cpu_typical(p[0]):.1f}x CPU"
        f"{repeats_note(p)}" if p else "BENCH_1M=1")))
    return ["", "## Against the targets (issue 11)", "", "| target | this run |", "|---|---|"] + \
        [f"| {a} | {b} |" for a, b in rows]


def sources(r: dict) -> list[str]:
    lines = ["", "## Source read rates", "",
             "Read = walk every entry (LMDB: one raw cursor over the whole store); import = copy into a fresh "
             "LMDB store + verifying re-walk.", "",
             "| source | entries | MiB (keys+values) | read entries/s | read MB/s | import entries/s | import MB/s |",
             "|---|---|---|---|---|---|---|"]
    for name, x in source_rows(r):
        mb = x["bytes"] / 1e6
        imp = (f"{x['entries'] / x['import_s']:,.0f} | {mb / x['import_s']:.1f}" if x.get("import_s")
               else "- | -")
        lines.append(f"| {name} | {x['entries']:,} | {x['bytes'] / 2**20:.1f} | {x['entries'] / x['read_s']:,.0f} | "
                     f"{mb / x['read_s']:.1f} | {imp} |")
    return lines


def source_rows(r: dict) -> list[tuple[str, dict]]:
    out = []
    if r.get("bbolt_import"):
        out.append(("bbolt (synthetic fixture, all buckets)", r["bbolt_import"]))
    for n, runs in r["runs"].items():
        raw = next((x["raw"] for x in runs.values() if x.get("raw")), None)
        if raw:
            out.append((f"LMDB, raw cursor ({int(n):,} payments)",
                        {"entries": raw["scan_entries"], "bytes": raw["scan_bytes"], "read_s": raw["scan_s"]}))
    for key, name in (("kvsql_sqlite", "channeldb_kv, SQLite"), ("kvsql_postgres", "channeldb_kv, PostgreSQL")):
        if r.get(key):
            out.append((f"{name} ({r['small']:,} payments)", r[key]))
    return out


def profile(r: dict) -> list[str]:
    p = r.get("profile")
    if not p:
        return []
    lines = ["", f"## Profile: {p['label']}, top {len(p['top'])} functions by own time", "",
             f"cProfile, main thread only (a pipeline child is not profiled); {p['total_s']:.1f} s profiled. "
             f"It inflates pure-Python calls against C calls (SQLite, LMDB). Full listings: {p['files']}"
             ".{tottime,cumulative}.txt", "",
             "| function | where | calls | own s | share | cumulative s |", "|---|---|---|---|---|---|"]
    for f in p["top"]:
        lines.append(f"| `{f['function']}` | {f['where']} | {f['calls']:,} | {f['tottime']:.1f} | "
                     f"{f['tottime'] / p['total_s']:.0%} | {f['cumtime']:.1f} |")
    return lines


def render(r: dict) -> str:
    lines = header(r) + generated(r) + [""] + speed_table(r) + process_table(r) + ratios(r) + targets(r) + \
        sources(r) + profile(r)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else ".bench/results.json").read_text())), end="")
