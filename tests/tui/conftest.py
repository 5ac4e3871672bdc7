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
    """No cursor blink, no NO_COLOR leaking in, relative paths from a temp cwd."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL", raising=False)
    # Smooth scrolling animates focus changes; a loaded CI machine could otherwise
    # take the screenshot mid-animation.
    import textual.constants

    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "none")
    monkeypatch.chdir(tmp_path)
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


# The validation report's default name comes from the app's wall clock (fixed above).
REPORT_NAME = "migwizard-report-20250101-000000.json"
