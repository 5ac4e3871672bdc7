"""The commit screen learns what the target is from one place (tui/status.py): a preflight
taken earlier in the session, else the engine's cheap ``status()`` (never a preflight of its
own). Each screen is mounted directly from a wizard state."""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import Static

from migwizard.core.engine.results import Check, CheckStatus, PreflightReport, RunState, RunSummary, StatusCounts
from migwizard.screens.commit import CommitScreen
from migwizard.tui.flow import Step
from migwizard.tui.status import TargetStatus, engine_status, from_preflight

from .fake_engine import FakeEngine, FakeStore
from .helpers import text


@dataclass
class EngineStatus:
    """The shape of ``Engine.status()``'s answer that the adapter reads."""

    lnd_target: bool | None
    run: RunSummary | None = None
    run_id: str | None = None


def status_factory(store: FakeStore, status: EngineStatus):
    """Fake engines that answer ``status()`` (and record the call)."""

    class StatusEngine(FakeEngine):
        def status(self):
            self.store.calls.append("status")
            return status

    def factory(kv, sql, **kwargs):
        return StatusEngine(kv, sql, store=store, **kwargs)

    return factory


def preflight_with_tracker(verdict: CheckStatus) -> PreflightReport:
    checks = [Check("sql.lnd_tracker", "lnd's migration tracker", verdict, "tracker at 13" if verdict is
                    CheckStatus.PASS else "no migration_tracker table: a standalone copy")]
    return PreflightReport(checks=checks, counts=StatusCounts(), state=RunState.IN_PROGRESS, run_id="run-0001")


async def test_commit_on_lnds_own_database_asks_status_not_preflight(mount_screen):
    store = FakeStore(done=40, chunks=4, run_id="run-0001")
    factory = status_factory(store, EngineStatus(lnd_target=True, run_id="run-0001"))
    async with mount_screen(Step.COMMIT, app={"engine_factory": factory}) as pilot:
        screen = pilot.app.screen
        assert isinstance(screen, CommitScreen) and not screen.loading
        assert screen.lnd_target
        assert not screen.query_one("#cm-standalone").display
        assert "lnd's migration tracker records" in text(screen.query_one("#cm-steps", Static))
    assert store.calls.count("status") == 1 and "preflight" not in store.calls  # no KV scan


async def test_commit_on_a_standalone_copy_says_so(mount_screen):
    store = FakeStore(done=40, chunks=4, run_id="run-0001")
    factory = status_factory(store, EngineStatus(lnd_target=False, run_id="run-0001"))
    async with mount_screen(Step.COMMIT, app={"engine_factory": factory}) as pilot:
        screen = pilot.app.screen
        assert not screen.lnd_target
        assert screen.query_one("#cm-standalone").display
        assert "standalone copy" in text(screen.query_one("#cm-standalone", Static))
        assert "(a standalone copy: lnd's own migration bookkeeping is not touched)" in \
            text(screen.query_one("#cm-steps", Static)).replace("\n", " ")
    assert "preflight" not in store.calls


async def test_commit_reuses_this_sessions_preflight(mount_screen):
    store = FakeStore(done=40, chunks=4, run_id="run-0001")
    state = {"last_preflight": preflight_with_tracker(CheckStatus.PASS)}
    async with mount_screen(Step.COMMIT, store=store, state=state) as pilot:
        assert pilot.app.screen.lnd_target
    assert store.calls == []  # the engine was not asked at all


async def test_commit_without_a_preflight_asks_the_engines_status(mount_screen):
    store = FakeStore(done=40, chunks=4, run_id="run-0001")
    async with mount_screen(Step.COMMIT, store=store) as pilot:
        screen = pilot.app.screen
        assert not screen.loading
        assert screen.status is not None and screen.status.lnd_target is False  # no tracker: a standalone copy
        assert screen.status.run_id == "run-0001"
        assert screen.query_one("#cm-standalone").display
    assert store.calls == ["status"]  # no preflight, no KV scan


async def test_commit_on_a_fake_lnd_target_reads_the_tracker_from_status(mount_screen):
    store = FakeStore(done=40, chunks=4, run_id="run-0001", lnd_target=True)
    async with mount_screen(Step.COMMIT, store=store) as pilot:
        screen = pilot.app.screen
        assert screen.lnd_target
        assert not screen.query_one("#cm-standalone").display
    assert store.calls == ["status"]


def test_adapter_verdicts():
    assert from_preflight(preflight_with_tracker(CheckStatus.PASS)).lnd_target is True
    assert from_preflight(preflight_with_tracker(CheckStatus.WARN)).standalone
    assert from_preflight(preflight_with_tracker(CheckStatus.FAIL)).lnd_target is None
    run = RunSummary("run-0002", "running", 5, 1, 7, created_schema=False, created_file=True)
    pre = PreflightReport(checks=[], counts=StatusCounts(), state=RunState.IN_PROGRESS, run_id="stale", run=run)
    assert from_preflight(pre) == TargetStatus(lnd_target=None, run_id="run-0002", run=run, preflight=pre)

    class WithStatus:
        def status(self):
            return EngineStatus(lnd_target=True, run=run)

    assert engine_status(WithStatus()) == TargetStatus(lnd_target=True, run_id="run-0002", run=run)
