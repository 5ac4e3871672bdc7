"""Pilot tests: drive the wizard end to end and assert engine results and messages."""

from __future__ import annotations

import json

from textual.widgets import Button, DataTable, Select

from migwizard.core.engine.results import CommitResult, ExitCode, MigrationResult
from migwizard.screens.commit import CommitScreen, DoneScreen
from migwizard.screens.detail import PaymentDetailScreen
from migwizard.screens.error import ErrorScreen
from migwizard.screens.migrate import MigrateScreen
from migwizard.screens.preflight import PreflightScreen
from migwizard.screens.report import ReportScreen
from migwizard.screens.rollback import RollbackScreen
from migwizard.screens.welcome import WelcomeScreen
from migwizard.tui.app import MigWizardApp
from migwizard.tui.commands import WizardCommands
from migwizard.tui.help import HelpScreen
from migwizard.tui.messages import EngineProgress, StepDone
from migwizard.core.report import load_report, report_document, report_from_json

from .conftest import REPORT_NAME, results_dir
from .fake_engine import FakeStore, fake_factory, ident
from .helpers import fake_app, gated, settle, start_held_migration, to_report, wait_for


def done_steps(messages, step):
    return [m.result for m in messages if isinstance(m, StepDone) and m.step == step]


async def test_happy_path_fake_engine(tmp_path):
    store = FakeStore()
    messages = []
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, PreflightScreen)
        # a warning: continue is refused until acknowledged
        assert not app.screen.can_continue
        await pilot.press("c")
        assert isinstance(app.screen, PreflightScreen)
        await pilot.press("a", "c")
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CommitScreen)
        await pilot.press("enter")  # nothing typed: refused
        assert not store.committed
        await pilot.press(*"COMMIT", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
    (migration,) = done_steps(messages, "migrate")
    assert isinstance(migration, MigrationResult) and migration.outcome == "complete"
    (commit,) = done_steps(messages, "commit")
    assert isinstance(commit, CommitResult) and commit.committed and commit.tombstoned
    assert any(isinstance(m, EngineProgress) for m in messages)
    assert store.calls.count("migrate") == 1 and store.committed


async def test_preflight_failure_blocks(tmp_path):
    store = FakeStore(preflight_fail=True)
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PreflightScreen)
        await pilot.press("a", "c")
        await pilot.pause()
        assert isinstance(app.screen, PreflightScreen)
        assert app.screen.query_one("#continue", Button).disabled
        assert "failed" in str(app.screen.query_one("#pf-verdict").render())
        # details on enter; re-run after fixing
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CheckDetail"
        await pilot.press("escape")
        store.preflight_fail = False
        await pilot.press("r")
        await settle(pilot)
        assert store.calls.count("preflight") == 2
        await pilot.press("a", "c")
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen)


async def test_cancel_then_rollback_fake(tmp_path):
    store = FakeStore()
    factory, reached, release = gated(fake_factory(store), gate_chunk=2)
    app = fake_app(tmp_path, store, factory=factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_held_migration(pilot, reached)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CancelMigration"
        await pilot.press("r")
        release.set()
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackScreen))
        assert store.done == 20  # stopped at the chunk boundary after chunk 2
        await pilot.pause()
        await pilot.press(*"ROLLBACK", "enter")
        await settle(pilot)
        assert app.screen.result is not None and app.screen.result.kv_unchanged
    assert store.run_id is None and store.done == 0


async def test_interrupt_then_resume_fake(tmp_path):
    store = FakeStore()
    factory, reached, release = gated(fake_factory(store), gate_chunk=1)
    app = fake_app(tmp_path, store, factory=factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_held_migration(pilot, reached)
        await pilot.press("ctrl+q")  # quitting during a migration asks first
        await pilot.pause()
        assert app.screen.__class__.__name__ == "QuitDuringMigration"
        await pilot.press("y")
        release.set()
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == ExitCode.INTERRUPTED_RESUMABLE
    assert store.done == 10 and store.run_id is not None
    # a new session offers Resume / Roll back and resumes from the checkpoint
    app2 = fake_app(tmp_path, store)
    async with app2.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app2.screen.query_one("#resume", Button).display
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.press("a", "c")
        await settle(pilot)
        assert isinstance(app2.screen, MigrateScreen)
        assert app2.screen.result.outcome == "complete"
    assert store.done == store.payments


async def test_corrupt_payment_error_screen_opens_drilldown(tmp_path):
    bad = ident(23)
    store = FakeStore(fail_on=bad)
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("a", "c")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert app.screen.payment == bad
        assert bad in str(app.screen.query_one("#er-title").render())
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PaymentDetailScreen)
        assert app.screen.detail is not None and app.screen.detail.identifier == bad


async def test_report_filters_search_and_secrets(tmp_path):
    store = FakeStore(diff_on=(ident(5),))
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
        screen = app.screen
        assert isinstance(screen, ReportScreen) and not screen.report.ok
        assert not screen.check_action("commit", ())  # differences block the commit
        table = screen.query_one("#payments", DataTable)
        assert table.row_count == 40
        screen.query_one("#filter", Select).value = "diff"
        await pilot.pause()
        assert table.row_count == 1
        screen.query_one("#filter", Select).value = "status:failed"
        await pilot.pause()
        assert table.row_count == 10
        screen.query_one("#filter", Select).value = "all"
        await pilot.press("slash", *ident(7)[:6], "enter")
        await pilot.pause()
        assert table.row_count == 1
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PaymentDetailScreen)
        assert "••••" in json.dumps(app.screen.detail.kv, ensure_ascii=False)
        await pilot.press("s")
        await settle(pilot)
        assert "••••" not in json.dumps(app.screen.detail.kv, ensure_ascii=False)
    report, details = load_report(results_dir(tmp_path) / REPORT_NAME)
    assert not report.ok and list(details) == [ident(5)]


async def test_report_viewer_opens_saved_report(tmp_path):
    store = FakeStore(diff_on=(ident(2),), done=40, run_id="run-0001", chunks=4)
    from .fake_engine import FakeEngine

    engine = FakeEngine("kv", "sqlite:///x", store=store)
    report = engine.validate()
    details = {ident(2): engine.payment_detail(ident(2))}
    doc = report_document(report, details)
    assert doc["kind"] == "migwizard-report" and doc["version"] == 1
    again, det = report_from_json(json.loads(json.dumps(doc)))
    assert again == report and det == details
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    app = MigWizardApp(report=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen) and app.screen.viewer
        assert not app.screen.check_action("commit", ())
        screen = app.screen
        screen.query_one("#filter", Select).value = "diff"
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PaymentDetailScreen)
        assert app.screen.detail.differences[0].path == "attempts[0].route.hops[1].amt_to_forward"


async def test_help_and_command_palette(tmp_path):
    store = FakeStore()
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"re-run")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert store.calls.count("preflight") == 2


async def test_invalid_paths_are_explained(tmp_path):
    app = MigWizardApp("nope", "mysql://x", engine_factory=fake_factory(FakeStore()))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert "no such file" in str(screen.query_one("#source-msg").render())
        assert "sqlite:///" in str(screen.query_one("#target-msg").render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)


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
