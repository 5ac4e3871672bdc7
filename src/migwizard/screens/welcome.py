"""Step 1: what will happen, what will not, source and target, interrupted runs."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from migwizard.core.engine.results import RunState
from migwizard.core.engine.storefacts import store_facts
from migwizard.tui.flow import Step
from migwizard.tui.messages import Call, StepDone, StepFailed
from migwizard.tui.sources import (  # noqa: F401  (check_target, restore_secrets: re-exported for tests)
    check_target,
    copy_path,
    copy_problem,
    copy_state,
    detect_source,
    next_copy,
    restore_secrets,
)

from .base import WizardScreen

INTRO = (
    "This wizard copies your node's payment history from the KV store into SQL, "
    "checks every payment, and asks you before anything becomes final."
)
WILL = (
    "[b]Will:[/b] run read-only checks · copy payments in resumable chunks · compare every "
    "payment field by field · after you type COMMIT, mark SQL committed and tombstone the KV store.\n"
    "[b]Will not:[/b] change the KV store before that last step (it is only read), or delete anything."
)
NEVER = (
    "[b]Never do[/b]\n"
    " • run this while lnd is running\n"
    " • start without a backup of the whole lnd data/ directory\n"
    " • delete the KV store or the SQL file until lnd runs well on SQL\n"
    " • rush: every step before the commit can be rolled back"
)


class WelcomeScreen(WizardScreen):
    STEP = "Welcome"
    # One key, several labels: the footer always names what the start button does.
    BINDINGS = [
        Binding("ctrl+n", "start('preflight')", "Start preflight", id="start"),
        Binding("ctrl+n", "start('import')", "Import channel.db", id="start-import"),
        Binding("ctrl+n", "start('commit')", "Finish the commit", id="start-commit"),
        Binding("ctrl+n", "start('verify')", "Re-verify", id="start-verify"),
        Binding("ctrl+n", "start('reimport')", "Import again", id="start-reimport"),
        Binding("ctrl+n", "start('reuse')", "Use the other copy", id="start-reuse"),
        Binding("ctrl+r", "resume", "Resume", id="resume"),
        Binding("ctrl+b", "rollback", "Roll back…", id="rollback"),
    ]
    START_LABELS = {"preflight": "Start preflight", "import": "Import channel.db", "commit": "Finish the commit",
                    "verify": "Re-verify", "reimport": "Import again", "reuse": "Use the other copy"}
    PROBE_DELAY = 0.4  # seconds after the last keystroke before the target is checked again

    def __init__(self) -> None:
        super().__init__()
        self.run_state: RunState | None = None
        self.source_kind: str | None = None
        self.target_ok = False
        self.copy: Path | None = None  # bbolt: where the LMDB copy is (or goes)
        self.copy_state: str | None = None
        self.copy_blocked: str | None = None  # why no import/copy can be used
        self._copy_key: str | None = None
        self._copy_override: Path | None = None  # a re-import (…-lmdb-2) this session works on
        self.probed: tuple[str, str] | None = None  # fields of the state shown
        self.probing: tuple[str, str] | None = None
        self.imported_source: str | None = None  # an LMDB source's import-source (after a refused probe)
        self.alternative: tuple[Path, str] | None = None  # another copy for a tombstoned import
        self.target_note = ""
        self._probe_timer = None
        self.start_after_probe = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        app = self.wizard
        with VerticalScroll(id="welcome"):
            yield Static(INTRO, id="intro")
            yield Static(WILL, id="will", classes="panel")
            yield Static(NEVER, id="never", classes="panel never")
            with Grid(id="fields"):
                yield Label("Source", classes="field-label")
                yield Input(app.imported_from or app.kv_path or "", placeholder="LMDB dir or channel.db",
                            id="source", compact=True)
                yield Static("", id="source-msg", classes="field-msg")
                yield Label("Target", classes="field-label")
                yield Input(app.sql_url_display, placeholder="sqlite:///lnd.sqlite", id="target", compact=True)
                yield Static("", id="target-msg", classes="field-msg")
            yield Static("", id="run-state")
            with Horizontal(id="welcome-buttons", classes="buttons"):
                yield Button("Start preflight", id="start", variant="primary", compact=True)
                yield Button("Resume", id="resume", variant="primary", compact=True)
                yield Button("Roll back…", id="rollback", variant="warning", compact=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        app = self.wizard
        if app.imported_from and app.kv_path and Path(app.kv_path) != copy_path(app.imported_from, app.import_dir):
            # This session imported the channel.db again into another directory: keep working on it.
            self._copy_key = app.imported_from
            self._copy_override = Path(app.kv_path)
            self.copy_state = copy_state(self._copy_override, app)
        self._validate_fields()
        self._show_state()
        if self._probe_key() is not None:
            self._probe()
            self.query_one("#start", Button).focus()
        elif not self.query_one("#source", Input).value:
            self.query_one("#source", Input).focus()
        else:
            self.query_one("#target", Input).focus()

    # -- fields ----------------------------------------------------------
    def _target_value(self) -> str:
        """The typed target; the redacted URL shown for a stored one stands for the real URL."""
        typed = self.query_one("#target", Input).value.strip()
        real = self.wizard.sql_url
        if real and typed == self.wizard.sql_url_display:
            self.target_note = ""
            return real
        url, self.target_note = restore_secrets(typed, real)
        return url

    def _validate_fields(self) -> None:
        source = self.query_one("#source", Input).value.strip()
        target = self._target_value()
        self.source_kind, smsg = detect_source(source)
        self.target_ok, tmsg = check_target(target)
        self.copy, self.copy_blocked = None, None
        if self.source_kind == "bbolt":
            if self._copy_key != source:  # cheap, but not on every keystroke elsewhere
                self._copy_override = None
                self.copy = copy_path(source, self.wizard.import_dir)
                self.copy_state = copy_state(self.copy, self.wizard)
                self._copy_key = source
            else:
                self.copy = self._copy_override or copy_path(source, self.wizard.import_dir)
            if self.copy_state == "complete":
                smsg = f"✓ bbolt channel.db, already imported: the wizard uses its LMDB copy {self.copy}."
            elif self.copy_state == "tombstoned":
                smsg = (f"✓ bbolt channel.db, already imported into {self.copy}, which was migrated and "
                        "tombstoned; channel.db itself is unchanged.")
            elif self.copy_state is not None:
                self.copy_blocked = (f"✗ an unusable LMDB copy is at {self.copy} ({self.copy_state}): move it "
                                     "away (or delete it) to import again.")
            elif problem := copy_problem(self.copy):
                self.copy_blocked = f"✗ the LMDB copy would go to {self.copy}, but {problem}."
            else:
                smsg = (f"✓ bbolt channel.db: imported (read-only) into a new LMDB copy at {self.copy}; "
                        "channel.db is not changed.")
            if self.copy_blocked:
                smsg = self.copy_blocked
        else:
            self._copy_key = None
        self.query_one("#source-msg", Static).update(escape(smsg))
        if self.target_ok and self.target_note:
            tmsg += self.target_note
        self.query_one("#target-msg", Static).update(escape(tmsg))
        self.query_one("#source-msg").set_class((source != "" and self.source_kind is None)
                                                or bool(self.copy_blocked), "error")
        self.query_one("#target-msg").set_class(target != "" and not self.target_ok, "error")

    def _effective_source(self) -> str | None:
        """The LMDB store the engine opens for the typed source (None: nothing to open yet)."""
        if self.source_kind == "lmdb":
            return self.query_one("#source", Input).value.strip()
        if self.source_kind == "bbolt" and self.copy_state in ("complete", "tombstoned") and self.copy is not None:
            return str(self.copy)
        return None

    @property
    def fields_valid(self) -> bool:
        return self.source_kind is not None and self.target_ok and not self.copy_blocked

    def _probe_key(self) -> tuple[str, str] | None:
        eff = self._effective_source()
        if eff is None or not self.target_ok:
            return None
        return (eff, self._target_value())

    @on(Input.Changed)
    def _fields_changed(self, event: Input.Changed) -> None:
        self._validate_fields()
        key = self._probe_key()
        if key is not None and key in (self.probed, self.probing):
            return
        if self._probe_timer is not None:
            self._probe_timer.stop()
            self._probe_timer = None
        self.run_state = None
        self.probed = None
        if key is not None:  # check the new target for an interrupted run once typing pauses
            self._probe_timer = self.set_timer(self.PROBE_DELAY, self._probe)
        self._show_state()

    @on(Input.Submitted, "#source")
    def _source_submitted(self) -> None:
        self.query_one("#target", Input).focus()

    @on(Input.Submitted, "#target")
    def _target_submitted(self) -> None:
        self.action_start()

    def _commit_fields(self, *, quiet: bool = False) -> bool:
        self._validate_fields()
        if self.source_kind is None or not self.target_ok or self.copy_blocked:
            if not quiet:
                self.notify(self.copy_blocked or "Fix the source and target first.", severity="warning")
            return False
        app = self.wizard
        source = self.query_one("#source", Input).value.strip()
        app.sql_url = self._target_value()
        if self.source_kind == "bbolt" and self.copy_state in ("complete", "tombstoned"):
            app.kv_path, app.imported_from = str(self.copy), source  # reuse the complete import
        elif self.source_kind == "bbolt":
            app.kv_path, app.imported_from = source, None  # the import screen sets both
        elif app.kv_path != source:
            app.kv_path, app.imported_from = source, None
        return True

    # -- run state -------------------------------------------------------
    @property
    def checking(self) -> bool:
        """The fields name a store and target whose run state is not known yet."""
        key = self._probe_key()
        return key is not None and key != self.probed

    def _probe(self) -> None:
        self._probe_timer = None
        key = self._probe_key()
        if key is None or not self._commit_fields(quiet=True):
            return
        self.probing = key

        def probe(engine, cancel, key=key):
            state = engine.state()
            # A refused store: is it an imported copy (the original channel.db is unchanged)?
            facts = tuple(store_facts(key[0])) if state is RunState.TOMBSTONE_WITHOUT_SQL else (False, None)
            return key, state, facts

        self.start_step(Call.PROBE, probe)

    @property
    def tombstoned_import(self) -> bool:
        """The bbolt source's LMDB copy is tombstoned and this target holds no committed run."""
        return self.source_kind == "bbolt" and self.run_state is RunState.TOMBSTONE_WITHOUT_SQL

    def _start_action(self) -> str:
        if self.tombstoned_import and self.alternative is not None:
            return "reuse" if self.alternative[1] == "reuse" else "reimport"
        if self.run_state is RunState.COMMITTED_NO_TOMBSTONE:
            return "commit"
        if self.run_state is RunState.COMPLETE:
            return "verify"
        if self.source_kind == "bbolt" and self.copy_state != "complete":
            return "import"
        return "preflight"

    def _show_state(self) -> None:
        state = self.run_state
        label = self.query_one("#run-state", Static)
        interrupted = state is RunState.IN_PROGRESS
        texts = {
            RunState.IN_PROGRESS: "An interrupted run exists in the target. [b]Resume[/b] continues from its last "
                                  "checkpoint; [b]Roll back[/b] removes what it wrote. The KV store is untouched.",
            RunState.COMMITTED_NO_TOMBSTONE: "The run is committed but the KV tombstone is missing: continue "
                                             "to finish it (the commit screen writes the tombstone).",
            RunState.COMPLETE: "This store is already migrated and tombstoned. Continue to re-verify it.",
            RunState.TOMBSTONE_WITHOUT_SQL: "The KV store carries a tombstone but the target has no committed "
                                            "run. Do not continue: restore your backup or point at the right "
                                            "target, and ask for help with the log.",
        }
        refused = state is RunState.TOMBSTONE_WITHOUT_SQL
        reimport = False
        if refused and self.tombstoned_import:
            alt = self.alternative
            original = escape(self.query_one("#source", Input).value.strip())
            copy, alt_path = escape(str(self.copy)), escape(str(alt[0])) if alt is not None else ""
            if alt is None:
                texts[state] = (f"The LMDB copy {copy} was already migrated and tombstoned, and this target "
                                f"holds no committed run. {original} itself is unchanged: move the old copies "
                                "away to import it again, or point at the target it was migrated into.")
            elif alt[1] == "reuse":
                reimport = True
                texts[state] = (f"The LMDB copy {copy} was already migrated and tombstoned, and this target "
                                f"holds no committed run. {original} itself is unchanged, and a complete, "
                                f"untouched import of it is at {alt_path}: use that copy (ctrl+n).")
            else:
                reimport = True
                texts[state] = (f"The LMDB copy {copy} was already migrated and tombstoned, and this target "
                                f"holds no committed run. {original} itself is unchanged: import it again into a "
                                f"new copy at {alt_path} (ctrl+n) and migrate that.")
        elif refused and self.imported_source:
            texts[state] = (f"This LMDB store is a copy imported from {escape(self.imported_source)}; it carries a "
                            "tombstone but this target holds no committed run. The original channel.db is "
                            "unchanged: a fresh import is the way forward (choose it as the Source), or point "
                            "at the target this copy was migrated into.")
        checking = self.checking
        if checking:
            label.update("Checking the target for an interrupted run…")
        else:
            label.update(texts.get(state, "") if state else "")
        label.display = checking or bool(state and state is not RunState.FRESH)
        label.set_class(refused and not reimport and not checking, "error")
        label.set_class(reimport and not checking, "warning")
        self.query_one("#resume").display = interrupted
        self.query_one("#rollback").display = interrupted
        start = self.query_one("#start", Button)
        start.display = not interrupted
        start.disabled = (refused and not reimport) or not self.fields_valid
        start.label = self.START_LABELS[self._start_action()]
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        interrupted = self.run_state is RunState.IN_PROGRESS
        if action in {"resume", "rollback"}:
            return interrupted
        if action == "start":
            mine = not parameters or parameters[0] == self._start_action()
            if not mine or interrupted:
                return False
            if self.run_state is RunState.TOMBSTONE_WITHOUT_SQL and self._start_action() not in ("reimport", "reuse"):
                return False
            return True if self.fields_valid else None  # shown, but disabled, while a field is invalid
        return True

    def _reveal(self, widget) -> None:
        """Scroll ``widget`` into view at once (80x24: the run state sits below the fold)."""
        self.call_after_refresh(lambda: widget.scroll_visible(animate=False))

    @on(StepDone)
    def _step_done(self, message: StepDone) -> None:
        message.stop()
        if message.step != Call.PROBE:
            return
        key, state, (tombstoned, imported_source) = message.result
        if key == self.probing:
            self.probing = None
        if key != self._probe_key():  # the fields changed meanwhile: that probe is stale
            return
        self.run_state = state
        self.probed = key
        self.imported_source = imported_source
        self.alternative = None
        if state is RunState.TOMBSTONE_WITHOUT_SQL and self.source_kind == "bbolt" and self.copy is not None:
            self.alternative = next_copy(self.copy, self.wizard)
        self.wizard.run_pending = state is RunState.IN_PROGRESS
        if state is RunState.TOMBSTONE_WITHOUT_SQL and not self.tombstoned_import:
            self.wizard.set_outcome("refused")  # quitting now exits 2
        elif state is RunState.TOMBSTONE_WITHOUT_SQL and self.alternative is None:
            self.wizard.set_outcome("refused")
        elif self.wizard.outcome == "refused":
            self.wizard.set_outcome(None)
        self._show_state()
        if self.run_state is RunState.IN_PROGRESS:
            self.start_after_probe = False
            self.query_one("#resume", Button).focus(scroll_visible=False)
            self._reveal(self.query_one("#welcome-buttons"))
        elif self.run_state is not RunState.FRESH:
            self._reveal(self.query_one("#welcome-buttons"))
        if self.start_after_probe:
            self.start_after_probe = False
            self.action_start()

    @on(StepFailed)
    def _step_failed(self, message: StepFailed) -> None:
        message.stop()
        self.probing = None
        self.start_after_probe = False
        self.wizard.close_engine()
        hint = f" {message.hint}" if message.hint else ""
        label = self.query_one("#run-state", Static)
        hint = self.wizard.adapt_hint(hint)
        label.update(escape(f"✗ Cannot open the session: {self.wizard.scrub(str(message.error))}.{hint}"))
        label.display = True
        label.add_class("error")
        self._reveal(label)

    # -- actions ---------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_start(self, which: str = "") -> None:
        if not self._commit_fields():
            return
        if self.checking:  # the typed target was not checked yet: check, then start
            self.start_after_probe = True
            if self.probing != self._probe_key():
                if self._probe_timer is not None:
                    self._probe_timer.stop()
                self._probe()
            return
        if not self.check_action("start", ()):
            return
        action = self._start_action()
        if action == "reuse" and self.alternative is not None:
            # A complete import of the same channel.db sits in the next directory: work on it.
            self.copy, self.copy_state = self.alternative[0], "complete"
            self._copy_override = self.copy
            self.alternative = None
            self.run_state, self.probed = None, None
            self.wizard.set_outcome(None)
            self._commit_fields(quiet=True)
            self._show_state()
            self._probe()
            return
        if action == "reimport" and self.alternative is not None:
            self.wizard.set_outcome(None)
            source = self.query_one("#source", Input).value.strip()
            self.wizard.kv_path, self.wizard.imported_from = source, None
            self.wizard.show_step(Step.IMPORT, dest=self.alternative[0])
            return
        if action == "import":
            self.wizard.show_step(Step.IMPORT)
        elif action == "commit":
            self.wizard.show_step(Step.COMMIT)
        elif action == "verify":
            self.wizard.show_step(Step.REPORT, verify=True)
        else:
            self.wizard.show_step(Step.PREFLIGHT)

    @on(Button.Pressed, "#resume")
    def action_resume(self) -> None:
        if not self._commit_fields() or self.run_state is not RunState.IN_PROGRESS:
            return
        self.wizard.show_step(Step.PREFLIGHT, resuming=True)

    @on(Button.Pressed, "#rollback")
    def action_rollback(self) -> None:
        if not self._commit_fields() or self.run_state is not RunState.IN_PROGRESS:
            return
        self.wizard.push_step(Step.ROLLBACK, reason="interrupted", pushed=True)
