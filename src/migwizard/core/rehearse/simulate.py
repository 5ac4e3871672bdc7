"""lnd's per-payment insert order, once per release, to find where each one stops.

Only the parts in which releases differ, or which abort every release at insert
time, are walked here: the attempt index each release gives an attempt (legacy
ID 0 inserted as 0 in v0.21.0-rc1, remapped from the switch sequencer later),
the global UNIQUE constraints on ``attempt_index`` and ``session_key``, the
blinded-hop rule (``insert_if_any`` hits NOT NULL on ``encrypted_data`` up to
v0.21.1; v0.21.2 drops an orphaned total and rejects a blinding point without
data), and the custom-record CHECK (through the engine's own rule). Everything
a payment's bytes decide (spec §2.11) is the codec's business and fails every
release alike; the walk in :mod:`.run` applies that.

The order mirrors ``migratePayment``/``migrateHTLCAttempt``/``migrateRouteHop``:
payment-level first-hop records, then attempts by ascending ID, each attempt's
index, its row's UNIQUE constraints, its first-hop records, then its hops in
order (blinded row before the hop's custom records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..codec import normalize_session_key
from ..codec.model import Payment
from ..engine.transform import MAX_INT64, MigrationReject, _check_record_keys
from .model import Failure
from .releases import Release, ReleaseTable

_TABLES_BY_WHERE = {
    "payment": "payment_first_hop_custom_records",
    "attempt": "payment_attempt_first_hop_custom_records",
    "hop": "payment_hop_custom_records",
}


class _Stop(Exception):
    def __init__(self, reason: str, texts: dict[str, str], *, exact: bool = True, note: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.texts = texts
        self.exact = exact
        self.note = note


@dataclass
class ReleaseRun:
    """One release's running state across the payments it has migrated so far."""

    release: Release
    next_id: int  # switch sequencer horizon: next legacy ID to hand out (remap releases)
    allocated: set[int] = field(default_factory=set)
    zero_taken: bool = False  # insert_zero: an attempt_index 0 row exists already
    failure: Failure | None = None
    notes: list[str] = field(default_factory=list)


class Texts:
    """lnd's wording for each stop, from the release table (never composed ad hoc elsewhere)."""

    def __init__(self, texts: dict[str, Any]) -> None:
        self.t = texts

    def db(self, name: str, **fmt: str) -> dict[str, str]:
        """A driver error: lnd's ExecTx drops every wrapper (see releases.json wrap_note)."""
        entry = self.t[name]
        return {b: self.t["wrap"].format(inner=entry[b].format(**fmt)) for b in ("sqlite", "postgres")}

    def chained(self, inner: str) -> dict[str, str]:
        """A plain Go error: it keeps lnd's wrappers up to BuildDatabase's log line."""
        return {"any": self.t["wrap"].format(inner=self.t["migration_chain"].format(inner=inner))}


class InsertOrder:
    """Runs payments (index order) through every release that has not stopped yet."""

    def __init__(self, table: ReleaseTable, switch_next: int) -> None:
        self.table = table
        self.texts = Texts(table.texts)
        self.runs = [ReleaseRun(r, switch_next) for r in table.releases]
        self.real_ids: set[int] = set()  # non-zero attempt IDs: every release inserts them as they are
        self.session_keys: set[bytes] = set()

    def alive(self) -> list[ReleaseRun]:
        return [r for r in self.runs if r.failure is None]

    def stop(self, runs: list[ReleaseRun], failure: Failure) -> None:
        for r in runs:
            if r.failure is None:
                r.failure = failure

    def payment(self, p: Payment, phash: bytes, seq: int) -> None:
        """Insert ``p`` in each live release; a release that stops records where and why."""
        for run in self.alive():
            try:
                self._one(run, p, phash)
            except _Stop as s:
                run.failure = Failure(stage="payments", reason=s.reason, texts=s.texts, payment=phash.hex(),
                                      sequence=seq, exact=s.exact, note=s.note)
        for h in p.htlcs:
            if h.attempt_id != 0:
                self.real_ids.add(h.attempt_id)
            self.session_keys.add(normalize_session_key(h.session_key))

    # -- one release, one payment ------------------------------------------------
    def _one(self, run: ReleaseRun, p: Payment, phash: bytes) -> None:
        rel = run.release
        pid8 = phash[:8].hex()
        self._check(p.info.first_hop_custom_records, "payment", phash, "payment level")
        keys_here: set[bytes] = set()
        for h in sorted(p.htlcs, key=lambda a: a.attempt_id):
            original = h.attempt_id
            if original == 0 and rel.legacy_zero_attempt_id == "insert_zero":
                idx = 0
                if run.zero_taken:
                    raise _Stop("UNIQUE attempt_index (#10797)",
                                self.texts.db("unique_attempt_index"),
                                exact=False, note=self.texts.t["unique_attempt_index"]["confirmed"])
                run.zero_taken = True
            elif original == 0:
                idx = max(run.next_id, 1)
                run.next_id = idx + 1
                run.allocated.add(idx)
                if idx in self.real_ids:
                    raise self._unique_index()
            else:
                idx = original
                if idx > MAX_INT64:
                    raise _Stop("attempt ID above 2^63-1", self.texts.chained(
                        f"migrate payment {pid8}: migrate attempt {original}: unable to convert HTLC attempt ID to "
                        f"SQL attempt index: attempt_id={idx} payment={pid8} max={MAX_INT64}"))
                if idx in self.real_ids or idx in run.allocated:
                    raise self._unique_index()
            key = normalize_session_key(h.session_key)
            if key in self.session_keys or key in keys_here:
                raise _Stop("UNIQUE session_key (key reused)", self.texts.db("unique_session_key"),
                            exact=False, note=self.texts.t["unique_session_key"]["confirmed"])
            keys_here.add(key)
            self._check(h.route.first_hop_wire_custom_records, "attempt", phash, f"attempt {original}")
            for i, hop in enumerate(h.route.hops):
                self._blinded(run, hop, pid8, original, idx, i)
                self._check(hop.custom_records, "hop", phash, f"attempt {original}, hop {i}")

    def _unique_index(self) -> _Stop:
        return _Stop("UNIQUE attempt_index (attempt ID reused)", self.texts.db("unique_attempt_index"),
                     exact=False, note=self.texts.t["unique_attempt_index"]["confirmed"])

    def _blinded(self, run: ReleaseRun, hop, pid8: str, original: int, idx: int, i: int) -> None:
        rel = run.release
        has_ed = bool(hop.encrypted_data)
        if rel.blinded_hop_rule == "insert_if_any":
            # The row goes in when any blinded field is set; a nil (absent) payload
            # violates NOT NULL. A present-but-empty payload is bound as an empty
            # blob (Go's non-nil []byte{}), which NOT NULL accepts.
            wants_row = has_ed or hop.blinding_point is not None or hop.total_amt_msat != 0
            if wants_row and hop.encrypted_data is None:
                raise _Stop("NOT NULL encrypted_data (#10979)",
                            self.texts.db("not_null_encrypted_data"),
                            exact=False, note=self.texts.t["not_null_encrypted_data"]["confirmed"])
            if wants_row and not has_ed and not run.notes:
                run.notes.append(
                    f"payment {pid8}… has a blinded hop with zero-length encrypted data: counted as passing "
                    "(stored as an empty blob, which NOT NULL accepts); unconfirmed, derived from Go's "
                    "ReadVarBytes and the SQL drivers' binding of an empty []byte")
        elif not has_ed and hop.blinding_point is not None:
            t = self.texts.t["blinding_point_without_data"]
            inner = t["chain"].format(payment8=pid8, attempt_id=original, hop=i) + t["text"].format(
                payment8=pid8, attempt=idx, hop=i)
            raise _Stop("blinding point without data", self.texts.chained(inner))

    def _check(self, records: dict[int, bytes], where: str, phash: bytes, label: str) -> None:
        table = _TABLES_BY_WHERE[where]
        try:
            _check_record_keys(records, table, phash, label)
        except MigrationReject as e:
            entry = self.texts.t["check_custom_key"]
            raise _Stop("CHECK (key >= 65536)", self.texts.db("check_custom_key", table=table),
                        exact=False, note=f"{e}; {entry['confirmed']}") from None
