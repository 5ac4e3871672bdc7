"""TUI test setup: snapshots in <repo>/snapshots/<test_module>/, determinism knobs.

See shared/spec/ux-notes.md §6: snap_compare looks ``SVGImageExtension`` up in the
plugin module at call time, so swapping the module global redirects every SVG.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_textual_snapshot as pts
from textual.widgets import Input

ROOT = Path(__file__).resolve().parents[2]


class TopLevelSVG(pts.SVGImageExtension):
    @classmethod
    def dirname(cls, *, test_location):  # type: ignore[override]
        return str(ROOT / "snapshots" / test_location.basename)


pts.SVGImageExtension = TopLevelSVG


@pytest.fixture(autouse=True)
def _deterministic_tui(monkeypatch, tmp_path):
    """No cursor blink, no NO_COLOR leaking in, relative paths from a temp cwd, a temp state dir."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL", raising=False)
    # Smooth scrolling animates focus changes; a loaded CI machine could otherwise
    # take the screenshot mid-animation.
    import textual.constants

    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "none")
    monkeypatch.chdir(tmp_path)
    # The wizard's files (log, reports, imported copies) go to the state directory, never the
    # current one and never the user's: a private one per test.
    monkeypatch.setenv("MIGWIZ_STATE_DIR", str(tmp_path / "state"))
    yield


class StepClock:
    """A deterministic engine clock: every call advances one second."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture
def step_clock() -> StepClock:
    return StepClock()


def fixed_wall_clock() -> float:
    return 1_735_689_600.0  # 2025-01-01T00:00:00Z


# One report per run: ``run-<run id>.json`` (the fake engine's run is "run-0001").
REPORT_NAME = "run-run-0001.json"


def results_dir(tmp_path: Path) -> Path:
    """Where the wizard puts reports when none is named: ``<state>/reports``."""
    return tmp_path / "state" / "reports"


@pytest.fixture
def mount_screen(tmp_path):
    """Mount ONE wizard screen from a given wizard state, without walking the wizard to it.

    ``async with mount_screen(Step.ROLLBACK, store=FakeStore(run_id=...), reason="interrupted") as pilot:``
    opens an app on the fake engine (source ``kv`` and target ``sqlite:///lnd.sqlite`` in
    ``tmp_path``, the fixed wall clock) whose only screen is that step's, built with the given
    arguments. ``state``: app attributes set before the screen is built (``last_preflight``,
    ``last_migration``, ``imported_from``...); results given there count as taken of the
    current source and target. ``app``: MigWizardApp keyword arguments (``engine_factory``...).
    The pilot returns once the screen's first workers are done.
    """
    from contextlib import asynccontextmanager

    from migwizard.tui.app import MigWizardApp

    from .fake_engine import FakeStore, fake_factory
    from .helpers import make_fake_store_dir, settle

    class OneScreenApp(MigWizardApp):
        def __init__(self, step, args, kwargs, state, **app_kwargs) -> None:
            super().__init__("kv", "sqlite:///lnd.sqlite", chunk_size=10, wall_clock=fixed_wall_clock, **app_kwargs)
            self._mount = (step, args, kwargs, state)

        def on_mount(self, event) -> None:
            event.prevent_default()  # instead of the app's own first screen (welcome), not after it
            step, args, kwargs, state = self._mount
            for name, value in state.items():
                setattr(self, name, value)
            if state.keys() & {"last_preflight", "last_migration", "last_report"}:
                self.results_key = self.key
            self.push_step(step, *args, **kwargs)

    @asynccontextmanager
    async def mount(step, *args, store=None, state=None, app=None, size=(80, 24), **kwargs):
        make_fake_store_dir(tmp_path)
        app_kwargs = dict(app or {})
        app_kwargs.setdefault("engine_factory", fake_factory(store if store is not None else FakeStore()))
        wizard = OneScreenApp(step, args, kwargs, dict(state or {}), **app_kwargs)
        async with wizard.run_test(size=size) as pilot:
            await settle(pilot)
            yield pilot

    return mount
