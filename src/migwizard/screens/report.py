"""Step 4: validate every payment, then the report (also `migwizard report FILE`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, ProgressBar, Select, Static

from migwizard.core.engine.events import Phase
from migwizard.core.engine.results import PaymentDetail, ValidationReport
from migwizard.tui.flow import Step
from migwizard.tui.messages import Call, EngineProgress, StepDone, StepFailed
from rich.text import Text

from migwizard.tui.widgets import (
    EngineClock,
    StoppableProgressBar,
    fmt_duration,
    fmt_sat,
    plural,
    short_id,
    short_normalisation,
)

from .base import WizardScreen
from .confirm import CancelMigration, CancelValidation, QuitDuringMigration

STATUSES = ["succeeded", "failed", "in-flight", "initiated"]


# Short labels so the per-table summary fits beside the counts at 80 columns.
SHORT_TABLE_NAMES = {
    "payments": "payments",
    "payment_intents": "intents",
    "payment_first_hop_custom_records": "first-hop recs",
    "payment_htlc_attempts": "attempts",
    "payment_attempt_first_hop_custom_records": "attempt recs",
    "payment_route_hops": "hops",
    "payment_route_hop_mpp": "hop mpp",
    "payment_route_hop_amp": "hop amp",
    "payment_route_hop_blinded": "hop blinded",
    "payment_hop_custom_records": "hop records",
    "payment_htlc_attempt_resolutions": "resolutions",
    "payment_duplicates": "duplicates",
}


class ReportScreen(WizardScreen):
    STEP = "Validate"
    BINDINGS = [
        Binding("escape", "stop", "Stop…", id="stop"),
        Binding("v", "revalidate", "Validate again", id="revalidate"),
        Binding("enter", "open", "Open payment", id="open", show=False),
        Binding("f", "focus_filter", "Filter", id="filter"),
        Binding("slash", "focus_search", "Search", id="search"),
        Binding("c", "commit", "Commit…", id="commit"),
        Binding("b", "rollback", "Roll back…", id="rollback"),
        Binding("q", "finish", "Finish", id="finish"),
        Binding("escape", "back", "Back", id="back"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self, report: ValidationReport | None = None, details: dict[str, PaymentDetail] | None = None,
                 *, viewer: bool = False, verify: bool = False, meta: dict[str, str] | None = None) -> None:
        super().__init__()
        self.report = report
        self.details: dict[str, PaymentDetail] = dict(details or {})
        self.viewer = viewer
        self.verify = verify
        self.meta = dict(meta or {})
        self.bar_clock = EngineClock()
        self.filter_value = "all"
        self.search = ""
        self.validating = False
        self.stopped: ValidationReport | None = None  # a validation stopped by the user (not a verdict)
        self.after_stop: str | None = None  # "resume" | "rollback" once the user chose
        if viewer:
            self.STEP = None
            self.sub_title = "report viewer (read-only)"

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical(id="validating"):
            yield Static("Comparing every migrated payment with its KV original, field by field…",
                         id="val-intro")
            yield StoppableProgressBar(total=None, show_eta=True, clock=self.bar_clock, id="val-bar")
            yield Static("Checked  –", id="val-stats")
            yield Static("", id="val-outcome")
        with Vertical(id="report"):
            yield Static("", id="verdict")
            with Horizontal(id="summary"):
                yield DataTable(id="tables", cursor_type="none", show_cursor=False)
                yield Static("", id="counts")
            yield Static("", id="count-note")
            with Horizontal(id="filters"):
                yield Select([("All payments", "all")], value="all", allow_blank=False, id="filter", compact=True)
                yield Input(placeholder="/ hash prefix", id="search", compact=True)
                yield Static("", id="pay-count")
            yield DataTable(id="payments", cursor_type="row")
            yield Static("", id="artefacts")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        tables = self.query_one("#tables", DataTable)
        # The time column is how long the migration spent inserting each table's rows.
        for label, key in (("Table", "table"), ("Rows", "rows"), ("Err", "errors"), ("Insert", "time")):
            tables.add_column(label, key=key)
        payments = self.query_one("#payments", DataTable)
        payments.add_column("Payment", key="id", width=17)
        payments.add_column("Status", key="status", width=9)
        payments.add_column(Text("Amount sat", justify="right"), key="amount")  # sized to the widest amount
        payments.add_column("Att", key="attempts", width=3)
        payments.add_column("Diff", key="diff", width=4)
        payments.add_column("Normalised", key="norm")
        if self.report is not None:
            self._show_report()
        else:
            self.start_validation()

    def start_validation(self) -> None:
        self.query_one("#report").display = False
        self.query_one("#validating").display = True
        self.query_one("#val-outcome").display = False
        self.query_one("#val-bar", StoppableProgressBar).set_stopped(False)
        self.stopped, self.after_stop, self.validating = None, None, True
        self.bar_clock.restart()
        self.wizard.cancel_event = threading.Event()
        self.refresh_bindings()
        self.start_step(Call.VALIDATE, self._validate, group="validate", cancel=self.wizard.cancel_event,
                        description="Validating payments")

    # -- the worker ------------------------------------------------------
    def _validate(self, engine: Any, cancel: Any) -> tuple[ValidationReport, dict[str, PaymentDetail], Path]:
        """Validate (or re-verify), load the first differing payments' details, save the report (worker thread)."""
        app, verify = self.wizard, self.verify
        report = engine.verify(cancel=cancel) if verify else engine.validate(cancel=cancel)
        if cancel.is_set():  # stopped by the user: not a verdict, no report to write
            return report, {}, None
        import time

        from migwizard.core.report import collect_details, write_report

        # Capped (DETAIL_CAP): the drill-down looks any other payment up when it is opened.
        details = collect_details(engine, report)
        stamp = time.gmtime(app.wall_clock())
        # One report per run (validating the run again replaces it); a re-verification never
        # overwrites the report of the migration itself.
        path = app.default_report_path(report.run_id, verify=verify)
        path = write_report(path, report, details=details, create_parent=True, source=app.kv_path,
                            target=app.sql_url_display, imported_from=app.imported_from,
                            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", stamp))
        app.write_log("info", f"report written to {path}")
        if report.quarantined and not verify:
            saved = engine.save_quarantine(path, report)
            app.write_log("warning", f"{len(report.quarantined)} payments left behind (quarantined); "
                                     f"their KV bytes: {saved}")
        return report, details, path

    @on(EngineProgress)
    def _progress(self, message: EngineProgress) -> None:
        ev = message.event
        if ev.phase not in (Phase.VALIDATE, Phase.VERIFY):
            return
        self.bar_clock.advance_to(ev.elapsed_s)
        self.query_one("#val-bar", ProgressBar).update(total=ev.total, progress=ev.done)
        diffs = getattr(ev, "differences", 0)
        self.last_figures = (f"Checked  {ev.done:,} of {plural(ev.total, 'payment')}  ·  "
                             f"{plural(diffs, 'difference')} so far  ·  {ev.payments_per_s:,.0f} payments/s  ·  "
                             f"elapsed {fmt_duration(ev.elapsed_s)}")
        if not (self.wizard.cancel_event is not None and self.wizard.cancel_event.is_set()):
            self.query_one("#val-stats", Static).update(self.last_figures)

    def _close_stop_dialog(self) -> None:
        """The validation ended while its stop dialog was open: the question no longer applies."""
        if isinstance(self.app.screen, (CancelMigration, QuitDuringMigration)):
            self.app.pop_screen()

    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        self.validating = False
        self._close_stop_dialog()
        report, details, path = message.result
        if path is None:  # stopped by the user
            self._show_stopped(report)
            return
        self.report = report
        self.details.update(details)
        self.wizard.last_report = self.report
        self.wizard.saved_report = path.resolve()
        if not self.verify:  # quitting with differences exits 1
            self.wizard.set_outcome(None if self.report.ok else "mismatch")
        self._show_report()

    @on(StepFailed)
    def _failed(self, message: StepFailed) -> None:
        message.stop()
        self.validating = False
        if self.wizard.quit_requested:
            self.wizard.finish()
            return
        self.wizard.show_step(Step.ERROR, message, from_="step")

    def _show_stopped(self, partial: ValidationReport) -> None:
        """Stopped at a batch boundary: what was checked, and the ways on."""
        self.stopped = partial
        if self.wizard.quit_requested:
            self.wizard.finish()
            return
        self.query_one("#val-bar", StoppableProgressBar).set_stopped(True)
        if getattr(self, "last_figures", ""):
            self.query_one("#val-stats", Static).update(self.last_figures)
        total = partial.stats.payments or partial.count_sql
        outcome = self.query_one("#val-outcome", Static)
        outcome.update(
            f"Validation stopped after {partial.payments_checked:,} of {plural(total, 'payment')} "
            f"({plural(partial.differences_total or len(partial.differences), 'difference')} so far). Nothing is "
            "final: the migrated chunks stay and the KV store is untouched. Validate again (v), roll back (b), "
            "or quit (ctrl+q) and run migwizard again later to validate and commit.")
        outcome.set_classes("warning")
        outcome.display = True
        self.refresh_bindings()
        if self.after_stop == "rollback":
            self.wizard.push_step(Step.ROLLBACK, reason="report", pushed=True)

    # -- rendering -------------------------------------------------------
    def _show_report(self) -> None:
        report = self.report
        assert report is not None
        self.query_one("#validating").display = False
        self.query_one("#report").display = True
        verdict = self.query_one("#verdict", Static)
        diffs = {d.payment for d in report.differences}
        if report.ok:
            verdict.update(f"✓ All {report.payments_checked:,} payments match field by field "
                           f"({report.duplicates_checked:,} duplicates checked; KV {report.count_kv:,} / "
                           f"SQL {report.count_sql:,}).")
            verdict.set_classes("success")
        else:
            why = report.error or f"{plural(len(diffs), 'payment')} differ{'s' if len(diffs) == 1 else ''}"
            verdict.update(f"✗ {why}. The run cannot be committed; open a payment (enter) to see why.")
            verdict.set_classes("error")
        tables = self.query_one("#tables", DataTable)
        tables.clear()
        for t in report.tables:
            tables.add_row(SHORT_TABLE_NAMES.get(t.table, t.table), f"{t.rows:,}", str(t.errors),
                           f"{t.seconds:.2f}s")
        s = report.stats
        self.query_one("#counts", Static).update(
            f"[b]Payments[/b] {s.payments:,}\n"
            f" succeeded {s.succeeded:,} · failed {s.failed:,}\n"
            f" in flight {s.in_flight:,} · initiated {s.initiated:,}\n"
            f"[b]Attempts[/b] {s.attempts:,} · [b]hops[/b] {s.hops:,}\n"
            f"skipped {s.skipped:,} · duplicates {s.duplicate_entries:,}"
        )
        self._count_note()
        # Only filters that can match a row (the normalisation totals may name payments not listed).
        options: list[tuple[str, str]] = [("All payments", "all"), ("With differences", "diff"),
                                          ("Normalised payments", "normalised")]
        present = {p.status for p in report.payments}
        options += [(f"Status: {st}", f"status:{st}") for st in STATUSES if st in present]
        norms = sorted({n for p in report.payments for n in p.normalisations})
        options += [(f"Normalised: {short_normalisation(n)}", f"norm:{n}") for n in norms]
        if self.filter_value not in {v for _l, v in options}:
            self.filter_value = "all"
        select = self.query_one("#filter", Select)
        with self.prevent(Select.Changed):
            select.set_options(options)
            select.value = self.filter_value
        artefacts = self.query_one("#artefacts", Static)
        if self.viewer:
            m = self.meta
            facts = [f"run {report.run_id[:8]}" if report.run_id else ""]
            facts += [f"{label} {m[k]}" for k, label in (("created", "written"), ("source", "source"),
                                                          ("target", "target")) if m.get(k)]
            artefacts.update("Saved report, read-only (no engine session): " + " · ".join(f for f in facts if f))
        elif self.wizard.saved_report is not None:
            app = self.wizard
            report_file, log = Path(app.saved_report), app.log_path.resolve()
            if report_file.parent == log.parent:
                artefacts.update(f"Report and log in {app.show_path(log.parent)}/: {report_file.name}, {log.name}")
            else:
                artefacts.update(f"Report  {app.show_path(report_file)}\nLog     {app.show_path(log)}")
        self._fill_payments()
        self._first_difference()
        self._fit_summary()
        self.query_one("#payments", DataTable).focus()
        self.refresh_bindings()

    def _first_difference(self) -> None:
        """Start on the first payment with a difference: that is what needs looking at."""
        table = self.query_one("#payments", DataTable)
        for i, p in enumerate(self._visible_rows()):
            if p.differences:
                table.move_cursor(row=i, animate=False, scroll=True)
                return

    def _fit_summary(self) -> None:
        """The per-table summary grows with the terminal (7 rows at 24 lines, all its rows if they fit)."""
        if self.report is None:
            return
        want = max(7, len(self.report.tables) + 1)
        room = 7 + max(0, self.app.size.height - 24)
        height = min(want, room)
        self.query_one("#summary").styles.height = height
        self.query_one("#tables").styles.height = height

    def on_resize(self) -> None:
        self._fit_summary()

    def _visible_rows(self) -> list[Any]:
        report = self.report
        if report is None:
            return []
        f = self.filter_value
        rows = report.payments
        if f == "diff":
            rows = [p for p in rows if p.differences]
        elif f == "normalised":
            rows = [p for p in rows if p.normalisations]
        elif f.startswith("status:"):
            rows = [p for p in rows if p.status == f[7:]]
        elif f.startswith("norm:"):
            rows = [p for p in rows if f[5:] in p.normalisations]
        if self.search:
            prefix = self.search.lower()
            rows = [p for p in rows if p.identifier.lower().startswith(prefix)]
        # Differing payments first (a stable sort keeps KV order within each group).
        return sorted(rows, key=lambda p: not p.differences)

    def _fill_payments(self) -> None:
        table = self.query_one("#payments", DataTable)
        table.clear()
        for p in self._visible_rows():
            table.add_row(short_id(p.identifier), p.status, Text(fmt_sat(p.amount_msat), justify="right"),
                          str(p.attempts), f"≠{p.differences}" if p.differences else "",
                          self._norm_cell(p.normalisations), key=p.identifier)
        total = len(self.report.payments) if self.report else 0
        shown = f"{table.row_count:,} of {plural(total, 'payment')}"
        if self.report is not None and total < self.report.payments_checked:
            shown += f" listed ({self.report.payments_checked:,} checked)"
        if table.row_count == 0 and total:
            shown += ": none match"
        self.query_one("#pay-count", Static).update(shown)
        table.border_subtitle = f"{table.row_count:,} of {total:,}"

    @staticmethod
    def _norm_cell(names: list[str]) -> str:
        """The first normalisation and how many more (80 columns; the drill-down lists them all)."""
        if not names:
            return ""
        return short_normalisation(names[0]) + (f" +{len(names) - 1}" if len(names) > 1 else "")

    def _count_note(self) -> None:
        """Explain why the report's counts may differ from the preflight's (KV as read)."""
        note = self.query_one("#count-note", Static)
        pre = self.wizard.preflight_for_target() if hasattr(self.wizard, "preflight_for_target") else None
        s = self.report.stats
        differs = False
        if pre is not None:
            c = pre.counts
            differs = (c.payments, c.succeeded, c.failed, c.in_flight, c.initiated, c.attempts) != \
                      (s.payments, s.succeeded, s.failed, s.in_flight, s.initiated, s.attempts)
        note.update("i Counts differ from the preflight: they are counted after LND's normalisations "
                    "(e.g. terminalised legacy attempts)." if differs else "")
        note.display = differs

    @on(Select.Changed, "#filter")
    def _filter_changed(self, event: Select.Changed) -> None:
        self.filter_value = str(event.value)
        self._fill_payments()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.search = event.value.strip()
        self._fill_payments()

    @on(Input.Submitted, "#search")
    def action_focus_table(self) -> None:
        self.query_one("#payments", DataTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Select).focus()

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        ready = self.report is not None
        if action == "stop":
            return self.validating
        if action == "revalidate":
            return self.stopped is not None and not self.validating
        if action in {"finish", "back"}:  # verify mode: nothing to commit, so a way out
            return ready and self.verify and not self.viewer
        if action == "commit":
            return ready and not self.viewer and self.report.ok and not self.verify
        if action == "rollback":
            return (ready or self.stopped is not None) and not self.viewer and not self.verify
        if action in {"filter", "search", "focus_filter", "focus_search", "open"}:
            return ready
        return True

    # -- actions ---------------------------------------------------------
    def action_stop(self) -> None:
        """The migration screen's stop dialog: stop after the batch being compared (a second at most)."""
        if not self.validating:
            return

        def chosen(choice: str | None) -> None:
            if choice is None or not self.validating:
                return
            self.after_stop = choice
            if self.wizard.cancel_event is not None:
                self.wizard.cancel_event.set()
            self.query_one("#val-stats", Static).update("Stopping after the batch being compared…")

        self.app.push_screen(CancelValidation(), chosen)

    def action_revalidate(self) -> None:
        if self.check_action("revalidate", ()):
            self.start_validation()

    @on(DataTable.RowSelected, "#payments")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_payment(str(event.row_key.value))

    def action_open(self) -> None:
        table = self.query_one("#payments", DataTable)
        if table.row_count:
            row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            self.open_payment(str(row_key.value))

    def open_payment(self, identifier: str) -> None:
        self.wizard.push_step(Step.DETAIL, identifier, detail=self.details.get(identifier), offline=self.viewer)

    def action_commit(self) -> None:
        if self.check_action("commit", ()):
            self.wizard.show_step(Step.COMMIT, report=self.report)

    def action_finish(self) -> None:
        if self.check_action("finish", ()):
            self.wizard.finish()

    def action_back(self) -> None:
        if self.check_action("back", ()):
            self.wizard.show_step(Step.WELCOME)

    def action_rollback(self) -> None:
        if self.check_action("rollback", ()):
            self.wizard.push_step(Step.ROLLBACK, reason="report", pushed=True)
