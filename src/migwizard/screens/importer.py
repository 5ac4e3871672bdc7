"""Step 0 for a source that is not an LMDB store (bbolt channel.db, lnd's channel.sqlite, a
PostgreSQL KV database): a verified LMDB copy under the state directory, or the earlier copy
reused when the source is unchanged — the same decision the headless ``--yes`` makes
(``core.kv.source.prepare_source``). lnd's files are only read; nothing goes into its data dir.
"""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from migwizard.core.engine.storefacts import SOURCE_WORDS, count_payments, describe_node_markers, prepare
from migwizard.tui.flow import Step
from migwizard.tui.messages import Call, ImportProgress, StepDone, StepFailed
from migwizard.tui.sources import redact
from migwizard.tui.widgets import plural

from .base import WizardScreen


class ImportScreen(WizardScreen):
    STEP = "Welcome"
    BINDINGS = [Binding("enter", "next", "Preflight", id="next")]

    def __init__(self, fresh: bool = False) -> None:
        super().__init__()
        self.done = False
        self.fresh = fresh  # import again although a copy of the unchanged source exists (it was migrated)
        self.source = self.wizard.source_secret or ""
        self.table = self.wizard.kv_table

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical(id="import"):
            again = " again (the migrated copy is kept beside the new one)" if self.fresh else ""
            shown = redact(self.source) if "://" in self.source else self.wizard.show_path(self.source)
            yield Static(f"Importing{again} the payment buckets of [b]{escape(shown)}[/b] into a "
                         "verified LMDB copy in migwizard's state directory, or reusing the earlier copy when the "
                         "source is unchanged. The source is opened read-only and is not changed; the migration "
                         "then works on the copy.", id="im-intro")
            yield ProgressBar(total=None, show_eta=False, id="im-bar")
            yield Static("", id="im-status")
            yield Static("", id="im-markers", classes="panel")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one("#im-markers").display = False
        src, table, fresh = self.source, self.table, self.fresh
        base = self.wizard.import_dir

        def progress(entries: int, *args, **kwargs) -> None:
            self.post_message(ImportProgress(int(entries), 0))

        def run(_engine, _cancel):
            ps = prepare(src, kv_table=table, progress=progress, imports_base=base, fresh=fresh)
            return ps, count_payments(ps.lmdb_dir)

        self.start_step(Call.IMPORT, run, group="import", open_engine=False, description="Importing the source",
                        failure_log=f"import of {redact(src)} failed")

    @on(ImportProgress)
    def _progress(self, message: ImportProgress) -> None:
        bar = self.query_one("#im-bar", ProgressBar)
        bar.update(total=message.total or None, progress=message.done)

    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        ps, payments = message.result
        self.done = True
        app = self.wizard
        app.prepared[(self.source, self.table)] = (str(ps.lmdb_dir), ps.reused)
        app.kv_path = str(ps.lmdb_dir)
        app.imported_from = ps.origin
        shown = app.show_path(ps.lmdb_dir)
        count = f"{plural(payments, 'payment')}" if payments is not None else "the payment buckets"
        what = SOURCE_WORDS.get(ps.kind, ps.kind)
        if ps.reused:
            status = f"✓ Reused the verified copy at {shown} ({count}): {ps.note or 'the source is unchanged'}."
            app.write_log("info", f"source {ps.origin}: reused the verified copy {ps.lmdb_dir} ({ps.note})")
        else:
            entries = f", {ps.imported.values:,} values" if ps.imported is not None else ""
            note = f" ({ps.note})" if ps.note else ""
            status = f"✓ Imported and verified: {count} copied{entries}, into {shown}{note}."
            app.write_log("info", f"imported {ps.origin} into {ps.lmdb_dir}: {count}{entries}, verified{note}")
        self.query_one("#im-bar", ProgressBar).update(total=1, progress=1)
        self.query_one("#im-status", Static).update(
            escape(f"{status} Source: {what}. Press enter for the preflight checks."))
        lines = describe_node_markers(ps)
        if lines:
            box = self.query_one("#im-markers", Static)
            box.update("[b]Node markers on this source[/b]\n" + "\n".join(f" • {escape(line)}" for line in lines))
            box.display = True
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
