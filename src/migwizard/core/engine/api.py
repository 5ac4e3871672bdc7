"""The one engine API that the wizard and the headless CLI both drive.

Every method is synchronous and may block for a long time (LMDB scans, SQL
transactions): the TUI calls them from ``@work(thread=True)`` workers, the CLI
calls them directly. Progress and log lines arrive through ``on_event`` from the
calling thread. Cancellation is cooperative: pass a ``threading.Event`` and the
engine stops at the next chunk boundary, leaving a resumable run.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from . import detail, finish, markers, migrate, preflight, quarantine, validate
from .context import Context
from .events import EventSink, null_sink
from .results import (
    CommitResult,
    EngineStatus,
    MigrationResult,
    PaymentDetail,
    PreflightReport,
    RollbackResult,
    RunState,
    ValidationReport,
)

DEFAULT_CHUNK_SIZE = 5000  # payments, an upper bound; a chunk also closes at tuning.chunk_rows() rows


class Engine:
    """A migration session between one KV store and one SQL target.

    ``kv_path`` is an LMDB store directory (ours) — a bbolt ``channel.db`` must be
    imported first (:func:`migwizard.core.kv.importer.import_bbolt`). ``sql_url`` is
    ``sqlite:///path`` or ``postgresql://user@host:port/db``.
    """

    def __init__(
        self,
        kv_path: str | Path,
        sql_url: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_event: EventSink = null_sink,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        kv_source: str | None = None,
        allow_foreign_source: bool = False,
        backfill: bool = False,
        quarantine: bool = False,
    ) -> None:
        # kv_source: the user's original --kv (channel.sqlite path or postgresql:// URL with
        # its password) when kv_path is the LMDB copy made from it; allow_foreign_source:
        # migrate into lnd's database although the source's identity does not match.
        # backfill: consent to fill lnd's live store (tracker >= 14) next to its own rows.
        # quarantine: consent to leave behind payments no lnd release can read.
        self._ctx = Context(
            Path(kv_path), sql_url, chunk_size=chunk_size, on_event=on_event, clock=clock, wall_clock=wall_clock,
            kv_source=kv_source, allow_foreign_source=allow_foreign_source, backfill=backfill, quarantine=quarantine,
        )

    def set_consents(self, *, backfill: bool | None = None, quarantine: bool | None = None) -> None:
        """The wizard's choices (Backfill on the preflight screen, Quarantine on the error screen);
        they apply from the next step on."""
        if backfill is not None:
            self._ctx.backfill = backfill
        if quarantine is not None:
            self._ctx.quarantine = quarantine

    # -- inspection -------------------------------------------------------
    def state(self) -> RunState:
        """Where the marker matrix stands (cheap; reads markers only)."""
        return markers.state(self._ctx)

    def status(self) -> EngineStatus:
        """The run, the marker state and whether the target is lnd's own database
        (cheap: the run record, lnd's migration_tracker and one KV key; no KV scan)."""
        return markers.status(self._ctx)

    def reconcile(self) -> RunState:
        """Apply the marker matrix on start: write a missing tombstone after a durable
        commit (fingerprint checked); raise EngineError for a tombstone without a
        committed target. Returns the resulting state."""
        return markers.reconcile(self._ctx)

    def preflight(self) -> PreflightReport:
        """Every check with pass/warn/fail, reason and fix hint, plus payment counts."""
        return preflight.preflight(self._ctx)

    # -- the steps --------------------------------------------------------
    def migrate(self, *, cancel: threading.Event | None = None) -> MigrationResult:
        """Migrate in checkpointed chunks; resumes an interrupted run automatically.

        On ``cancel`` the current chunk is rolled back and the run stays resumable
        (``Outcome.CANCELLED``). On a data error the open chunk is rolled back and the
        run is marked failed (``Outcome.FAILED``); call :meth:`rollback` to undo the
        committed chunks or fix and resume.
        """
        return migrate.migrate(self._ctx, cancel=cancel)

    def validate(self, *, cancel: threading.Event | None = None) -> ValidationReport:
        """Compare every migrated payment with its KV original, field by field."""
        return validate.validate(self._ctx, cancel=cancel)

    def commit(self) -> CommitResult:
        """Mark the run committed (one SQL transaction), then tombstone the KV store."""
        return finish.commit(self._ctx)

    def rollback(self) -> RollbackResult:
        """Remove exactly what the uncommitted run wrote; refused once committed."""
        return finish.rollback(self._ctx)

    def verify(self, *, cancel: threading.Event | None = None) -> ValidationReport:
        """Re-validate a committed (even tombstoned) migration at any time."""
        return validate.validate(self._ctx, cancel=cancel, verify_only=True)

    def payment_detail(self, identifier_hex: str, *, show_secrets: bool = False) -> PaymentDetail:
        """KV and SQL trees of one payment (by hex identifier: a direct lookup; or a unique prefix)."""
        return detail.payment_detail(self._ctx, identifier_hex, show_secrets=show_secrets)

    def lnd_facts(self) -> dict:
        """lnd's side as the run records it (target case, lndinit history end, identity
        override, sequencer advance) for the report JSON; {} without a run."""
        run = self._ctx.run()
        if run is None:
            return {}
        facts = dict(run.stats.get("lnd", {}))
        if run.stats.get("lnd_sequencer"):
            facts["sequencer"] = run.stats["lnd_sequencer"]
        return facts

    def save_quarantine(self, report_path: str | Path, report: ValidationReport) -> Path | None:
        """The raw KV bytes of the payments the run left behind (--quarantine), in a private
        file beside the report (``<report>.quarantine.json``); None when none were."""
        return quarantine.save_quarantine(self._ctx, Path(report_path), report.run_id, report.quarantined)

    def close(self) -> None:
        self._ctx.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
