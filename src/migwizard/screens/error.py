"""When a step fails: what happened, what state things are in, what to do next."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from migwizard.core.engine.results import MigrationResult
from migwizard.tui.flow import Step
from migwizard.tui.messages import StepFailed
from migwizard.tui.widgets import inline_markup, plural, show_enter

from .base import WizardScreen


class ErrorScreen(WizardScreen):
    BINDINGS = [
        Binding("enter", "open_payment", "Open payment", id="open"),
        Binding("b", "rollback", "Roll back…", id="rollback"),
        Binding("u", "quarantine", "Quarantine…", id="quarantine"),
        Binding("escape", "back", "Back", id="back"),
        Binding("q", "finish", "Quit", id="finish", show=False),  # the footer shows ctrl+q Quit
    ]

    def __init__(self, *, title: str, message: str, hint: str = "", payment: str | None = None,
                 state: str = "", can_rollback: bool = False, can_back: bool = False,
                 exit_code: int | None = None, failed_migration: bool = False) -> None:
        super().__init__()
        self.failed_migration = failed_migration  # quitting: 4 while its chunks are kept, 3 once rolled back
        self.title_text = title
        self.message = message
        self.hint = hint
        self.payment = payment
        self.state = state
        self.can_rollback = can_rollback
        self.can_back = can_back
        self.exit_code = exit_code

    @classmethod
    def from_migration(cls, result: MigrationResult) -> "ErrorScreen":
        s = result.stats
        return cls(
            title=(f"The migration stopped at payment {result.failing_payment}" if result.failing_payment
                   else "The migration stopped on an error"),
            message=result.error or "unknown error",
            hint="Open the payment (enter) to see what is wrong with it. Then fix the store (see the log) and "
                 "resume, or roll back (b) to remove the staged chunks; keep the log for a helper either way.",
            payment=result.failing_payment,
            state=f"The chunk in progress was rolled back. {plural(s.payments, 'payment')} from earlier chunks "
                  f"{'is' if s.payments == 1 else 'are'} staged in the target; nothing is committed. "
                  "The KV store was only read.",
            can_rollback=True,
            failed_migration=True,
        )

    @classmethod
    def from_step(cls, failed: StepFailed, *, can_back: bool = False) -> "ErrorScreen":
        return cls(
            title=f"The {failed.step} step failed",
            message=str(failed.error) or type(failed.error).__name__,
            hint=failed.hint or "Nothing irreversible happened. Keep the log and ask for help if unsure.",
            payment=failed.payment,
            state="No commit and no tombstone were written." if failed.step != "commit" else
                  "Check the log: the commit step reports whether SQL was committed and the tombstone written.",
            can_rollback=failed.step in {"migrate", "validate"},
            can_back=can_back,
            failed_migration=failed.step == "migrate",
        )

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        app = self.wizard
        with VerticalScroll(id="error-body"):
            yield Static(f"✗ {self.title_text}", id="er-title", classes="error")
            yield Static(app.scrub(self.message), id="er-message", classes="panel", markup=False)
            if self.state:
                yield Static(f"[b]Where things stand[/b]\n{self.state}", id="er-state")
            yield Static(f"[b]What to do[/b]\n{inline_markup(app.adapt_hint(self.hint))}", id="er-hint")
            yield Static(f"Log for a helper: {escape(app.show_path(app.log_path))}", id="er-log")
            with Horizontal(classes="buttons"):
                if self.payment:
                    yield Button("Open payment", id="open", variant="primary", compact=True)
                if self.can_quarantine:
                    yield Button("Quarantine and resume", id="quarantine", compact=True)
                if self.can_rollback:
                    yield Button("Roll back…", id="rollback", variant="warning", compact=True)
                if self.can_back:
                    yield Button("Back", id="back", compact=True)
                yield Button("Quit", id="quit", compact=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        if self.failed_migration:
            self.wizard.set_outcome("failed")
        if self.payment:
            show_enter(self.query_one("#open", Button))
        self.query(Button).first().focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_payment":
            return self.payment is not None
        if action == "rollback":
            return self.can_rollback
        if action == "quarantine":
            return self.can_quarantine
        if action == "back":
            return self.can_back
        return True

    @property
    def can_quarantine(self) -> bool:
        """The migration stopped on a payment no lnd release can read (the engine says so)."""
        return self.failed_migration and "--quarantine" in self.message

    @on(Button.Pressed, "#quarantine")
    def action_quarantine(self) -> None:
        """Consent to leave such payments behind (listed, bytes saved), then re-check and resume."""
        if self.can_quarantine:
            self.wizard.set_consent(quarantine=True)
            self.wizard.show_step(Step.PREFLIGHT, resuming=True)

    def quit_code(self) -> int:
        """4 while the failed run's chunks are kept (resume or roll back later), else 3 (or as given)."""
        from migwizard.exits import Outcome, exit_code_for

        if self.exit_code is not None:
            return self.exit_code
        code = self.wizard.quit_code()
        return code if code else int(exit_code_for(Outcome.FAILED, run_pending=False))

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        if self.can_back:
            self.wizard.show_step(Step.WELCOME)

    @on(Button.Pressed, "#open")
    def action_open_payment(self) -> None:
        if self.payment:
            self.wizard.push_step(Step.DETAIL, self.payment)

    @on(Button.Pressed, "#rollback")
    def action_rollback(self) -> None:
        if self.can_rollback:
            self.wizard.push_step(Step.ROLLBACK, reason="failed", pushed=True)

    @on(Button.Pressed, "#quit")
    def action_finish(self) -> None:
        self.wizard.finish(self.quit_code())
