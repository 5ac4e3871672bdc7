"""The headless consumer of the engine: `migwizard --yes`, `migrate`, `verify`, `rollback`.

Never imports Textual (a script on a small node must not pay for the TUI).
stdout carries only the summary (or JSON with ``--json``); progress and
diagnostics go to stderr and the log file. Exit codes: ``exits.exit_code_for``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, TextIO

from .core.engine import (
    Engine,
    EngineError,
    LogRecord,
    PhaseFinished,
    PhaseStarted,
    Progress,
)
from .core.engine.results import CheckStatus, PreflightReport, RunState, ValidationReport
from .core.files import UnsafePathError
from .core.report import next_steps, render_summary, run_report_path, validation_line, write_report
from .exits import ExitCode, Outcome, exit_code_for


EMPTY_CHECK = "kv.empty"  # preflight's warning for a store with 0 payments


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return "--:--"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class StderrProgress:
    """A bar redrawn in place on a TTY (never wider than the terminal), otherwise a
    plain line every few seconds (like LND's log). Each phase's final (100%) line is
    printed once, whatever the engine emits after it."""

    def __init__(self, stream: TextIO | None = None, *, interval_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, width: int | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.interval = 0.2 if self.tty else interval_s
        self.clock = clock
        self.width = width
        self.last = -1e9
        self._bar_open = False
        self._final_done: set[str] = set()
        self._said: list[str] = []  # warning/error/phase texts already printed (printed once)

    def _columns(self) -> int:
        if self.width:
            return self.width
        import shutil

        return shutil.get_terminal_size((80, 24)).columns

    @staticmethod
    def line(ev: Progress) -> str:
        """The log-style line: validation says what it checks, not rows it never writes."""
        pct = 100.0 * ev.fraction
        tail = f"elapsed {_fmt_eta(ev.elapsed_s)} | ETA ~{_fmt_eta(ev.eta_s)}"
        if ev.checking:
            return (f"{ev.phase.value}: {ev.done:,}/{ev.total:,} payments checked (~{pct:.1f}%), "
                    f"{ev.differences:,} differences so far | {ev.payments_per_s:,.1f} pmt/s | {tail}")
        return (f"{ev.phase.value}: {ev.done:,}/{ev.total:,} payments (~{pct:.1f}%), {ev.attempts:,} attempts, "
                f"{ev.hops:,} hops | {ev.payments_per_s:,.1f} pmt/s, {ev.attempts_per_s:,.1f} att/s | "
                f"chunk {ev.chunk:,} | {tail}")

    @staticmethod
    def short(ev: Progress) -> str:
        """The TTY bar's text: the figures that matter, short enough for 80 columns."""
        pct = 100.0 * ev.fraction
        if ev.checking:
            what = f"{ev.done:,}/{ev.total:,}, {ev.differences:,} diff"
        else:
            what = f"{ev.done:,}/{ev.total:,} chunk {ev.chunk:,}"
        return (f"{pct:5.1f}% {ev.phase.value} {what} {ev.payments_per_s:,.0f}/s "
                f"ETA {_fmt_eta(ev.eta_s)}")

    def __call__(self, ev) -> None:
        if isinstance(ev, Progress):
            now = self.clock()
            final = ev.done >= ev.total
            if final:
                if ev.phase.value in self._final_done:
                    return  # the 100% line once
                self._final_done.add(ev.phase.value)
            elif now - self.last < self.interval:
                return
            self.last = now
            if self.tty:
                cols = max(20, self._columns() - 1)  # the last column would wrap on some terminals
                width = min(20, max(8, cols // 6))
                filled = int(width * ev.fraction)
                text = f"[{'#' * filled}{'.' * (width - filled)}] {self.short(ev)}"
                self.stream.write(f"\r{text[:cols]}\x1b[K")
                self._bar_open = True
            else:
                self.stream.write(self.line(ev) + "\n")
            self.stream.flush()
        elif isinstance(ev, LogRecord):
            if ev.level in ("warning", "error"):
                self._end_bar()
                self._said.append(ev.message)
                self.stream.write(self._fit(f"{ev.level}: {ev.message}"))
                self.stream.flush()
        elif isinstance(ev, PhaseStarted):
            self.last = -1e9
            self._final_done.discard(ev.phase.value)
        elif isinstance(ev, PhaseFinished):
            self._end_bar()
            self._said.append(ev.summary)
            self.stream.write(f"{ev.phase.value}: {ev.summary}\n")
            self.stream.flush()

    def once(self, prefix: str, text: str) -> None:
        """Print ``prefix: text`` unless the engine's own line already said ``text``."""
        if any(text and text in said for said in self._said):
            return
        self._end_bar()
        self._said.append(text)
        self.stream.write(self._fit(f"{prefix}: {text}"))
        self.stream.flush()

    def _fit(self, line: str) -> str:
        """A line as printed: on a terminal wrapped at word boundaries to its width (the
        terminal itself would cut words), elsewhere as is (logs, pipes)."""
        if not self.tty:
            return line + "\n"
        import textwrap

        return "\n".join(textwrap.wrap(line, max(20, self._columns() - 1), subsequent_indent="  ")) + "\n"

    def _end_bar(self) -> None:
        if self._bar_open:
            self.stream.write("\n")
            self._bar_open = False


def print_preflight(report: PreflightReport, out: TextIO) -> None:
    marks = {CheckStatus.PASS: "ok  ", CheckStatus.WARN: "WARN", CheckStatus.FAIL: "FAIL", CheckStatus.INFO: "info"}
    for c in report.checks:
        out.write(f"[{marks[c.status]}] {c.title}: {c.reason}\n")
        if c.hint and c.status in (CheckStatus.WARN, CheckStatus.FAIL):
            out.write(f"       fix: {c.hint}\n")
    out.write(f"state: {report.state.value}; preflight {'passed' if report.ok else 'refused'}\n")


def run_pipeline(kv: Path, sql: str, *, chunk_size: int, report_path: Path | None, as_json: bool,
                 confirm: Callable[[ValidationReport], bool] | None, keep_on_failure: bool = False,
                 allow_empty: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
                 kv_source: str | None = None, allow_foreign_source: bool = False, backfill: bool = False,
                 quarantine: bool = False) -> int:
    """preflight -> migrate -> validate -> commit -> tombstone; returns the exit code.

    Without ``report_path`` the report goes to ``<state>/reports/run-<id>.json``
    (one per run: re-validating the same run replaces it).
    """
    progress = StderrProgress(err)
    cancel = threading.Event()
    try:
        engine = Engine(kv, sql, chunk_size=chunk_size, on_event=progress, kv_source=kv_source,
                        allow_foreign_source=allow_foreign_source, backfill=backfill, quarantine=quarantine)
    except EngineError as e:  # e.g. a --sql that is no URL: the usage error, not a traceback
        return _fail(e, err, out, as_json)
    restore = _install_sigint(cancel, err)
    try:
        with engine:
            try:
                before = engine.state()
                if engine.reconcile() is RunState.COMPLETE:
                    return _already_complete(before, out, err, as_json)
            except EngineError as e:
                return _fail(e, err, out, as_json)
            pre = engine.preflight()
            if not pre.ok:
                if as_json:
                    json.dump({"outcome": "preflight_refused", "preflight": pre.to_json()}, out, indent=2)
                    out.write("\n")
                else:
                    print_preflight(pre, err)
                return int(exit_code_for(Outcome.REFUSED))
            for w in pre.warnings:
                progress.once("warning", f"{w.title}: {w.reason}")
            empty = next((w for w in pre.warnings if w.id == EMPTY_CHECK), None)
            if empty is not None and not allow_empty:
                msg = ("refusing to migrate an empty store without --allow-empty: migrating it would only "
                       "tombstone it")
                hint = "check the path and network; pass --allow-empty if this store really has no payments"
                if as_json:
                    json.dump({"outcome": "preflight_refused", "error": msg, "hint": hint,
                               "preflight": pre.to_json()}, out, indent=2)
                    out.write("\n")
                err.write(f"error: {msg}\nhint: {hint}\n")
                return int(exit_code_for(Outcome.REFUSED))
            try:
                result = engine.migrate(cancel=cancel)
            except KeyboardInterrupt:
                err.write("\ninterrupted: the run is resumable (run the same command again) or `migwizard rollback`\n")
                return int(exit_code_for(Outcome.INTERRUPTED))
            if result.outcome == "cancelled":
                return int(exit_code_for(Outcome.INTERRUPTED))
            if result.outcome == "failed":
                progress.once("error", result.error or "the migration failed")
                if keep_on_failure:
                    err.write("the committed chunks are kept: fix the cause and run again to resume, "
                              "or `migwizard rollback`\n")
                else:
                    try:
                        rb = engine.rollback()
                        progress.once("rolled back", rb.message)
                    except Exception as e:  # noqa: BLE001 - disk full, lost connection: the run stays
                        err.write(f"the automatic rollback failed too ({_one_line(e)}); the run stays in the "
                                  "target and is resumable: fix the cause and run the same command again, "
                                  "or `migwizard rollback`\n")
                        keep_on_failure = True
                if as_json:
                    json.dump({"outcome": "failed", "error": result.error, "payment": result.failing_payment,
                               "rolled_back": not keep_on_failure}, out, indent=2)
                    out.write("\n")
                return int(exit_code_for(Outcome.FAILED, run_pending=keep_on_failure))
            report = engine.validate(cancel=cancel)
            if cancel.is_set():
                err.write("interrupted during validation: run the same command again to validate and commit\n")
                return int(exit_code_for(Outcome.INTERRUPTED))
            report_path = _save_report(report_path, report, engine, kv, sql, err)
            if report.quarantined:
                saved = engine.save_quarantine(report_path, report) if report_path else None
                err.write(f"warning: {len(report.quarantined)} payments no lnd release can read are LEFT BEHIND "
                          f"(not migrated); their KV bytes: {saved or 'not saved (no report file)'}\n")
            if not report.ok:
                _emit_summary(report, out, as_json, committed=False, report_path=report_path)
                err.write("validation found differences: not committing. The run stays open; "
                          "see the report, then `migwizard rollback` or fix and re-validate.\n")
                return int(exit_code_for(Outcome.MISMATCH, run_pending=True))
            if confirm is not None and not confirm(report):
                _emit_summary(report, out, as_json, committed=False, report_path=report_path)
                err.write("not committed. The validated run stays in the target: run again to commit, "
                          "or `migwizard rollback`.\n")
                return int(exit_code_for(Outcome.INTERRUPTED))
            commit = engine.commit()
            if commit.history_ends:
                err.write(f"warning: this history ends on {commit.history_ends} (lndinit converted the source "
                          "that day)\n")
            _emit_summary(report, out, as_json, committed=commit.committed, report_path=report_path,
                          commit=commit)
            return int(exit_code_for(Outcome.COMMITTED))
    except EngineError as e:
        return _fail(e, err, out, as_json)
    except UnsafePathError as e:  # the --report path turned bad after the up-front check
        err.write(f"error: --report {e}; nothing was committed, run again with another --report to resume\n")
        return int(exit_code_for(Outcome.USAGE))
    except KeyboardInterrupt:
        err.write("\ninterrupted: the run is resumable (run the same command again) or `migwizard rollback`\n")
        return int(exit_code_for(Outcome.INTERRUPTED))
    except Exception as e:  # noqa: BLE001 - a lost connection, a full disk: never a traceback
        logging.getLogger("migwizard").error("unexpected error", exc_info=True)  # the log keeps the trace
        err.write(f"error: {_one_line(e)}\nnothing was committed that is not recorded in the run: it is "
                  "resumable (run the same command again) or `migwizard rollback`; details in the log\n")
        if as_json:
            json.dump({"outcome": "error", "error": _one_line(e), "exit_code": int(ExitCode.INTERRUPTED_RESUMABLE)},
                      out, indent=2)
            out.write("\n")
        return int(ExitCode.INTERRUPTED_RESUMABLE)
    finally:
        restore()


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def _install_sigint(cancel: threading.Event, err: TextIO) -> Callable[[], None]:
    """First Ctrl-C: finish the current chunk and stop (resumable). Second: abort now
    (the open chunk's transaction rolls back; still resumable)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err.write("\nstopping at the next chunk boundary (Ctrl-C again to abort the open chunk now)\n")
        err.flush()

    signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)


def _already_complete(before: RunState, out: TextIO, err: TextIO, as_json: bool) -> int:
    """Committed and tombstoned: nothing to do, and for a script that is success (exit 0)."""
    if before is RunState.COMMITTED_NO_TOMBSTONE:
        msg = ("migration complete: the run was already committed; the missing KV tombstone has now been written. "
               "Nothing left to migrate.")
    else:
        msg = "already complete: this KV store was migrated to this target and committed. Nothing to migrate."
    hint = "`migwizard verify` re-checks the migrated data field by field."
    if as_json:
        json.dump({"outcome": Outcome.ALREADY_COMPLETE.value, "message": msg, "hint": hint,
                   "exit_code": int(ExitCode.OK)}, out, indent=2)
        out.write("\n")
    else:
        out.write(f"{msg}\n{hint}\n")
    return int(exit_code_for(Outcome.ALREADY_COMPLETE))


def _save_report(path: Path | None, report: ValidationReport, engine: Engine, kv: Path, sql: str,
                 err: TextIO) -> Path | None:
    """The run's report: the named path, else one file per run in the state directory.

    The named path was checked before any work; a default one that cannot be
    written costs a warning, not the migration.
    """
    meta = {"source": str(kv), "target": sql, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "lnd": engine.lnd_facts() or None}
    if path is not None:
        return write_report(path, report, engine, **meta)
    try:
        return write_report(run_report_path(report.run_id), report, engine, create_parent=True, **meta)
    except OSError as e:
        err.write(f"warning: the report could not be written to the state directory: {e}\n")
        return None


def _fail(e: EngineError, err: TextIO, out: TextIO, as_json: bool) -> int:
    err.write(f"error: {e}\n")
    if e.hint:
        err.write(f"hint: {e.hint}\n")
    if as_json:
        json.dump({"outcome": "error", "error": str(e), "hint": e.hint, "exit_code": int(e.exit_code)}, out, indent=2)
        out.write("\n")
    return int(e.exit_code)


def _emit_summary(report: ValidationReport, out: TextIO, as_json: bool, *, committed: bool,
                  report_path: Path | None, commit: Any = None) -> None:
    if as_json:
        doc = {"outcome": "committed" if committed else ("validated" if report.ok else "validation_mismatch"),
               "run_id": report.run_id, "ok": report.ok, "payments": report.payments_checked,
               "duplicates": report.duplicates_checked, "differences": len(report.differences),
               "error": report.error, "stats": _stats_json(report), "validation": validation_line(report),
               "quarantined": report.quarantined, "kept_as_duplicates": report.kept_as_duplicates,
               "backfill": report.backfill, "report": str(report_path) if report_path else None,
               "commit": commit.message if commit is not None else None,
               "next_steps": next_steps(commit) if commit is not None else []}
        json.dump(doc, out, indent=2, sort_keys=True)
        out.write("\n")
    else:
        out.write(render_summary(report))
        if commit is not None:
            out.write(f"\nCommit: {commit.message}\n")
            out.write("Next steps:\n" + "".join(f"  {i}. {s}\n" for i, s in enumerate(next_steps(commit), 1)))
        if report_path:
            out.write(f"Report: {report_path}\n")


def _stats_json(report: ValidationReport) -> dict:
    from dataclasses import asdict

    return asdict(report.stats)

