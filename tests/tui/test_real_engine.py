"""Pilot tests against the REAL engine on small generated stores."""

from __future__ import annotations

import pytest
from textual.widgets import Button

from migwizard.core.engine.api import Engine
from migwizard.core.engine.results import CommitResult, ExitCode, MigrationResult, RollbackResult, RunState
from migwizard.core.generate import corrupt_payment_value, generate_store
from migwizard.screens.commit import CommitScreen, DoneScreen
from migwizard.screens.detail import PaymentDetailScreen
from migwizard.screens.error import ErrorScreen
from migwizard.screens.migrate import MigrateScreen
from migwizard.screens.preflight import PreflightScreen
from migwizard.screens.report import ReportScreen
from migwizard.screens.rollback import RollbackScreen
from migwizard.screens.welcome import WelcomeScreen
from migwizard.tui.app import MigWizardApp
from migwizard.tui.messages import EngineProgress, StepDone, StepFailed
from migwizard.core.report import load_report

from .conftest import StepClock, fixed_wall_clock, results_dir
from .helpers import gated, settle, wait_for, welcome_facts

PAYMENTS = 40
CHUNK = 8
SQL = "sqlite:///lnd.sqlite"


@pytest.fixture
def kv(tmp_path):
    generate_store(tmp_path / "kv", payments=PAYMENTS, seed=1, profile="mixed")
    return "kv"


def real_app(factory=Engine, **kw):
    return MigWizardApp("kv", SQL, engine_factory=factory, chunk_size=CHUNK, clock=StepClock(),
                        wall_clock=fixed_wall_clock, **kw)


def steps(messages, step):
    return [m.result for m in messages if isinstance(m, StepDone) and m.step == step]


async def through_preflight(pilot):
    await settle(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot)
    assert isinstance(pilot.app.screen, PreflightScreen), pilot.app.screen
    assert pilot.app.screen.report.ok, pilot.app.screen.report.checks
    if pilot.app.screen.report.warnings:
        await pilot.press("a")
    await pilot.press("c")


async def test_happy_path_real_engine_commits(kv, tmp_path):
    messages = []
    app = real_app()
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await through_preflight(pilot)
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen)
        assert app.screen.result.outcome == "complete"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen) and app.screen.report.ok
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CommitScreen)
        await pilot.press(*"COMMIT", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
    (migration,) = steps(messages, "migrate")
    assert isinstance(migration, MigrationResult)
    assert migration.outcome == "complete" and migration.stats.payments == PAYMENTS
    assert migration.stats.chunks == PAYMENTS // CHUNK
    (report,) = [r[0] for r in steps(messages, "validate")]
    assert report.ok and report.payments_checked == PAYMENTS and not report.differences
    (commit,) = steps(messages, "commit")
    assert isinstance(commit, CommitResult) and commit.committed and commit.tombstoned
    assert any(isinstance(m, EngineProgress) for m in messages)
    (saved_path,) = results_dir(tmp_path).glob("run-*.json")  # one report per run
    assert saved_path.name == f"run-{report.run_id}.json"
    saved, _details = load_report(saved_path)
    assert saved.ok and saved.payments_checked == PAYMENTS
    with Engine(tmp_path / "kv", f"sqlite:///{tmp_path / 'lnd.sqlite'}") as engine:
        assert engine.state() is RunState.COMPLETE


async def test_cancel_then_rollback_real_engine(kv, tmp_path):
    factory, reached, release = gated(Engine, gate_chunk=2)
    messages = []
    app = real_app(factory)
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await through_preflight(pilot)
        await wait_for(pilot, reached.is_set)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CancelMigration"
        await pilot.press("r")
        await pilot.pause()
        release.set()
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackScreen))
        await pilot.pause()
        await pilot.press(*"ROLLBACK", "enter")
        await settle(pilot)
        assert app.screen.result is not None
    (migration,) = steps(messages, "migrate")
    assert migration.outcome == "cancelled" and migration.stats.payments == 2 * CHUNK
    (rollback,) = steps(messages, "rollback")
    assert isinstance(rollback, RollbackResult) and rollback.kv_unchanged
    with Engine(tmp_path / "kv", f"sqlite:///{tmp_path / 'lnd.sqlite'}") as engine:
        assert engine.state() is RunState.FRESH


async def test_interrupt_then_resume_real_engine(kv, tmp_path):
    factory, reached, release = gated(Engine, gate_chunk=1)
    app = real_app(factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await through_preflight(pilot)
        await wait_for(pilot, reached.is_set)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        release.set()
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == ExitCode.INTERRUPTED_RESUMABLE
    messages = []
    app2 = real_app()
    async with app2.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await settle(pilot)
        assert isinstance(app2.screen, WelcomeScreen)
        # The run probe's answer is what the test is about: wait for it by name, and if it
        # never comes, say what the screen shows instead of "None".
        await wait_for(pilot, lambda: app2.screen.run_state is not None,
                       why=lambda: f"{welcome_facts(app2.screen)}; "
                                   f"failures: {[m for m in messages if isinstance(m, StepFailed)]}")
        assert app2.screen.run_state is RunState.IN_PROGRESS
        assert app2.screen.query_one("#resume", Button).display
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app2.screen, PreflightScreen) and app2.screen.resuming
        if app2.screen.report.warnings:
            await pilot.press("a")
        await pilot.press("c")
        await settle(pilot)
        assert app2.screen.result.outcome == "complete"
        await pilot.press("enter")
        await settle(pilot)
        assert app2.screen.report.ok and app2.screen.report.payments_checked == PAYMENTS
    (migration,) = steps(messages, "migrate")
    assert migration.outcome == "complete" and migration.stats.payments == PAYMENTS


def _payment_hashes(path):
    from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
    from migwizard.core.kv import LmdbStore

    store = LmdbStore.open(path)
    try:
        with store.read() as root:
            return [bytes(k) for k, _v in root.bucket(PAYMENTS_ROOT_BUCKET).items()]
    finally:
        store.close()


async def test_corrupt_store_names_payment_and_opens_drilldown(kv, tmp_path):
    bad = _payment_hashes(tmp_path / "kv")[20]
    corrupt_payment_value(tmp_path / "kv", bad, "payment-creation-info", 3, mode="truncate")
    app = real_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await through_preflight(pilot)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ErrorScreen), screen
        assert screen.payment == bad.hex()
        assert bad.hex() in str(screen.query_one("#er-title").render())
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PaymentDetailScreen)
        assert app.screen.identifier == bad.hex()


async def test_run_probe_waits_for_the_markers_read_of_the_same_store(kv, tmp_path, monkeypatch):
    """The welcome screen reads the node's markers and probes the run at once, on two threads of
    one process; the probe used to fail at random with "already open in this process"."""
    import threading
    import time

    import migwizard.screens.welcome as welcome
    from migwizard.core.kv.lmdb_store import LmdbStore

    real_markers = welcome.marker_lines
    holding = threading.Event()

    def slow_markers(source, table=None):
        store = LmdbStore.open(source, readonly=True)  # a slow read keeps the store open a while
        holding.set()
        time.sleep(0.5)
        store.close()
        return real_markers(source, table)

    def factory(*args, **kwargs):
        assert holding.wait(10)  # the probe opens the store while the markers read holds it
        return Engine(*args, **kwargs)

    monkeypatch.setattr(welcome, "marker_lines", slow_markers)
    messages = []
    app = real_app(factory)
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.screen.run_state is not None or any(
            isinstance(m, StepFailed) for m in messages), why=lambda: welcome_facts(app.screen))
        assert [m for m in messages if isinstance(m, StepFailed)] == []
        assert app.screen.run_state is RunState.FRESH
        assert app.screen.markers == []  # and the markers read itself answered
