"""What each engine step returns, and the errors it raises.

Plain dataclasses with ``to_json()`` so the headless CLI can print them, the
report file can store them, and the TUI can render them without knowing how they
were produced. Secrets never enter these objects unredacted unless the caller
asked for them (``show_secrets``).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from migwizard.exits import ExitCode  # re-exported: the engine raises EngineError with these codes


class CheckStatus(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"


@dataclass
class Check:
    id: str  # stable identifier, e.g. "kv.lock", "sql.free_space"
    title: str
    status: CheckStatus
    reason: str  # one line
    hint: str = ""  # how to fix, one line
    details: dict[str, Any] = field(default_factory=dict)


class RunState(str, enum.Enum):
    """The reconcile matrix (target run record x KV tombstone)."""

    FRESH = "fresh"  # neither marker
    IN_PROGRESS = "in_progress"  # a run exists, not committed: resume or roll back
    COMMITTED_NO_TOMBSTONE = "committed_no_tombstone"  # finish by writing the tombstone
    COMPLETE = "complete"  # committed and tombstoned: nothing to migrate; verify works
    TOMBSTONE_WITHOUT_SQL = "tombstone_without_sql"  # refuse and explain recovery


class Outcome(str, enum.Enum):
    """How a migration step ended. A str enum: reports and JSON keep the plain value."""

    COMPLETE = "complete"  # every chunk committed
    CANCELLED = "cancelled"  # stopped at a chunk boundary; resumable
    FAILED = "failed"  # a payment or the target refused; open chunk rolled back

    def __str__(self) -> str:
        return self.value


@dataclass
class StatusCounts:
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0
    initiated: int = 0
    index_entries: int = 0  # includes duplicates' entries (the % denominator)
    duplicates: int = 0  # duplicate entries (rows)
    attempts: int = 0
    hops: int = 0

    @property
    def payments(self) -> int:
        return self.succeeded + self.failed + self.in_flight + self.initiated


# PaymentStatus (by value: 1 initiated .. 4 failed) -> the counter field that
# StatusCounts, MigrationStats and `inspect` keep for it.
STATUS_FIELDS: dict[int, str] = {1: "initiated", 2: "in_flight", 3: "succeeded", 4: "failed"}


def tally(counts: Any, status: int) -> None:
    """Count one payment of ``status`` (a PaymentStatus) on any object with the four fields."""
    name = STATUS_FIELDS[int(status)]
    setattr(counts, name, getattr(counts, name) + 1)


@dataclass
class RunSummary:
    """The run a target holds, for screens that must say what a rollback would remove."""

    run_id: str
    state: str
    payments_done: int
    chunks_done: int
    checkpoint_seq: int
    created_schema: bool  # rollback drops the payment tables
    created_file: bool  # rollback removes the SQLite file
    payments_total: int | None = None  # payments in the KV store when the run last started (for "N of M")

    @property
    def progress_text(self) -> str:
        """"9,000 of 20,000 payments" (a node runner counts payments, not KV sequences)."""
        of = f" of {self.payments_total:,}" if self.payments_total else ""
        return f"{self.payments_done:,}{of} payments"

    @property
    def state_text(self) -> str:
        return {"running": "interrupted", "validated": "validated, ready to commit",
                "failed": "stopped by an error", "committed": "committed"}.get(self.state, self.state)


@dataclass
class PreflightReport:
    checks: list[Check]
    counts: StatusCounts
    state: RunState
    run_id: str | None = None  # the run in progress, if any
    run: RunSummary | None = None

    @property
    def ok(self) -> bool:
        return not any(c.status is CheckStatus.FAIL for c in self.checks)

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status is CheckStatus.WARN]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "state": self.state.value,
            "run_id": self.run_id,
            "run": asdict(self.run) if self.run else None,
            "counts": asdict(self.counts) | {"payments": self.counts.payments},
            "checks": [asdict(c) | {"status": c.status.value} for c in self.checks],
        }


@dataclass
class MigrationStats:
    payments: int = 0
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0
    initiated: int = 0
    attempts: int = 0
    attempts_settled: int = 0
    attempts_failed: int = 0
    attempts_in_flight: int = 0
    hops: int = 0
    skipped: int = 0  # index entries whose payment bucket is missing
    duplicate_payments: int = 0  # payments with >= 1 duplicate
    duplicate_entries: int = 0  # rows in payment_duplicates
    normalisations: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # per SQL table
    table_seconds: dict[str, float] = field(default_factory=dict)
    chunks: int = 0
    seconds: float = 0.0


@dataclass
class MigrationResult:
    run_id: str
    outcome: Outcome
    stats: MigrationStats
    checkpoint_seq: int
    error: str | None = None
    failing_payment: str | None = None  # hex identifier when a payment broke the run


@dataclass
class FieldDiff:
    payment: str  # hex identifier
    path: str  # e.g. "htlcs[0].route.hops[1].amt_to_forward"
    kv: Any
    sql: Any


@dataclass
class PaymentRow:
    """One line of the validation table (no secrets)."""

    identifier: str
    sequence: int
    sql_id: int | None
    status: str
    amount_msat: int
    attempts: int
    created_ns: int | None
    normalisations: list[str] = field(default_factory=list)
    differences: int = 0


@dataclass
class TableSummary:
    table: str
    rows: int
    errors: int
    seconds: float


@dataclass
class ValidationReport:
    run_id: str
    ok: bool
    payments_checked: int
    duplicates_checked: int
    count_kv: int
    count_sql: int
    differences: list[FieldDiff]
    payments: list[PaymentRow]
    tables: list[TableSummary]
    stats: MigrationStats
    seconds: float = 0.0
    error: str | None = None
    # All differences found; ``differences`` keeps the first MAX_REPORTED_DIFFS.
    differences_total: int = 0
    # Payments left behind with --quarantine: [{"payment", "sequence", "reason"}] (reason names the byte offset).
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    # Backfill: KV payments whose identifier lnd reused, kept as duplicates of lnd's payment.
    kept_as_duplicates: list[dict[str, Any]] = field(default_factory=list)
    # Backfill: {"tracker", "lnd_payments", "switch_start"} of the run, None for a normal migration.
    backfill: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NormalisedField:
    """One field LND's migration changes on purpose: the value stored in KV (as ``inspect``
    shows it), the value expected in SQL, and the named normalisation that explains it."""

    path: str  # e.g. "htlcs[0].attempt_id"
    raw: Any  # as decoded from KV
    value: Any  # after the normalisation (what SQL must hold)
    name: str  # a key of NORMALISATIONS


@dataclass
class PaymentDetail:
    """KV and SQL side by side for the drill-down (trees of plain dicts/lists).

    ``kv`` is the KV record after LND's normalisations (what validation compares with
    ``sql``); ``normalised`` lists every field where that differs from the raw decode.
    """

    identifier: str
    kv: dict[str, Any] | None
    sql: dict[str, Any] | None
    differences: list[FieldDiff]
    normalisations: list[str]  # names applied to this payment, with explanations in NORMALISATIONS
    kv_error: str | None = None  # the KV record does not decode: payment, key and byte offset
    normalised: list[NormalisedField] = field(default_factory=list)


@dataclass
class CommitResult:
    run_id: str
    committed: bool
    tombstoned: bool
    lnd_tracker_recorded: bool
    message: str
    kv_path: str = ""  # the store that carries the tombstone
    imported_from: str | None = None  # the bbolt channel.db it was imported from (left unchanged)
    history_ends: str | None = None  # the source is lndinit's stale channel.db: its history ends that day


@dataclass
class RollbackResult:
    run_id: str | None
    rows_deleted: dict[str, int]
    tables_dropped: list[str]
    kv_unchanged: bool
    message: str


@dataclass
class EngineStatus:
    """What the screens need to know about a target without a preflight: the
    marker state, the run it holds, and whether it is lnd's own database. Built
    from the run record, lnd's migration_tracker and one KV key (no KV scan)."""

    state: RunState  # the marker matrix cell
    run: RunSummary | None  # the migwizard run the target holds, if any
    target: str  # the target's label (URL, password redacted)
    kv_path: str
    target_exists: bool  # False: a SQLite file that a run would create
    lnd_tracker_version: int | None  # lnd's migration_tracker max version (None: not an lnd database)
    lnd_target: bool  # lnd's own database standing right before its payments migration (tracker at 13)
    lnd_tracker_recorded: bool  # the committed run recorded version 14 (lnd picks the rows up)
    imported_from: str | None = None  # the bbolt channel.db the KV store was imported from
    # Set when the target is not this store's: "this store was migrated to <target>, run <id>;
    # this target holds run <other>" (from the store's tombstone record and the target's run).
    wrong_target: str | None = None

    @property
    def standalone_copy(self) -> bool:
        """The rows land in lnd's schema but lnd will not pick them up by itself."""
        return not (self.lnd_target or self.lnd_tracker_recorded)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"state": self.state.value, "standalone_copy": self.standalone_copy}


class EngineError(Exception):
    """A refusal or failure the user must see: what happened and what to do."""

    def __init__(self, message: str, *, hint: str = "", exit_code: ExitCode = ExitCode.FAILED_ROLLED_BACK,
                 payment: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code
        self.payment = payment
