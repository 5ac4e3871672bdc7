"""The rollback screen: it describes and removes the current target's run; Back returns where it came from."""

from __future__ import annotations

from types import SimpleNamespace

from textual.widgets import Input, Static

from migwizard.core.engine.results import ExitCode, RunState, RunSummary
from migwizard.screens.commit import DoneScreen
from migwizard.screens.migrate import MigrateScreen
from migwizard.screens.rollback import RollbackScreen
from migwizard.screens.welcome import WelcomeScreen
from migwizard.tui.flow import Step

from .conftest import REPORT_NAME
from .fake_engine import FakeEngine, FakeStore
from .helpers import fake_app, quit_and_wait, settle, text, to_report, wait_for


async def test_rollback_after_switching_targets_shows_and_removes_that_targets_run(tmp_path):
    stores = {"sqlite:///a.sqlite": FakeStore(run_id="aaaa1111-run", done=20, chunks=2),
              "sqlite:///b.sqlite": FakeStore(run_id="bbbb2222-run", done=10, chunks=1)}

    def factory(kv, sql, **kwargs):
        return FakeEngine(kv, sql, store=stores[sql], **kwargs)

    app = fake_app(tmp_path, None, sql="sqlite:///a.sqlite", factory=factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.run_state is RunState.IN_PROGRESS
        await pilot.press("ctrl+r")  # resume A: its preflight and migration are this session's results
        await settle(pilot)
        await pilot.press("a", "c")
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen) and app.last_migration.run_id == "aaaa1111-run"
        await app.switch_screen(WelcomeScreen())
        await settle(pilot)
        app.screen.query_one("#target", Input).value = "sqlite:///b.sqlite"
        await wait_for(pilot, lambda: app.screen.probed is not None and app.screen.probed[1].endswith("b.sqlite"))
        await settle(pilot)
        assert app.screen.run_state is RunState.IN_PROGRESS
        assert app.last_migration is None and app.last_preflight is None  # results of A are gone
        await pilot.press("ctrl+b")
        await settle(pilot)
        assert isinstance(app.screen, RollbackScreen)
        what = text(app.screen.query_one("#rb-what", Static))
        assert "bbbb2222" in what and "aaaa1111" not in what
        assert "(interrupted)" in what and "running" not in what
        shown = app.screen.run_id
        await pilot.press(*"ROLLBACK", "enter")
        await settle(pilot)
        assert app.screen.result is not None
        assert app.screen.result.run_id == shown == "bbbb2222-run"
        assert stores["sqlite:///a.sqlite"].run_id == "aaaa1111-run"  # A untouched
        await quit_and_wait(pilot, "q")
    # A's run (touched in this session) still waits to be resumed: 4, naming nothing final
    assert app.return_code == ExitCode.INTERRUPTED_RESUMABLE
    assert "nothing is final yet" in app.exit_hint


async def test_back_from_rollback_returns_to_the_report(tmp_path):
    app = fake_app(tmp_path, FakeStore())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
        report = app.screen
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, RollbackScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is report
        await pilot.press("c")
        await pilot.pause()
        await pilot.press(*"COMMIT", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        assert app.screen.query_one("#done").scroll_y == 0
        summary = app.commit_summary()
        await quit_and_wait(pilot, "enter")
    assert app.return_code == ExitCode.OK
    assert "committed run run-0001" in summary and REPORT_NAME in summary and "Next steps" in summary


async def test_rollback_mounted_on_an_interrupted_run_describes_it(mount_screen):
    store = FakeStore(done=20, chunks=2, run_id="run-0001")
    async with mount_screen(Step.ROLLBACK, store=store, reason="interrupted") as pilot:
        screen = pilot.app.screen
        assert isinstance(screen, RollbackScreen) and not screen.loading
        what = text(screen.query_one("#rb-what", Static)).replace("\n", " ")
        assert "run-0001" in what and "(interrupted)" in what and "20 payments" in what
        assert screen.run_id == "run-0001"
        await pilot.press(*"ROLLBACK", "enter")
        await settle(pilot)
        assert screen.result is not None and screen.result.run_id == "run-0001"
    # the engine's status() (no preflight, no KV scan), then the rollback
    assert store.calls == ["status", "rollback"]


async def test_rollback_uses_the_engines_status_when_it_has_one(mount_screen):
    store = FakeStore(done=20, chunks=2, run_id="run-0001")
    run = RunSummary("run-0001", "running", 20, 2, 20, created_schema=True, created_file=False)

    class StatusEngine(FakeEngine):
        def status(self):
            self.store.calls.append("status")
            return SimpleNamespace(lnd_target=False, run=run, run_id=run.run_id)

    def factory(kv, sql, **kwargs):
        return StatusEngine(kv, sql, store=store, **kwargs)

    async with mount_screen(Step.ROLLBACK, app={"engine_factory": factory}, reason="interrupted") as pilot:
        what = text(pilot.app.screen.query_one("#rb-what", Static)).replace("\n", " ")
        assert "run-0001" in what and "The payment tables it created" in what
    assert store.calls == ["status"]  # no preflight, no KV scan
