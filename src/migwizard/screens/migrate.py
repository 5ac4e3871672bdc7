"""Step 3: migrate in checkpointed chunks, with progress, a log tail and cancel."""

from __future__ import annotations

import threading

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, ProgressBar, Static

from migwizard.core.engine.events import Phase
from migwizard.core.engine.results import MigrationResult
from migwizard.tui.flow import Step
from migwizard.tui.messages import Call, EngineChunk, EngineLog, EngineProgress, StepDone, StepFailed
from migwizard.tui.widgets import EngineClock, LogTail, StoppableProgressBar, fmt_duration, plural, show_enter

from .base import WizardScreen
from .confirm import CancelMigration


class MigrateScreen(WizardScreen):
    STEP = "Migrate"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel…", id="cancel"),
        Binding("enter", "next", "Validate", id="next"),
        Binding("r", "resume", "Resume", id="resume"),
        Binding("b", "rollback", "Roll back", id="rollback"),
    ]

    def __init__(self, *, resuming: bool = False) -> None:
        super().__init__()
        self.resuming = resuming
        self.result: MigrationResult | None = None
        self.after_cancel: str | None = None  # "resume" | "rollback" once the user chose
        self.bar_clock = EngineClock()
        self.running = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical(id="migrate"):
            yield Static("Copying payments chunk by chunk. Each chunk is committed with a checkpoint, "
                         "so stopping never loses work. The KV store is only read.", id="mg-intro")
            yield StoppableProgressBar(total=None, show_eta=True, show_percentage=True, clock=self.bar_clock, id="bar")
            with Grid(id="mg-stats"):
                yield Static("Payments  –", id="st-payments")
                yield Static("Rate  –", id="st-rate")
                yield Static("Chunk  –", id="st-chunk")
                yield Static("Attempts  –", id="st-attempts")
                yield Static("Hops  –", id="st-hops")
                yield Static("Elapsed  00:00:00", id="st-elapsed")
            yield LogTail(id="log")
            yield Static("", id="mg-outcome")
            with Horizontal(classes="buttons", id="mg-buttons"):
                yield Button("Validate", id="next", variant="primary", compact=True)
                yield Button("Resume", id="resume", variant="primary", compact=True)
                yield Button("Roll back", id="rollback", variant="warning", compact=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one("#mg-outcome").display = False
        self.query_one("#mg-buttons").display = False
        show_enter(self.query_one("#next", Button))
        self.start_migration()

    @property
    def chunk_size(self) -> int:
        from migwizard.core.engine.api import DEFAULT_CHUNK_SIZE

        engine = self.wizard.engine
        return int(self.wizard.chunk_size or getattr(engine, "chunk_size", 0) or DEFAULT_CHUNK_SIZE)

    # -- the worker ------------------------------------------------------
    def start_migration(self) -> None:
        self.result = None
        self.after_cancel = None
        self.running = True
        self.wizard.cancel_event = threading.Event()
        self.wizard.run_pending = True  # from the first chunk on, a run exists in the target
        self.wizard.set_outcome(None)  # a new attempt: an earlier failure no longer decides the exit code
        self._show_stopped(False)
        # A new engine call: its elapsed time starts again, and so must the ETA.
        self.bar_clock.restart()
        self.query_one("#bar", ProgressBar).update(total=None, progress=0)
        self.query_one("#mg-outcome").display = False
        self.query_one("#mg-buttons").display = False
        self.refresh_bindings()
        self.start_step(Call.MIGRATE, lambda engine, cancel: engine.migrate(cancel=cancel), group="migrate",
                        cancel=self.wizard.cancel_event, description="Migrating payments")

    # -- progress --------------------------------------------------------
    @on(EngineProgress)
    def _progress(self, message: EngineProgress) -> None:
        ev = message.event
        if ev.phase is not Phase.MIGRATE:
            return
        self.bar_clock.advance_to(ev.elapsed_s)
        self.query_one("#bar", ProgressBar).update(total=ev.total, progress=ev.done)
        self.query_one("#st-payments", Static).update(f"Payments  {ev.done:,}/{ev.total:,}")
        self.query_one("#st-rate", Static).update(f"Rate  {ev.payments_per_s:,.1f} payments/s")
        self._total = ev.total
        self._show_chunk(ev.chunk)
        self.query_one("#st-attempts", Static).update(f"Attempts  {ev.attempts:,}")
        self.query_one("#st-hops", Static).update(f"Hops  {ev.hops:,}")
        self.query_one("#st-elapsed", Static).update(f"Elapsed  {fmt_duration(ev.elapsed_s)}")

    def _show_chunk(self, chunk: int) -> None:
        total = getattr(self, "_total", 0)
        of = f" of ~{max(chunk, -(-total // self.chunk_size)):,}" if total else ""
        self.query_one("#st-chunk", Static).update(f"Chunk  {chunk:,}{of}")

    @on(EngineChunk)
    def _chunk(self, message: EngineChunk) -> None:
        self._show_chunk(message.event.chunk)

    @on(EngineLog)
    def _on_log(self, message: EngineLog) -> None:
        self.query_one(LogTail).add_record(message.event)

    # -- outcome ---------------------------------------------------------
    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        self.running = False
        result: MigrationResult = message.result
        self.result = result
        self.wizard.last_migration = result
        outcome = self.query_one("#mg-outcome", Static)
        outcome.remove_class("error", "warning", "success")
        if result.outcome == "failed":
            self.wizard.set_outcome("failed")
        if self.wizard.quit_requested:
            self.wizard.finish()
            return
        s = result.stats
        if result.outcome == "complete":
            self.query_one("#bar", ProgressBar).update(total=max(1, s.payments), progress=max(1, s.payments))
            dups = f", {plural(s.duplicate_entries, 'duplicate entry', 'duplicate entries')}" \
                if s.duplicate_entries else ""
            skipped = f", {s.skipped:,} index {'entry' if s.skipped == 1 else 'entries'} skipped" if s.skipped else ""
            outcome.update(f"✓ {plural(s.payments, 'payment')} ({plural(s.attempts, 'attempt')}, "
                           f"{plural(s.hops, 'hop')}{dups}{skipped}) migrated in {plural(s.chunks, 'chunk')}. "
                           "Nothing is final yet: next, validate every payment.")
            outcome.add_class("success")
            self._show_buttons("next")
        elif result.outcome == "cancelled":
            self._show_stopped(True)
            outcome.update(f"Stopped at a chunk boundary after {plural(s.payments, 'payment')}. Nothing is final and "
                           "the KV store is untouched. Resume now (r), roll back (b), or quit (ctrl+q) and run "
                           "migwizard again later to resume.")
            outcome.add_class("warning")
            self._show_buttons("resume", "rollback")
            if self.after_cancel == "rollback":  # back from the rollback screen lands here, stopped
                outcome.display = True
                self.refresh_bindings()
                self.wizard.push_step(Step.ROLLBACK, reason="cancelled", migration=result, pushed=True)
                return
        else:
            self.wizard.show_step(Step.ERROR, result, from_="migration")
            return
        outcome.display = True
        self.refresh_bindings()

    @on(StepFailed)
    def _failed(self, message: StepFailed) -> None:
        message.stop()
        self.running = False
        self.wizard.show_step(Step.ERROR, message, from_="step")

    def _show_stopped(self, stopped: bool) -> None:
        """After a stop the bar's ETA would go stale: show "stopped" in its place."""
        self.query_one("#bar", StoppableProgressBar).set_stopped(stopped)

    def _show_buttons(self, *ids: str) -> None:
        self.query_one("#mg-buttons").display = True
        for bid in ("next", "resume", "rollback"):
            self.query_one(f"#{bid}").display = bid in ids
        self.query_one(f"#{ids[0]}", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        done = self.result is not None
        if action == "cancel":
            return self.running
        if action == "next":
            return done and self.result.outcome == "complete"
        if action in {"resume", "rollback"}:
            return done and self.result.outcome == "cancelled"
        return True

    # -- actions ---------------------------------------------------------
    def action_cancel(self) -> None:
        if not self.running:
            return

        def chosen(choice: str | None) -> None:
            if choice is None or not self.running:
                return
            self.after_cancel = choice
            if self.wizard.cancel_event is not None:
                self.wizard.cancel_event.set()
            self.query_one(LogTail).write_line("info  Stopping at the next chunk boundary…")

        self.app.push_screen(CancelMigration(), chosen)

    @on(Button.Pressed, "#next")
    def action_next(self) -> None:
        if self.result is not None and self.result.outcome == "complete":
            self.wizard.show_step(Step.REPORT)

    @on(Button.Pressed, "#resume")
    def action_resume(self) -> None:
        if self.result is not None and self.result.outcome == "cancelled":
            self.resuming = True
            self.start_migration()

    @on(Button.Pressed, "#rollback")
    def action_rollback(self) -> None:
        if self.result is not None and self.result.outcome == "cancelled":
            self.wizard.push_step(Step.ROLLBACK, reason="cancelled", migration=self.result, pushed=True)
