"""Step 2: read-only checks. Failures block; warnings need an explicit OK."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from rich.markup import escape
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Collapsible, DataTable, Static

from migwizard.core.engine.results import CheckStatus, PreflightReport, RunState
from migwizard.core.engine.storefacts import rehearsal, verdict_lines
from migwizard.tui.flow import Step
from migwizard.tui.messages import Call, StepDone, StepFailed
from migwizard.tui.widgets import inline_markup, plain_code

from .base import WizardScreen
from .confirm import CheckDetail

BADGE = {
    CheckStatus.PASS: "✓ pass",
    CheckStatus.WARN: "! warn",
    CheckStatus.FAIL: "✗ FAIL",
    CheckStatus.INFO: "i info",
}


class PreflightScreen(WizardScreen):
    STEP = "Preflight"
    BINDINGS = [
        Binding("enter", "details", "Details", id="details", show=False),
        Binding("r", "rerun", "Re-run", id="rerun"),
        Binding("a", "acknowledge", "Acknowledge", id="acknowledge"),
        Binding("k", "backfill", "Backfill", id="backfill"),
        Binding("c", "continue", "Continue", id="continue"),
        Binding("l", "releases", "lnd releases", id="releases"),
        Binding("escape", "back", "Back", id="back"),
    ]

    RELEASES_TITLE = "What each lnd release would do"

    def __init__(self, *, resuming: bool = False) -> None:
        super().__init__()
        self.resuming = resuming
        self.report: PreflightReport | None = None
        self.rehearsal = None  # core.rehearse.RehearsalReport, once the worker returns
        self.rehearsing = False
        self.rehearsing_store = False  # the rehearsal reads the LMDB store the engine uses: wait for it
        self.running = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical(id="preflight"):
            intro = ("Read-only checks before resuming the interrupted run: its chunks stay as they are, "
                     "nothing new has been written yet." if self.resuming else
                     "Read-only checks. Nothing has been written yet.")
            yield Static(intro, id="pf-intro")
            yield DataTable(id="checks", cursor_type="row", zebra_stripes=False)
            yield Static("", id="pf-hint")
            yield Static("", id="pf-counts")
            with Collapsible(title=self.RELEASES_TITLE + ": reading the payments…", collapsed=True,
                             id="releases"):
                with VerticalScroll(id="rh-body"):
                    yield Static("Reading every payment (read-only)…", id="rh-table")
            yield Checkbox("Backfill", id="backfill", compact=True)
            yield Checkbox("I have read the warnings above and want to continue", id="ack", compact=True)
            yield Static("", id="pf-verdict")
            with Horizontal(classes="buttons"):
                yield Button("Continue", id="continue", variant="primary", compact=True)
                yield Button("Re-run", id="rerun", compact=True)
                yield Button("Back", id="back", compact=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        table = self.query_one("#checks", DataTable)
        table.add_column("Status", key="status", width=6)
        table.add_column("Check", key="check", width=28)
        table.add_column("Result", key="reason")
        self.query_one("#ack").display = False
        self.query_one("#backfill").display = False
        self.action_rerun()
        self._rehearse()

    # -- the rehearsal (issue 10): lnd's own migration, release by release --------
    def _rehearse(self) -> None:
        """Rehearse on the node's own source when there is one (lnd's files, read-only, beside the
        checks), else on the LMDB store once the checks are done: LMDB allows one open environment
        per process, so the engine and the rehearsal take turns (Continue and Back wait)."""
        app = self.wizard
        if self.rehearsing or self.rehearsal is not None:
            return
        if app.source_secret:
            source, table = app.source_secret, app.kv_table
        elif self.running:
            return  # started again when the checks are done
        else:
            source, table = app.kv_path, None
            self.rehearsing_store = True
        self.rehearsing = True
        self.start_step(Call.REHEARSE, lambda _e, _c: rehearsal(source, table), group="rehearse",
                        open_engine=False, description="Rehearsing lnd's payments migration",
                        failure_log="rehearsal")

    def _show_rehearsal(self, report=None, error: str | None = None) -> None:
        box = self.query_one("#releases", Collapsible)
        table = self.query_one("#rh-table", Static)
        if error is not None:
            box.title = f"{self.RELEASES_TITLE}: could not be read"
            table.update(escape(f"✗ The rehearsal could not read the source: {error}"))
            return
        newest = report.newest_release
        box.title = (f"{self.RELEASES_TITLE}: {newest} passes" if report.ok
                     else f"{self.RELEASES_TITLE}: {newest} would fail")
        lines = [escape(line) for line in verdict_lines(report)]
        table.update(f"[b]{escape(report.recommendation)}[/b]\n" + "\n".join(lines))

    def action_releases(self) -> None:
        box = self.query_one("#releases", Collapsible)
        box.collapsed = not box.collapsed

    @on(Collapsible.Expanded, "#releases")
    @on(Collapsible.Collapsed, "#releases")
    def _releases_toggled(self) -> None:
        """At 80x24 the verdicts take the checks' place while open (l or enter on the title)."""
        shown = not self.query_one("#releases", Collapsible).collapsed
        self.query_one("#checks").display = not shown
        self.query_one("#pf-hint").display = not shown

    # -- running ---------------------------------------------------------
    def action_rerun(self) -> None:
        if self.running or self.rehearsing_store:
            return
        self.running = True
        self.report = None
        self.query_one("#checks", DataTable).clear()
        self.query_one("#pf-verdict", Static).update("Running checks…")
        self.query_one("#pf-hint", Static).update("")
        self.query_one("#ack", Checkbox).value = False
        self.refresh_bindings()
        self._update_buttons()
        self.start_step(Call.PREFLIGHT, lambda engine, _cancel: engine.preflight())

    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        if message.step == Call.REHEARSE:
            self.rehearsing = self.rehearsing_store = False
            self.rehearsal = message.result
            self._show_rehearsal(message.result)
            self._update_verdict()
            return
        self.running = False
        report: PreflightReport = message.result
        self.report = report
        table = self.query_one("#checks", DataTable)
        table.clear()
        self.wizard.last_preflight = report
        if report.state is RunState.IN_PROGRESS:
            self.wizard.run_pending = True
        # Results wrap in their column (height=None: as many lines as the text needs) instead of
        # being cut at the table's edge at 80 columns.
        width = self._result_width()
        table.columns["reason"].width = width
        table.columns["reason"].auto_width = False
        for i, check in enumerate(report.checks):
            reason = plain_code(self.wizard.adapt_hint(check.reason))
            table.add_row(BADGE[check.status], Text(check.title), Text(reason, overflow="fold"), key=str(i),
                          height=None)
        c = report.counts
        self.query_one("#pf-counts", Static).update(
            f"{c.payments:,} payments: {c.succeeded:,} succeeded · {c.failed:,} failed · {c.in_flight:,} in flight · "
            f"{c.initiated:,} initiated · {c.attempts:,} attempts · {c.hops:,} hops · {c.duplicates:,} duplicates"
        )
        warnings = report.warnings
        ack = self.query_one("#ack", Checkbox)
        ack.display = bool(warnings) and report.ok
        self._backfill_choice(report)
        self._ack_label()
        self._update_verdict()
        # The first row that needs attention (a failure, else a warning) is where the cursor starts.
        attention = [i for i, c in enumerate(report.checks) if c.status is CheckStatus.FAIL] or \
                    [i for i, c in enumerate(report.checks) if c.status is CheckStatus.WARN]
        if attention:
            table.move_cursor(row=attention[0], animate=False, scroll=True)
        table.focus()
        self._show_hint()
        self._rehearse()

    def _result_width(self) -> int:
        """The Result column's width: what the table leaves after Status and Check (cell padding
        and a scrollbar included)."""
        table = self.query_one("#checks", DataTable)
        total = table.size.width or self.app.size.width - 2
        return max(20, total - 6 - 28 - 3 * 2 * table.cell_padding - 2)

    def _ack_label(self) -> None:
        """The checkbox state in words too, so it reads without colour (NO_COLOR)."""
        n = len(self.report.warnings) if self.report else 0
        what = f"the {n} warning{'s' if n != 1 else ''}"
        ack = self.query_one("#ack", Checkbox)
        ack.label = (f"Acknowledged: I have read {what} and want to continue (a to undo)" if ack.value
                     else f"Not acknowledged: press a once you have read {what}")

    def _backfill_choice(self, report: PreflightReport) -> None:
        """Shown only when the target is lnd's live store that moved on without the history."""
        box = self.query_one("#backfill", Checkbox)
        offered = any(c.id == "sql.backfill" for c in report.checks) and report.run is None
        box.display = offered
        with box.prevent(Checkbox.Changed):
            box.value = bool(self.wizard.backfill)
        box.label = ("Backfill chosen: the KV history goes into lnd's live store after its own payments "
                     "(k to undo)" if box.value else
                     "Backfill: add the KV history to lnd's live store, after its own payments (k)")

    def action_backfill(self) -> None:
        box = self.query_one("#backfill", Checkbox)
        if box.display and not self.running:
            box.value = not box.value

    @on(Checkbox.Changed, "#backfill")
    def _backfill_changed(self, event: Checkbox.Changed) -> None:
        self.wizard.set_consent(backfill=event.value)
        self.action_rerun()

    @on(StepFailed)
    def _failed(self, message: StepFailed) -> None:
        message.stop()
        if message.step == Call.REHEARSE:  # advice, not a check: the preflight verdict stands
            self.rehearsing = self.rehearsing_store = False
            self._show_rehearsal(error=self.wizard.scrub(str(message.error)))
            self._update_verdict()
            return
        self.running = False
        self.wizard.show_step(Step.ERROR, message, from_="step")

    # -- state -----------------------------------------------------------
    @property
    def can_continue(self) -> bool:
        r = self.report
        if r is None or not r.ok or self.rehearsing_store:
            return False
        return not r.warnings or self.query_one("#ack", Checkbox).value

    def _update_verdict(self) -> None:
        r = self.report
        verdict = self.query_one("#pf-verdict", Static)
        verdict.remove_class("error", "warning", "success")
        if r is None:
            return
        fails = [c for c in r.checks if c.status is CheckStatus.FAIL]
        if fails:
            verdict.update(f"✗ {len(fails)} check{'s' if len(fails) > 1 else ''} failed. Fix "
                           f"{'them' if len(fails) > 1 else 'it'} (see the hint), then re-run with r.")
            verdict.add_class("error")
        elif r.warnings and not self.query_one("#ack", Checkbox).value:
            verdict.update("! Read the warnings, then acknowledge them (a) to continue.")
            verdict.add_class("warning")
        elif self.rehearsing_store:
            verdict.update("Checks done; rehearsing lnd's own migration on the store (read-only)…")
        else:
            what = "resume the interrupted run" if self.resuming else "start migrating"
            verdict.update(f"✓ Ready. Continue (c) to {what}.")
            verdict.add_class("success")
        self._update_buttons()
        self.refresh_bindings()

    def _update_buttons(self) -> None:
        self.query_one("#continue", Button).disabled = not self.can_continue
        self.query_one("#rerun", Button).disabled = self.running or self.rehearsing_store
        self.query_one("#back", Button).disabled = self.rehearsing_store

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "continue":
            return self.can_continue
        if action == "acknowledge":
            return bool(self.report and self.report.ok and self.report.warnings)
        if action == "rerun":
            return not self.running and not self.rehearsing_store
        if action == "back":
            return not self.rehearsing_store
        if action == "backfill":
            return bool(self.report and any(c.id == "sql.backfill" for c in self.report.checks)
                        and self.report.run is None and not self.running)
        return True

    @on(Checkbox.Changed, "#ack")
    def _ack_changed(self) -> None:
        self._ack_label()
        self._update_verdict()

    @on(DataTable.RowHighlighted, "#checks")
    def _show_hint(self) -> None:
        check = self._current_check()
        hint = self.query_one("#pf-hint", Static)
        if check is None:
            hint.update("")
        else:
            hint.update(f"Fix: {inline_markup(self.wizard.adapt_hint(check.hint))}" if check.hint
                        else "Enter for details.")

    def _current_check(self):
        if self.report is None:
            return None
        table = self.query_one("#checks", DataTable)
        if not table.row_count:
            return None
        return self.report.checks[table.cursor_row]

    # -- actions ---------------------------------------------------------
    @on(DataTable.RowSelected, "#checks")
    def action_details(self) -> None:
        check = self._current_check()
        if check is not None:
            self.app.push_screen(CheckDetail(check))

    def action_acknowledge(self) -> None:
        ack = self.query_one("#ack", Checkbox)
        if ack.display:
            ack.value = not ack.value

    @on(Button.Pressed, "#continue")
    def action_continue(self) -> None:
        if not self.can_continue:
            return
        self.wizard.show_step(Step.MIGRATE, resuming=self.resuming)

    @on(Button.Pressed, "#rerun")
    def _rerun_pressed(self) -> None:
        self.action_rerun()

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        if not self.rehearsing_store:
            self.wizard.show_step(Step.WELCOME)
