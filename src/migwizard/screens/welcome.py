"""Step 1: what will happen, what will not, source and target, interrupted runs."""

from __future__ import annotations

import os
from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from migwizard.core.engine.results import RunState
from migwizard.tui.messages import StepDone, StepFailed

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


def detect_source(path_text: str) -> tuple[str | None, str]:
    """("lmdb"|"bbolt"|None, one-line message) for the source field."""
    if not path_text:
        return None, "Enter the LMDB store directory or a bbolt channel.db."
    path = Path(path_text).expanduser()
    if not path.exists():
        return None, f"✗ {path_text}: no such file or directory."
    kind = None
    try:
        from migwizard.core.kv.open import detect_kind

        kind = detect_kind(path)
    except ImportError:
        if path.is_dir() and (path / "data.mdb").exists():
            kind = "lmdb"
        elif path.is_file():
            with path.open("rb") as fh:
                head = fh.read(32)
            kind = "bbolt" if b"\xed\xda\x0c\xed" in head else None
    except Exception as exc:  # unreadable: say so, calmly
        return None, f"✗ cannot read {path_text}: {exc}"
    if kind == "lmdb":
        return "lmdb", "✓ LMDB store."
    if kind == "bbolt":
        return "bbolt", "✓ bbolt channel.db: it is imported into an LMDB copy first (read-only)."
    return None, "✗ not an LMDB store or a bbolt channel.db."


def check_target(url: str) -> tuple[bool, str]:
    if not url:
        return False, "Enter sqlite:///path/lnd.sqlite or postgresql://user@host/db."
    if url.startswith("sqlite:///"):
        parent = Path(url[len("sqlite:///"):]).expanduser().parent
        if not parent.exists():
            return False, f"✗ directory {parent} does not exist; create it first."
        return True, "✓ SQLite file."
    if url.startswith(("postgresql://", "postgres://")):
        return True, "✓ PostgreSQL URL (reachability is checked in preflight)."
    return False, "✗ use sqlite:///PATH or postgresql://USER@HOST/DB."


def copy_path(source: str | Path, import_dir: str | Path | None = None) -> Path:
    """Where the LMDB copy of a bbolt channel.db goes (next to it unless an import dir is given)."""
    src = Path(source).expanduser()
    return Path(import_dir) if import_dir else src.parent / f"{src.name}.migwizard-lmdb"


def copy_state(dest: Path, app=None) -> str | None:
    """The LMDB copy at ``dest``: None (none yet, an import may create it), "complete", or why not usable."""
    if not dest.exists():
        return None
    if not dest.is_dir():
        return "exists and is not a directory"
    if not (dest / "data.mdb").exists():
        return None if not any(dest.iterdir()) else "a non-empty directory without an LMDB store"
    engine_key = getattr(app, "_engine_key", None)
    if engine_key and getattr(app, "engine", None) is not None and Path(engine_key[0]) == dest:
        return "complete"  # this session's engine works on it: imported or reused earlier
    try:
        from migwizard.core.kv.lmdb_store import LmdbStore

        store = LmdbStore.open(dest, readonly=True)
        try:
            raw = store.meta_get(b"import-state")
        finally:
            store.close()
    except Exception as exc:  # unreadable: say so, calmly
        return f"unreadable: {exc}"
    state = raw.decode("utf-8", "replace") if raw else "no import record"
    return "complete" if state == "complete" else state


def copy_problem(dest: Path) -> str | None:
    """Why a new copy cannot be written at ``dest`` (its directory missing or not writable), else None."""
    parent = dest.parent
    if not parent.is_dir():
        return f"{parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable for this user"
    return None


class WelcomeScreen(WizardScreen):
    STEP = "Welcome"
    # One key, several labels: the footer always names what the start button does.
    BINDINGS = [
        Binding("ctrl+n", "start('preflight')", "Start preflight", id="start"),
        Binding("ctrl+n", "start('import')", "Import channel.db", id="start-import"),
        Binding("ctrl+n", "start('commit')", "Finish the commit", id="start-commit"),
        Binding("ctrl+n", "start('verify')", "Re-verify", id="start-verify"),
        Binding("ctrl+r", "resume", "Resume", id="resume"),
        Binding("ctrl+b", "rollback", "Roll back…", id="rollback"),
    ]
    START_LABELS = {"preflight": "Start preflight", "import": "Import channel.db", "commit": "Finish the commit",
                    "verify": "Re-verify"}
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
        self.probed: tuple[str, str] | None = None  # fields of the state shown
        self.probing: tuple[str, str] | None = None
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
            return real
        return typed

    def _validate_fields(self) -> None:
        source = self.query_one("#source", Input).value.strip()
        target = self._target_value()
        self.source_kind, smsg = detect_source(source)
        self.target_ok, tmsg = check_target(target)
        self.copy, self.copy_blocked = None, None
        if self.source_kind == "bbolt":
            self.copy = copy_path(source, self.wizard.import_dir)
            if self._copy_key != source:  # cheap, but not on every keystroke elsewhere
                self.copy_state = copy_state(self.copy, self.wizard)
                self._copy_key = source
            if self.copy_state == "complete":
                smsg = f"✓ bbolt channel.db, already imported: the wizard uses its LMDB copy {self.copy}."
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
        self.query_one("#target-msg", Static).update(escape(tmsg))
        self.query_one("#source-msg").set_class((source != "" and self.source_kind is None)
                                                or bool(self.copy_blocked), "error")
        self.query_one("#target-msg").set_class(target != "" and not self.target_ok, "error")

    def _effective_source(self) -> str | None:
        """The LMDB store the engine opens for the typed source (None: nothing to open yet)."""
        if self.source_kind == "lmdb":
            return self.query_one("#source", Input).value.strip()
        if self.source_kind == "bbolt" and self.copy_state == "complete" and self.copy is not None:
            return str(self.copy)
        return None

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
        if self.source_kind == "bbolt" and self.copy_state == "complete":
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
        self.start_step("probe", lambda engine, key=key: (key, engine.state()))

    def _start_action(self) -> str:
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
        checking = self.checking
        if checking:
            label.update("Checking the target for an interrupted run…")
        else:
            label.update(texts.get(state, "") if state else "")
        label.display = checking or bool(state and state is not RunState.FRESH)
        label.set_class(state is RunState.TOMBSTONE_WITHOUT_SQL, "error")
        label.remove_class("warning")
        self.query_one("#resume").display = interrupted
        self.query_one("#rollback").display = interrupted
        start = self.query_one("#start", Button)
        start.display = not interrupted
        start.disabled = state is RunState.TOMBSTONE_WITHOUT_SQL or bool(self.copy_blocked)
        start.label = self.START_LABELS[self._start_action()]
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        interrupted = self.run_state is RunState.IN_PROGRESS
        if action in {"resume", "rollback"}:
            return interrupted
        if action == "start":
            if interrupted or self.run_state is RunState.TOMBSTONE_WITHOUT_SQL or self.copy_blocked:
                return False
            return not parameters or parameters[0] == self._start_action()
        return True

    def _reveal(self, widget) -> None:
        """Scroll ``widget`` into view at once (80x24: the run state sits below the fold)."""
        self.call_after_refresh(lambda: widget.scroll_visible(animate=False))

    @on(StepDone)
    def _step_done(self, message: StepDone) -> None:
        message.stop()
        if message.step != "probe":
            return
        key, state = message.result
        if key == self.probing:
            self.probing = None
        if key != self._probe_key():  # the fields changed meanwhile: that probe is stale
            return
        self.run_state = state
        self.probed = key
        self.wizard.run_pending = state is RunState.IN_PROGRESS
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
        from .preflight import PreflightScreen

        action = self._start_action()
        if action == "import":
            from .importer import ImportScreen

            self.app.switch_screen(ImportScreen())
        elif action == "commit":
            from .commit import CommitScreen

            self.app.switch_screen(CommitScreen())
        elif action == "verify":
            from .report import ReportScreen

            self.app.switch_screen(ReportScreen(verify=True))
        else:
            self.app.switch_screen(PreflightScreen())

    @on(Button.Pressed, "#resume")
    def action_resume(self) -> None:
        if not self._commit_fields() or self.run_state is not RunState.IN_PROGRESS:
            return
        from .preflight import PreflightScreen

        self.app.switch_screen(PreflightScreen(resuming=True))

    @on(Button.Pressed, "#rollback")
    def action_rollback(self) -> None:
        if not self._commit_fields() or self.run_state is not RunState.IN_PROGRESS:
            return
        from .rollback import RollbackScreen

        self.app.switch_screen(RollbackScreen(reason="interrupted"))
