"""The wizard application.

``MigWizardApp`` owns the engine session (created by ``engine_factory`` on a
worker thread), routes engine events to the screen that started the step, keeps
the session log file, and guards quitting while a migration runs. Screens only
call engine methods from ``@work(thread=True)`` workers; no migration logic here.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from textual.app import App
from textual.binding import Binding
from textual.message_pump import MessagePump

from migwizard.core.logsink import LOGGER_NAME
from migwizard.exits import ExitCode

from .commands import WizardCommands
from .flow import Step, make_screen, screen_class
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
        report_path: str | Path | None = None,
        log_path: str | Path | None = None,
        kv_table: str | None = None,
        lnddir: str | None = None,
        network: str | None = None,
    ) -> None:
        super().__init__()
        self.theme = "textual-dark"
        kv_text = str(kv_path) if kv_path else None
        # A non-LMDB source (bbolt, channel.sqlite, postgresql:// KV) as given: it may hold a
        # password, so it is never shown; ``kv_path`` becomes its LMDB copy once prepared.
        self.source_secret: str | None = None
        if kv_text is not None and not _is_lmdb(kv_text):
            self.source_secret, kv_text = kv_text, None
        self.kv_path: str | None = kv_text
        self.kv_table = kv_table
        # What the welcome screen shows for a source / target it filled in (``--lnddir``): the
        # field still stands for the real value while it shows exactly this.
        self.source_shown: str | None = None
        self.target_shown: str | None = None
        self.lnddir = lnddir
        self.network = network
        # (source, kv table) -> (LMDB copy, reused): what this session prepared (``storefacts.prepare``).
        self.prepared: dict[tuple[str, str | None], tuple[str, bool]] = {}
        self.sql_url: str | None = sql_url
        self.engine_factory = engine_factory
        self.clock = clock
        self.wall_clock = wall_clock
        self.chunk_size = chunk_size
        # ``report``: a saved report to open in the viewer; ``report_path``: where this session's
        # validation report goes (None: a timestamped file in results_dir).
        self.view_report = Path(report) if report else None
        self.report_path = Path(report_path) if report_path else None
        # Never the current directory, never lnd's data dir: the state directory (core.statedir).
        self._results_dir = Path(results_dir) if results_dir else None
        self._log_path = Path(log_path) if log_path else None
        self.import_dir = Path(import_dir) if import_dir else None
        self.engine: Any = None
        # The user's consents, given on screen (Backfill on preflight, Quarantine on the error screen).
        self.backfill = False
        self.quarantine = False
        self._engine_key: tuple[str, str] | None = None
        self._engine_lock = threading.Lock()
        self.event_target: MessagePump | None = None
        self.cancel_event: threading.Event | None = None
        self.quit_requested = False
        self.exit_hint = ""
        # Results of this session, valid for the (kv, sql) pair in ``results_key`` only: they are
        # cleared whenever the engine session switches to another source or target.
        self.last_migration: Any = None  # MigrationResult
        self.last_report: Any = None  # ValidationReport
        self.saved_report: Path | None = None
        self.last_preflight: Any = None  # PreflightReport
        self.results_key: tuple[str, str] | None = None
        self.commit_result: Any = None  # CommitResult of a successful commit (summary printed on exit)
        # The bbolt channel.db the current LMDB source was imported from (None for an LMDB source).
        self.imported_from: str | None = None
        # Targets touched in this session that hold an uncommitted run (resume or roll back later): exit 4.
        self.pending: dict[tuple[str, str], bool] = {}
        # What happened last per (kv, sql): "mismatch" (1), "refused" (2), "failed" (3, or 4 while kept).
        self.outcomes: dict[tuple[str, str], str] = {}
        self._log_handler: Any = None

    # -- secrets ---------------------------------------------------------
    @property
    def source_display(self) -> str:
        """The source as the welcome screen shows it (never a password)."""
        from .sources import redact

        return redact(self.source_secret) if self.source_secret else ""

    @property
    def sql_url_display(self) -> str:
        """The target URL as shown on screen and written to files: never with a password."""
        return redact_url(self.sql_url)

    def scrub(self, text: str) -> str:
        """Remove the target's password from ``text`` (driver messages, exceptions)."""
        from .sources import redact

        if self.source_secret and "://" in self.source_secret:
            text = text.replace(self.source_secret, redact(self.source_secret))
        if not self.sql_url:
            return text
        from migwizard.core.sql.connect import scrub_text

        return scrub_text(text, self.sql_url)

    # -- session state per target ----------------------------------------
    @property
    def key(self) -> tuple[str, str] | None:
        """The (kv, sql) pair the wizard works on now."""
        if not self.kv_path or not self.sql_url:
            return None
        return (self.kv_path, self.sql_url)

    def forget_results(self) -> None:
        self.last_migration = self.last_preflight = self.last_report = None
        self.saved_report = None
        self.results_key = None

    def _adopt_key(self, key: tuple[str, str]) -> None:
        if self.results_key != key:
            self.forget_results()
            self.results_key = key

    def preflight_for_target(self) -> Any:
        """The last PreflightReport if it was taken of the current source and target, else None."""
        return self.last_preflight if self.results_key is not None and self.results_key == self.key else None

    def migration_for_target(self) -> Any:
        return self.last_migration if self.results_key is not None and self.results_key == self.key else None

    @property
    def run_pending(self) -> bool:
        """An uncommitted run exists in the current target."""
        key = self.key
        return bool(key and self.pending.get(key))

    @run_pending.setter
    def run_pending(self, value: bool) -> None:
        key = self.key
        if key is not None:
            self.pending[key] = bool(value)

    def set_outcome(self, outcome: str | None) -> None:
        key = self.key
        if key is None:
            return
        if outcome is None:
            self.outcomes.pop(key, None)
        else:
            self.outcomes[key] = outcome

    @property
    def outcome(self) -> str | None:
        key = self.key
        return self.outcomes.get(key) if key else None

    def pending_targets(self) -> list[str]:
        return [redact_url(sql) for (kv, sql), yes in self.pending.items() if yes]

    def adapt_hint(self, text: str) -> str:
        """An engine hint in the wizard's words (keys, not CLI flags; no server advice for SQLite)."""
        from .widgets import wizard_wording

        return wizard_wording(text, sqlite=(self.sql_url or "").startswith("sqlite:"))

    # -- artefacts -------------------------------------------------------
    @property
    def results_dir(self) -> Path:
        """Where reports go: the one given, else ``<state>/reports`` (created 0700 on first use)."""
        if self._results_dir is None:
            from migwizard.core.report import reports_dir

            self._results_dir = reports_dir()
        return self._results_dir

    @property
    def log_path(self) -> Path:
        if self._log_path is None:
            from migwizard.core.statedir import state_dir

            self._log_path = state_dir() / "migwizard.log"
        return self._log_path

    def show_path(self, path: str | Path) -> str:
        """A file path as the screens show it: absolute, so whoever helps the user can find it."""
        return str(Path(path).resolve())

    def default_report_path(self, run_id: str = "", *, verify: bool = False) -> Path:
        """Where a validation report goes: ``report_path``, else one file per run
        (``run-<id>.json``; re-validating the run replaces it), a re-verification beside it."""
        if self.report_path is not None and not verify:
            return self.report_path
        name = f"run-{run_id or 'unknown'}"
        if verify:
            name += "-verify-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.wall_clock()))
        return self.results_dir / f"{name}.json"

    def write_log(self, level: str, message: str) -> None:
        """One line to the session log, through the one scrubbing handler (``core.logsink``)."""
        logging.getLogger(LOGGER_NAME).log(getattr(logging, level.upper(), logging.INFO), self.scrub(message))

    def _open_log(self) -> None:
        from migwizard.core.logsink import install_log_file

        try:
            self._log_handler = install_log_file(self.log_path, scrub=self.scrub)
        except OSError as exc:
            self._log_handler = None
            self.notify(f"The log file cannot be written: {exc}", severity="warning", timeout=10)

    def _close_log(self) -> None:
        from migwizard.core.logsink import remove_log_file

        if self._log_handler is not None:
            remove_log_file(self._log_handler)
            self._log_handler = None

    # -- engine session (call from worker threads) ------------------------
    def _sink(self, event: object) -> None:
        # The engine writes its LogRecords to the ``migwizard`` logger itself: not logged again here.
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
                self._apply_consents()
                return self.engine
            self._close_engine_locked()
            self._adopt_key(key)  # results of another source or target no longer apply
            kwargs: dict[str, Any] = {"on_event": self._sink, "clock": self.clock, "wall_clock": self.wall_clock}
            if self.chunk_size:
                kwargs["chunk_size"] = self.chunk_size
            source = self.kv_path + (f" (imported from {self.imported_from})" if self.imported_from else "")
            self.write_log("info", f"session: source={source} target={self.sql_url_display}")
            self.engine = self.engine_factory(self.kv_path, self.sql_url, **kwargs)
            self._engine_key = key
            self._apply_consents()
            return self.engine

    def set_consent(self, *, backfill: bool | None = None, quarantine: bool | None = None) -> None:
        """Record a choice the user made on screen; the engine uses it from its next step."""
        if backfill is not None:
            self.backfill = backfill
        if quarantine is not None:
            self.quarantine = quarantine
        self.write_log("info", f"consents: backfill={self.backfill} quarantine={self.quarantine}")
        with self._engine_lock:
            self._apply_consents()

    def _apply_consents(self) -> None:
        setter = getattr(self.engine, "set_consents", None)
        if setter is not None:
            setter(backfill=self.backfill, quarantine=self.quarantine)

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

    # -- navigation (screens never import each other) ---------------------
    def show_step(self, step: Step, *args: Any, **kwargs: Any) -> None:
        """Replace the current screen with ``step``'s (see ``tui/flow.py``)."""
        self.switch_screen(make_screen(step, *args, **kwargs))

    def push_step(self, step: Step, *args: Any, callback: Callable[[Any], None] | None = None,
                  **kwargs: Any) -> None:
        """Open ``step``'s screen over the current one (Back pops it); ``callback`` gets its result."""
        self.push_screen(make_screen(step, *args, **kwargs), callback)

    # -- lifecycle -------------------------------------------------------
    def on_mount(self) -> None:
        if self.view_report is not None:
            from migwizard.core.report import ReportFileError, load_report_with_meta

            try:
                report, details, meta = load_report_with_meta(self.view_report)
            except ReportFileError as exc:
                self.push_step(Step.ERROR, title="Cannot open the report", message=str(exc),
                               hint="Pass a JSON report written by migwizard.", exit_code=int(ExitCode.USAGE))
                return
            self.push_step(Step.REPORT, report=report, details=details, viewer=True, meta=meta)
            return
        self._open_log()
        self.push_step(Step.WELCOME)

    def on_unmount(self) -> None:
        self.close_engine()
        self._close_log()

    @property
    def migration_running(self) -> bool:
        return any(w.group == "migrate" and w.is_running for w in self.workers)

    @property
    def validation_running(self) -> bool:
        return any(w.group == "validate" and w.is_running for w in self.workers)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        if self.migration_running or self.validation_running:
            # Quitting under a running step would leave its thread holding the terminal blank
            # until it ends: ask, then stop it at its next boundary and exit when it returns.
            validating = not self.migration_running

            def answer(stop: bool | None) -> None:
                if stop and not (self.migration_running or self.validation_running):
                    self.finish()  # it ended while the question was open: nothing left to stop
                    return
                if stop:
                    self.quit_requested = True
                    if self.cancel_event is not None:
                        self.cancel_event.set()
                    self.notify("Stopping after the batch being compared…" if validating
                                else "Stopping at the next chunk boundary…", title="Quitting")

            if not isinstance(self.screen, screen_class(Step.QUIT_DURING_MIGRATION)):
                self.push_step(Step.QUIT_DURING_MIGRATION, "validation" if validating else "migration",
                               callback=answer)
            return
        code = getattr(self.screen, "quit_code", self.quit_code)()
        self.finish(code)

    def finish(self, code: int | None = None) -> None:
        """Exit with ``code`` (default: what :meth:`exit_status` says) and remember the matching hint."""
        status, hint = self.exit_status()
        if code is None:
            code = status
        self.exit_hint = hint if code == status else ""
        self.exit(code, return_code=code)

    def quit_code(self) -> int:
        """The exit code for quitting now (see :meth:`exit_status`)."""
        return self.exit_status()[0]

    def exit_status(self) -> tuple[int, str]:
        """(exit code, hint for the terminal) for quitting now (see :func:`.leaving.exit_status`)."""
        from .leaving import exit_status

        return exit_status(self)

    def commit_summary(self) -> str:
        """What a successful commit leaves behind, for the terminal after the wizard exits."""
        from .leaving import commit_summary

        return commit_summary(self)

    def run_report(self, run_id: str | None) -> Path | None:
        """This session's report, else the run's report from an earlier session (one per run)."""
        if self.saved_report is not None:
            return Path(self.saved_report).resolve()
        if not run_id:
            return None
        candidate = self.results_dir / f"run-{run_id}.json"
        return candidate.resolve() if candidate.is_file() else None


RESUME_HINT = ("migwizard: a migration run is not finished and nothing is final yet; "
               "run migwizard again to resume, or migwizard rollback to remove it.")


def redact_url(url: str | None) -> str:
    """``url`` for display and files: the password (and secret parameters) as ``***``."""
    from migwizard.core.sql.connect import redact_url as _redact

    return _redact(url)


def _is_lmdb(text: str) -> bool:
    """An LMDB store (used as is) rather than a source to import; unknown paths count as LMDB
    so the welcome screen names the problem."""
    if "://" in text:
        return False
    from migwizard.core.engine.storefacts import classify_source

    path = Path(text).expanduser()
    return not path.exists() or classify_source(str(path))[0] in (None, "lmdb")


def run_wizard(kv: str | Path | None = None, sql: str | None = None, **kwargs: Any) -> int:
    """Run the wizard; returns the process exit code (ExitCode values)."""
    app = MigWizardApp(kv, sql, **kwargs)
    app.run()
    code = int(app.return_code or 0)
    summary = app.commit_summary()
    if summary:
        print(summary)
    hint = getattr(app, "exit_hint", "") or (RESUME_HINT if code == ExitCode.INTERRUPTED_RESUMABLE else "")
    if code and hint:
        import textwrap

        print(textwrap.fill(hint, 79), file=sys.stderr)  # an 80-column terminal must not cut words
    return code


def run_report_viewer(path: str | Path, **kwargs: Any) -> int:
    """Open a saved JSON report in the report and drill-down screens (64 if it is not one)."""
    from migwizard.core.report import ReportFileError, load_report

    try:
        load_report(path)
    except ReportFileError as exc:
        print(f"migwizard report: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    app = MigWizardApp(report=path, **kwargs)
    app.run()
    return int(app.return_code or 0)


__all__ = ["MigWizardApp", "run_wizard", "run_report_viewer", "redact_url", "ExitCode"]
