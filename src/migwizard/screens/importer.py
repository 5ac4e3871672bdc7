"""Step 0 for a bbolt channel.db: import its payment buckets into an LMDB copy."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from migwizard.core.engine.storefacts import import_channel_db
from migwizard.tui.flow import Step
from migwizard.tui.messages import Call, ImportProgress, StepDone, StepFailed
from migwizard.tui.sources import copy_path
from migwizard.tui.widgets import plural

from .base import WizardScreen


class ImportScreen(WizardScreen):
    STEP = "Welcome"
    BINDINGS = [Binding("enter", "next", "Preflight", id="next")]

    def __init__(self, dest: Path | None = None) -> None:
        super().__init__()
        self.done = False
        src = Path(self.wizard.kv_path or "")
        self.source = src
        self.dest = Path(dest) if dest is not None else copy_path(src, self.wizard.import_dir)

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical(id="import"):
            yield Static(f"Importing the payment buckets of [b]{escape(str(self.source))}[/b] into a new LMDB copy "
                         f"at [b]{escape(str(self.dest))}[/b]. channel.db is opened read-only and is not changed; "
                         "the migration then works on the copy.", id="im-intro")
            yield ProgressBar(total=None, show_eta=False, id="im-bar")
            yield Static("", id="im-status")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        src, dest = self.source, Path(self.dest)

        def progress(done: int, total: int | None = None, *args, **kwargs) -> None:
            self.post_message(ImportProgress(int(done), int(total or 0)))

        self.start_step(Call.IMPORT, lambda _engine, _cancel: import_channel_db(src, dest, progress),
                        group="import", open_engine=False, description="Importing channel.db",
                        failure_log=f"import of {src} into {dest} failed")

    @on(ImportProgress)
    def _progress(self, message: ImportProgress) -> None:
        bar = self.query_one("#im-bar", ProgressBar)
        bar.update(total=message.total or None, progress=message.done)

    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        result, payments = message.result
        self.done = True
        self.wizard.kv_path = str(self.dest)
        self.wizard.imported_from = str(self.source)
        what = f"{plural(payments, 'payment')} copied" if payments is not None else "payment buckets copied"
        self.wizard.write_log("info", f"imported {self.source} into {self.dest}: {what}, "
                                      f"{result.entries:,} entries, verified")
        self.query_one("#im-bar", ProgressBar).update(total=1, progress=1)
        self.query_one("#im-status", Static).update(
            escape(f"✓ Imported and verified: {what} ({result.entries:,} entries). The wizard now works on "
                   f"{self.dest}. Press enter for the preflight checks."))
        self.refresh_bindings()

    @on(StepFailed)
    def _failed(self, message: StepFailed) -> None:
        message.stop()
        self.wizard.show_step(Step.ERROR, message, from_="step", can_back=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next":
            return self.done
        return True

    def action_next(self) -> None:
        if self.done:
            self.wizard.show_step(Step.PREFLIGHT)
