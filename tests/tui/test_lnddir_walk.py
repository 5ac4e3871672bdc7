"""The wizard on a real node's files (issue 8 item 5, issue 13 item 1, issue 10 part 1).

A temp lnd directory in lnd's layout (``data/graph/regtest/channel.sqlite`` holding a
generated store in ``channeldb_kv``, ``lnd.sqlite`` built from lnd's own schema files at
``migration_tracker`` 13): the welcome screen's first choice fills source and target from
it, the import step makes (or reuses) a verified copy in the state directory, and the
preflight screen shows what each lnd release's own migration would do.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from textual.widgets import Collapsible, Input, Static

from migwizard.core.engine.results import CheckStatus
from migwizard.screens.importer import ImportScreen
from migwizard.screens.preflight import PreflightScreen
from migwizard.screens.welcome import WelcomeScreen
from migwizard.tui.app import MigWizardApp

from tests.support.lnddir import make_lnddir

from .conftest import fixed_wall_clock
from .fake_engine import FakeStore, fake_factory
from .helpers import FIXTURES, settle, stable_copy_paths, text, wait_for

SHOWN = "/tmp/migwizard-snapshots/lnddir"
LNDINIT_DAVE = FIXTURES / "lndinit-tombstoned-dave-channel.db"


def stable(app: MigWizardApp, tmp_path: Path) -> MigWizardApp:
    """Temp paths and the copy's per-path digest shown the same on every run."""
    return stable_copy_paths(app, tmp_path, SHOWN)


def lnddir_app(tmp_path: Path, engine_factory=None) -> MigWizardApp:
    make_lnddir(tmp_path)
    app = MigWizardApp(None, None, engine_factory=engine_factory or fake_factory(FakeStore()), chunk_size=10,
                       wall_clock=fixed_wall_clock, results_dir=tmp_path / "results")
    return stable(app, tmp_path)


async def fill_from_lnddir(pilot, lnddir: str = "lnd", network: str = "regtest") -> None:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, WelcomeScreen)
    assert screen.focused is screen.query_one("#lnddir")  # the first choice has the focus
    screen.query_one("#lnddir", Input).value = lnddir
    screen.query_one("#network", Input).value = network
    await pilot.press("enter")
    await settle(pilot)
    await pilot.pause(WelcomeScreen.PROBE_DELAY + 0.1)  # the markers are read once typing pauses
    await settle(pilot)


async def to_import_done(pilot) -> None:
    await fill_from_lnddir(pilot)
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ImportScreen) and pilot.app.screen.done)
    await settle(pilot)


async def to_preflight(pilot) -> None:
    await to_import_done(pilot)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PreflightScreen)
                   and pilot.app.screen.report is not None and pilot.app.screen.rehearsal is not None)
    await settle(pilot)


async def test_lnddir_fills_source_and_target_then_imports_and_rehearses(tmp_path):
    """The whole walk, on the real engine: nothing is written beside lnd's files."""
    from migwizard.core.engine.api import Engine

    app = lnddir_app(tmp_path, engine_factory=lambda *a, **k: Engine(*a, **k))
    graph = tmp_path / "lnd" / "data" / "graph" / "regtest"
    before = sorted(p.name for p in graph.iterdir())
    async with app.run_test(size=(80, 24)) as pilot:
        await fill_from_lnddir(pilot)
        screen = app.screen
        assert screen.query_one("#source", Input).value == f"{SHOWN}/lnd/data/graph/regtest/channel.sqlite"
        assert screen.query_one("#target", Input).value == f"sqlite:///{SHOWN}/lnd/data/graph/regtest/lnd.sqlite"
        assert screen.source_kind == "kvsql-sqlite" and screen.target_ok
        assert app.sql_url == f"sqlite:///{(graph / 'lnd.sqlite').resolve()}"
        assert "will be imported" in text(screen.query_one("#source-msg", Static)).replace("\n", " ")
        assert "regtest" in text(screen.query_one("#lnddir-msg", Static))
        markers = text(screen.query_one("#markers", Static)).replace("\n", " ")
        assert "lnd already runs native SQL for invoices" in markers
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, ImportScreen) and app.screen.done)
        status = text(app.screen.query_one("#im-status", Static)).replace("\n", " ")
        assert re.search(r"Imported and verified: [0-9,]+ payments copied", status)
        copy = Path(app.kv_path)
        assert copy.is_relative_to(tmp_path / "state" / "imports") and (copy / "data.mdb").is_file()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PreflightScreen) and app.screen.report is not None
                       and app.screen.rehearsal is not None)
        pf = app.screen
        assert not any(c.status is CheckStatus.FAIL and c.id == "kv.open" for c in pf.report.checks)
        rehearsal = pf.rehearsal
        assert rehearsal.newest_release in [v.release for v in rehearsal.verdicts]
        table = text(pf.query_one("#rh-table", Static))
        for v in rehearsal.verdicts:
            assert v.release in table
        assert rehearsal.recommendation.split()[0] in table
        title = str(pf.query_one("#releases", Collapsible).title)
        assert title.endswith("passes") == rehearsal.ok
        # the edge store carries cases older releases fail on: the table names the payment
        failing = [v for v in rehearsal.verdicts if v.failure is not None and v.failure.payment]
        assert failing and failing[0].failure.payment[:8] in table
    # lnd's directory holds only lnd's files (and SQLite's own -wal/-shm beside them)
    assert sorted(p.name for p in graph.iterdir() if not p.name.endswith(("-wal", "-shm"))) == before


async def test_lnddir_errors_are_named_on_the_welcome_screen(tmp_path):
    app = lnddir_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await fill_from_lnddir(pilot, network="testnet")
        msg = app.screen.query_one("#lnddir-msg", Static)
        assert "no testnet data" in text(msg) and "regtest" in text(msg) and msg.has_class("error")
        assert app.screen.query_one("#source", Input).value == ""


def test_snapshot_welcome_lnddir_filled(snap_compare, tmp_path):
    assert snap_compare(lnddir_app(tmp_path), run_before=fill_from_lnddir, terminal_size=(80, 24))


def test_snapshot_import_done_from_channel_sqlite(snap_compare, tmp_path):
    assert snap_compare(lnddir_app(tmp_path), run_before=to_import_done, terminal_size=(80, 24))


def test_snapshot_preflight_with_release_verdicts(snap_compare, tmp_path):
    async def run_before(pilot):
        await to_preflight(pilot)
        await pilot.press("l")  # open "What each lnd release would do"
        await settle(pilot)

    assert snap_compare(lnddir_app(tmp_path), run_before=run_before, terminal_size=(80, 24))


@pytest.mark.skipif(not LNDINIT_DAVE.exists(), reason=f"LND fixture {LNDINIT_DAVE} absent (shared/ is missing)")
def test_snapshot_welcome_lndinit_tombstone(snap_compare, tmp_path):
    shutil.copyfile(LNDINIT_DAVE, tmp_path / "channel.db")  # the cwd is tmp_path (autouse fixture)
    app = stable(MigWizardApp("channel.db", "sqlite:///lnd.sqlite", engine_factory=fake_factory(FakeStore()),
                              chunk_size=10, wall_clock=fixed_wall_clock, results_dir=tmp_path / "results"),
                 tmp_path)

    async def run_before(pilot):
        await settle(pilot)
        await pilot.pause(WelcomeScreen.PROBE_DELAY + 0.1)
        await settle(pilot)
        markers = text(pilot.app.screen.query_one("#markers", Static)).replace("\n", " ")
        assert "converted by lndinit on" in markers and "lnd refuses to open it" in markers
        pilot.app.screen.query_one("#markers").scroll_visible(animate=False)
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=(80, 24))
