"""Step 0 for a bbolt channel.db: import its payment buckets into an LMDB copy."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from migwizard.tui.messages import ImportProgress, StepDone, StepFailed

from .base import WizardScreen


class ImportScreen(WizardScreen):
    STEP = "Welcome"
    BINDINGS = [Binding("enter", "next", "Preflight", id="next")]

    def __init__(self) -> None:
        super().__init__()
        self.done = False
        src = Path(self.wizard.kv_path or "")
        self.source = src
        self.dest = self.wizard.import_dir or src.parent / f"{src.name}.migwizard-lmdb"

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical(id="import"):
            yield Static(f"Importing the payment buckets of [b]{self.source}[/b] into an LMDB copy at "
                         f"[b]{self.dest}[/b]. channel.db is opened read-only and is not changed.", id="im-intro")
            yield ProgressBar(total=None, show_eta=False, id="im-bar")
            yield Static("", id="im-status")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.run_import(self.source, Path(self.dest))

    @work(thread=True, exclusive=True, exit_on_error=False, group="import", description="Importing channel.db")
    def run_import(self, src: Path, dest: Path) -> None:
        try:
            from migwizard.core.kv.importer import import_bbolt

            def progress(done: int, total: int | None = None, *args, **kwargs) -> None:
                self.post_message(ImportProgress(int(done), int(total or 0)))

            result = import_bbolt(src, dest, all_buckets=False, progress=progress)
        except Exception as exc:
            self.post_message(StepFailed("import", exc))
            return
        self.post_message(StepDone("import", result))

    @on(ImportProgress)
    def _progress(self, message: ImportProgress) -> None:
        bar = self.query_one("#im-bar", ProgressBar)
        bar.update(total=message.total or None, progress=message.done)

    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        self.done = True
        self.wizard.kv_path = str(self.dest)
        self.wizard.write_log("info", f"imported {self.source} into {self.dest}")
        self.query_one("#im-bar", ProgressBar).update(total=1, progress=1)
        self.query_one("#im-status", Static).update(
            f"✓ Imported. The wizard now works on {self.dest}. Press enter for the preflight checks.")
        self.refresh_bindings()

    @on(StepFailed)
    def _failed(self, message: StepFailed) -> None:
        message.stop()
        from .error import ErrorScreen

        self.app.switch_screen(ErrorScreen.from_step(message))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next":
            return self.done
        return True

    def action_next(self) -> None:
        if self.done:
            from .preflight import PreflightScreen

            self.app.switch_screen(PreflightScreen())
