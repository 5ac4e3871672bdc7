"""Secrets: a PostgreSQL password never reaches the screen or a file, editing a redacted URL keeps it,
and the wizard's files are private (0600 in a 0700 directory)."""

from __future__ import annotations

import json
import stat

from textual.widgets import Input, Static

from migwizard.screens.report import ReportScreen
from migwizard.screens.welcome import restore_secrets

from .conftest import REPORT_NAME, results_dir
from .fake_engine import FakeStore
from .helpers import fake_app, settle, text, to_report

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
    results = results_dir(tmp_path)
    state = results.parent
    log = (state / "migwizard.log").read_text()
    report = (results / REPORT_NAME).read_text()
    assert SECRET not in log and SECRET not in report
    assert "mig:***@db.example" in log
    assert json.loads(report)["target"] == "postgresql://mig:***@db.example/lnd"
    assert stat.S_IMODE(results.stat().st_mode) == 0o700
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in (state / "migwizard.log", results / REPORT_NAME):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_restore_secrets():
    real = "postgresql://mig:s3cr3t@db.example/lnd?sslpassword=k3y&sslmode=require"
    url, note = restore_secrets("postgresql://mig:***@db2.example/lnd?sslpassword=%2A%2A%2A&sslmode=require", real)
    assert url == "postgresql://mig:s3cr3t@db2.example/lnd?sslpassword=k3y&sslmode=require" and "kept" in note
    url, note = restore_secrets("postgresql://mig:***@db.example/lnd", "postgresql://mig@db.example/lnd")
    assert url == "postgresql://mig@db.example/lnd" and "cleared" in note
    assert restore_secrets("postgresql://mig:new@h/lnd", real) == ("postgresql://mig:new@h/lnd", "")


async def test_editing_a_redacted_target_keeps_the_password(tmp_path):
    app = fake_app(tmp_path, FakeStore(), sql="postgresql://mig:s3cr3t@db.example/lnd")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        field = app.screen.query_one("#target", Input)
        field.value = field.value.replace("/lnd", "/lnd2")
        await pilot.pause()
        assert app.screen._target_value() == "postgresql://mig:s3cr3t@db.example/lnd2"
        assert "password (***) is kept" in text(app.screen.query_one("#target-msg", Static))
        assert "s3cr3t" not in field.value
