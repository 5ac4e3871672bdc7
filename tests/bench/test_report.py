"""bench/report.py renders a results dict (as bench/run.py writes it) into the
report: the ratios the issue's targets are stated in, computed from the numbers."""

from __future__ import annotations

import copy

from bench.report import render


def _run(migrate: float, validate: float, *, cpu: float, heap_mib: int, raw: float | None,
         backend: float | None = None, children: float = 0.0) -> dict:
    x = {"payments": 100_000, "rows": 1_188_368, "chunks": 24, "migrate_s": migrate, "validate_s": validate,
         "migrate_cpu_s": cpu / 2, "validate_cpu_s": cpu / 2, "migrate_children_cpu_s": children,
         "validate_children_cpu_s": 0.0, "children_cpu_sampled_s": children, "backend_cpu_s": backend,
         "peak_main_anon_kib": heap_mib * 1024, "peak_children_anon_kib": 0,
         "peak_total_anon_kib": heap_mib * 1024, "maxrss_kib": 300 * 1024, "load": 2.0}
    if raw is not None:
        x["raw"] = {"raw_s": raw, "scan_s": raw / 10, "insert_s": raw * 0.9, "scan_entries": 1_000_000,
                    "scan_bytes": 100 * 2**20, "raw_cpu_s": raw / 2, "backend_cpu_s": backend and raw / 4}
    return x


FAKE = {
    "sizes": [100_000, 1_000_000], "small": 5000, "generate": {},
    "machine": {"python": "3.11.7", "cpus": 2, "affinity": 2, "sqlite": "3.40.1", "postgres": "PostgreSQL 15",
                "workers_env": None, "workers": 2},
    "load": {"start": 1.0, "end": 2.0},
    "runs": {
        "100000": {"sqlite": _run(10.0, 10.0, cpu=18.0, heap_mib=130, raw=8.0, children=4.0),
                   "postgres": _run(15.0, 15.0, cpu=20.0, heap_mib=60, raw=10.0, backend=9.0)},
        "1000000": {"sqlite": _run(100.0, 120.0, cpu=200.0, heap_mib=135, raw=70.0, children=40.0),
                    "postgres": _run(150.0, 150.0, cpu=210.0, heap_mib=62, raw=100.0)},
    },
    "bbolt_import": {"entries": 2000, "bytes": 400_000, "read_s": 0.02, "import_s": 0.2},
    "kvsql_sqlite": {"entries": 40_000, "bytes": 5_000_000, "read_s": 0.5, "import_s": 3.0},
    "sqlite_insert_compare": {"bulk_s": 1.0, "orm_s": 6.0},
    "profile": {"label": "100,000 payments, SQLite, migrate + validate", "total_s": 50.0, "files": ".bench/p",
                "top": [{"function": "_decode", "where": "migwizard/core/fast/rows.py:10", "calls": 200_000,
                         "tottime": 12.5, "cumtime": 20.0}]},
}


def test_ratios_and_targets_come_from_the_numbers():
    text = render(FAKE)
    # time(1M)/time(100k): 220 / 20 s wall; CPU includes children: 240 / 22
    assert "sqlite: time(1M) / time(100k) = 11.0x wall, 10.9x CPU (all processes); peak heap (all) 1.04x" in text
    # PostgreSQL / SQLite at 100k: 30 / 20 wall, (20 + 9 server) / (18 + 4 children) CPU
    assert "PostgreSQL / SQLite at 100,000: 1.50x wall, 1.32x CPU (server included)." in text
    assert "| 1M mixed, migrate + validate on SQLite <= 3 min | NOT met: 220 s wall, 240 s CPU |" in text
    # wall 220 / 70; CPU 240 / 35 (SQLite); PostgreSQL: 300 / 100 wall, 210 / 50 CPU (no server CPU counted)
    assert ("| end to end <= 3.0x raw at 1,000,000 (wall; CPU beside it) | NOT met: sqlite 3.14x / 6.86x, "
            "postgres 3.00x / 4.20x |") in text
    assert "| end to end <= 3.0x raw at 50,000 (wall; CPU beside it) | not measured: - |" in text
    # PostgreSQL at 100k: CPU (20 + 9 server) / (5 raw + 2.5 raw server)
    assert "| 100,000 | postgres | 1,188,368 | 24 | 15.0 (10.0) | 15.0 (10.0) | 30.0 | 3,333 | 29.0 | " \
           "10.0 (1.0 + 9.0) | 3.00x / 3.87x | 2.0 |" in text
    assert "| heap flat from 100k to 1M (SQLite, within 10%) | met: 1.04x |" in text
    assert "| peak heap <= 300 MB | met: largest 135 MiB |" in text
    assert "| 100,000 | postgres | 20.0 | 0.0 / 0.0 | 9.0 |" in text
    assert "| 1,000,000 | postgres | 210.0 | 0.0 / 0.0 | not counted |" in text
    assert "| LMDB, raw cursor (100,000 payments) | 1,000,000 | 100.0 | 1,250,000 | 131.1 | - | - |" in text
    assert "| `_decode` | migwizard/core/fast/rows.py:10 | 200,000 | 12.5 | 25% | 20.0 |" in text
    assert "peewee insert_many takes 6.0x" in text


def test_a_small_run_renders_what_it_has():
    r = copy.deepcopy(FAKE)
    del r["runs"]["1000000"], r["runs"]["100000"]["postgres"], r["profile"], r["bbolt_import"]
    text = render(r)
    assert "sqlite: time(1M) / time(100k) and heap(1M) / heap(100k): not measured" in text
    assert "| PostgreSQL within 1.3x of SQLite (largest size) | not measured: - |" in text
    assert "## Profile" not in text and "bbolt" not in text


def test_time_ratio_uses_the_median_of_repeated_runs():
    r = copy.deepcopy(FAKE)
    sq = r["runs"]["100000"]["sqlite"]  # first run: 20 s wall, 22 s CPU
    sq["repeats"] = [{"e2e_s": 20.0, "cpu_s": 22.0, "load": 2.0}, {"e2e_s": 25.0, "cpu_s": 30.0, "load": 2.0},
                     {"e2e_s": 16.0, "cpu_s": 20.0, "load": 2.0}]
    text = render(r)
    # 220 / median(20, 25, 16) = 220 / 20 = 11.0x; CPU 240 / median(22, 30, 20) = 240 / 22
    assert ("sqlite: time(1M) / time(100k) = 11.0x wall, 10.9x CPU (all processes) (100k: median of 3 runs, "
            "20.0 / 25.0 / 16.0 s; the first runs alone: 11.0x wall)") in text
    sq["repeats"][0]["e2e_s"] = 23.0  # median 23: 220 / 23 = 9.6x, now met; the first run alone still says 11.0x
    text = render(r)
    assert ("| time(1M) <= 11x time(100k) (SQLite) | met: 9.6x wall, 10.9x CPU (100k: median of 3 runs, "
            "23.0 / 25.0 / 16.0 s; the first runs alone: 11.0x wall) |") in text
    sq["repeats"] = [{"e2e_s": 16.0, "cpu_s": 20.0, "load": 2.0}]
    assert "| time(1M) <= 11x time(100k) (SQLite) | NOT met: 13.8x wall" in render(r)
