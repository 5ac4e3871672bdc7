"""SVG snapshots of every screen at 80x24 (report and drill-down also at 120x40).

Deterministic: the fake engine emits a fixed event sequence, the progress bars
run on the engine's reported elapsed time, cursors don't blink, workers are
awaited, paths are relative to a temp cwd. Stored in <repo>/snapshots/test_snapshots/.
Update only after reviewing: ``make snapshot-update``.
"""

from __future__ import annotations

from textual.widgets import Select

from migwizard.tui.app import MigWizardApp

from .conftest import fixed_wall_clock
from .fake_engine import FakeStore, fake_factory, ident
from .helpers import gated, make_fake_store_dir, settle, stable_paths, wait_for

SMALL = (80, 24)
WIDE = (120, 40)
# The screens show absolute report and log paths: the results go to the test's temp dir and are
# shown under this fixed name, so the snapshots do not depend on where pytest put that dir.
SHOWN_RESULTS = "/tmp/migwizard-snapshots"


def build(tmp_path, store=None, factory=None, **kw):
    make_fake_store_dir(tmp_path)
    store = store or FakeStore()
    results = tmp_path / "results"
    kw.setdefault("results_dir", results)
    kw.setdefault("log_path", results / "migwizard.log")
    app = MigWizardApp("kv", "sqlite:///lnd.sqlite", engine_factory=factory or fake_factory(store),
                       chunk_size=10, wall_clock=fixed_wall_clock, **kw)
    return stable_paths(app, results, f"{SHOWN_RESULTS}/{tmp_path.name}")


async def to_preflight(pilot):
    await settle(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot)


async def to_migrate(pilot):
    await to_preflight(pilot)
    await pilot.press("a", "c")
    await settle(pilot)


async def to_report(pilot):
    await to_migrate(pilot)
    await pilot.press("enter")
    await settle(pilot)


def held_app(tmp_path, gate_chunk=2):
    """An app whose migration is held after ``gate_chunk``; released when the app exits."""
    store = FakeStore()
    factory, reached, release = gated(fake_factory(store), gate_chunk)
    app = build(tmp_path, store, factory)
    original_exit = app.exit

    def exit_and_release(*args, **kwargs):
        if app.cancel_event is not None:
            app.cancel_event.set()
        release.set()
        return original_exit(*args, **kwargs)

    app.exit = exit_and_release  # type: ignore[method-assign]
    app.release_gate = release  # type: ignore[attr-defined]
    return app, reached


def test_welcome(snap_compare, tmp_path):
    assert snap_compare(build(tmp_path), run_before=settle, terminal_size=SMALL)


def test_welcome_interrupted_run(snap_compare, tmp_path):
    store = FakeStore(done=20, chunks=2, run_id="run-0001")
    assert snap_compare(build(tmp_path, store), run_before=settle, terminal_size=SMALL)


def test_welcome_invalid_fields(snap_compare, tmp_path):
    app = MigWizardApp("missing-dir", "mysql://root@db", engine_factory=fake_factory(FakeStore()))
    assert snap_compare(app, run_before=settle, terminal_size=SMALL)


def test_welcome_no_color(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(build(tmp_path), run_before=settle, terminal_size=SMALL)


def test_preflight_warning(snap_compare, tmp_path):
    assert snap_compare(build(tmp_path), run_before=to_preflight, terminal_size=SMALL)


def test_preflight_failure(snap_compare, tmp_path):
    app = build(tmp_path, FakeStore(preflight_fail=True))
    assert snap_compare(app, run_before=to_preflight, terminal_size=SMALL)


def test_preflight_check_details(snap_compare, tmp_path):
    async def run_before(pilot):
        await to_preflight(pilot)
        await pilot.press("end", "up", "enter")
        await pilot.pause()

    assert snap_compare(build(tmp_path), run_before=run_before, terminal_size=SMALL)


def test_migrate_running(snap_compare, tmp_path):
    app, reached = held_app(tmp_path)

    async def run_before(pilot):
        await to_preflight(pilot)
        await pilot.press("a", "c")
        await wait_for(pilot, reached.is_set)
        await pilot.pause(0.1)

    assert snap_compare(app, run_before=run_before, terminal_size=SMALL)


def test_migrate_cancel_modal(snap_compare, tmp_path):
    app, reached = held_app(tmp_path)

    async def run_before(pilot):
        await to_preflight(pilot)
        await pilot.press("a", "c")
        await wait_for(pilot, reached.is_set)
        await pilot.pause(0.1)
        await pilot.press("escape")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SMALL)


def test_quit_during_migration(snap_compare, tmp_path):
    app, reached = held_app(tmp_path)

    async def run_before(pilot):
        await to_preflight(pilot)
        await pilot.press("a", "c")
        await wait_for(pilot, reached.is_set)
        await pilot.pause(0.1)
        await pilot.press("ctrl+q")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SMALL)


def test_migrate_stopped_resumable(snap_compare, tmp_path):
    app, reached = held_app(tmp_path)

    async def run_before(pilot):
        await to_preflight(pilot)
        await pilot.press("a", "c")
        await wait_for(pilot, reached.is_set)
        await pilot.pause(0.1)
        await pilot.press("escape", "k")
        await pilot.pause()
        app.release_gate.set()  # the engine sees the cancel at the next chunk boundary
        await settle(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=SMALL)


def test_migrate_complete(snap_compare, tmp_path):
    assert snap_compare(build(tmp_path), run_before=to_migrate, terminal_size=SMALL)


def test_report(snap_compare, tmp_path):
    assert snap_compare(build(tmp_path), run_before=to_report, terminal_size=SMALL)


def test_report_with_differences(snap_compare, tmp_path):
    store = FakeStore(diff_on=(ident(5), ident(9)))

    async def run_before(pilot):
        await to_report(pilot)
        pilot.app.screen.query_one("#filter", Select).value = "diff"
        await pilot.pause()

    assert snap_compare(build(tmp_path, store), run_before=run_before, terminal_size=SMALL)


def test_report_wide(snap_compare, tmp_path):
    store = FakeStore(diff_on=(ident(5),))
    assert snap_compare(build(tmp_path, store), run_before=to_report, terminal_size=WIDE)


async def _to_detail(pilot):
    await to_report(pilot)
    pilot.app.screen.query_one("#filter", Select).value = "diff"
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)


def test_drilldown(snap_compare, tmp_path):
    store = FakeStore(diff_on=(ident(1),))
    assert snap_compare(build(tmp_path, store), run_before=_to_detail, terminal_size=SMALL)


def test_drilldown_wide(snap_compare, tmp_path):
    store = FakeStore(diff_on=(ident(1),))
    assert snap_compare(build(tmp_path, store), run_before=_to_detail, terminal_size=WIDE)


def test_drilldown_secrets_shown(snap_compare, tmp_path):
    store = FakeStore(diff_on=(ident(1),))

    async def run_before(pilot):
        await _to_detail(pilot)
        await pilot.press("s")
        await settle(pilot)

    assert snap_compare(build(tmp_path, store), run_before=run_before, terminal_size=WIDE)


def test_commit_confirmation(snap_compare, tmp_path):
    async def run_before(pilot):
        await to_report(pilot)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press(*"COMM")
        await pilot.pause()

    assert snap_compare(build(tmp_path), run_before=run_before, terminal_size=SMALL)


def test_done(snap_compare, tmp_path):
    async def run_before(pilot):
        await to_report(pilot)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press(*"COMMIT", "enter")
        await settle(pilot)

    assert snap_compare(build(tmp_path), run_before=run_before, terminal_size=SMALL)


async def to_rollback(pilot):
    """Welcome -> rollback, until the screen has read the run's details from the engine."""
    await settle(pilot)
    await pilot.press("ctrl+b")
    await wait_for(pilot, lambda: pilot.app.screen.query("#rb-what") and not pilot.app.screen.loading)
    await settle(pilot)


def test_rollback_confirmation(snap_compare, tmp_path):
    store = FakeStore(done=20, chunks=2, run_id="run-0001")
    assert snap_compare(build(tmp_path, store), run_before=to_rollback, terminal_size=SMALL)


def _removed_rows_drawn(pilot) -> bool:
    tables = pilot.app.screen.query("#rb-result")
    return bool(tables) and tables.first().display and tables.first().row_count > 0


def test_rollback_done(snap_compare, tmp_path):
    store = FakeStore(done=20, chunks=2, run_id="run-0001")

    async def run_before(pilot):
        await to_rollback(pilot)
        await pilot.press(*"ROLLBACK", "enter")
        # the rollback's result arrives as a message from its worker: wait for the table it fills
        await wait_for(pilot, lambda: _removed_rows_drawn(pilot))
        await settle(pilot)
        # The result table sizes itself a refresh after its rows arrive: wait for that
        # (on a loaded machine the screenshot could otherwise catch it empty).
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#rb-result").size.height > 0)
        await pilot.pause()

    assert snap_compare(build(tmp_path, store), run_before=run_before, terminal_size=SMALL)


def test_error_failing_payment(snap_compare, tmp_path):
    store = FakeStore(fail_on=ident(23))
    assert snap_compare(build(tmp_path, store), run_before=to_migrate, terminal_size=SMALL)


def test_error_drilldown(snap_compare, tmp_path):
    store = FakeStore(fail_on=ident(23))

    async def run_before(pilot):
        await to_migrate(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(build(tmp_path, store), run_before=run_before, terminal_size=SMALL)


def test_help(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(build(tmp_path), run_before=run_before, terminal_size=SMALL)

