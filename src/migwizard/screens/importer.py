"""Step 0 for a bbolt channel.db: import its payment buckets into an LMDB copy."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from migwizard.tui.messages import ImportProgress, StepDone, StepFailed
from migwizard.tui.widgets import plural

from .base import WizardScreen


def count_payments(store_dir: Path) -> int | None:
    """Payments in an imported LMDB store (sub-buckets of the payments root bucket)."""
    try:
        from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
        from migwizard.core.kv.lmdb_store import LmdbStore

        store = LmdbStore.open(store_dir, readonly=True)
        try:
            with store.read() as root:
                bucket = root.bucket(PAYMENTS_ROOT_BUCKET)
                return 0 if bucket is None else sum(1 for _k, _v, child in bucket.entries() if child is not None)
        finally:
            store.close()
    except Exception:
        return None


class ImportScreen(WizardScreen):
    STEP = "Welcome"
    BINDINGS = [Binding("enter", "next", "Preflight", id="next")]

    def __init__(self, dest: Path | None = None) -> None:
        super().__init__()
        self.done = False
        from .welcome import copy_path

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
        self.run_import(self.source, Path(self.dest))

    @work(thread=True, exclusive=True, exit_on_error=False, group="import", description="Importing channel.db")
    def run_import(self, src: Path, dest: Path) -> None:
        try:
            from migwizard.core.kv.importer import import_bbolt

            def progress(done: int, total: int | None = None, *args, **kwargs) -> None:
                self.post_message(ImportProgress(int(done), int(total or 0)))

            result = import_bbolt(src, dest, all_buckets=False, progress=progress)
            payments = count_payments(dest)
        except Exception as exc:
            self.wizard.write_log("error", f"import of {src} into {dest} failed: {exc}")
            self.post_message(StepFailed("import", exc))
            return
        self.post_message(StepDone("import", (result, payments)))

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
        from .error import ErrorScreen

        self.app.switch_screen(ErrorScreen.from_step(message, can_back=True))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next":
            return self.done
        return True

    def action_next(self) -> None:
        if self.done:
            from .preflight import PreflightScreen

            self.app.switch_screen(PreflightScreen())
