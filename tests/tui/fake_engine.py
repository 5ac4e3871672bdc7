"""A deterministic stand-in for ``migwizard.core.engine.api.Engine``.

Same constructor and methods, no I/O: payments are derived from their index, the
event sequence is fixed, and state lives in a :class:`FakeStore` so a second
"session" (a new app) sees what the first one left behind (resume, rollback).
``fail_on`` names a payment (hex identifier) that breaks the migration;
``diff_on`` names payments whose SQL copy differs in validation.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from migwizard.core.engine.events import ChunkCommitted, LogRecord, Phase, PhaseFinished, PhaseStarted, Progress
from migwizard.core.engine.results import (
    Check,
    CheckStatus,
    CommitResult,
    EngineError,
    EngineStatus,
    ExitCode,
    FieldDiff,
    MigrationResult,
    MigrationStats,
    PaymentDetail,
    PaymentRow,
    PreflightReport,
    RollbackResult,
    RunState,
    RunSummary,
    StatusCounts,
    TableSummary,
    ValidationReport,
)

STATUSES = ["succeeded", "succeeded", "failed", "succeeded", "in-flight", "succeeded", "initiated", "failed"]


def ident(i: int) -> str:
    return hashlib.sha256(f"payment-{i}".encode()).hexdigest()


@dataclass
class FakeStore:
    payments: int = 40
    done: int = 0  # payments durably migrated
    chunks: int = 0
    run_id: str | None = None
    committed: bool = False
    tombstoned: bool = False
    fail_on: str | None = None
    diff_on: tuple[str, ...] = ()
    preflight_fail: bool = False
    preflight_warn: bool = True
    lnd_target: bool = False  # the target is lnd's own database (migration_tracker at 13)
    validated: bool = False  # the run passed validation (resume goes straight to the commit screen)
    calls: list[str] = field(default_factory=list)


class FakeEngine:
    def __init__(
        self,
        kv_path: str | Path,
        sql_url: str,
        *,
        chunk_size: int = 10,
        on_event: Callable = lambda e: None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        store: FakeStore | None = None,
    ) -> None:
        self.kv_path = Path(kv_path)
        self.sql_url = sql_url
        self.chunk_size = chunk_size
        self.emit = on_event
        self.store = store or FakeStore()
        # (payments checked, reached, release): validation holds there until released.
        self.validation_gate: tuple[int, threading.Event, threading.Event] | None = None

    # -- helpers -------------------------------------------------------
    def _counts(self) -> StatusCounts:
        c = StatusCounts()
        for i in range(self.store.payments):
            s = STATUSES[i % len(STATUSES)]
            setattr(c, {"in-flight": "in_flight"}.get(s, s), getattr(c, {"in-flight": "in_flight"}.get(s, s)) + 1)
        c.index_entries = self.store.payments + 2
        c.duplicates = 2
        c.attempts = sum(self._attempts(i) for i in range(self.store.payments))
        c.hops = sum(self._attempts(i) * 2 for i in range(self.store.payments))
        return c

    @staticmethod
    def _attempts(i: int) -> int:
        return 1 + (i % 3)

    def _stats(self, upto: int) -> MigrationStats:
        st = MigrationStats()
        for i in range(upto):
            s = STATUSES[i % len(STATUSES)]
            key = {"in-flight": "in_flight"}.get(s, s)
            setattr(st, key, getattr(st, key) + 1)
            st.attempts += self._attempts(i)
            st.hops += self._attempts(i) * 2
        st.payments = upto
        st.attempts_settled = st.succeeded
        st.attempts_failed = st.attempts - st.succeeded
        st.duplicate_payments = 1 if upto > 3 else 0
        st.duplicate_entries = 2 if upto > 3 else 0
        st.normalisations = {"timestamps_truncated_to_microseconds": upto, "nil_hash_from_payment": min(upto, 3)}
        st.rows = {"payments": upto, "payment_htlc_attempts": st.attempts, "payment_route_hops": st.hops,
                   "payment_duplicates": st.duplicate_entries}
        st.table_seconds = {k: 0.25 for k in st.rows}
        st.chunks = self.store.chunks
        st.seconds = float(self.store.chunks)
        return st

    def _row(self, i: int) -> PaymentRow:
        norms = ["timestamps_truncated_to_microseconds"] + (["nil_hash_from_payment"] if i < 3 else [])
        return PaymentRow(
            identifier=ident(i), sequence=i + 1, sql_id=i + 1, status=STATUSES[i % len(STATUSES)],
            amount_msat=1000 * (i + 1), attempts=self._attempts(i), created_ns=1_700_000_000_000_000_000 + i,
            normalisations=norms, differences=1 if ident(i) in self.store.diff_on else 0,
        )

    def _find(self, identifier_hex: str) -> int:
        matches = [i for i in range(self.store.payments) if ident(i).startswith(identifier_hex.lower())]
        if len(matches) != 1:
            raise EngineError(f"no unique payment with identifier {identifier_hex}", exit_code=ExitCode.USAGE)
        return matches[0]

    # -- the API ---------------------------------------------------------
    def _run(self) -> RunSummary | None:
        st = self.store
        return (RunSummary(st.run_id, "running", st.done, st.chunks, st.done, created_schema=True, created_file=False)
                if st.run_id is not None else None)

    def state(self) -> RunState:
        self.store.calls.append("state")
        return self._state()

    def _state(self) -> RunState:
        if self.store.committed and self.store.tombstoned:
            return RunState.COMPLETE
        if self.store.tombstoned:
            return RunState.TOMBSTONE_WITHOUT_SQL
        if self.store.committed:
            return RunState.COMMITTED_NO_TOMBSTONE
        if self.store.run_id is not None:
            return RunState.IN_PROGRESS
        return RunState.FRESH

    def preflight(self) -> PreflightReport:
        self.store.calls.append("preflight")
        self.emit(PhaseStarted(Phase.PREFLIGHT))
        checks = [
            Check("kv.lock", "Node stopped, store not in use", CheckStatus.PASS, "No other process holds the LMDB lock."),
            Check("kv.layout", "KV layout and version", CheckStatus.PASS, "Payment buckets found, layout version 1."),
            Check("sql.reachable", "SQL target reachable", CheckStatus.PASS, "SQLite 3.45 opened the target file."),
            Check("sql.empty", "Target empty or same run", CheckStatus.PASS,
                  "Target holds no payments." if self.store.run_id is None else "Target holds this run's chunks."),
            Check("markers", "Tombstone and marker state", CheckStatus.PASS, "Neither side is marked."),
        ]
        if self.store.preflight_warn:
            checks.append(Check("sql.free_space", "Free space on the target", CheckStatus.WARN,
                                "1.9x the estimated peak is free; 2x is recommended.",
                                "Free some space or accept the smaller margin.",
                                {"required_bytes": 1_048_576, "available_bytes": 1_992_294}))
        if self.store.preflight_fail:
            checks.append(Check("kv.lock", "Node stopped, store not in use", CheckStatus.FAIL,
                                "Another process holds the LMDB lock (lnd still running?).",
                                "Stop lnd (systemctl stop lnd) and re-run the checks."))
        checks.append(Check("counts", "Payments to migrate", CheckStatus.INFO,
                            f"{self.store.payments} payments, 2 duplicate entries."))
        self.emit(PhaseFinished(Phase.PREFLIGHT, ok=not self.store.preflight_fail))
        st = self.store
        return PreflightReport(checks=checks, counts=self._counts(), state=self.state(), run_id=st.run_id,
                               run=self._run())

    def status(self) -> EngineStatus:
        """Like ``Engine.status()``: the run, the marker state and the lnd-target facts, no scan."""
        st = self.store
        st.calls.append("status")
        return EngineStatus(state=self._state(), run=self._run(), target=self.sql_url, kv_path=str(self.kv_path),
                            target_exists=True, lnd_tracker_version=13 if st.lnd_target else None,
                            lnd_target=st.lnd_target and not st.committed,
                            lnd_tracker_recorded=st.lnd_target and st.committed)

    def migrate(self, *, cancel: threading.Event | None = None) -> MigrationResult:
        st = self.store
        st.calls.append("migrate")
        if st.committed:
            raise EngineError("This run is already committed.", exit_code=ExitCode.USAGE)
        st.run_id = st.run_id or "run-0001"
        total = st.payments
        self.emit(PhaseStarted(Phase.MIGRATE, total=total))
        if st.done:
            self.emit(LogRecord("info", f"Resuming run {st.run_id} after payment {st.done} (chunk {st.chunks})."))
        else:
            self.emit(LogRecord("info", f"Starting run {st.run_id}: {total} payments in chunks of {self.chunk_size}."))
        while st.done < total:
            if cancel is not None and cancel.is_set():
                self.emit(LogRecord("warning", f"Stopped at a chunk boundary after chunk {st.chunks}; run is resumable."))
                self.emit(PhaseFinished(Phase.MIGRATE, ok=False, summary="cancelled"))
                return MigrationResult(st.run_id, "cancelled", self._stats(st.done), st.done)
            end = min(total, st.done + self.chunk_size)
            for i in range(st.done, end):
                if ident(i) == st.fail_on:
                    msg = f"payment {ident(i)[:16]}…: HTLC attempt 0 has an unreadable route (truncated hop record)"
                    self.emit(LogRecord("error", msg))
                    self.emit(LogRecord("info", f"Chunk {st.chunks + 1} rolled back; {st.done} payments stay migrated."))
                    self.emit(PhaseFinished(Phase.MIGRATE, ok=False, summary="failed"))
                    return MigrationResult(st.run_id, "failed", self._stats(st.done), st.done, error=msg,
                                           failing_payment=ident(i))
            st.done = end
            st.chunks += 1
            elapsed = float(st.chunks * 2)
            stats = self._stats(st.done)
            self.emit(Progress(Phase.MIGRATE, done=st.done, total=total, attempts=stats.attempts, hops=stats.hops,
                               chunk=st.chunks, elapsed_s=elapsed, payments_per_s=self.chunk_size / 2.0,
                               attempts_per_s=self.chunk_size, eta_s=(total - st.done) / (self.chunk_size / 2.0)))
            self.emit(ChunkCommitted(chunk=st.chunks, checkpoint_seq=st.done, payments_done=st.done))
            self.emit(LogRecord("info", f"Chunk {st.chunks} committed: payments {st.done}/{total}."))
        self.emit(PhaseFinished(Phase.MIGRATE, ok=True, summary=f"{total} payments migrated"))
        return MigrationResult(st.run_id, "complete", self._stats(total), total)

    def validate(self, *, cancel: threading.Event | None = None, verify_only: bool = False) -> ValidationReport:
        st = self.store
        st.calls.append("verify" if verify_only else "validate")
        phase = Phase.VERIFY if verify_only else Phase.VALIDATE
        self.emit(PhaseStarted(phase, total=st.payments))
        diffs = [FieldDiff(p, "attempts[0].route.hops[1].amt_to_forward", 1000, 999) for p in st.diff_on]
        # Gated (the stop-dialog tests): start at the gate, so the screen holds exactly one
        # progress sample whatever the machine's speed. Events sent before the report
        # screen is up are not drawn, so from 0 the bar's ETA showed "-:--" or "0:02"
        # depending on how many arrived in time (a flaky snapshot).
        first = self.validation_gate[0] if self.validation_gate is not None else 0
        for done in range(first, st.payments + 1, 10):
            self.emit(Progress(phase, done=done, total=st.payments, elapsed_s=done / 10,
                               payments_per_s=100.0, differences=sum(1 for i in range(done) if ident(i) in st.diff_on)))
            if self.validation_gate is not None and done == self.validation_gate[0]:
                self.validation_gate[1].set()  # reached: the test may now stop it
                self.validation_gate[2].wait(30)
            if cancel is not None and cancel.is_set() and done < st.payments:
                self.emit(PhaseFinished(phase, ok=False, summary="validation cancelled"))
                return ValidationReport(
                    run_id=st.run_id or "", ok=False, payments_checked=done, duplicates_checked=0,
                    count_kv=st.payments, count_sql=st.done, differences=[], payments=[], tables=[],
                    stats=self._stats(st.done), seconds=done / 10, error="validation cancelled")
        self.emit(Progress(phase, done=st.payments, total=st.payments, elapsed_s=st.payments / 10,
                           payments_per_s=100.0, differences=len(diffs)))
        rows = [self._row(i) for i in range(st.done)]
        stats = self._stats(st.done)
        if not diffs and not verify_only:
            st.validated = True
        tables = [TableSummary(t, n, len(diffs) if t == "payment_route_hops" else 0, 0.25) for t, n in stats.rows.items()]
        self.emit(PhaseFinished(phase, ok=not diffs))
        return ValidationReport(
            run_id=st.run_id or "", ok=not diffs, payments_checked=st.done, duplicates_checked=stats.duplicate_entries,
            count_kv=st.payments, count_sql=st.done, differences=diffs, payments=rows, tables=tables, stats=stats,
            seconds=4.0,
        )

    def verify(self, *, cancel: threading.Event | None = None) -> ValidationReport:
        return self.validate(cancel=cancel, verify_only=True)

    def commit(self) -> CommitResult:
        st = self.store
        st.calls.append("commit")
        self.emit(PhaseStarted(Phase.COMMIT))
        st.committed = True
        self.emit(PhaseFinished(Phase.COMMIT, ok=True))
        self.emit(PhaseStarted(Phase.TOMBSTONE))
        st.tombstoned = True
        self.emit(PhaseFinished(Phase.TOMBSTONE, ok=True))
        return CommitResult(st.run_id or "", True, True, True, "Run committed and KV store tombstoned.")

    def rollback(self) -> RollbackResult:
        st = self.store
        st.calls.append("rollback")
        if st.committed:
            raise EngineError("The run is committed; rollback is refused.", hint="Restore from your backup.",
                              exit_code=ExitCode.USAGE)
        stats = self._stats(st.done)
        deleted = dict(stats.rows)
        run_id = st.run_id
        st.run_id, st.done, st.chunks = None, 0, 0
        return RollbackResult(run_id, deleted, ["migwizard_checkpoint"], True,
                              "Removed everything this run wrote; the KV store was never modified.")

    def payment_detail(self, identifier_hex: str, *, show_secrets: bool = False) -> PaymentDetail:
        i = self._find(identifier_hex)
        pid = ident(i)
        secret = (lambda s: s) if show_secrets else (lambda s: "•" * 8)

        def tree(sql: bool) -> dict:
            attempts = []
            for a in range(self._attempts(i)):
                hops = [{"pubkey": "02" + hashlib.sha256(f"{i}-{a}-{h}".encode()).hexdigest()[:20] + "…",
                         "chan_id": 800_000 * (h + 1) + a, "amt_to_forward": 1000 if not (sql and pid in self.store.diff_on and h == 1) else 999,
                         "expiry": 144 + h, "records": {"65537": "0102"} if h == 0 else {}}
                        for h in range(2)]
                attempts.append({
                    "attempt_id": a + 1,
                    "session_key": secret(hashlib.sha256(f"sk{i}{a}".encode()).hexdigest()),
                    "attempt_time": "2023-11-14 22:13:20.000001 +0000 UTC",
                    "route": {"total_amt": 1000 * (i + 1), "total_time_lock": 800_144, "hops": hops},
                    "resolution": {"settled": a == 0 and STATUSES[i % len(STATUSES)] == "succeeded",
                                   "preimage": secret(hashlib.sha256(f"pre{i}".encode()).hexdigest())},
                })
            return {
                "payment": {"identifier": pid, "sequence": i + 1 if not sql else None, "sql_id": i + 1 if sql else None,
                            "status": STATUSES[i % len(STATUSES)], "amount_msat": 1000 * (i + 1),
                            "created": "2023-11-14 22:13:20 +0000 UTC", "payment_request": ""},
                "attempts": attempts,
                "duplicates": [{"sequence": 900 + i, "status": "failed"}] if i == 4 else [],
            }

        return PaymentDetail(
            identifier=pid, kv=tree(False), sql=tree(True) if i < self.store.done else None,
            differences=[FieldDiff(pid, "attempts[0].route.hops[1].amt_to_forward", 1000, 999)]
            if pid in self.store.diff_on else [],
            normalisations=["timestamps_truncated_to_microseconds"] + (["nil_hash_from_payment"] if i < 3 else []),
        )

    def close(self) -> None:
        pass


def fake_factory(store: FakeStore) -> Callable[..., FakeEngine]:
    def factory(kv_path, sql_url, **kwargs) -> FakeEngine:
        return FakeEngine(kv_path, sql_url, store=store, **kwargs)

    return factory
