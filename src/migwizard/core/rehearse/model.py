"""The typed result of a rehearsal: one verdict per lnd release, plus the figures
a node runner needs to choose between upgrading lnd and migrating with migwizard.

Plain dataclasses with ``to_dict`` so the CLI's ``--json`` and the wizard's
preflight screen read the same object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Where lnd stops: before its payments migration starts, inside it (on a payment
#: or on the store as a whole), or after it committed (start-up fails later).
STAGES = ("before_payments", "payments", "after_payments")


@dataclass
class Failure:
    stage: str
    reason: str  # short label for the table, e.g. "UNIQUE attempt_index (#10797)"
    texts: dict[str, str]  # backend ("sqlite", "postgres", or "any") -> what lnd prints
    payment: str | None = None  # identifier hex (32 bytes)
    sequence: int | None = None
    key: str | None = None  # KV key path, for records lnd cannot read
    offset: int | None = None
    exact: bool = True  # False: the wording is migwizard's decoder's, lnd's differs
    note: str = ""


@dataclass
class ReleaseVerdict:
    release: str
    tag: str
    commit: str
    is_release: bool
    cites: list[str]
    failure: Failure | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return self.failure is None

    @property
    def outcome(self) -> str:
        if self.failure is None:
            return "passes"
        return {"before_payments": "never reaches payments", "payments": "fails",
                "after_payments": "stops at start-up"}[self.failure.stage]


@dataclass
class Counts:
    """What lnd's payments migration would write (lnd's own summary terms)."""

    index_entries: int = 0
    payments: int = 0
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0
    initiated: int = 0
    attempts: int = 0
    hops: int = 0
    duplicate_payments: int = 0
    duplicate_entries: int = 0
    skipped: int = 0  # index entries whose payment bucket is missing
    unreadable: int = 0  # payments no lnd release can read (spec §2.11)


@dataclass
class Estimates:
    lnd_rate: float  # payments/s, lnd's own logged figure (spec §6)
    lnd_seconds: float
    migwizard_rate: float | None  # measured on this machine during the rehearsal
    migwizard_rate_note: str
    kv_value_bytes: int
    sql_rows_bytes: int  # rows + indexes in lnd's database
    wal_bytes: int  # lnd's single transaction: every page it writes passes the WAL first
    space_note: str


@dataclass
class RehearsalReport:
    source: str
    source_kind: str  # "bbolt" or "lmdb"
    channeldb_version: int | None
    verdicts: list[ReleaseVerdict]
    counts: Counts
    estimates: Estimates
    normalisations: dict[str, int]  # what the newest release changes on the way (named, counted)
    unreadable: list[Failure]  # first few payments no release can read
    recommendation: str
    newest_release: str

    @property
    def ok(self) -> bool:
        """The newest tagged release passes (the CLI's exit status)."""
        return next(v for v in self.verdicts if v.release == self.newest_release).passes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = "migwizard-rehearsal"
        d["version"] = 1
        d["ok"] = self.ok
        for v, raw in zip(self.verdicts, d["verdicts"]):
            raw["outcome"] = v.outcome
            raw["passes"] = v.passes
        return d
