"""The wizard's exit codes and the hint printed with them (README table: 0, 1, 2, 3, 4, 64)."""

from __future__ import annotations

from migwizard.core.engine.results import ExitCode, RunState
from migwizard.screens.error import ErrorScreen
from migwizard.screens.migrate import MigrateScreen
from migwizard.screens.report import ReportScreen
from migwizard.tui.app import run_report_viewer

from .fake_engine import FakeStore, fake_factory, ident
from .helpers import fake_app, gated, quit_and_wait, settle, start_held_migration, to_report, wait_for


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


async def test_validation_mismatch_then_quit_exits_1(tmp_path):
    app = fake_app(tmp_path, FakeStore(diff_on=(ident(5), ident(9))))
    async with app.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
        assert isinstance(app.screen, ReportScreen) and not app.screen.report.ok
        await quit_and_wait(pilot)
    assert app.return_code == ExitCode.VALIDATION_MISMATCH
    assert "see the report" in app.exit_hint and "roll back or fix and re-validate" in app.exit_hint


async def test_decode_failure_quit_4_with_fix_hint_then_3_after_rollback(tmp_path):
    store = FakeStore(fail_on=ident(23))
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("a", "c")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert app.exit_status()[0] == ExitCode.INTERRUPTED_RESUMABLE
        assert "fix the store (see the log" in app.exit_status()[1]
        await pilot.press("b")
        await settle(pilot)
        await pilot.press(*"ROLLBACK", "enter")
        await settle(pilot)
        await quit_and_wait(pilot, "q")
    assert app.return_code == ExitCode.FAILED_ROLLED_BACK
