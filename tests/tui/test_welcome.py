"""The welcome screen: source and target fields, bbolt imports reused or made again, wording."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from textual.widgets import Button, Static

from migwizard.core.engine.results import ExitCode, RunState
from migwizard.core.engine.storefacts import store_facts
from migwizard.screens.importer import ImportScreen
from migwizard.screens.preflight import PreflightScreen
from migwizard.screens.welcome import WelcomeScreen
from migwizard.tui.app import MigWizardApp
from migwizard.tui.flow import Step

from .conftest import fixed_wall_clock
from .fake_engine import FakeEngine, FakeStore, fake_factory
from .helpers import FIXTURES, fake_app, quit_and_wait, settle, text, wait_for, welcome_facts


def _copy_of(channel_db: Path) -> Path:
    """Where the wizard keeps the verified LMDB copy of ``channel_db``: the state directory."""
    from migwizard.core.engine.storefacts import copy_location

    return copy_location("bbolt", str(channel_db))


@pytest.mark.skipif(not (FIXTURES / "lnd-regtest-carol-channel.db").exists(), reason="LND fixtures absent")
async def test_bbolt_import_then_new_session_reuses_the_copy(tmp_path):
    channel_db = tmp_path / "channel.db"
    shutil.copyfile(FIXTURES / "lnd-regtest-carol-channel.db", channel_db)
    copy = _copy_of(channel_db)
    assert copy.is_relative_to(tmp_path / "state" / "imports")
    store = FakeStore()
    app = MigWizardApp("channel.db", "sqlite:///lnd.sqlite", engine_factory=fake_factory(store),
                       wall_clock=fixed_wall_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        msg = text(app.screen.query_one("#source-msg", Static)).replace("\n", " ")
        assert str(copy.name) in msg and "will be imported" in msg
        assert str(app.screen.query_one("#start", Button).label) == "Import source"
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ImportScreen) and app.screen.done
        status = text(app.screen.query_one("#im-status", Static)).replace("\n", " ")
        assert re.search(r"Imported and verified: [0-9,]+ payments? copied", status)
        assert app.imported_from == "channel.db" and Path(app.kv_path).resolve() == copy
        assert sorted(p.name for p in tmp_path.iterdir() if "channel.db" in p.name) == ["channel.db"]  # nothing beside it
        # Back on the welcome screen the source line says what happened.
        app.show_step(Step.WELCOME)
        await settle(pilot)
        msg = text(app.screen.query_one("#source-msg", Static)).replace("\n", " ")
        assert "imported and verified into" in msg and copy.name in msg
        assert str(app.screen.query_one("#start", Button).label) == "Start preflight"
    # an interrupted run on the copy: a new session finds the copy and offers resume / roll back
    store.run_id, store.done, store.chunks = "run-0001", 10, 1
    app2 = MigWizardApp("channel.db", "sqlite:///lnd.sqlite", engine_factory=fake_factory(store),
                        wall_clock=fixed_wall_clock)
    async with app2.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app2.screen
        assert isinstance(screen, WelcomeScreen) and screen.copy_state == "complete"
        assert "a verified copy is at" in text(screen.query_one("#source-msg", Static)).replace("\n", " ")
        assert screen.run_state is RunState.IN_PROGRESS
        assert screen.query_one("#resume", Button).display
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app2.screen, PreflightScreen) and app2.screen.resuming
        assert Path(app2.kv_path).resolve() == copy and app2.imported_from == "channel.db"
    # a fresh session on the unchanged source: the import step reuses the copy
    store.run_id, store.done, store.chunks = None, 0, 0
    app3 = MigWizardApp("channel.db", "sqlite:///lnd.sqlite", engine_factory=fake_factory(store),
                        wall_clock=fixed_wall_clock)
    async with app3.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert str(app3.screen.query_one("#start", Button).label) == "Import source"
        await pilot.press("ctrl+n")
        await settle(pilot)
        status = text(app3.screen.query_one("#im-status", Static)).replace("\n", " ")
        assert "Reused the verified copy" in status and Path(app3.kv_path).resolve() == copy


@pytest.mark.skipif(not (FIXTURES / "lnd-regtest-carol-channel.db").exists(), reason="LND fixtures absent")
async def test_tombstoned_import_offers_a_fresh_import(tmp_path):
    from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
    from migwizard.core.kv.lmdb_store import LmdbStore
    from migwizard.core.kv.source import prepare_source

    channel_db = tmp_path / "channel.db"
    shutil.copyfile(FIXTURES / "lnd-regtest-carol-channel.db", channel_db)
    base = prepare_source(str(channel_db)).lmdb_dir
    assert base == _copy_of(channel_db)
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
        tombstoned = (Path(kv) / "data.mdb").exists() and store_facts(kv).tombstoned
        stores.setdefault(kv + str(tombstoned), FakeStore(tombstoned=tombstoned))
        return FakeEngine(kv, sql, store=stores[kv + str(tombstoned)], **kwargs)

    app = MigWizardApp("channel.db", "sqlite:///lnd.sqlite", engine_factory=factory, wall_clock=fixed_wall_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.copy_state == "tombstoned"
        assert screen.run_state is RunState.TOMBSTONE_WITHOUT_SQL
        assert str(screen.query_one("#start").label) == "Import again"
        state = text(screen.query_one("#run-state", Static)).replace("\n", " ")
        assert "import it again" in state and "restore your backup" not in state
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ImportScreen) and app.screen.done and app.screen.fresh
        assert Path(app.kv_path).resolve() == base and not store_facts(base).tombstoned
        kept = [p for p in base.parent.iterdir() if p.name.startswith(f"{base.name}.committed-")]
        assert len(kept) == 1 and store_facts(kept[0]).tombstoned  # the record of the migration is kept
        assert app.return_code is None and app.outcome is None
    # The tombstoned copy opened as an LMDB source: the text says the original is unchanged, exit 2.
    app2 = MigWizardApp(str(kept[0]), "sqlite:///lnd.sqlite", engine_factory=factory, wall_clock=fixed_wall_clock)
    async with app2.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app2.screen.run_state is not None, why=lambda: welcome_facts(app2.screen))
        state = text(app2.screen.query_one("#run-state", Static)).replace("\n", " ")
        assert "imported from" in state and "unchanged" in state and "fresh import" in state
        await quit_and_wait(pilot)
    assert app2.return_code == ExitCode.PREFLIGHT_REFUSED


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
