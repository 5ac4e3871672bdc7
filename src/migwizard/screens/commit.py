"""Step 6: typed confirmation, commit + tombstone, then Done."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static

from migwizard.core.engine.results import CommitResult, ValidationReport
from migwizard.tui.flow import Step
from migwizard.tui.messages import Call, StepDone, StepFailed
from migwizard.tui.status import TargetStatus, engine_status, from_preflight
from migwizard.tui.widgets import inline_markup, plural, show_enter

from .base import WizardScreen
from .confirm import TypedConfirm

WORD = "COMMIT"


class CommitScreen(WizardScreen):
    STEP = "Commit"
    BINDINGS = [Binding("escape", "back", "Back", id="back")]

    def __init__(self, report: ValidationReport | None = None) -> None:
        super().__init__()
        self.report = report
        self.committing = False
        # What the target is (None: not known yet; read on mount). A preflight of this source and
        # target taken earlier in the session already says it.
        pre = self.wizard.preflight_for_target()
        self.status: TargetStatus | None = from_preflight(pre) if pre is not None else None
        self.loading = False

    def compose(self) -> ComposeResult:
        r = self.report
        what = (f"{r.payments_checked:,} payments validated, all matching." if r is not None and r.ok
                else "The staged run in the target.")
        yield from self.compose_header()
        with VerticalScroll(id="commit-body"):
            yield Static(f"[b]This is the one step you cannot undo from here.[/b]  {what}", id="cm-what")
            yield Static(self._standalone_text(), id="cm-standalone", classes="panel never")
            yield Static(self._steps_text(), id="cm-steps", classes="panel")
            if r is not None and (r.quarantined or r.kept_as_duplicates or r.backfill):
                yield Static(self._left_behind_text(), id="cm-left-behind", classes="panel never")
            yield Static(self._before_text(), id="cm-before", classes="panel never")
            left = (f"[b]{len(r.quarantined)} unreadable payment{'s' if len(r.quarantined) != 1 else ''} "
                    "will be LEFT BEHIND.[/b] " if r is not None and r.quarantined else "")
            yield TypedConfirm(WORD, f"{left}Type [b]{WORD}[/b] and press enter to commit and tombstone:",
                               id="cm-confirm")
            yield Static("", id="cm-status")
            with Horizontal(classes="buttons"):
                yield Button("Commit", id="commit", variant="error", compact=True, disabled=True)
                yield Button("Back", id="back", compact=True)
        yield from self.compose_footer()

    @property
    def lnd_target(self) -> bool:
        """The target is lnd's own database (standing right before its payments migration)."""
        return self.status is not None and self.status.lnd_target is True

    def _standalone_text(self) -> str:
        if self.lnd_target:
            return ""
        if self.loading:
            return "Reading what this target is (read-only checks)…"
        app = self.wizard
        again = (f"a fresh import of {app.imported_from} (it stays unchanged)" if app.imported_from
                 else "your backup of the store")
        return ("[b]This target is a standalone copy.[/b] lnd will not use these rows by itself: its own "
                "migration bookkeeping is not there or not at the right step. Committing still tombstones "
                f"the KV store, so migrating the same history again (into lnd's own database) needs "
                f"{escape(again)}.")

    def _left_behind_text(self) -> str:
        """Backfill and quarantine facts of this run, by payment (the first few; all in the report)."""
        r = self.report
        assert r is not None
        lines = []
        if r.backfill:
            lines.append(f"[b]Backfill[/b] into lnd's live store (migration_tracker {r.backfill.get('tracker')}): "
                         f"lnd's {r.backfill.get('lnd_payments')} payments stay as they are; its tracker is not "
                         "changed.")
        if r.kept_as_duplicates:
            lines.append(f"{len(r.kept_as_duplicates)} kept as duplicates of lnd's payment with the same "
                         "identifier: " + ", ".join(k["payment"][:16] for k in r.kept_as_duplicates[:5]))
        if r.quarantined:
            lines.append(f"[b]{len(r.quarantined)} payments no lnd release can read are left behind[/b] "
                         "(their bytes are saved beside the report):")
            lines += [escape(f"  {k['payment'][:16]}… seq {k['sequence']}: {k['reason']}")
                      for k in r.quarantined[:5]]
        return "\n".join(lines)

    def _before_text(self) -> str:
        if self.lnd_target:
            return ("Before you type: you have a backup of the whole lnd data/ directory, lnd is stopped, "
                    "and the lnd you will start supports the SQL backend.")
        return ("Before you type: you have a backup of the whole lnd data/ directory, lnd is stopped, "
                "and a standalone copy (to audit or rehearse) is what you want.")

    def _steps_text(self) -> str:
        """What the commit does, for this source and target (each step one paragraph, wrapped by the screen)."""
        app = self.wizard
        sql = "1. SQL: the run is marked committed in one transaction and the sequences are fixed"
        if self.status is not None and self.status.standalone:
            sql += " (a standalone copy: lnd's own migration bookkeeping is not touched)."
        elif self.lnd_target:
            sql += "; lnd's migration tracker records that its payments migration is done."
        else:
            sql += "."
        if app.imported_from:
            kv = (f"2. KV: only after that succeeds, a tombstone is written into the LMDB copy "
                  f"({app.kv_path}). The original ({app.imported_from}) is not changed.")
        else:
            kv = ("2. KV: only after that succeeds, a tombstone is written into the KV store, so this payment "
                  "history cannot be migrated a second time.")
        return escape(sql) + "\n" + escape(kv)

    def on_mount(self) -> None:
        self.query_one("#confirm-input", Input).focus()
        if self.status is None:  # reached without checks of this target: ask the engine what it is
            self.loading = True
            self._refresh_texts()
            self.start_step(Call.COMMIT_INFO, lambda engine, _cancel: engine_status(engine))
        else:
            self._refresh_texts()

    def _refresh_texts(self) -> None:
        standalone = self.query_one("#cm-standalone", Static)
        standalone.update(self._standalone_text())
        standalone.display = not self.lnd_target
        self.query_one("#cm-steps", Static).update(self._steps_text())
        self.query_one("#cm-before", Static).update(self._before_text())
        self._typed()

    @on(Input.Changed, "#confirm-input")
    def _typed(self) -> None:
        confirmed = self.query_one(TypedConfirm).confirmed
        self.query_one("#commit", Button).disabled = not confirmed or self.loading
        if confirmed and not self.committing:
            # An earlier "type COMMIT exactly" no longer applies.
            self.query_one("#cm-status", Static).update(
                "Reading the target first…" if self.loading else "Press enter to commit.")
        elif not self.committing:
            self.query_one("#cm-status", Static).update("")

    @on(Input.Submitted, "#confirm-input")
    @on(Button.Pressed, "#commit")
    def _commit(self) -> None:
        if self.committing or self.loading:
            return
        if not self.query_one(TypedConfirm).confirmed:
            self.query_one("#cm-status", Static).update(f"Type {WORD} exactly (capital letters) to confirm.")
            return
        self.committing = True
        self.query_one("#commit", Button).disabled = True
        self.query_one("#confirm-input", Input).disabled = True
        self.query_one("#cm-status", Static).update("Committing… then writing the tombstone.")
        self.start_step(Call.COMMIT, lambda engine, _cancel: engine.commit())

    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        if message.step == Call.COMMIT_INFO:
            self.loading = False
            self.status = message.result
            if self.status.preflight is not None:
                self.wizard.last_preflight = self.status.preflight
            self._refresh_texts()
            return
        if message.result.committed:
            self.wizard.run_pending = False
            self.wizard.set_outcome(None)
            self.wizard.commit_result = message.result
        self.app.switch_screen(DoneScreen(message.result))

    @on(StepFailed)
    def _failed(self, message: StepFailed) -> None:
        message.stop()
        if message.step == Call.COMMIT_INFO:  # unknown: say the careful thing (standalone) and go on
            self.loading = False
            self._refresh_texts()
            return
        self.wizard.show_step(Step.ERROR, message, from_="step")

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        if self.committing:
            return
        if self.report is not None:
            self.wizard.show_step(Step.REPORT, report=self.report)
        else:
            self.wizard.show_step(Step.WELCOME)


class DoneScreen(WizardScreen):
    STEP = "Commit"
    BINDINGS = [Binding("q", "finish", "Finish", id="finish", show=False), Binding("enter", "finish", "Finish")]

    def __init__(self, result: CommitResult) -> None:
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        app = self.wizard
        res = self.result
        mig = app.last_migration
        rep = app.last_report
        ok = res.committed and res.tombstoned
        lines = [f"{'✓' if ok else '!'} {escape(res.message)}"]
        if mig is not None:
            s = mig.stats
            lines.append(f"  {s.payments:,} payments · {s.attempts:,} attempts · {s.hops:,} hops · "
                         f"{s.duplicate_entries:,} duplicates · {plural(s.chunks, 'chunk')}")
        if rep is not None:
            lines.append(f"  {rep.payments_checked:,} payments validated field by field, "
                         f"{plural(len(rep.differences), 'difference')}")
        report = app.run_report(res.run_id) if hasattr(app, "run_report") else app.saved_report
        saved = app.show_path(report) if report else "(none found for this run)"
        with VerticalScroll(id="done"):
            yield Static("\n".join(lines), id="dn-summary", classes="success" if ok else "warning")
            yield Static(
                "[b]Keep these for anyone helping you[/b]\n"
                f"  Report  {escape(saved)}\n"
                f"  Log     {escape(app.show_path(app.log_path))}",
                id="dn-artefacts", classes="panel",
            )
            from ..core.report import next_steps

            steps = next_steps(res)
            yield Static(
                "[b]Next steps for your node[/b]\n"
                + "\n".join(f"{i}. {inline_markup(step)}" for i, step in enumerate(steps, 1)),
                id="dn-next", classes="panel",
            )
            yield show_enter(Button("Finish", id="finish", variant="primary", compact=True))
        yield from self.compose_footer()

    def on_mount(self) -> None:
        # Focus without scrolling: the screen opens at the top (the summary), enter still finishes.
        self.query_one("#finish", Button).focus(scroll_visible=False)
        self.call_after_refresh(self.query_one("#done", VerticalScroll).scroll_home, animate=False)

    @on(Button.Pressed, "#finish")
    def action_finish(self) -> None:
        self.wizard.finish()
