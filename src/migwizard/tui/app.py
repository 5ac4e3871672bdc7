"""The wizard application.

``MigWizardApp`` owns the engine session (created by ``engine_factory`` on a
worker thread), routes engine events to the screen that started the step, keeps
the session log file, and guards quitting while a migration runs. Screens only
call engine methods from ``@work(thread=True)`` workers; no migration logic here.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from textual.app import App
from textual.binding import Binding
from textual.message_pump import MessagePump

from migwizard.core.engine.events import LogRecord
from migwizard.core.engine.results import ExitCode

from .commands import WizardCommands
from .help import HelpScreen
from .messages import wrap_event

DEFAULT_RESULTS_DIR = "migwizard-results"
CSS_FILE = Path(__file__).resolve().parent.parent / "migwizard.tcss"


def _default_engine_factory(*args: Any, **kwargs: Any):
    from migwizard.core.engine.api import Engine

    return Engine(*args, **kwargs)


class MigWizardApp(App[int]):
    """``migwizard [--kv DIR | CHANNEL_DB] [--sql URL]`` and ``migwizard report FILE``."""

    CSS_PATH = str(CSS_FILE)
    TITLE = "migwizard"
    SUB_TITLE = "LND payments: KV → SQL"
    # Only the wizard's own actions in the palette (no theme/screenshot/system commands).
    COMMANDS = {WizardCommands}
    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(
        self,
        kv_path: str | Path | None = None,
        sql_url: str | None = None,
        *,
        engine_factory: Callable[..., Any] = _default_engine_factory,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        chunk_size: int | None = None,
        report: str | Path | None = None,
        results_dir: str | Path | None = None,
        import_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.theme = "textual-dark"
        self.kv_path: str | None = str(kv_path) if kv_path else None
        self.sql_url: str | None = sql_url
        self.engine_factory = engine_factory
        self.clock = clock
        self.wall_clock = wall_clock
        self.chunk_size = chunk_size
        self.report_path = Path(report) if report else None
        self.results_dir = Path(results_dir) if results_dir else Path(DEFAULT_RESULTS_DIR)
        self.import_dir = Path(import_dir) if import_dir else None
        self.engine: Any = None
        self._engine_key: tuple[str, str] | None = None
        self._engine_lock = threading.Lock()
        self.event_target: MessagePump | None = None
        self.cancel_event: threading.Event | None = None
        self.quit_requested = False
        self.last_migration: Any = None  # MigrationResult of this session
        self.last_report: Any = None  # ValidationReport of this session
        self.saved_report: Path | None = None
        self.last_preflight: Any = None  # PreflightReport of this session
        # The bbolt channel.db the current LMDB source was imported from (None for an LMDB source).
        self.imported_from: str | None = None
        # True while an uncommitted run exists in the target (resume or roll back later): exit code 4.
        self.run_pending = False

    # -- secrets ---------------------------------------------------------
    @property
    def sql_url_display(self) -> str:
        """The target URL as shown on screen and written to files: never with a password."""
        return redact_url(self.sql_url)

    def scrub(self, text: str) -> str:
        """Remove the target's password from ``text`` (driver messages, exceptions)."""
        if not self.sql_url:
            return text
        try:
            from migwizard.core.sql.connect import TargetURL

            url = TargetURL.parse(self.sql_url)
            text = text.replace(self.sql_url, url.redacted())
            return url.scrub(text)
        except Exception:
            return text.replace(self.sql_url, self.sql_url_display)

    # -- artefacts -------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.results_dir / "migwizard.log"

    def write_log(self, level: str, message: str) -> None:
        """Append one line to the session log (mode 0600 in a 0700 results directory)."""
        try:
            ensure_private_dir(self.results_dir)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.wall_clock()))
            line = f"{stamp} {level.upper():7} {self.scrub(message)}\n"
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError:
            pass

    # -- engine session (call from worker threads) ------------------------
    def _sink(self, event: object) -> None:
        if isinstance(event, LogRecord):
            self.write_log(event.level, event.message)
        message = wrap_event(event)
        if message is not None:
            target = self.event_target or self
            target.post_message(message)

    def ensure_engine(self) -> Any:
        """Open (or reuse) the engine for the current source and target. Blocking."""
        if not self.kv_path or not self.sql_url:
            raise ValueError("source and target must be set first")
        key = (self.kv_path, self.sql_url)
        with self._engine_lock:
            if self.engine is not None and self._engine_key == key:
                return self.engine
            self._close_engine_locked()
            kwargs: dict[str, Any] = {"on_event": self._sink, "clock": self.clock, "wall_clock": self.wall_clock}
            if self.chunk_size:
                kwargs["chunk_size"] = self.chunk_size
            source = self.kv_path + (f" (imported from {self.imported_from})" if self.imported_from else "")
            self.write_log("info", f"session: source={source} target={self.sql_url_display}")
            self.engine = self.engine_factory(self.kv_path, self.sql_url, **kwargs)
            self._engine_key = key
            return self.engine

    def _close_engine_locked(self) -> None:
        if self.engine is not None:
            try:
                self.engine.close()
            except Exception:
                pass
        self.engine = None
        self._engine_key = None

    def close_engine(self) -> None:
        with self._engine_lock:
            self._close_engine_locked()

    # -- lifecycle -------------------------------------------------------
    def on_mount(self) -> None:
        if self.report_path is not None:
            from migwizard.screens.report import ReportScreen

            from .report_file import ReportFileError, load_report_with_meta

            try:
                report, details, meta = load_report_with_meta(self.report_path)
            except ReportFileError as exc:
                from migwizard.screens.error import ErrorScreen

                self.push_screen(ErrorScreen(title="Cannot open the report", message=str(exc),
                                             hint="Pass a JSON report written by migwizard.",
                                             exit_code=int(ExitCode.USAGE)))
                return
            self.push_screen(ReportScreen(report=report, details=details, viewer=True, meta=meta))
            return
        from migwizard.screens.welcome import WelcomeScreen

        self.push_screen(WelcomeScreen())

    def on_unmount(self) -> None:
        self.close_engine()

    @property
    def migration_running(self) -> bool:
        return any(w.group == "migrate" and w.is_running for w in self.workers)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        if self.migration_running:
            from migwizard.screens.confirm import QuitDuringMigration

            def answer(stop: bool | None) -> None:
                if stop:
                    self.quit_requested = True
                    if self.cancel_event is not None:
                        self.cancel_event.set()
                    self.notify("Stopping at the next chunk boundary…", title="Quitting")

            if not isinstance(self.screen, QuitDuringMigration):
                self.push_screen(QuitDuringMigration(), answer)
            return
        code = getattr(self.screen, "quit_code", self.quit_code)()
        self.exit(code, return_code=code)

    def quit_code(self) -> int:
        """The exit code for quitting now: 4 while an uncommitted run waits to be resumed or rolled back."""
        if self.run_pending:
            return int(ExitCode.INTERRUPTED_RESUMABLE)
        return int(ExitCode.OK)


RESUME_HINT = ("migwizard: the migration run is not finished and nothing was committed; "
               "run migwizard again to resume, or migwizard rollback to remove it.")


def redact_url(url: str | None) -> str:
    """``url`` for display and files: the password (and secret parameters) as ``***``."""
    if not url:
        return ""
    try:
        from migwizard.core.sql.connect import TargetURL

        return TargetURL.parse(url).redacted()
    except Exception:
        import re

        return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700 (despite the umask); our default results directory is
    tightened to 0700 too. A directory the user named (``--report DIR/FILE``) keeps its mode."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    elif path.name == DEFAULT_RESULTS_DIR and path.is_dir() and (path.stat().st_mode & 0o077):
        try:
            os.chmod(path, 0o700)
        except OSError:
            pass


def run_wizard(kv: str | Path | None = None, sql: str | None = None, **kwargs: Any) -> int:
    """Run the wizard; returns the process exit code (ExitCode values)."""
    app = MigWizardApp(kv, sql, **kwargs)
    app.run()
    code = int(app.return_code or 0)
    if code == ExitCode.INTERRUPTED_RESUMABLE:
        print(RESUME_HINT, file=sys.stderr)
    return code


def run_report_viewer(path: str | Path, **kwargs: Any) -> int:
    """Open a saved JSON report in the report and drill-down screens (64 if it is not one)."""
    from .report_file import ReportFileError, load_report

    try:
        load_report(path)
    except ReportFileError as exc:
        print(f"migwizard report: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    app = MigWizardApp(report=path, **kwargs)
    app.run()
    return int(app.return_code or 0)


__all__ = ["MigWizardApp", "run_wizard", "run_report_viewer", "redact_url", "ensure_private_dir", "ExitCode"]
