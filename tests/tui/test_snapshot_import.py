"""Snapshot of the bbolt import step (a real LND channel.db, imported for real into the state dir)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migwizard.tui.app import MigWizardApp

from .conftest import fixed_wall_clock
from .fake_engine import FakeStore, fake_factory
from .helpers import settle, stable_copy_paths

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
CAROL = FIXTURES / "lnd-regtest-carol-channel.db"


@pytest.mark.skipif(not CAROL.exists(), reason=f"LND fixture {CAROL} absent (the shared/ folder is missing)")
def test_import_done(snap_compare, tmp_path):
    shutil.copyfile(CAROL, tmp_path / "channel.db")  # the cwd is tmp_path (autouse fixture)
    app = MigWizardApp("channel.db", "sqlite:///lnd.sqlite", engine_factory=fake_factory(FakeStore()),
                       chunk_size=10, wall_clock=fixed_wall_clock, results_dir=tmp_path / "results")
    stable_copy_paths(app, tmp_path, "/tmp/migwizard-snapshots/test_import_done")

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=(80, 24))
