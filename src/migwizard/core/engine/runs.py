"""The run record: migwizard's bookkeeping row in the target, read and written raw.

The checkpoint, the id counters and the counters of a run are updated in the
same transaction as the chunk rows they describe, so the target can never claim
rows it does not hold. Everything that is not a column lives in the ``stats``
JSON (start ids for rollback, whether we created the SQLite file, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..sql.values import int64, uint64
from .results import MigrationStats, RunSummary

RUN_COLUMNS = (
    "run_id", "source_path", "source_fingerprint", "source_kind", "kv_layout_version", "channeldb_version",
    "tool_version", "target_dialect", "target_server_version", "state", "checkpoint_seq", "chunks_done",
    "payments_done", "attempts_done", "hops_done", "duplicates_done", "skipped_done", "first_payment_id",
    "next_ids", "normalisations", "switch_seq_before", "switch_seq_after", "created_schema", "started_at",
    "updated_at", "validated_at", "committed_at", "error", "stats",
)


U64_COLUMNS = ("checkpoint_seq", "switch_seq_before", "switch_seq_after")


def now_text(wall: float) -> str:
    return datetime.fromtimestamp(wall, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _ph(db) -> str:
    return "?" if db.param == "?" else "%s"


def q(db, sql: str) -> str:
    return sql if db.param == "?" else sql.replace("?", "%s")


@dataclass
class Run:
    run_id: str
    source_path: str
    source_fingerprint: str
    source_kind: str
    kv_layout_version: int | None
    channeldb_version: int | None
    tool_version: str
    target_dialect: str
    target_server_version: str | None
    state: str = "running"
    checkpoint_seq: int = 0
    chunks_done: int = 0
    payments_done: int = 0
    attempts_done: int = 0
    hops_done: int = 0
    duplicates_done: int = 0
    skipped_done: int = 0
    first_payment_id: int | None = None
    next_ids: dict[str, int] = field(default_factory=dict)
    normalisations: dict[str, int] = field(default_factory=dict)
    switch_seq_before: int | None = None
    switch_seq_after: int | None = None
    created_schema: int = 0
    started_at: str = ""
    updated_at: str = ""
    validated_at: str | None = None
    committed_at: str | None = None
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    # -- persistence ----------------------------------------------------------
    def _values(self) -> list[Any]:
        vals = []
        for c in RUN_COLUMNS:
            v = getattr(self, c)
            if c in ("next_ids", "normalisations", "stats"):
                v = json.dumps(v, sort_keys=True)
            elif c in U64_COLUMNS and v is not None:
                v = int64(v)  # KV sequences are u64; the columns are BIGINT, as LND stores u64s
            vals.append(v)
        return vals

    def insert(self, db) -> None:
        cols = ", ".join(RUN_COLUMNS)
        ph = ", ".join([_ph(db)] * len(RUN_COLUMNS))
        db.execute_sql(f"INSERT INTO migwizard_runs ({cols}) VALUES ({ph})", self._values())

    def save(self, db) -> None:
        sets = ", ".join(f"{c} = {_ph(db)}" for c in RUN_COLUMNS if c != "run_id")
        vals = [v for c, v in zip(RUN_COLUMNS, self._values()) if c != "run_id"]
        db.execute_sql(f"UPDATE migwizard_runs SET {sets} WHERE run_id = {_ph(db)}", vals + [self.run_id])

    @classmethod
    def from_row(cls, row: tuple) -> "Run":
        d = dict(zip(RUN_COLUMNS, row))
        for c in ("next_ids", "normalisations", "stats"):
            d[c] = json.loads(d[c] or "{}")
        for c in U64_COLUMNS:
            if d[c] is not None:
                d[c] = uint64(d[c])
        for c in ("started_at", "updated_at", "validated_at", "committed_at"):
            if d[c] is not None and not isinstance(d[c], str):
                d[c] = d[c].strftime("%Y-%m-%d %H:%M:%S")
        return cls(**d)


def latest_run(db) -> Run | None:
    """The newest run that was not rolled back (there is at most one live run)."""
    cur = db.execute_sql(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM migwizard_runs WHERE state <> 'rolled_back' ORDER BY id DESC LIMIT 1"
    )
    row = cur.fetchone()
    return Run.from_row(row) if row else None


def record_chunk(db, run: Run, chunk_no: int, first_seq: int, last_seq: int, counts: dict[str, int],
                 first_pid: int | None, last_pid: int | None, committed_at: str) -> None:
    cols = ("run_id", "chunk_no", "first_seq", "last_seq", "payments", "attempts", "hops", "duplicates", "skipped",
            "first_payment_id", "last_payment_id", "next_ids", "committed_at")
    vals = [run.run_id, chunk_no, first_seq, last_seq, counts.get("payments", 0), counts.get("attempts", 0),
            counts.get("hops", 0), counts.get("duplicates", 0), counts.get("skipped", 0), first_pid, last_pid,
            json.dumps(run.next_ids, sort_keys=True), committed_at]
    ph = ", ".join([_ph(db)] * len(cols))
    db.execute_sql(f"INSERT INTO migwizard_run_chunks ({', '.join(cols)}) VALUES ({ph})", vals)


def record_skipped(db, run: Run, kv_seq: int, identifier: bytes | None, reason: str, detail: str, at: str) -> None:
    ph = ", ".join([_ph(db)] * 6)
    db.execute_sql(
        f"INSERT INTO migwizard_skipped (run_id, kv_seq, payment_identifier, reason, detail, created_at) VALUES ({ph})",
        [run.run_id, kv_seq, identifier, reason, detail, at],
    )


_STAT_FIELDS = ("payments", "succeeded", "failed", "in_flight", "initiated", "attempts", "attempts_settled",
                "attempts_failed", "attempts_in_flight", "hops", "skipped", "duplicate_payments", "duplicate_entries",
                "chunks")


def stats_to_run(run: Run, stats: MigrationStats) -> None:
    """Store the counters in the run record (saved in the chunk's own transaction)."""
    run.payments_done = stats.payments
    run.attempts_done = stats.attempts
    run.hops_done = stats.hops
    run.duplicates_done = stats.duplicate_entries
    run.skipped_done = stats.skipped
    run.stats["counts"] = {k: getattr(stats, k) for k in _STAT_FIELDS}
    run.stats["rows"] = dict(stats.rows)
    run.stats["table_seconds"] = dict(stats.table_seconds)


def stats_from_run(run: Run) -> MigrationStats:
    """What the run record says is committed (a resumed run continues from here)."""
    s = MigrationStats()
    for k, v in run.stats.get("counts", {}).items():
        setattr(s, k, v)
    s.rows = dict(run.stats.get("rows", {}))
    s.table_seconds = dict(run.stats.get("table_seconds", {}))
    s.normalisations = dict(run.normalisations)
    s.chunks = run.chunks_done
    s.seconds = float(run.stats.get("seconds", 0.0))
    return s


def run_summary(run: Run | None) -> RunSummary | None:
    if run is None:
        return None
    total = run.stats.get("payments_total")
    return RunSummary(run.run_id, run.state, run.payments_done, run.chunks_done, run.checkpoint_seq,
                      bool(run.created_schema), bool(run.stats.get("created_file")),
                      int(total) if total is not None else None)
