"""Shared screen plumbing: the step line and the way a screen runs engine calls.

Screens move between steps through the app (``app.show_step`` / ``app.push_step``,
looked up in ``migwizard.tui.flow``), never by importing another screen.
"""

from __future__ import annotations

import threading
from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from migwizard.tui.messages import Call
from migwizard.tui.worker import EngineCall, run_call

STEPS = ["Welcome", "Preflight", "Migrate", "Validate", "Commit"]


def step_line(current: str) -> str:
    parts = []
    for name in STEPS:
        parts.append(f"[b]▸ {name}[/b]" if name == current else name)
    return "  ·  ".join(parts)


class WizardScreen(Screen):
    """A wizard step. ``STEP`` names its place in the step line."""

    STEP: str | None = None

    def compose_header(self) -> ComposeResult:
        yield Header()
        if self.STEP:
            yield Static(step_line(self.STEP), id="steps", classes="steps")

    def compose_footer(self) -> ComposeResult:
        yield Footer()

    @property
    def wizard(self) -> Any:  # the MigWizardApp
        return self.app

    def start_step(self, step: Call, fn: EngineCall, **kwargs: Any) -> threading.Event:
        """Run ``fn(engine, cancel)`` off the UI thread (see :func:`migwizard.tui.worker.run_call`)."""
        return run_call(self, step, fn, **kwargs)
