"""Step 7: roll back an uncommitted run: what goes, typed confirmation, result."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Static

from migwizard.core.engine.results import MigrationResult, RollbackResult
from migwizard.tui.flow import Step
from migwizard.tui.messages import Call, StepDone, StepFailed
from migwizard.tui.status import TargetStatus, engine_status
from migwizard.tui.widgets import plural, show_enter

from .base import WizardScreen
from .confirm import TypedConfirm

WORD = "ROLLBACK"

# A run record's state as the wizard says it: a run "running" in the target is not running now.
RUN_STATES = {"running": "interrupted", "validated": "validated, ready to commit", "failed": "stopped by an error"}

REASONS = {
    "cancelled": "You stopped the migration and asked to roll it back.",
    "interrupted": "An interrupted run exists in the target.",
    "failed": "The migration stopped on an error.",
    "report": "Validation is done and you chose not to commit.",
}


class RollbackScreen(WizardScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("q", "finish", "Quit", id="finish", show=False),  # the footer shows ctrl+q Quit
    ]

    def __init__(self, *, reason: str = "interrupted", migration: MigrationResult | None = None,
                 pushed: bool = False) -> None:
        super().__init__()
        self.reason = reason
        # Only a migration of the current source and target describes the run this screen removes.
        self.migration = migration or self.wizard.migration_for_target() or None
        self.pushed = pushed  # pushed over the screen it came from: Back pops back to it
        self.result: RollbackResult | None = None
        self.run_id: str | None = self.migration.run_id if self.migration is not None else None
        self.rolling = False
        self.loading = False  # reading the interrupted run's details (preflight)
        self.queued = False  # the user confirmed while those were read

    def _what_text(self, run_lines: list[str], *, summary: bool = False) -> str:
        sqlite = (self.wizard.sql_url or "").startswith("sqlite:")
        if summary:  # the engine's run summary already says what it created
            created = "Tables lnd created stay, without this run's rows."
        else:
            created = ("The payment tables, if this run created them (and no other run uses them)"
                       + (", and the SQLite file, if it created it" if sqlite else "")
                       + ", are dropped; tables lnd created stay, without this run's rows.")
        body = "\n".join(f" • {escape(x)}" for x in [*run_lines, created])
        return (f"[b]Will be removed from the SQL target[/b] ({escape(self.wizard.sql_url_display)})\n{body}\n"
                "[b]Will not change[/b]\n • The KV store: it was only ever read. lnd can keep using it.")

    def _run_lines(self) -> list[str]:
        mig = self.migration
        if mig is not None:
            s = mig.stats
            rows = ", ".join(f"{n:,} {t.removeprefix('payment_')}" for t, n in s.rows.items()) or "no rows"
            return [f"Run {mig.run_id[:8]}: {plural(s.payments, 'payment')} committed so far in "
                    f"{plural(s.chunks, 'chunk')} ({rows}).",
                    "Its checkpoint and its run record."]
        return ["Everything the uncommitted run in this target wrote (its payments, attempts, hops and "
                "duplicates), once its details are read.",
                "Its checkpoint and its run record."]

    @staticmethod
    def _lines_from_status(status: TargetStatus) -> list[str]:
        """The run's size and checkpoint, from the engine's run summary."""
        run = status.run
        if not status.run_id and run is None:
            return ["The engine reports no uncommitted run in this target: there is nothing to remove."]
        if run is None:
            return [f"Run {status.run_id[:8]}: everything it wrote (payments, attempts, hops and duplicates).",
                    "Its checkpoint and its run record."]
        state = RUN_STATES.get(run.state, run.state)
        done = getattr(run, "progress_text", None) or plural(run.payments_done, "payment")
        lines = [f"Run {run.run_id[:8]} ({state}): {done} committed so far in "
                 f"{plural(run.chunks_done, 'chunk')}, with their attempts, hops and duplicates.",
                 "Its checkpoint and its run record."]
        if run.created_schema:
            lines.append("The payment tables it created (the target had none before).")
        if run.created_file:
            lines.append("The SQLite file it created.")
        return lines

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with VerticalScroll(id="rollback-body"):
            yield Static(f"[b]Roll back the uncommitted run.[/b] {REASONS.get(self.reason, '')}", id="rb-why")
            yield Static(self._what_text(self._run_lines()), id="rb-what", classes="panel")
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
        show_enter(self.query_one("#again", Button))
        self.query_one("#confirm-input", Input).focus()
        # Always ask the engine which run the current target holds (read-only): only that run's
        # details are shown, whatever this session did elsewhere.
        self.loading = True
        if self.migration is None:
            self.query_one("#rb-status", Static).update("Reading the run's details from the target…")
        self.start_step(Call.ROLLBACK_INFO, lambda engine, _cancel: engine_status(engine))

    @on(Input.Changed, "#confirm-input")
    def _typed(self) -> None:
        confirmed = self.query_one(TypedConfirm).confirmed
        self.query_one("#rollback", Button).disabled = not confirmed
        status = self.query_one("#rb-status", Static)
        if confirmed and not self.loading and not self.rolling:
            status.update("")  # an earlier "type ROLLBACK exactly" no longer applies

    @on(Input.Submitted, "#confirm-input")
    @on(Button.Pressed, "#rollback")
    def _rollback(self) -> None:
        if self.rolling or self.queued or self.result is not None:
            return
        if not self.query_one(TypedConfirm).confirmed:
            self.query_one("#rb-status", Static).update(f"Type {WORD} exactly (capital letters) to confirm.")
            return
        if self.loading:  # one engine call at a time: roll back as soon as the details are read
            self.queued = True
            self.query_one("#rollback", Button).disabled = True
            self.query_one("#confirm-input", Input).disabled = True
            self.query_one("#rb-status", Static).update("Rolling back after reading the run's details…")
            return
        self._start_rollback()

    def _start_rollback(self) -> None:
        self.rolling = True
        self.query_one("#rollback", Button).disabled = True
        self.query_one("#confirm-input", Input).disabled = True
        self.query_one("#rb-status", Static).update("Rolling back…")
        self.start_step(Call.ROLLBACK, lambda engine, _cancel: engine.rollback())

    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        if message.step == Call.ROLLBACK_INFO:
            self.loading = False
            status: TargetStatus = message.result
            if status.preflight is not None:
                self.wizard.last_preflight = status.preflight
            if not self.queued:
                self.query_one("#rb-status", Static).update("")
            engine_run = status.run_id
            if self.migration is None or engine_run != self.migration.run_id:
                self.migration = None
                self.run_id = engine_run
                self.query_one("#rb-what", Static).update(
                    self._what_text(self._lines_from_status(status), summary=status.run is not None))
            self._after_info()
            return
        self.rolling = False
        self.wizard.run_pending = False
        if self.wizard.outcome == "mismatch":
            self.wizard.set_outcome(None)
        res: RollbackResult = message.result
        self.result = res
        self.wizard.last_migration = None
        status = self.query_one("#rb-status", Static)
        if not res.kv_unchanged:
            kv = " ! The KV store reports a change: keep the log."
        elif "kv store" in res.message.lower():
            kv = ""  # the engine's message says it already
        else:
            kv = " The KV store was not changed."
        status.update(f"✓ {escape(thousands(res.message))}.{kv}".replace("..", "."))
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
        again = self.query_one("#again", Button)
        again.focus(scroll_visible=False)
        self.call_after_refresh(again.scroll_visible, animate=False)
        self.refresh_bindings()

    @on(StepFailed)
    def _failed(self, message: StepFailed) -> None:
        message.stop()
        if message.step == Call.ROLLBACK_INFO:  # informational only: the rollback itself still works
            self.loading = False
            self.query_one("#rb-status", Static).update("")
            self._after_info()
            return
        self.rolling = False
        self.wizard.show_step(Step.ERROR, message, from_="step")

    def _after_info(self) -> None:
        if self.queued:
            self.queued = False
            self._start_rollback()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return self.result is None and not self.rolling
        if action == "finish":
            return self.result is not None
        return True

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        if self.result is None and not self.rolling and not self.queued:
            if self.pushed:  # back to the screen it came from (report, error, stopped migration, welcome)
                self.app.pop_screen()
                return
            self.wizard.show_step(Step.WELCOME)

    @on(Button.Pressed, "#again")
    def _again(self) -> None:
        if self.pushed:
            self.app.pop_screen()
        self.wizard.show_step(Step.WELCOME)

    @on(Button.Pressed, "#quit")
    def action_finish(self) -> None:
        self.wizard.finish()


def thousands(text: str) -> str:
    """Group the plain numbers in an engine message (12345 -> 12,345); ids and versions are left alone."""
    import re

    return re.sub(r"(?<![\w.\-])\d{4,}(?![\w.\-])", lambda m: f"{int(m.group()):,}", text)
