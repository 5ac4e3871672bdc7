"""The flow table names a screen class for every step, and the app navigates through it."""

from __future__ import annotations

import ast
from pathlib import Path

from textual.screen import ModalScreen

from migwizard.core.engine.results import MigrationResult, MigrationStats
from migwizard.screens.base import WizardScreen
from migwizard.screens.error import ErrorScreen
from migwizard.tui.flow import FLOW, Step, make_screen, screen_class

SRC = Path(__file__).resolve().parents[2] / "src" / "migwizard"


def test_every_step_has_a_screen_class():
    assert set(FLOW) == set(Step)
    for step in Step:
        cls = screen_class(step)
        assert issubclass(cls, (WizardScreen, ModalScreen)), (step, cls)
        assert FLOW[step].startswith("migwizard.screens.")
        assert screen_class(step.value) is cls  # steps by name too (logs, tests)


def test_flow_imports_no_screen_module():
    """The table resolves classes lazily: importing it must not import a screen (no cycle)."""
    tree = ast.parse((SRC / "tui" / "flow.py").read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if "screens" in m], imported


def test_make_screen_uses_named_constructors():
    result = MigrationResult(run_id="run-0001", outcome="failed", stats=MigrationStats(payments=3), checkpoint_seq=0,
                             error="bad record", failing_payment="ab" * 32)
    screen = make_screen(Step.ERROR, result, from_="migration")
    assert isinstance(screen, ErrorScreen)
    assert screen.payment == "ab" * 32 and screen.failed_migration and screen.can_rollback
