"""Step 1: what will happen, what will not, source and target, interrupted runs."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static

from migwizard.core.engine.results import RunState
from migwizard.core.engine.storefacts import SOURCE_WORDS, marker_lines, store_facts
from migwizard.tui.flow import Step
from migwizard.tui.messages import Call, StepDone, StepFailed
from migwizard.tui.sources import (  # noqa: F401  (check_target, restore_secrets: re-exported for tests)
    check_target,
    copy_message,
    copy_path,
    copy_state,
    detect_source,
    redact,
    restore_secrets,
)
from migwizard.tui.welcome_fields import compose_fields, fill_from_lnddir
from migwizard.tui.welcome_text import INTRO, NEVER, WILL, refusal_reason, run_state_texts

from .base import WizardScreen


class WelcomeScreen(WizardScreen):
    STEP = "Welcome"
    # One key, several labels: the footer always names what the start button does.
    BINDINGS = [
        Binding("ctrl+n", "start('preflight')", "Start preflight", id="start"),
        Binding("ctrl+n", "start('import')", "Import source", id="start-import"),
        Binding("ctrl+n", "start('commit')", "Finish the commit", id="start-commit"),
        Binding("ctrl+n", "start('verify')", "Re-verify", id="start-verify"),
        Binding("ctrl+n", "start('reimport')", "Import again", id="start-reimport"),
        Binding("ctrl+r", "resume('run')", "Resume", id="resume"),
        Binding("ctrl+r", "resume('commit')", "Continue to commit", id="resume-commit"),
        Binding("ctrl+b", "rollback", "Roll back…", id="rollback"),
        # Last of the ctrl+n bindings: reached only when none of the above may run, to say why.
        Binding("ctrl+n", "start_refused", show=False),
    ]
    START_LABELS = {"preflight": "Start preflight", "import": "Import source", "commit": "Finish the commit",
                    "verify": "Re-verify", "reimport": "Import again"}
    PROBE_DELAY = 0.4  # seconds after the last keystroke before the target is checked again

    def __init__(self) -> None:
        super().__init__()
        self.run_state: RunState | None = None
        self.run_summary = None  # the target's run (Engine.status), when the engine reports it
        self.wrong_target: str | None = None  # Engine.status: whose run this target holds, if not ours
        self.source_kind: str | None = None
        self.target_ok = False
        self.copy: Path | None = None  # a non-LMDB source: where its verified LMDB copy is (or goes)
        self.copy_state: str | None = None
        self.copy_blocked: str | None = None  # why no import/copy can be used
        self._copy_key: tuple[str, str | None] | None = None
        self.probed: tuple[str, str] | None = None  # fields of the state shown
        self.probing: tuple[str, str] | None = None
        self.imported_source: str | None = None  # an LMDB source's import-source (after a refused probe)
        self.target_note = ""
        self._probe_timer = None
        self._markers_timer = None
        self.markers: list[str] | None = None  # the node's markers on the source, in words
        self._markers_for: tuple[str, str | None] | None = None
        self.start_after_probe = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        app = self.wizard
        with VerticalScroll(id="welcome"):
            yield Static(INTRO, id="intro")
            yield Static(WILL, id="will", classes="panel")
            yield Static(NEVER, id="never", classes="panel never")
            yield from compose_fields(app)
            yield Static("", id="markers", classes="panel")
            yield Static("", id="run-state")
            with Horizontal(id="welcome-buttons", classes="buttons"):
                yield Button("Start preflight", id="start", variant="primary", compact=True)
                yield Button("Resume", id="resume", variant="primary", compact=True)
                yield Button("Roll back…", id="rollback", variant="warning", compact=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one("#markers").display = False
        if self.wizard.lnddir and not self.wizard.kv_path:
            self._use_lnddir()  # --lnddir on the command line: fill the fields now
        self._validate_fields()
        self._show_state()
        self._read_markers()
        if self._probe_key() is not None:
            self._probe()
            self.query_one("#start", Button).focus()
        elif not self.query_one("#source", Input).value:
            self.query_one("#lnddir", Input).focus()
        else:
            self.query_one("#target", Input).focus()

    # -- the lnd directory -------------------------------------------------
    @on(Input.Submitted, "#lnddir")
    @on(Input.Submitted, "#network")
    def _lnddir_submitted(self) -> None:
        self._use_lnddir()

    def _use_lnddir(self) -> None:
        """Fill source and target from the lnd directory, then check them as if typed."""
        if not fill_from_lnddir(self):
            return
        self._fields_changed()
        self.query_one("#start", Button).focus(scroll_visible=False)
        self._reveal(self.query_one("#welcome-buttons"))

    # -- fields ----------------------------------------------------------
    def _target_value(self) -> str:
        """The typed target; the redacted URL shown for a stored one stands for the real URL."""
        typed = self.query_one("#target", Input).value.strip()
        real = self.wizard.sql_url
        if real and typed in (self.wizard.sql_url_display, self.wizard.target_shown):
            self.target_note = ""
            return real
        url, self.target_note = restore_secrets(typed, real)
        return url

    def _source_value(self) -> str:
        """The typed source; a redacted PostgreSQL URL shown for a stored one stands for the real URL."""
        typed = self.query_one("#source", Input).value.strip()
        secret = self.wizard.source_secret
        if secret and typed in (redact(secret), self.wizard.source_shown):
            return secret
        return typed if "://" in typed else (str(Path(typed).expanduser()) if typed else "")

    def _table_value(self) -> str | None:
        table = self.query_one("#kv-table", Input).value.strip()
        return None if not self.source_kind or not self.source_kind.startswith("kvsql") else (table or None)

    def _validate_fields(self) -> None:
        source = self._source_value()
        target = self._target_value()
        self.source_kind, smsg = detect_source(source)
        self.target_ok, tmsg = check_target(target)
        self.copy, self.copy_blocked = None, None
        kvsql = (self.source_kind or "").startswith("kvsql")
        self.query_one("#kv-table").display = self.query_one("#kv-table-label").display = kvsql
        if self.source_kind not in (None, "lmdb"):
            key = (source, self._table_value())
            prepared = self.wizard.prepared.get(key)
            try:
                self.copy = Path(prepared[0]) if prepared else copy_path(self.source_kind, source, key[1],
                                                                         self.wizard.import_dir)
            except Exception as exc:
                self.copy_blocked = f"✗ {exc}"
            if self.copy is not None and self._copy_key != key:  # cheap, but not on every keystroke elsewhere
                self.copy_state = copy_state(self.copy, self.wizard)
                self._copy_key = key
            if not self.copy_blocked:
                shown = self.wizard.show_path(self.copy)
                smsg, self.copy_blocked = copy_message(SOURCE_WORDS[self.source_kind], shown, self.copy,
                                                       prepared, self.copy_state)
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
            return self._source_value()
        if self.source_kind and self.copy is not None and not self.copy_blocked and (
                self.copy_state in ("complete", "tombstoned") or self._prepared):
            return str(self.copy)
        return None

    @property
    def _prepared(self) -> bool:
        return (self._source_value(), self._table_value()) in self.wizard.prepared

    @property
    def fields_valid(self) -> bool:
        return self.source_kind is not None and self.target_ok and not self.copy_blocked

    def _probe_key(self) -> tuple[str, str] | None:
        eff = self._effective_source()
        if eff is None or not self.target_ok:
            return None
        return (eff, self._target_value())

    @on(Input.Changed, "#source, #target, #kv-table")
    def _fields_changed(self, event: Input.Changed | None = None) -> None:
        self._validate_fields()
        self._schedule_markers()
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
    @on(Input.Submitted, "#kv-table")
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
        source = self._source_value()
        app.sql_url = self._target_value()
        app.kv_table = self._table_value()
        if self.source_kind == "lmdb":
            if app.kv_path != source:
                app.kv_path, app.imported_from = source, None
            app.source_secret = None
            return True
        app.source_secret = source
        if self._effective_source() is not None:
            app.kv_path, app.imported_from = str(self.copy), redact(source)  # the copy the run works on
        else:
            app.kv_path, app.imported_from = None, None  # the import screen sets both
        return True

    # -- the node's markers ----------------------------------------------
    def _schedule_markers(self) -> None:
        key = (self._source_value(), self._table_value()) if self.source_kind else None
        if key == self._markers_for:
            return
        if self._markers_timer is not None:
            self._markers_timer.stop()
        self.markers, self._markers_for = None, None
        self._show_markers()
        if key is not None:
            self._markers_timer = self.set_timer(self.PROBE_DELAY, self._read_markers)

    def _read_markers(self) -> None:
        """Read the node's markers off the source in a worker (PostgreSQL: a connection)."""
        self._markers_timer = None
        if not self.source_kind:
            return
        key = (self._source_value(), self._table_value())
        self._markers_for = key
        self.start_step(Call.MARKERS, lambda _e, _c, key=key: (key, marker_lines(*key)), group="markers",
                        open_engine=False, description="Reading the node's markers")

    def _show_markers(self) -> None:
        box = self.query_one("#markers", Static)
        lines = self.markers or []
        if lines:
            box.update("[b]Node markers on this source[/b]\n" + "\n".join(f" • {escape(line)}" for line in lines))
        box.display = bool(lines)
        if lines and self.focused is self.query_one("#start"):
            # The markers above it pushed the button down: reveal it once their height is laid out.
            self.query_one("#welcome").scroll_end(animate=False)  # (the buttons are last)
        box.set_class(any("lndinit on" in line for line in lines), "warning")

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
            status = getattr(engine, "status", None)
            st = status() if callable(status) else None  # cheap: run record, one KV key
            state = st.state if st is not None else engine.state()
            # A refused store: is it an imported copy (the original is unchanged)?
            facts = tuple(store_facts(key[0])) if state is RunState.TOMBSTONE_WITHOUT_SQL else (False, None)
            return key, state, facts, st

        self.start_step(Call.PROBE, probe)

    @property
    def tombstoned_import(self) -> bool:
        """The source's LMDB copy is tombstoned and this target holds no committed run."""
        return self.source_kind not in (None, "lmdb") and self.run_state is RunState.TOMBSTONE_WITHOUT_SQL

    def _start_action(self) -> str:
        if self.tombstoned_import:
            return "reimport"
        if self.run_state is RunState.COMMITTED_NO_TOMBSTONE:
            return "commit"
        if self.run_state is RunState.COMPLETE:
            return "verify"
        if self.source_kind not in (None, "lmdb") and not self._prepared and self.run_state is not RunState.IN_PROGRESS:
            return "import"
        return "preflight"

    def _show_state(self) -> None:
        state = self.run_state
        label = self.query_one("#run-state", Static)
        interrupted = state is RunState.IN_PROGRESS
        texts = run_state_texts(self.run_summary, validated=self.validated, wrong_target=self.wrong_target)
        refused = state is RunState.TOMBSTONE_WITHOUT_SQL
        reimport = refused and self.tombstoned_import
        if reimport:
            copy = escape(self.wizard.show_path(self.copy)) if self.copy is not None else ""
            texts[state] = (f"The LMDB copy {copy} was already migrated and tombstoned, and this target holds "
                            "no committed run. The source itself is unchanged: import it again (ctrl+n; the old "
                            "copy is kept beside it as the record of that migration), or point at the target it "
                            "was migrated into.")
        elif refused and self.imported_source:
            texts[state] = (f"This LMDB store is a copy imported from {escape(self.imported_source)}; it carries a "
                            "tombstone but this target holds no committed run. The original is unchanged: a "
                            "fresh import is the way forward (choose it as the Source), or point at the target "
                            "this copy was migrated into.")
        checking = self.checking
        if checking:
            label.update("Checking the target for an interrupted run…")
        else:
            label.update(texts.get(state, "") if state else "")
        label.display = checking or bool(state and state is not RunState.FRESH)
        label.set_class(refused and not reimport and not checking, "error")
        label.set_class(reimport and not checking, "warning")
        self.query_one("#resume").display = interrupted
        self.query_one("#resume", Button).label = "Continue to commit" if self.validated else "Resume"
        self.query_one("#rollback").display = interrupted
        start = self.query_one("#start", Button)
        start.display = not interrupted
        start.disabled = (refused and not reimport) or not self.fields_valid
        start.label = self.START_LABELS[self._start_action()]
        self.refresh_bindings()

    @property
    def validated(self) -> bool:
        """The target's run passed validation and waits for its commit."""
        return (self.run_state is RunState.IN_PROGRESS and self.run_summary is not None
                and self.run_summary.state == "validated")

    def action_start_refused(self) -> None:
        """ctrl+n when nothing may start: say why instead of doing nothing."""
        why = refusal_reason(self.run_state, validated=self.validated, source_ok=self.source_kind is not None,
                             copy_blocked=self.copy_blocked, target_ok=self.target_ok)
        self.notify(f"Cannot start: {why}.", severity="warning", timeout=8)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        interrupted = self.run_state is RunState.IN_PROGRESS
        if action == "resume" and interrupted and parameters:  # the footer names what ctrl+r does
            return (parameters[0] == "commit") == self.validated
        if action in {"resume", "rollback"}:
            return interrupted
        if action == "start":
            mine = not parameters or parameters[0] == self._start_action()
            if not mine or interrupted:
                return False
            if self.run_state is RunState.TOMBSTONE_WITHOUT_SQL and self._start_action() != "reimport":
                return False
            return True if self.fields_valid else None  # shown, but disabled, while a field is invalid
        return True

    def _reveal(self, widget) -> None:
        """Scroll ``widget`` into view at once (80x24: the run state sits below the fold)."""
        self.call_after_refresh(lambda: widget.scroll_visible(animate=False))

    @on(StepDone)
    def _step_done(self, message: StepDone) -> None:
        message.stop()
        if message.step == Call.MARKERS:
            key, lines = message.result
            if key == self._markers_for:
                self.markers = lines
                self._show_markers()
            return
        if message.step != Call.PROBE:
            return
        key, state, (tombstoned, imported_source), status = message.result
        run = status.run if status is not None else None
        self.wrong_target = getattr(status, "wrong_target", None)
        if key == self.probing:
            self.probing = None
        if key != self._probe_key():  # the fields changed meanwhile: that probe is stale
            return
        self.run_state = state
        self.run_summary = run
        self.probed = key
        self.imported_source = imported_source
        self.wizard.run_pending = state is RunState.IN_PROGRESS
        if state is RunState.TOMBSTONE_WITHOUT_SQL and not self.tombstoned_import:
            self.wizard.set_outcome("refused")  # quitting now exits 2
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
        if message.step == Call.MARKERS:  # an unreadable source is named by the import or the checks
            self.markers = None
            self._show_markers()
            return
        self.probing = None
        self.start_after_probe = False
        self.wizard.close_engine()
        hint = f" {message.hint}" if message.hint else ""
        label = self.query_one("#run-state", Static)
        hint = self.wizard.adapt_hint(hint)
        label.update(escape(f"✗ Cannot open the session: {self.wizard.scrub(str(message.error))}.{hint}"))
        # The line under Target must not keep saying "URL ok" next to a failed connection.
        target_msg = self.query_one("#target-msg", Static)
        target_msg.update("✗ the target could not be opened (see below).")
        target_msg.add_class("error")
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
        if action in ("import", "reimport"):
            self.wizard.set_outcome(None)
            self.wizard.kv_path, self.wizard.imported_from = None, None
            self.wizard.show_step(Step.IMPORT, fresh=action == "reimport")
        elif action == "commit":
            self.wizard.show_step(Step.COMMIT)
        elif action == "verify":
            self.wizard.show_step(Step.REPORT, verify=True)
        else:
            self.wizard.show_step(Step.PREFLIGHT)

    @on(Button.Pressed, "#resume")
    def action_resume(self, which: str = "") -> None:
        if not self._commit_fields() or self.run_state is not RunState.IN_PROGRESS:
            return
        if self.validated:  # validated, ready to commit: straight there (the commit screen reads the status)
            self.wizard.run_pending = True
            self.wizard.show_step(Step.COMMIT)
            return
        self.wizard.show_step(Step.PREFLIGHT, resuming=True)

    @on(Button.Pressed, "#rollback")
    def action_rollback(self) -> None:
        if not self._commit_fields() or self.run_state is not RunState.IN_PROGRESS:
            return
        self.wizard.push_step(Step.ROLLBACK, reason="interrupted", pushed=True)
