"""When a step fails: what happened, what state things are in, what to do next."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from migwizard.core.engine.results import MigrationResult
from migwizard.tui.messages import StepFailed

from .base import WizardScreen


class ErrorScreen(WizardScreen):
    BINDINGS = [
        Binding("enter", "open_payment", "Open payment", id="open"),
        Binding("b", "rollback", "Roll back…", id="rollback"),
        Binding("q", "finish", "Quit", id="finish"),
    ]

    def __init__(self, *, title: str, message: str, hint: str = "", payment: str | None = None,
                 state: str = "", can_rollback: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.hint = hint
        self.payment = payment
        self.state = state
        self.can_rollback = can_rollback

    @classmethod
    def from_migration(cls, result: MigrationResult) -> "ErrorScreen":
        s = result.stats
        return cls(
            title=(f"The migration stopped at payment {result.failing_payment}" if result.failing_payment
                   else "The migration stopped on an error"),
            message=result.error or "unknown error",
            hint="Open the payment (enter) to see what is wrong with it. Roll back (b) to remove the staged "
                 "chunks, or keep them and hand the log to a helper; fixing the store and resuming works too.",
            payment=result.failing_payment,
            state=f"The chunk in progress was rolled back. {s.payments:,} payments from earlier chunks are "
                  "staged in the target; nothing is committed. The KV store was only read.",
            can_rollback=True,
        )

    @classmethod
    def from_step(cls, failed: StepFailed) -> "ErrorScreen":
        return cls(
            title=f"The {failed.step} step failed",
            message=str(failed.error) or type(failed.error).__name__,
            hint=failed.hint or "Nothing irreversible happened. Keep the log and ask for help if unsure.",
            payment=failed.payment,
            state="No commit and no tombstone were written." if failed.step != "commit" else
                  "Check the log: the commit step reports whether SQL was committed and the tombstone written.",
            can_rollback=failed.step in {"migrate", "validate"},
        )

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        app = self.wizard
        with VerticalScroll(id="error-body"):
            yield Static(f"✗ {self.title_text}", id="er-title", classes="error")
            yield Static(self.message, id="er-message", classes="panel")
            if self.state:
                yield Static(f"[b]Where things stand[/b]\n{self.state}", id="er-state")
            yield Static(f"[b]What to do[/b]\n{self.hint}", id="er-hint")
            yield Static(f"Log for a helper: {app.log_path}", id="er-log")
            with Horizontal(classes="buttons"):
                if self.payment:
                    yield Button("Open payment", id="open", variant="primary", compact=True)
                if self.can_rollback:
                    yield Button("Roll back…", id="rollback", variant="warning", compact=True)
                yield Button("Quit", id="quit", compact=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_payment":
            return self.payment is not None
        if action == "rollback":
            return self.can_rollback
        return True

    @on(Button.Pressed, "#open")
    def action_open_payment(self) -> None:
        if self.payment:
            from .detail import PaymentDetailScreen

            self.app.push_screen(PaymentDetailScreen(self.payment))

    @on(Button.Pressed, "#rollback")
    def action_rollback(self) -> None:
        if self.can_rollback:
            from .rollback import RollbackScreen

            self.app.switch_screen(RollbackScreen(reason="failed"))

    @on(Button.Pressed, "#quit")
    def action_finish(self) -> None:
        from migwizard.core.engine.results import ExitCode

        self.app.exit(int(ExitCode.FAILED_ROLLED_BACK), return_code=int(ExitCode.FAILED_ROLLED_BACK))
