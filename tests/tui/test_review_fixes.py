"""Pilot tests for the fixes from the tmux review: secrets, file modes, exit codes,
the palette, the drill-down of an undecodable payment, and reusing a bbolt import."""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static

from migwizard.core.engine.results import ExitCode, PaymentDetail, RunState
from migwizard.screens.detail import PaymentDetailScreen
from migwizard.screens.error import ErrorScreen
from migwizard.screens.importer import ImportScreen
from migwizard.screens.migrate import MigrateScreen
from migwizard.screens.preflight import PreflightScreen
from migwizard.screens.report import ReportScreen
from migwizard.screens.welcome import WelcomeScreen
from migwizard.tui.app import MigWizardApp, run_report_viewer
from migwizard.tui.commands import WizardCommands

from .conftest import REPORT_NAME, fixed_wall_clock
from .fake_engine import FakeStore, fake_factory, ident
from .helpers import FIXTURES, fake_app, text, to_report, gated, settle, wait_for, start_held_migration

SECRET = "s3cr3t-pw"
PG = f"postgresql://mig:{SECRET}@db.example/lnd"


async def test_password_never_in_files_or_on_screen_and_modes_are_private(tmp_path):
    store = FakeStore()
    app = fake_app(tmp_path, store, sql=PG)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        shown = app.screen.query_one("#target", Input).value
        assert SECRET not in shown and "***" in shown
        await to_report(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert app.engine.sql_url == PG  # the engine still gets the real URL
    results = tmp_path / "migwizard-results"
    log = (results / "migwizard.log").read_text()
    report = (results / REPORT_NAME).read_text()
    assert SECRET not in log and SECRET not in report
    assert "mig:***@db.example" in log
    assert json.loads(report)["target"] == "postgresql://mig:***@db.example/lnd"
    assert stat.S_IMODE(results.stat().st_mode) == 0o700
    for name in ("migwizard.log", REPORT_NAME):
        assert stat.S_IMODE((results / name).stat().st_mode) == 0o600


async def test_quit_from_welcome_with_interrupted_run_exits_4(tmp_path):
    store = FakeStore(done=20, chunks=2, run_id="run-0001")
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.run_state is RunState.IN_PROGRESS
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == ExitCode.INTERRUPTED_RESUMABLE


async def test_quit_after_stop_keep_exits_4_and_fresh_quit_exits_0(tmp_path):
    store = FakeStore()
    factory, reached, release = gated(fake_factory(store), gate_chunk=1)
    app = fake_app(tmp_path, store, factory=factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_held_migration(pilot, reached)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("k")
        release.set()
        await wait_for(pilot, lambda: isinstance(app.screen, MigrateScreen) and app.screen.result is not None)
        assert app.screen.result.outcome == "cancelled"
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == ExitCode.INTERRUPTED_RESUMABLE
    app2 = fake_app(tmp_path, FakeStore())
    async with app2.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app2.return_code is not None)
    assert app2.return_code == ExitCode.OK


async def test_error_screen_quit_keeps_chunks_exits_4(tmp_path):
    store = FakeStore(fail_on=ident(23))
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("a", "c")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == ExitCode.INTERRUPTED_RESUMABLE
    assert store.done == 20 and store.run_id is not None


def test_report_viewer_refuses_a_bad_file_with_64(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run_report_viewer(bad) == ExitCode.USAGE
    assert "cannot read" in capsys.readouterr().err


async def test_palette_lists_only_wizard_actions(tmp_path):
    app = fake_app(tmp_path, FakeStore())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, PreflightScreen)
        names = [name for name, _help, _cb in WizardCommands(app.screen)._commands()]
    assert {"Re-run", "Acknowledge", "Back", "Details"} <= set(names)
    assert names[-2:] == ["Help: keys and what each step does", "Quit migwizard"]
    assert not any(w in n.lower() for n in names for w in ("scroll", "focus", "cursor", "theme", "page"))
    assert "Continue" not in names  # not available before the warning is acknowledged
    assert len(names) == len(set(names))


async def test_drilldown_of_undecodable_payment_shows_the_error(tmp_path):
    error = ("payment 0a0b…: key payment-creation-info does not decode at byte offset 3: truncated "
             "value (want 8 bytes, have 3); the rest of this record cannot be read")
    detail = PaymentDetail(identifier="0a0b" * 16, kv={"error": error}, sql=None, differences=[],
                           normalisations=[], kv_error=error)
    app = MigWizardApp(report=None)

    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(PaymentDetailScreen(detail.identifier, detail=detail, offline=True))
        await settle(pilot)
        title = text(app.screen.query_one("#pd-title", Static))
        notes = text(app.screen.query_one("#pd-notes", Static))
    assert "match" not in title and "does not decode" in title
    assert error in notes.replace("\n", " ")


@pytest.mark.skipif(not (FIXTURES / "lnd-regtest-carol-channel.db").exists(), reason="LND fixtures absent")
async def test_bbolt_import_then_new_session_reuses_the_copy(tmp_path):
    channel_db = tmp_path / "channel.db"
    shutil.copyfile(FIXTURES / "lnd-regtest-carol-channel.db", channel_db)
    copy = tmp_path / "channel.db.migwizard-lmdb"
    store = FakeStore()
    app = MigWizardApp("channel.db", "sqlite:///lnd.sqlite", engine_factory=fake_factory(store),
                       wall_clock=fixed_wall_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert str(copy.name) in text(app.screen.query_one("#source-msg", Static))
        assert str(app.screen.query_one("#start", Button).label) == "Import channel.db"
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ImportScreen) and app.screen.done
        assert re.search(r"Imported and verified: [0-9,]+ payments? copied", text(app.screen.query_one("#im-status", Static)))
        assert app.imported_from == "channel.db" and Path(app.kv_path).resolve() == copy
    # an interrupted run on the copy: a new session reuses the import and offers resume / roll back
    store.run_id, store.done, store.chunks = "run-0001", 10, 1
    app2 = MigWizardApp("channel.db", "sqlite:///lnd.sqlite", engine_factory=fake_factory(store),
                        wall_clock=fixed_wall_clock)
    async with app2.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app2.screen
        assert isinstance(screen, WelcomeScreen) and screen.copy_state == "complete"
        assert "already imported" in text(screen.query_one("#source-msg", Static))
        assert screen.run_state is RunState.IN_PROGRESS
        assert screen.query_one("#resume", Button).display
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app2.screen, PreflightScreen) and app2.screen.resuming
        assert Path(app2.kv_path).resolve() == copy and app2.imported_from == "channel.db"
