"""The wizard application.

``MigWizardApp`` owns the engine session (created by ``engine_factory`` on a
worker thread), routes engine events to the screen that started the step, keeps
the session log file, and guards quitting while a migration runs. Screens only
call engine methods from ``@work(thread=True)`` workers; no migration logic here.
"""

from __future__ import annotations

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

CSS_FILE = Path(__file__).resolve().parent.parent / "migwizard.tcss"


def _default_engine_factory(*args: Any, **kwargs: Any):
    from migwizard.core.engine.api import Engine

    return Engine(*args, **kwargs)


class MigWizardApp(App[int]):
    """``migwizard [--kv DIR | CHANNEL_DB] [--sql URL]`` and ``migwizard report FILE``."""

    CSS_PATH = str(CSS_FILE)
    TITLE = "migwizard"
    SUB_TITLE = "LND payments: KV → SQL"
    COMMANDS = App.COMMANDS | {WizardCommands}
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
        self.results_dir = Path(results_dir) if results_dir else Path("migwizard-results")
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

    # -- artefacts -------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.results_dir / "migwizard.log"

    def write_log(self, level: str, message: str) -> None:
        try:
            self.results_dir.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.wall_clock()))
            with self.log_path.open("a", encoding="utf-8") as fh:
                fh.write(f"{stamp} {level.upper():7} {message}\n")
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
            self.write_log("info", f"session: source={self.kv_path} target={self.sql_url}")
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

            from .report_file import ReportFileError, load_report

            try:
                report, details = load_report(self.report_path)
            except ReportFileError as exc:
                from migwizard.screens.error import ErrorScreen

                self.push_screen(ErrorScreen(title="Cannot open the report", message=str(exc),
                                             hint="Pass a JSON report written by migwizard."))
                return
            self.push_screen(ReportScreen(report=report, details=details, viewer=True))
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
        self.exit(0, return_code=0)


def run_wizard(kv: str | Path | None = None, sql: str | None = None, **kwargs: Any) -> int:
    """Run the wizard; returns the process exit code (ExitCode values)."""
    app = MigWizardApp(kv, sql, **kwargs)
    app.run()
    return int(app.return_code or 0)


def run_report_viewer(path: str | Path, **kwargs: Any) -> int:
    """Open a saved JSON report in the report and drill-down screens."""
    app = MigWizardApp(report=path, **kwargs)
    app.run()
    return int(app.return_code or 0)


__all__ = ["MigWizardApp", "run_wizard", "run_report_viewer", "ExitCode"]
