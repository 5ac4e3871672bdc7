"""The node runner's experience (issue 12): the raw/normalised drill-down on a real
engine, a stoppable validation, a validated run resuming straight to the commit
screen, and the wrong-target message. Pilot tests plus SVG snapshots at 80x24
(fixed clock, no animations, workers awaited) in <repo>/snapshots/test_node_runner/.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import Button, Select, Static

from migwizard.core.engine.api import Engine
from migwizard.core.engine.results import EngineStatus, RunState, RunSummary
from migwizard.screens.commit import CommitScreen
from migwizard.screens.detail import PaymentDetailScreen
from migwizard.screens.report import ReportScreen
from migwizard.tui.app import MigWizardApp
from migwizard.tui.flow import Step
from migwizard.tui.widgets import DiffTree

from .conftest import fixed_wall_clock
from .fake_engine import FakeEngine, FakeStore, fake_factory, ident
from .helpers import make_fake_store_dir, settle, text, to_report, wait_for

SMALL = (80, 24)


# -- a real store with LND's legacy records, migrated and validated -------------------
@pytest.fixture
def legacy_target(tmp_path) -> str:
    """The edge store in ``tmp_path/kv`` migrated into ``tmp_path/lnd.sqlite`` (validated, not committed);
    returns the identifier of a payment whose legacy attempt ID 0 was remapped."""
    from migwizard.core.generate import generate_store

    generate_store(tmp_path / "kv", payments=0, seed=1, profile="edge")
    with Engine(tmp_path / "kv", f"sqlite:///{tmp_path / 'lnd.sqlite'}") as engine:
        assert engine.migrate().outcome == "complete"
        report = engine.validate()
        assert report.ok
    rows = [p for p in report.payments if "legacy_zero_attempt_id_remapped" in p.normalisations
            and "legacy_zero_payment_failed" not in p.normalisations]
    return rows[0].identifier


class DetailApp(MigWizardApp):
    """The wizard opened on one payment's drill-down, on the real engine."""

    def __init__(self, identifier: str) -> None:
        super().__init__("kv", "sqlite:///lnd.sqlite", wall_clock=fixed_wall_clock)
        self.identifier = identifier

    def on_mount(self, event) -> None:
        event.prevent_default()
        self.push_step(Step.DETAIL, self.identifier)


async def _settled(pilot) -> None:
    await settle(pilot)


def _labels(tree: DiffTree) -> list[str]:
    out = []

    def walk(node):
        for child in node.children:
            out.append(str(child.label))
            walk(child)

    walk(tree.root)
    return out


async def test_drilldown_shows_raw_kv_beside_the_normalised_value(legacy_target):
    app = DetailApp(legacy_target)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PaymentDetailScreen)
        d = screen.detail
        fields = {n.path: n for n in d.normalised}
        # inspect shows the stored values; the drill-down names each change
        remap = fields["htlcs[0].attempt_id"]
        assert remap.raw == 0 and remap.value > 0 and remap.name == "legacy_zero_attempt_id_remapped"
        assert fields["htlcs[0].hash"].raw is None and fields["htlcs[0].hash"].value == legacy_target
        assert any(p.endswith("legacy_payload") and n.raw is True and n.value is False for p, n in fields.items())
        kv_labels = _labels(screen.query_one("#kv", DiffTree))
        assert f"≈ attempt_id: 0 → {remap.value} (legacy attempt ID remapped)" in kv_labels
        assert "≈ hash: ∅ → " + legacy_target[:16] in " ".join(kv_labels).replace("…", "")
        assert any(lbl.startswith("≈ legacy_payload: True → False (legacy payload flag dropped)")
                   for lbl in kv_labels)
        # the SQL pane marks the same fields, without the stored value
        sql_labels = _labels(screen.query_one("#sql", DiffTree))
        assert f"≈ attempt_id: {remap.value} (legacy attempt ID remapped)" in sql_labels
        title = text(screen.query_one("#pd-title", Static))
        assert "match after" in title and "normalised field" in title
        assert "stored → normalised" in text(screen.query_one("#pd-kv-label"))


async def test_left_right_switch_panes_and_trees_expand_together(legacy_target):
    app = DetailApp(legacy_target)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        kv, sql = screen.query_one("#kv", DiffTree), screen.query_one("#sql", DiffTree)
        assert app.focused is kv
        await pilot.press("right")
        assert app.focused is sql
        await pilot.press("left")
        assert app.focused is kv
        node = next(n for n in kv.root.children if n.data == "htlcs")
        twin = next(n for n in sql.root.children if n.data == "htlcs")
        assert node.is_expanded and twin.is_expanded
        node.collapse()
        await pilot.pause()
        assert not twin.is_expanded
        twin.expand()
        await pilot.pause()
        assert node.is_expanded


def test_snapshot_drilldown_raw_and_normalised(snap_compare, legacy_target):
    assert snap_compare(DetailApp(legacy_target), run_before=_settled, terminal_size=SMALL)


# -- the report: a filter for normalised payments; differing payments first ------------------
async def test_report_filter_normalised_and_differences_first(tmp_path):
    store = FakeStore(diff_on=(ident(30),))
    make_fake_store_dir(tmp_path)
    app = MigWizardApp("kv", "sqlite:///lnd.sqlite", engine_factory=fake_factory(store), chunk_size=10,
                       wall_clock=fixed_wall_clock)
    async with app.run_test(size=SMALL) as pilot:
        await to_report(pilot)
        screen = app.screen
        assert isinstance(screen, ReportScreen)
        rows = screen._visible_rows()
        assert rows[0].identifier == ident(30)  # the differing payment heads the list
        select = screen.query_one("#filter", Select)
        select.value = "normalised"
        await pilot.pause()
        shown = screen._visible_rows()
        assert shown and all(p.normalisations for p in shown)
        assert len(shown) == sum(1 for p in screen.report.payments if p.normalisations)


# -- validation: stoppable, with its own figures ---------------------------------------
def _gated_validation(store: FakeStore, at: int):
    reached, release = threading.Event(), threading.Event()

    def factory(kv, sql, **kwargs):
        engine = FakeEngine(kv, sql, store=store, **kwargs)
        engine.validation_gate = (at, reached, release)
        return engine

    return factory, reached, release


def _validation_app(tmp_path, at=20):
    store = FakeStore()
    make_fake_store_dir(tmp_path)
    factory, reached, release = _gated_validation(store, at)
    app = MigWizardApp("kv", "sqlite:///lnd.sqlite", engine_factory=factory, chunk_size=10,
                       wall_clock=fixed_wall_clock, results_dir=tmp_path / "results",
                       log_path=tmp_path / "results" / "migwizard.log")
    original_exit = app.exit

    def exit_and_release(*args, **kwargs):
        release.set()
        return original_exit(*args, **kwargs)

    app.exit = exit_and_release
    return app, store, reached, release


async def _to_held_validation(pilot, reached) -> None:
    await settle(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot)
    await pilot.press("a", "c")
    await settle(pilot)
    await pilot.press("enter")
    await wait_for(pilot, reached.is_set)
    # The gate holds the worker right after its progress event; wait until the screen has
    # drawn it, so what the screen shows does not depend on the machine's speed.
    from textual.widgets import ProgressBar

    await wait_for(pilot, lambda: bool(pilot.app.screen.query("#val-bar"))
                   and (pilot.app.screen.query_one("#val-bar", ProgressBar).progress or 0) > 0)
    await pilot.pause()


async def test_validation_shows_its_figures_and_stops_from_the_dialog(tmp_path):
    app, store, reached, release = _validation_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _to_held_validation(pilot, reached)
        screen = app.screen
        assert isinstance(screen, ReportScreen) and screen.validating
        stats = text(screen.query_one("#val-stats", Static))
        assert "Checked  20 of 40 payments" in stats and "0 differences so far" in stats
        await pilot.press("escape")
        await pilot.pause()
        assert "Stop the validation?" in " ".join(text(w) for w in app.screen.query(Static))
        await pilot.press("k")
        release.set()
        await settle(pilot)
        assert app.screen is screen and not screen.validating and screen.stopped is not None
        outcome = text(screen.query_one("#val-outcome", Static))
        assert "Validation stopped after 20 of 40 payments" in outcome and "Nothing is final" in outcome
        assert not list((tmp_path / "results").glob("run-*.json"))  # a stopped validation is no verdict
        # validate again: this time it runs to the end and the report appears
        app_engine = app.engine
        app_engine.validation_gate = None
        await pilot.press("v")
        await settle(pilot)
        assert screen.report is not None and screen.report.ok
    assert store.calls.count("validate") == 2


async def test_ctrl_q_during_validation_asks_then_stops_within_a_batch(tmp_path):
    app, store, reached, release = _validation_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _to_held_validation(pilot, reached)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert "Quit while the validation runs?" in " ".join(text(w) for w in app.screen.query(Static))
        assert app.return_code is None  # nothing torn down while it asks
        await pilot.press("y")
        release.set()
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 4  # the migrated run stays, resumable


def test_snapshot_validation_stop_dialog(snap_compare, tmp_path):
    app, _store, reached, _release = _validation_app(tmp_path)

    async def run_before(pilot):
        await _to_held_validation(pilot, reached)
        await pilot.press("escape")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=SMALL)


def test_snapshot_validation_stopped(snap_compare, tmp_path):
    app, _store, reached, release = _validation_app(tmp_path)

    async def run_before(pilot):
        await _to_held_validation(pilot, reached)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("k")
        release.set()
        await settle(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=SMALL)


# -- a validated run resumes straight to the commit screen -----------------------------
class ValidatedEngine(FakeEngine):
    """A target holding a run that passed validation and waits for its commit."""

    def status(self) -> EngineStatus:
        self.store.calls.append("status")
        run = RunSummary("run-0001", "validated", 9_000, 18, 9_100, created_schema=True, created_file=True,
                         payments_total=20_000)
        return EngineStatus(state=RunState.IN_PROGRESS, run=run, target="sqlite:///lnd.sqlite", kv_path="kv",
                            target_exists=True, lnd_tracker_version=None, lnd_target=False,
                            lnd_tracker_recorded=False)


def _validated_app(tmp_path, store):
    make_fake_store_dir(tmp_path)
    store.run_id, store.done, store.validated = "run-0001", store.payments, True

    def factory(kv, sql, **kwargs):
        return ValidatedEngine(kv, sql, store=store, **kwargs)

    return MigWizardApp("kv", "sqlite:///lnd.sqlite", engine_factory=factory, chunk_size=10,
                        wall_clock=fixed_wall_clock, results_dir=tmp_path / "results",
                        log_path=tmp_path / "results" / "migwizard.log")


async def test_validated_run_resumes_straight_to_commit(tmp_path):
    store = FakeStore()
    app = _validated_app(tmp_path, store)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        state = text(app.screen.query_one("#run-state", Static))
        assert "validated, ready to commit" in state and "9,000 of 20,000 payments" in state
        assert "interrupted" not in state
        assert str(app.screen.query_one("#resume", Button).label) == "Continue to commit"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, CommitScreen)
        await pilot.press(*"COMMIT", "enter")
        await settle(pilot)
    assert "preflight" not in store.calls and "migrate" not in store.calls and "validate" not in store.calls
    assert store.committed


def test_snapshot_welcome_validated_run(snap_compare, tmp_path):
    app = _validated_app(tmp_path, FakeStore())
    assert snap_compare(app, run_before=_settled, terminal_size=SMALL)


def test_snapshot_resume_to_commit(snap_compare, tmp_path):
    app = _validated_app(tmp_path, FakeStore())

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=SMALL)


# -- the wrong target, named ------------------------------------------------------------
class WrongTargetEngine(FakeEngine):
    """A tombstoned store pointed at a target holding another store's committed run."""

    WRONG = ("wrong target: this store was migrated to sqlite:////srv/a.sqlite, run 1a2b3c4d; "
             "this target holds run 9f8e7d6c (committed) of a different KV store (/srv/other-kv)")

    def state(self) -> RunState:
        return RunState.TOMBSTONE_WITHOUT_SQL

    def status(self) -> EngineStatus:
        return EngineStatus(state=RunState.TOMBSTONE_WITHOUT_SQL, run=None, target="sqlite:///lnd.sqlite",
                            kv_path="kv", target_exists=True, lnd_tracker_version=None, lnd_target=False,
                            lnd_tracker_recorded=False, wrong_target=self.WRONG)


def _wrong_target_app(tmp_path):
    make_fake_store_dir(tmp_path)

    def factory(kv, sql, **kwargs):
        return WrongTargetEngine(kv, sql, store=FakeStore(), **kwargs)

    return MigWizardApp("kv", "sqlite:///lnd.sqlite", engine_factory=factory, chunk_size=10,
                        wall_clock=fixed_wall_clock, results_dir=tmp_path / "results",
                        log_path=tmp_path / "results" / "migwizard.log")


async def test_wrong_target_message_names_both_runs(tmp_path):
    app = _wrong_target_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        state = text(app.screen.query_one("#run-state", Static)).replace("\n", " ")
        start = app.screen.query_one("#start", Button)
    assert "Wrong target?" in state
    assert "This store was migrated to sqlite:////srv/a.sqlite, run 1a2b3c4d" in state
    assert "this target holds run 9f8e7d6c" in state
    assert "KV store's payment index changed" not in state
    assert start.disabled


def test_snapshot_wrong_target(snap_compare, tmp_path):
    assert snap_compare(_wrong_target_app(tmp_path), run_before=_settled, terminal_size=SMALL)


async def test_wrong_target_from_the_real_engine(tmp_path):
    """Two real stores: B pointed at A's committed target is told whose run is there."""
    from migwizard.core.generate import generate_store

    a, b = tmp_path / "a", tmp_path / "b"
    generate_store(a, payments=12, seed=1, profile="mixed")
    generate_store(b, payments=12, seed=2, profile="mixed")
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    with Engine(a, url) as e:
        e.migrate()
        assert e.validate().ok
        run_id = e.commit().run_id
    from migwizard.core.engine.results import EngineError

    with Engine(b, url) as e, pytest.raises(EngineError) as err:
        e.reconcile()
    assert f"this target holds run {run_id[:8]}" in str(err.value) and str(a.resolve()) in str(err.value)
    # and A pointed at a new target is told where it went
    with Engine(a, f"sqlite:///{tmp_path / 'new.sqlite'}") as e, pytest.raises(EngineError) as err:
        e.reconcile()
    assert f"this store was migrated to {url}, run {run_id[:8]}" in str(err.value)
    assert not (tmp_path / "new.sqlite").exists()
    assert Path(tmp_path / "a.sqlite").exists()


# -- a failed connection is never shown next to "URL ok" ---------------------------------
async def test_failed_connection_replaces_the_url_ok_line(tmp_path):
    from migwizard.core.engine.results import EngineError, ExitCode

    make_fake_store_dir(tmp_path)

    def factory(kv, sql, **kwargs):
        raise EngineError("nothing accepts connections on 127.0.0.1:1 (connection refused)",
                          exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint="start PostgreSQL there, or fix the host and port in the URL (now 127.0.0.1:1)")

    app = MigWizardApp("kv", "postgresql://mig@127.0.0.1:1/lnd", engine_factory=factory, chunk_size=10,
                       wall_clock=fixed_wall_clock)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        target_msg = text(app.screen.query_one("#target-msg", Static))
        state = text(app.screen.query_one("#run-state", Static)).replace("\n", " ")
    assert "URL" not in target_msg and "✓" not in target_msg and "could not be opened" in target_msg
    assert "127.0.0.1:1 (connection refused)" in state and "fix the host and port" in state


async def test_quitting_a_validated_run_says_ready_to_commit(tmp_path):
    store = FakeStore()
    make_fake_store_dir(tmp_path)
    app = MigWizardApp("kv", "sqlite:///lnd.sqlite", engine_factory=fake_factory(store), chunk_size=10,
                       wall_clock=fixed_wall_clock)
    async with app.run_test(size=SMALL) as pilot:
        await to_report(pilot)
        assert app.screen.report.ok
        code, hint = app.exit_status()
    assert code == 4
    assert "validated, ready to commit" in hint and "interrupted" not in hint and "not finished" not in hint


async def test_check_details_never_show_none_values(mount_screen):
    from migwizard.core.engine.results import Check, CheckStatus
    from migwizard.screens.confirm import CheckDetail

    check = Check("kv.channeldb", "channeldb version", CheckStatus.WARN, "no metadata/dbp key: version unknown",
                  "make sure the node ran LND >= 0.10", {"version": None, "path": "/srv/kv", "note": ""})
    async with mount_screen(Step.WELCOME) as pilot:
        pilot.app.push_screen(CheckDetail(check))
        await pilot.pause()
        body = " ".join(text(w) for w in pilot.app.screen.query(Static))
    assert "None" not in body and "version" in body and "/srv/kv" in body
