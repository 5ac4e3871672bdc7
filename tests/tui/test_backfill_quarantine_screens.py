"""The wizard's two consents against the REAL engine: Backfill on the preflight
screen (lnd's live store at tracker 18) and Quarantine on the error screen."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Static

from migwizard.core.codec.keys import PAYMENT_CREATION_INFO_KEY, PAYMENTS_ROOT_BUCKET
from migwizard.core.engine.api import Engine
from migwizard.core.engine.results import CheckStatus
from migwizard.core.generate import generate_store
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.screens.commit import CommitScreen, DoneScreen
from migwizard.screens.error import ErrorScreen
from migwizard.screens.migrate import MigrateScreen
from migwizard.screens.preflight import PreflightScreen
from migwizard.screens.report import ReportScreen
from migwizard.tui.app import MigWizardApp
from tests.engine.backfill_support import build_live_store, kv_identifiers
from tests.support import lnddb

from .conftest import StepClock, fixed_wall_clock
from .helpers import settle, text

SQL = "sqlite:///lnd.sqlite"


def _app():
    return MigWizardApp("kv", SQL, engine_factory=Engine, chunk_size=8, clock=StepClock(),
                        wall_clock=fixed_wall_clock)


async def _to_preflight(pilot):
    await settle(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot)
    assert isinstance(pilot.app.screen, PreflightScreen), pilot.app.screen


async def test_backfill_choice_on_preflight(tmp_path):
    lnddb.require_lnd_fixtures()
    generate_store(tmp_path / "kv", payments=30, seed=1, profile="mixed")
    build_live_store(SQL, Path("kv"))
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_preflight(pilot)
        scr = app.screen
        assert not scr.report.ok
        assert [c.status for c in scr.report.checks if c.id == "sql.backfill"] == [CheckStatus.FAIL]
        box = scr.query_one("#backfill")
        assert box.display and "Backfill" in str(box.label)
        await pilot.press("k")
        await settle(pilot)
        assert app.backfill and app.screen.report.ok, app.screen.report.checks
        assert "Backfill chosen" in str(app.screen.query_one("#backfill").label)
        await pilot.press("a", "c")
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen) and app.screen.result.outcome == "complete"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen) and app.screen.report.ok
        assert app.screen.report.kept_as_duplicates and app.screen.report.backfill["tracker"] == 18
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CommitScreen)
        assert "Backfill" in text(app.screen.query_one("#cm-left-behind"))


async def test_quarantine_choice_on_the_error_screen(tmp_path):
    generate_store(tmp_path / "kv", payments=30, seed=1, profile="mixed")
    idents, _ = kv_identifiers(tmp_path / "kv")
    bad = [idents[4], idents[20]]

    def write(root):
        for ident in bad:
            b = root.bucket(PAYMENTS_ROOT_BUCKET).bucket(ident)
            b.put(PAYMENT_CREATION_INFO_KEY, b.get(PAYMENT_CREATION_INFO_KEY)[:5])

    with LmdbStore.open(tmp_path / "kv", readonly=False) as store:
        store.update(write)
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_preflight(pilot)
        assert app.screen.report.ok
        if app.screen.report.warnings:
            await pilot.press("a")
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen) and app.screen.payment == bad[0].hex()
        assert app.screen.can_quarantine
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, PreflightScreen) and app.quarantine
        (q,) = [c for c in app.screen.report.checks if c.id == "kv.quarantine"]
        assert q.status is CheckStatus.WARN and all(b.hex() in q.reason for b in bad)
        await pilot.press("a", "c")
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen) and app.screen.result.outcome == "complete"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen) and app.screen.report.ok
        assert [k["payment"] for k in app.screen.report.quarantined] == [b.hex() for b in bad]
        saved = app.saved_report
        qfile = saved.with_name(saved.stem + ".quarantine.json")
        assert json.loads(qfile.read_text())["payments"][1]["identifier"] == bad[1].hex()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, CommitScreen)
        label = " ".join(text(w) for w in app.screen.query_one("#cm-confirm").query(Static))
        assert "2 unreadable payments will be LEFT BEHIND" in label
        assert "left behind" in text(app.screen.query_one("#cm-left-behind"))
        await pilot.press(*"COMMIT", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
