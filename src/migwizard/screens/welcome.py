"""Step 1: what will happen, what will not, source and target, interrupted runs."""

from __future__ import annotations

from pathlib import Path

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
        return "bbolt", "✓ bbolt channel.db: it will be imported into an LMDB copy first (read-only)."
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


class WelcomeScreen(WizardScreen):
    STEP = "Welcome"
    BINDINGS = [
        Binding("ctrl+n", "start", "Start preflight", id="start"),
        Binding("ctrl+r", "resume", "Resume run", id="resume"),
        Binding("ctrl+b", "rollback", "Roll back run", id="rollback"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_state: RunState | None = None
        self.source_kind: str | None = None
        self.target_ok = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with VerticalScroll(id="welcome"):
            yield Static(INTRO, id="intro")
            yield Static(WILL, id="will", classes="panel")
            yield Static(NEVER, id="never", classes="panel never")
            with Grid(id="fields"):
                yield Label("Source", classes="field-label")
                yield Input(self.wizard.kv_path or "", placeholder="LMDB dir or channel.db", id="source",
                            compact=True)
                yield Static("", id="source-msg", classes="field-msg")
                yield Label("Target", classes="field-label")
                yield Input(self.wizard.sql_url or "", placeholder="sqlite:///lnd.sqlite", id="target",
                            compact=True)
                yield Static("", id="target-msg", classes="field-msg")
            yield Static("", id="run-state")
            with Horizontal(id="welcome-buttons", classes="buttons"):
                yield Button("Start preflight", id="start", variant="primary", compact=True)
                yield Button("Resume", id="resume", variant="primary", compact=True)
                yield Button("Roll back", id="rollback", variant="warning", compact=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self._validate_fields()
        self._show_state()
        if self.source_kind == "lmdb" and self.target_ok:
            self.start_step("probe", lambda engine: engine.state())
            self.query_one("#start", Button).focus()
        elif not self.query_one("#source", Input).value:
            self.query_one("#source", Input).focus()
        else:
            self.query_one("#target", Input).focus()

    # -- fields ----------------------------------------------------------
    def _validate_fields(self) -> None:
        source = self.query_one("#source", Input).value.strip()
        target = self.query_one("#target", Input).value.strip()
        self.source_kind, smsg = detect_source(source)
        self.target_ok, tmsg = check_target(target)
        self.query_one("#source-msg", Static).update(smsg)
        self.query_one("#target-msg", Static).update(tmsg)
        self.query_one("#source-msg").set_class(source != "" and self.source_kind is None, "error")
        self.query_one("#target-msg").set_class(target != "" and not self.target_ok, "error")

    @on(Input.Changed)
    def _fields_changed(self, event: Input.Changed) -> None:
        self._validate_fields()
        source = self.query_one("#source", Input).value.strip()
        target = self.query_one("#target", Input).value.strip()
        if (source, target) != (self.wizard.kv_path, self.wizard.sql_url):
            self.run_state = None
            self._show_state()

    @on(Input.Submitted, "#source")
    def _source_submitted(self) -> None:
        self.query_one("#target", Input).focus()

    @on(Input.Submitted, "#target")
    def _target_submitted(self) -> None:
        self.action_start()

    def _commit_fields(self) -> bool:
        self._validate_fields()
        if self.source_kind is None or not self.target_ok:
            self.notify("Fix the source and target first.", severity="warning")
            return False
        self.wizard.kv_path = self.query_one("#source", Input).value.strip()
        self.wizard.sql_url = self.query_one("#target", Input).value.strip()
        return True

    # -- run state -------------------------------------------------------
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
        label.update(texts.get(state, "") if state else "")
        label.display = bool(state and state is not RunState.FRESH)
        label.set_class(state is RunState.TOMBSTONE_WITHOUT_SQL, "error")
        self.query_one("#resume").display = interrupted
        self.query_one("#rollback").display = interrupted
        start = self.query_one("#start", Button)
        start.display = not interrupted
        start.disabled = state is RunState.TOMBSTONE_WITHOUT_SQL
        start.label = {
            RunState.COMMITTED_NO_TOMBSTONE: "Finish the commit",
            RunState.COMPLETE: "Re-verify",
        }.get(state, "Import and start preflight" if self.source_kind == "bbolt" else "Start preflight")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        interrupted = self.run_state is RunState.IN_PROGRESS
        if action in {"resume", "rollback"}:
            return interrupted
        if action == "start":
            return not interrupted and self.run_state is not RunState.TOMBSTONE_WITHOUT_SQL
        return True

    @on(StepDone)
    def _step_done(self, message: StepDone) -> None:
        message.stop()
        if message.step == "probe":
            self.run_state = message.result
            self._show_state()
            if self.run_state is RunState.IN_PROGRESS:
                self.query_one("#resume", Button).focus()

    @on(StepFailed)
    def _step_failed(self, message: StepFailed) -> None:
        message.stop()
        self.wizard.close_engine()
        hint = f" {message.hint}" if message.hint else ""
        label = self.query_one("#run-state", Static)
        label.update(f"✗ Cannot open the session: {message.error}.{hint}")
        label.display = True
        label.add_class("error")

    # -- actions ---------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if not self._commit_fields():
            return
        from .preflight import PreflightScreen

        if self.source_kind == "bbolt":
            from .importer import ImportScreen

            self.app.switch_screen(ImportScreen())
        elif self.run_state is RunState.COMMITTED_NO_TOMBSTONE:
            from .commit import CommitScreen

            self.app.switch_screen(CommitScreen())
        elif self.run_state is RunState.COMPLETE:
            from .report import ReportScreen

            self.app.switch_screen(ReportScreen(verify=True))
        else:
            self.app.switch_screen(PreflightScreen())

    @on(Button.Pressed, "#resume")
    def action_resume(self) -> None:
        if not self._commit_fields():
            return
        from .preflight import PreflightScreen

        self.app.switch_screen(PreflightScreen(resuming=True))

    @on(Button.Pressed, "#rollback")
    def action_rollback(self) -> None:
        if not self._commit_fields():
            return
        from .rollback import RollbackScreen

        self.app.switch_screen(RollbackScreen(reason="interrupted"))
