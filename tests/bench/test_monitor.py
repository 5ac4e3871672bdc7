"""bench/monitor.py counts what the benchmark reports: the heap of a child process,
the CPU of children and grandchildren (the same as RUSAGE_CHILDREN once joined)
and the CPU of a PostgreSQL backend. Work is fixed in CPU seconds, not wall time,
so a loaded machine changes how long these take, not what they assert."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.monitor import Monitor, cpu_of, descendants
from bench.run import pg_backends
from tests.support import pg

BURN_S = 0.3  # CPU seconds the grandchild burns
BIG = 64 << 20  # bytes the grandchild holds while it sleeps

# The grandchild burns CPU, allocates BIG and stays alive long enough to be sampled.
GRANDCHILD = (f"import time\nt = time.process_time()\nwhile time.process_time() - t < {BURN_S}: pass\n"
              f"x = b'y' * {BIG}\ntime.sleep(1.0)\n")
MIDDLE = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {GRANDCHILD!r}])"
# The child starts it through the middle process (descendants, not only children) and
# reports what RUSAGE_CHILDREN says once everything is joined.
CHILD = f"""
import json, resource, subprocess, sys, time
subprocess.run([sys.executable, "-c", {MIDDLE!r}])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({{"children_cpu_s": ru.ru_utime + ru.ru_stime, "own_cpu_s": time.process_time()}}))
time.sleep(0.2)
"""


def _monitored(code: str, **kw) -> tuple[dict, Monitor]:
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    mon = Monitor(p.pid, interval=0.02, **kw).start()
    out, _ = p.communicate()
    mon.stop()
    assert p.returncode == 0
    return json.loads(out.strip().splitlines()[-1]), mon


@pytest.fixture(scope="module")
def burned() -> tuple[dict, Monitor]:
    return _monitored(CHILD)


def test_children_cpu_and_heap_are_counted_apart_from_the_process(burned):
    reported, mon = burned
    w = mon.window()
    assert reported["children_cpu_s"] >= BURN_S  # rusage: the joined middle + grandchild
    assert w["children_cpu_s"] >= BURN_S  # sampled while they lived
    assert abs(w["children_cpu_s"] - reported["children_cpu_s"]) < 0.15  # the same CPU both ways
    assert w["peak_children_anon_kib"] * 1024 >= BIG  # the grandchild's heap, summed over descendants
    assert w["peak_main_anon_kib"] * 1024 < BIG  # and not the measured process's
    assert w["peak_total_anon_kib"] >= w["peak_children_anon_kib"] + w["peak_main_anon_kib"] // 2
    assert w["backend_cpu_s"] is None  # no PostgreSQL asked for: not counted, not 0


def test_window_cuts_cpu_at_the_given_instants(burned):
    _, mon = burned
    mid = mon.samples[len(mon.samples) // 2].t
    whole, first, second = mon.window(), mon.window(t1=mid), mon.window(t0=mid)
    assert first["children_cpu_s"] + second["children_cpu_s"] == pytest.approx(whole["children_cpu_s"])


def test_process_helpers_on_this_process():
    import os

    start, cpu = cpu_of(os.getpid())
    assert start > 0 and cpu > 0
    assert cpu_of(2**22 + 12345) is None  # beyond pid_max: no such process
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    try:
        assert p.pid in descendants(os.getpid())
    finally:
        p.kill()
        p.wait()


@pytest.mark.postgres
def test_postgresql_backend_cpu_is_counted(pg_url):
    name = pg_url.rsplit("/", 1)[1]
    code = f"""
import json, time, psycopg
with psycopg.connect({pg_url!r}) as c:
    c.execute("SELECT count(*) FROM generate_series(1, 3000000)").fetchone()
    time.sleep(1.0)  # keep the backend alive for the sampler
print(json.dumps({{}}))
"""
    _, mon = _monitored(code, backends=pg_backends(name), backend_every=0.05)
    w = mon.window()
    assert mon.backend_error is None
    assert w["backend_cpu_s"] is not None and w["backend_cpu_s"] > 0.05  # the query ran in the server
