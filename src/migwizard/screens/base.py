"""Shared screen plumbing: the step line and the engine-step worker."""

from __future__ import annotations

from typing import Any, Callable

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from migwizard.tui.messages import StepDone, StepFailed

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

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine", description="Running an engine step")
    def run_engine_step(self, step: str, call: Callable[[Any], Any]) -> None:
        """Open the engine if needed and run ``call(engine)`` off the UI thread."""
        app = self.wizard
        try:
            engine = app.ensure_engine()
            result = call(engine)
        except Exception as exc:  # surfaced to the user by the screen
            app.write_log("error", f"{step}: {exc}")
            self.post_message(StepFailed(step, exc))
            return
        self.post_message(StepDone(step, result))

    def start_step(self, step: str, call: Callable[[Any], Any]) -> None:
        self.wizard.event_target = self
        self.run_engine_step(step, call)
