"""The second process (core.engine.workers): same items as in one process, typed errors,
no hang on a dead child, stop on cancel, no orphan when the parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from migwizard.core.codec import DecodeError
from migwizard.core.engine import workers

T = "tests.engine.workers_targets"


def test_child_and_local_give_the_same_items():
    with workers.stream(f"{T}:count", {"n": 50}, workers=2) as s:
        assert s.in_child
        child = list(s)
    with workers.stream(f"{T}:count", {"n": 50}, workers=1) as s:
        assert not s.in_child
        local = list(s)
    assert [i for i, _ in child] == [i for i, _ in local] == list(range(50))
    assert {p for _, p in child} != {os.getpid()}  # really another process
    assert {p for _, p in local} == {os.getpid()}


def test_items_cross_as_blobs_where_the_wire_codec_takes_them():
    with workers.stream(f"{T}:count", {"n": 10}, workers=2, wire=T) as s:
        assert s.in_child
        got = list(s)
    assert [x[1] if x[0] == "w" else x[0] for x in got] == list(range(10))  # order kept
    assert [x[0] == "w" for x in got] == [i % 2 == 0 for i in range(10)]  # encoded ones decoded, others pickled
    with workers.stream(f"{T}:count", {"n": 10}, workers=1, wire=T) as s:  # one process: items as they are
        assert [i for i, _ in s] == list(range(10))


def test_typed_error_crosses_with_its_fields():
    got = []
    with pytest.raises(DecodeError) as ei, workers.stream(f"{T}:fail_typed", {}, workers=2) as s:
        for x in s:
            got.append(x)
    assert got == [1]
    e = ei.value
    assert (e.offset, e.payment, e.key) == (17, b"\x01" * 32, "payments-root-bucket/01")
    assert "bad varint" in str(e)


def test_dead_child_is_a_typed_error_not_a_hang():
    with pytest.raises(workers.WorkerDied, match="exit code 7"), \
            workers.stream(f"{T}:die", {}, workers=2) as s:
        for _ in s:
            pass


def test_cancel_stops_the_child():
    cancel = threading.Event()
    n = 0
    with workers.stream(f"{T}:endless", {}, workers=2, cancel=cancel) as s:
        for _ in s:
            n += 1
            if n == 5:
                cancel.set()
            if n > 5000:
                break
        proc = s._proc
    assert n < 5000  # the child stopped producing after the cancel
    assert not proc.is_alive()


def test_close_reaps_a_child_blocked_on_a_full_queue():
    s = workers.stream(f"{T}:endless", {}, workers=2, lookahead=1)
    it = iter(s)
    next(it)
    time.sleep(0.3)  # the child is now blocked on the full queue
    s.close()
    assert not s._proc.is_alive()


def test_env_decides_the_worker_count(monkeypatch):
    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    assert workers.worker_count() == 1
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    assert workers.worker_count() == 2
    monkeypatch.delenv(workers.WORKERS_ENV)
    assert workers.worker_count() == (2 if len(os.sched_getaffinity(0)) >= 2 else 1)


_PARENT = r"""
import sys, time
sys.path[:0] = sys.argv[2:]
from migwizard.core.engine import workers
s = workers.stream("tests.engine.workers_targets:pidfile", {"path": sys.argv[1]}, workers=2)
for _ in s:
    time.sleep(0.05)
"""


def test_child_dies_with_a_killed_parent(tmp_path: Path):
    pidfile = tmp_path / "child.pid"
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(pidfile), str(root / "src"), str(root)],
                              stderr=subprocess.DEVNULL)  # its resource tracker reports the leak we cause
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text()):
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        child = int(pidfile.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline, "the child outlived its killed parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


_UNGUARDED = r"""
import os, sys
sys.path[:0] = sys.argv[2:]
with open(sys.argv[1], "a") as f:  # module level, no __main__ guard: must run once, in the parent only
    f.write(f"{os.getpid()}\n")
from migwizard.core.engine import workers
with workers.stream("tests.engine.workers_targets:count", {"n": 3}, workers=2) as s:
    assert s.in_child
    assert {p for _, p in s} != {os.getpid()}
"""


def test_the_child_does_not_rerun_the_parents_main_script(tmp_path: Path):
    """spawn would re-run an unguarded main script in the child (a second migration, its file
    deletions): the child starts from the named target alone."""
    script, marks = tmp_path / "unguarded.py", tmp_path / "marks"
    script.write_text(_UNGUARDED)
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, str(script), str(marks), str(root / "src"), str(root)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert len(marks.read_text().split()) == 1, "the main script ran again in the child"


_NO_STDERR_FD = r"""
import os, sys
sys.path[:0] = sys.argv[1:]


class Captured:  # what Textual puts in sys.stderr while the wizard runs
    def write(self, s):
        return len(s)

    def flush(self):
        pass

    def fileno(self):
        return -1


sys.stderr = Captured()
from migwizard.core.engine import workers
with workers.stream("tests.engine.workers_targets:count", {"n": 3}, workers=2) as s:
    assert s.in_child, "fell back to one process"
    assert {p for _, p in s} != {os.getpid()}
"""


def test_the_child_starts_while_stderr_has_no_file_descriptor():
    """The wizard captures stderr (fileno -1); multiprocessing's resource tracker must still start."""
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-c", _NO_STDERR_FD, str(root / "src"), str(root)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_child_ignores_ctrl_c_from_its_start():
    """A terminal's Ctrl-C reaches the whole process group: the child must ignore it already
    while it starts (its imports), not only once its own code runs, or a traceback reaches the
    user's terminal. The parent's own handler is unchanged afterwards."""
    before = signal.getsignal(signal.SIGINT)
    with workers.stream(f"{T}:endless", {}, workers=2) as s:
        with open(f"/proc/{s.pid}/status") as f:  # read at once: the child is still starting
            ignored = int(next(x for x in f if x.startswith("SigIgn:")).split()[1], 16)
        assert ignored & (1 << (signal.SIGINT - 1))
    assert signal.getsignal(signal.SIGINT) is before
