"""Step 7: roll back an uncommitted run: what goes, typed confirmation, result."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Static

from migwizard.core.engine.results import MigrationResult, RollbackResult
from migwizard.tui.messages import StepDone, StepFailed

from .base import WizardScreen
from .confirm import TypedConfirm

WORD = "ROLLBACK"

REASONS = {
    "cancelled": "You stopped the migration and asked to roll it back.",
    "interrupted": "An interrupted run exists in the target.",
    "failed": "The migration stopped on an error.",
    "report": "Validation is done and you chose not to commit.",
}


class RollbackScreen(WizardScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("q", "finish", "Quit", id="finish"),
    ]

    def __init__(self, *, reason: str = "interrupted", migration: MigrationResult | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.migration = migration or None
        self.result: RollbackResult | None = None
        self.rolling = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        mig = self.migration or self.wizard.last_migration
        if mig is not None:
            rows = ", ".join(f"{n:,} {t.removeprefix('payment_')}" for t, n in mig.stats.rows.items()) or "no rows"
            written = f"Run {mig.run_id} wrote {mig.stats.payments:,} payments in {mig.stats.chunks} chunks ({rows})."
        else:
            written = "Everything the interrupted run wrote (its payments, attempts, hops and duplicates)."
        with VerticalScroll(id="rollback-body"):
            yield Static(f"[b]Roll back the uncommitted run.[/b] {REASONS.get(self.reason, '')}", id="rb-why")
            yield Static(
                f"[b]Will be removed from the SQL target[/b]\n {written}\n"
                " The run's checkpoint and run record.\n"
                "[b]Will not change[/b]\n The KV store: it was only ever read. lnd can keep using it.",
                id="rb-what", classes="panel",
            )
            yield TypedConfirm(WORD, f"Type [b]{WORD}[/b] and press enter to remove it:", id="rb-confirm")
            yield Static("", id="rb-status")
            yield DataTable(id="rb-result", cursor_type="none", show_cursor=False)
            with Horizontal(classes="buttons"):
                yield Button("Roll back", id="rollback", variant="warning", compact=True, disabled=True)
                yield Button("Back", id="back", compact=True)
                yield Button("Start again", id="again", variant="primary", compact=True)
                yield Button("Quit", id="quit", compact=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one("#rb-result").display = False
        self.query_one("#again").display = False
        self.query_one("#quit").display = False
        self.query_one("#confirm-input", Input).focus()

    @on(Input.Changed, "#confirm-input")
    def _typed(self) -> None:
        self.query_one("#rollback", Button).disabled = not self.query_one(TypedConfirm).confirmed

    @on(Input.Submitted, "#confirm-input")
    @on(Button.Pressed, "#rollback")
    def _rollback(self) -> None:
        if self.rolling or self.result is not None:
            return
        if not self.query_one(TypedConfirm).confirmed:
            self.query_one("#rb-status", Static).update(f"Type {WORD} exactly (capital letters) to confirm.")
            return
        self.rolling = True
        self.query_one("#rollback", Button).disabled = True
        self.query_one("#confirm-input", Input).disabled = True
        self.query_one("#rb-status", Static).update("Rolling back…")
        self.start_step("rollback", lambda engine: engine.rollback())

    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        self.rolling = False
        res: RollbackResult = message.result
        self.result = res
        self.wizard.last_migration = None
        status = self.query_one("#rb-status", Static)
        kv = "The KV store was not changed." if res.kv_unchanged else "! The KV store reports a change: keep the log."
        status.update(f"✓ {res.message} {kv}")
        status.set_classes("success" if res.kv_unchanged else "warning")
        table = self.query_one("#rb-result", DataTable)
        table.add_columns("Removed", "Rows")
        for t, n in res.rows_deleted.items():
            table.add_row(t, f"{n:,}")
        for t in res.tables_dropped:
            table.add_row(f"{t} (table)", "dropped")
        table.display = True
        self.query_one("#rb-confirm").display = False
        for bid, show in (("rollback", False), ("back", False), ("again", True), ("quit", True)):
            self.query_one(f"#{bid}").display = show
        self.query_one("#again", Button).focus()
        self.refresh_bindings()

    @on(StepFailed)
    def _failed(self, message: StepFailed) -> None:
        message.stop()
        self.rolling = False
        from .error import ErrorScreen

        self.app.switch_screen(ErrorScreen.from_step(message))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return self.result is None and not self.rolling
        if action == "finish":
            return self.result is not None
        return True

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        if self.result is None and not self.rolling:
            from .welcome import WelcomeScreen

            self.app.switch_screen(WelcomeScreen())

    @on(Button.Pressed, "#again")
    def _again(self) -> None:
        from .welcome import WelcomeScreen

        self.app.switch_screen(WelcomeScreen())

    @on(Button.Pressed, "#quit")
    def action_finish(self) -> None:
        self.app.exit(0, return_code=0)
