"""Shared helpers for the KV tests: fixture location, file copies, lock holders."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"

REAL_DBS = {
    "lnd-regtest-alice-channel.db": (4096, 29),
    "lnd-regtest-carol-channel.db": (4096, 29),
    "lnd-regtest-dave-channel.db": (4096, 29),
    "lndinit-testdata-channel-v35.db": (16384, 35),
    "lnd-invoices-testdata-channel.db": (16384, 33),
}
SYNTHETIC = "synthetic-bbolt-4k-freelist-overflow.db"
ALL_DBS = sorted([*REAL_DBS, SYNTHETIC])


def fixture_file(name: str) -> Path:
    p = FIXTURES / name
    if not p.exists():
        pytest.skip(f"fixture {name} not found in {FIXTURES} (the shared fixtures folder is missing)")
    return p


def copy_fixture(name: str, tmp_path: Path) -> Path:
    """Writable copy: the fixtures folder must never be written to."""
    dst = tmp_path / name
    shutil.copyfile(fixture_file(name), dst)
    dst.chmod(0o644)
    return dst


class Holder:
    """A child process that holds a lock (or a store) until stopped.

    The child prints ``ready`` once it holds it, so the test never races it.
    """

    def __init__(self, code: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"lock holder did not start: {line!r} {err}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def hold():
    holders: list[Holder] = []

    def start(code: str) -> Holder:
        h = Holder(code)
        holders.append(h)
        return h

    yield start
    for h in holders:
        h.stop()


def flock_code(path: Path, mode: str) -> str:
    return (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path)!r}, os.O_RDONLY)\n"
        f"fcntl.flock(fd, fcntl.{mode})\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
