"""Pilot tests for the second tmux review: the rollback describes the current target's run,
tombstoned bbolt imports, report names, redacted passwords, exit codes, Back from Roll back,
and jumping between differences."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from migwizard.core.engine.results import ExitCode, RunState
from migwizard.screens.commit import DoneScreen
from migwizard.screens.detail import PaymentDetailScreen
from migwizard.screens.error import ErrorScreen
from migwizard.screens.importer import ImportScreen
from migwizard.screens.migrate import MigrateScreen
from migwizard.screens.report import ReportScreen
from migwizard.screens.rollback import RollbackScreen
from migwizard.screens.welcome import WelcomeScreen, restore_secrets
from migwizard.tui.app import MigWizardApp
from migwizard.tui.widgets import DiffTree

from .conftest import REPORT_NAME, fixed_wall_clock
from .fake_engine import FakeEngine, FakeStore, ident
from .helpers import FIXTURES, fake_app, text, to_report, settle, wait_for



async def quit_and_wait(pilot, key="ctrl+q"):
    await pilot.press(key)
    await wait_for(pilot, lambda: pilot.app.return_code is not None)


# -- 1: the rollback screen describes the run of the current target -----------
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


# -- 2: a tombstoned bbolt import is not reused ---------------------------------
@pytest.mark.skipif(not (FIXTURES / "lnd-regtest-carol-channel.db").exists(), reason="LND fixtures absent")
async def test_tombstoned_import_offers_a_fresh_import(tmp_path):
    from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
    from migwizard.core.kv.importer import import_bbolt
    from migwizard.core.kv.lmdb_store import LmdbStore

    channel_db = tmp_path / "channel.db"
    shutil.copyfile(FIXTURES / "lnd-regtest-carol-channel.db", channel_db)
    base = tmp_path / "channel.db.migwizard-lmdb"
    import_bbolt(channel_db, base, all_buckets=False)
    store = LmdbStore.open(base)
    try:
        with store.write() as root:
            rb = root.bucket(PAYMENTS_ROOT_BUCKET) or root.create_bucket(PAYMENTS_ROOT_BUCKET)
            rb.put(b"payments-tombstone", b"1")
    finally:
        store.close()
    stores: dict[str, FakeStore] = {}

    def factory(kv, sql, **kwargs):
        kv = str(Path(kv).resolve())
        stores.setdefault(kv, FakeStore(tombstoned=kv == str(base.resolve())))
        return FakeEngine(kv, sql, store=stores[kv], **kwargs)

    app = MigWizardApp("channel.db", "sqlite:///lnd.sqlite", engine_factory=factory, wall_clock=fixed_wall_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.copy_state == "tombstoned"
        assert screen.run_state is RunState.TOMBSTONE_WITHOUT_SQL
        assert str(screen.query_one("#start").label) == "Import again"
        state = text(screen.query_one("#run-state", Static)).replace("\n", " ")
        assert "channel.db.migwizard-lmdb-2" in state and "restore your backup" not in state
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ImportScreen) and app.screen.done
        assert Path(app.kv_path).resolve() == (tmp_path / "channel.db.migwizard-lmdb-2").resolve()
    # The tombstoned copy opened as an LMDB source: the text says channel.db is unchanged, exit 2.
    app2 = MigWizardApp(str(base), "sqlite:///lnd.sqlite", engine_factory=factory, wall_clock=fixed_wall_clock)
    async with app2.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        state = text(app2.screen.query_one("#run-state", Static)).replace("\n", " ")
        assert "imported from" in state and "unchanged" in state and "fresh import" in state
        await quit_and_wait(pilot)
    assert app2.return_code == ExitCode.PREFLIGHT_REFUSED


# -- 5: report names -----------------------------------------------------------
async def test_report_and_log_paths(tmp_path):
    report, log = tmp_path / "out" / "mine.json", tmp_path / "logs" / "wizard.log"
    app = fake_app(tmp_path, FakeStore(), report_path=report, log_path=log)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
        assert isinstance(app.screen, ReportScreen)
    assert report.exists() and log.exists()
    assert not list((tmp_path / "migwizard-results").glob("migwizard-report*.json"))
    for f in (report, log):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    app2 = fake_app(tmp_path, FakeStore())
    async with app2.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
    assert (tmp_path / "migwizard-results" / REPORT_NAME).exists()


# -- 6: editing a redacted URL keeps its password ----------------------------
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


# -- 7: exit codes and hints ----------------------------------------------------
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


# -- 8 / 9: the Done summary; Back from Roll back --------------------------------
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


# -- 14: differences first --------------------------------------------------------
async def test_report_starts_on_a_difference_and_n_jumps_to_it(tmp_path):
    store = FakeStore(diff_on=(ident(5),))
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
        table = app.screen.query_one("#payments", DataTable)
        assert table.cursor_row == 5
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PaymentDetailScreen)
        await pilot.press("n")
        await pilot.pause()
        tree = app.screen.query_one("#kv", DiffTree)
        assert tree.cursor_node is not None
        assert tree.cursor_node.data == "attempts[0].route.hops[1].amt_to_forward"
        await pilot.press("p")  # the only difference: p wraps onto it
        await pilot.pause()
        assert tree.cursor_node.data == "attempts[0].route.hops[1].amt_to_forward"


# -- 11 / 12: field validation and wording ------------------------------------
def test_sqlite_target_validation_and_wizard_wording(tmp_path):
    from migwizard.screens.welcome import check_target
    from migwizard.tui.widgets import plain_code, wizard_wording

    assert not check_target("sqlite:///")[0]
    assert not check_target(f"sqlite:///{tmp_path}")[0] and "directory" in check_target(f"sqlite:///{tmp_path}")[1]
    assert check_target(f"sqlite:///{tmp_path}/lnd.sqlite")[0]
    hint = wizard_wording("check the URL, that the server runs, and the credentials", sqlite=True)
    assert "server" not in hint
    hint = plain_code(wizard_wording("nothing to migrate; run `migwizard verify` to re-check"))
    assert "`" not in hint and "migwizard verify" not in hint and "Re-verify" in hint
    assert "interrupted or" not in wizard_wording("holds migwizard run 1234abcd (interrupted or in progress, 3 payments)")


async def test_start_is_disabled_while_a_field_is_invalid(tmp_path):
    app = fake_app(tmp_path, FakeStore(), sql="sqlite:///")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#start").disabled
        assert app.screen.check_action("start", ("preflight",)) is None  # shown disabled in the footer
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
