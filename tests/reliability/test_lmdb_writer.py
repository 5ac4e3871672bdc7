"""Another process on the LMDB working store (issue 9, item 10, first half).

The holder is a real second process: plain py-lmdb, no ``migwizard.lock``, a
write (or read) transaction left open while it sleeps -- what a script or
another tool on the copy would do. Preflight must name it; the tombstone step
must not wait on LMDB's writer lock until it ends, and must say what happened;
once it is gone the same command finishes the tombstone with exit 0.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from migwizard.core.engine import Engine, EngineError, RunState
from migwizard.core.kv.lmdb_probe import WriterBusyError, probe_write_lock

from .common import run_cli

HOLDER = r"""
import sys, time
import lmdb
env = lmdb.open(sys.argv[1], max_dbs=8)
txn = env.begin(write=sys.argv[2] == "write")
print("holding", flush=True)
time.sleep(600)
"""


class Holder:
    """A second process holding a transaction on the store until stopped."""

    def __init__(self, kv, mode: str = "write"):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(kv), mode],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "holding", self.proc.communicate()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()

    def __enter__(self) -> "Holder":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.mark.parametrize("mode", ["write", "read"])
def test_preflight_names_another_process_on_the_store(generated, sqlite_url, tmp_path, mode):
    kv = generated("mixed", 10)
    with Engine(kv, sqlite_url) as e:
        clean = {c.id: c for c in e.preflight().checks}["kv.open"]
    assert clean.status.value == "pass", clean
    with Holder(kv, mode) as h:
        with Engine(kv, sqlite_url) as e:
            report = e.preflight()
        check = {c.id: c for c in report.checks}["kv.open"]
        assert not report.ok
        assert check.status.value == "fail"
        assert f"process {h.pid} (" in check.reason and "data.mdb" in check.reason, check.reason
        assert [x["pid"] for x in check.details["holders"]] == [h.pid]
        p = run_cli("preflight", "--kv", kv, "--sql", sqlite_url, state=tmp_path / "st", timeout=120)
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
        assert f"process {h.pid} (" in p.stdout + p.stderr
        assert "Traceback" not in p.stderr
        p = run_cli("--yes", "--kv", kv, "--sql", sqlite_url, state=tmp_path / "st", timeout=120)
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr
    with Engine(kv, sqlite_url) as e:
        assert e.state() is RunState.FRESH  # nothing was migrated while it held the store


def test_probe_reports_a_held_writer_lock_and_clears_when_it_ends(generated):
    kv = generated("mixed", 5)
    probe_write_lock(kv)  # a free store: returns
    with Holder(kv, "read"):
        probe_write_lock(kv)  # a reader does not block writers
    with Holder(kv, "write"):
        with pytest.raises(WriterBusyError, match="another process holds a write transaction"):
            probe_write_lock(kv, timeout=0.5)
    probe_write_lock(kv)


def test_tombstone_with_a_writer_present_is_typed_and_recovered(generated, target_url, tmp_path):
    kv = generated("mixed", 20)
    with Engine(kv, target_url) as e:
        assert e.migrate().outcome == "complete" and e.validate().ok
        with Holder(kv, "write") as h:
            # The holder sleeps 600 s: without the bounded probe this commit would hang.
            with pytest.raises(EngineError, match="committed, tombstone missing") as ei:
                e.commit()
            assert ei.value.exit_code == 4
            text = str(ei.value)
            assert "another process holds a write transaction" in text and f"process {h.pid} (" in text, text
            assert e.state() is RunState.COMMITTED_NO_TOMBSTONE
            p = run_cli("--yes", "--kv", kv, "--sql", target_url, state=tmp_path / "st", timeout=120)
            assert p.returncode != 0 and "Traceback" not in p.stderr, (p.returncode, p.stderr)
        with pytest.raises(EngineError, match="tombstone is still missing"):
            e.rollback()
    p = run_cli("--yes", "--kv", kv, "--sql", target_url, state=tmp_path / "st", timeout=120)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    with Engine(kv, target_url) as e:
        assert e.state() is RunState.COMPLETE
