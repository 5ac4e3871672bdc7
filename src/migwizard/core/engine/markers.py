"""The marker matrix: the target's run record x the KV tombstone.

Read on every start (README "The marker matrix"): a committed run without a
tombstone gets its tombstone (after the source fingerprint matches); a
tombstone without a committed run is refused with the recovery. Also the KV
fingerprint scan the run record is checked against, and the cheap
:func:`status` the screens ask instead of running a whole preflight.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..codec.errors import DecodeError
from ..codec.keys import (
    NEXT_PAYMENT_ID_KEY,
    PAYMENTS_INDEX_BUCKET,
    PAYMENTS_ROOT_BUCKET,
    PAYMENTS_TOMBSTONE_KEY,
    TOMBSTONE_META_KEY,
)
from ..codec.peek import peek_payment
from ..kv.errors import KVError
from ..kv.rawpass import sub_bucket_count, values_digest
from ..codec.walk import DuplicateEntry, MissingBucket, PaymentEntry, walk_payment_index
from ..kv.importer import META_IMPORT_SOURCE, META_IMPORT_STATE
from .context import Context, is_lnd_target
from .results import Check, CheckStatus, EngineError, EngineStatus, ExitCode, RunState, StatusCounts, tally
from .runs import Run, run_summary


@dataclass
class KVScan:
    """The source as the run record pins it: fingerprint of the index, totals, markers."""

    fingerprint: str  # sha256 over every index key and value
    counts: StatusCounts
    switch_sequence: int | None  # the htlcswitch sequencer (None: no bucket)
    tombstone: bool
    value_bytes: int = 0  # input of preflight's space estimate
    unmatched: list = None  # type: ignore[assignment]  # (index seq, payment hash, its own seq), first 100
    unmatched_total: int = 0
    root_payments: int = 0  # payment buckets under payments-root-bucket
    resume_after: int | None = None  # a resumed run's checkpoint: what remains is counted apart
    remaining_value_bytes: int = 0  # value bytes of the entries after resume_after
    remaining_payments: int = 0
    missing: list = None  # type: ignore[assignment]  # (index seq, payment hash), first 100
    missing_total: int = 0  # index entries whose payment bucket is absent
    root_absent: bool = False  # payments-root-bucket itself is absent (while the index exists)


def tombstoned(root_bucket) -> bool:
    return bool(root_bucket is not None and root_bucket.get(PAYMENTS_TOMBSTONE_KEY) == b"1")


def damaged(e: Exception) -> EngineError:
    """A damaged store entry met by a pass over the store: a typed refusal naming it (exit 2)."""
    return EngineError(f"the KV store is damaged: {e}", exit_code=ExitCode.PREFLIGHT_REFUSED,
                       hint="restore the store from a backup, or import it again from channel.db")


def require_index(rb, ib) -> None:
    """Payments without their index cannot be migrated in LND's order: a refusal (exit 2)."""
    if rb is not None and ib is None:
        raise EngineError("index bucket does not exist (payments-root-bucket without payments-index-bucket)",
                          exit_code=ExitCode.PREFLIGHT_REFUSED)


def scan_kv(root, *, resume_after: int | None = None) -> KVScan:
    """One pass over the index: fingerprint, totals and statuses from keys alone.

    A damaged store entry is a typed refusal naming it (exit 2), never a traceback."""
    try:
        return _scan_kv(root, resume_after)
    except (KVError, DecodeError) as e:
        raise damaged(e) from None


def _scan_kv(root, resume_after: int | None = None) -> KVScan:
    counts = StatusCounts()
    rb = root.bucket(PAYMENTS_ROOT_BUCKET)
    ib = root.bucket(PAYMENTS_INDEX_BUCKET)
    require_index(rb, ib)
    facts = IndexFacts()
    value_bytes = remaining_value_bytes = remaining_payments = 0
    for entry in walk_payment_index(root):
        facts.see(entry)
        key, value = entry.key, entry.value
        if value is None:
            continue  # not part of the fingerprint; the migration reports it precisely
        entry_bytes = len(key) + len(value)
        if isinstance(entry, PaymentEntry):
            peek = peek_payment(entry.bucket)
            entry_bytes += peek.value_bytes
            counts.attempts += peek.attempts
            counts.hops += peek.hops
            tally(counts, peek.status)
        value_bytes += entry_bytes
        if resume_after is None or entry.seq > resume_after:
            remaining_value_bytes += entry_bytes
            remaining_payments += isinstance(entry, PaymentEntry)
        # BadEntry: counted as an index entry; the migration reports it
    scan = facts.scan(root, count_root_payments(rb), counts)
    scan.value_bytes = value_bytes
    scan.resume_after = resume_after
    scan.remaining_value_bytes = remaining_value_bytes
    scan.remaining_payments = remaining_payments
    return scan


class IndexFacts:
    """What one walk over the payment index shows without decoding a payment: the
    fingerprint, the index entries, the duplicates' entries, the unmatched ones and
    those whose payment bucket is missing. Fed by :func:`scan_kv` and by
    validation's own walk (which sees every entry anyway), so both hash the same
    bytes as :func:`fingerprint_kv`: every entry that has a value, in order."""

    __slots__ = ("_hash", "index_entries", "payments", "duplicates", "unmatched", "unmatched_total", "missing",
                 "missing_total")

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.index_entries = self.payments = self.duplicates = 0
        self.unmatched: list = []  # (index seq, payment hash, its own seq), first 100
        self.unmatched_total = 0
        self.missing: list = []  # (index seq, payment hash), first 100
        self.missing_total = 0

    def see(self, entry) -> None:
        key, value = entry.key, entry.value
        if value is None:
            return  # a sub-bucket in the index: not part of the fingerprint (the walk reports it)
        self._hash.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
        self.index_entries += 1
        if isinstance(entry, PaymentEntry):
            self.payments += 1
        elif isinstance(entry, DuplicateEntry):
            if entry.matched:
                self.duplicates += 1
            else:
                self.unmatched_total += 1
                if len(self.unmatched) < 100:
                    self.unmatched.append((entry.seq, entry.payment_hash, entry.own_sequence))
        elif isinstance(entry, MissingBucket):
            self.missing_total += 1
            if len(self.missing) < 100:
                self.missing.append((entry.seq, entry.payment_hash))

    @property
    def fingerprint(self) -> str:
        return self._hash if isinstance(self._hash, str) else self._hash.hexdigest()

    def frozen(self) -> "IndexFacts":
        """A finished copy that pickles (the hash as its hex digest): validation's walk may
        run in a second process and hands its facts back this way."""
        f = IndexFacts.__new__(IndexFacts)
        for name in self.__slots__:
            setattr(f, name, getattr(self, name))
        f._hash = self.fingerprint
        return f

    def scan(self, root, root_payments: int, counts: StatusCounts | None = None) -> KVScan:
        """The facts as a :class:`KVScan` (``counts``: a scan's status counts; without
        them only the entry counts are filled in)."""
        counts = counts if counts is not None else StatusCounts()
        counts.index_entries = self.index_entries
        counts.duplicates = self.duplicates
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        sb = root.bucket(NEXT_PAYMENT_ID_KEY)
        return KVScan(self.fingerprint, counts, sb.sequence() if sb else None, tombstoned(rb),
                      unmatched=self.unmatched, unmatched_total=self.unmatched_total, root_payments=root_payments,
                      missing=self.missing, missing_total=self.missing_total,
                      root_absent=rb is None and root.bucket(PAYMENTS_INDEX_BUCKET) is not None)


def count_root_payments(rb) -> int:
    """Payment buckets under payments-root-bucket (keys only; the tombstone is a value)."""
    if rb is None:
        return 0
    return sub_bucket_count(rb)


def index_payment_count(root) -> int:
    """The index entries that own their payment (``scan_kv``'s payment count) by a walk
    of the index that decodes no payment: for the backfill case's comparison only."""
    try:
        return sum(isinstance(e, PaymentEntry) for e in walk_payment_index(root))
    except (KVError, DecodeError) as e:
        raise damaged(e) from None


def unmatched_check(scan: KVScan) -> "Check | None":
    """Preflight's warning for index entries that are neither a payment's nor a duplicate's."""
    if not scan.unmatched_total:
        return None
    shown = "; ".join(f"index {seq} -> payment {h.hex()[:16]}… (own sequence {own})"
                      for seq, h, own in scan.unmatched[:5])
    return Check("kv.unmatched", "Unmatched index entries", CheckStatus.WARN,
                 f"{scan.unmatched_total} index entr{'y' if scan.unmatched_total == 1 else 'ies'} match neither "
                 f"their payment's sequence nor any of its duplicates and will be skipped as LND skips them: {shown}",
                 "a damaged payment-sequence-key or index entry: the payment it names will be reported missing "
                 "by validation; restore the store from a backup or re-import it",
                 {"total": scan.unmatched_total,
                  "entries": [{"index_seq": s, "payment": h.hex(), "own_sequence": o} for s, h, o in scan.unmatched]})


def missing_limit(index_entries: int) -> int:
    """How many index entries without a payment bucket still count as LND's rare skip.

    LND's migration skips such an entry silently; a handful happen (a payment deleted
    while its index entry stayed). Many of them are damage - a lost branch of the
    B-tree, a flipped bit in the page holding ``payments-root-bucket`` - and migrating
    "0 payments" then tombstoning the store would lose the history. The rule: more than
    max(10, 1% of the index entries) is damage."""
    return max(10, index_entries // 100)


def missing_damage(scan: KVScan) -> str | None:
    """Why the missing payment buckets are damage rather than skips, or None."""
    if not scan.missing_total:
        return None
    first = ", ".join(f"index {q} -> {h.hex()[:16]}…" for q, h in scan.missing[:5])
    n = scan.missing_total
    if scan.root_absent:
        return (f"payments-root-bucket is absent while payments-index-bucket lists {n} payment"
                f"{'' if n == 1 else 's'} (first: {first})")
    limit = missing_limit(scan.counts.index_entries)
    if n > limit:
        return (f"{n} of {scan.counts.index_entries} index entries name a payment whose bucket is absent "
                f"(more than {limit}, max(10, 1%): damage, not LND's rare skip; first: {first})")
    return None


def missing_check(scan: KVScan) -> "Check | None":
    """Preflight's verdict on index entries without a payment bucket: a warning for a few
    (LND skips them too), a refusal when they are many or the root bucket is gone."""
    if not scan.missing_total:
        return None
    details = {"total": scan.missing_total, "limit": missing_limit(scan.counts.index_entries),
               "root_bucket_absent": scan.root_absent,
               "entries": [{"index_seq": q, "payment": h.hex()} for q, h in scan.missing]}
    damage = missing_damage(scan)
    if damage is not None:
        return Check("kv.missing", "Missing payment buckets", CheckStatus.FAIL,
                     f"the KV store is damaged: {damage}",
                     "restore the store from a backup, or import it again from channel.db", details)
    n = scan.missing_total
    first = ", ".join(f"index {q} -> {h.hex()[:16]}…" for q, h in scan.missing[:5])
    return Check("kv.missing", "Missing payment buckets", CheckStatus.WARN,
                 f"{n} index entr{'y' if n == 1 else 'ies'} name a payment with no bucket and will be skipped "
                 f"as LND skips them: {first}",
                 "a payment deleted while its index entry stayed; many of them would be damage", details)


def fingerprint_kv(root) -> KVScan:
    """What commit, rollback's owner check and reconcile need from the source (and
    migrate, with :func:`migration_facts`), without decoding a payment: the
    fingerprint (the same bytes :func:`scan_kv` hashes), the number of index
    entries, the switch sequencer and the tombstone. Payment counts by status are
    preflight's alone (``counts`` holds only ``index_entries`` here)."""
    h = hashlib.sha256()
    counts = StatusCounts()
    rb = root.bucket(PAYMENTS_ROOT_BUCKET)
    ib = root.bucket(PAYMENTS_INDEX_BUCKET)
    sb = root.bucket(NEXT_PAYMENT_ID_KEY)
    scan = KVScan("", counts, sb.sequence() if sb else None, tombstoned(rb))
    require_index(rb, ib)
    # As scan_kv: every index entry with a value (a sub-bucket is not part of it), raw records.
    counts.index_entries = values_digest(h, ib) if ib is not None else 0
    scan.fingerprint = h.hexdigest()
    return scan


def migration_facts(root) -> KVScan:
    """What a migration needs at its start: :func:`fingerprint_kv` plus the payment
    buckets under payments-root-bucket (``root_payments``, the progress total: one
    raw pass over the root bucket's keys). Two passes that decode nothing, instead of
    preflight's full scan. A damaged store is a typed refusal (exit 2)."""
    try:
        scan = fingerprint_kv(root)
        scan.root_payments = count_root_payments(root.bucket(PAYMENTS_ROOT_BUCKET))
    except (KVError, DecodeError) as e:
        raise damaged(e) from None
    return scan


def fingerprint_store(ctx: Context) -> KVScan:
    """The fingerprint pass (no payment decoded), for steps that read only the
    fingerprint and the switch sequencer (commit, rollback's owner check, reconcile).
    A damaged index is a typed refusal (exit 2), as in :func:`scan_kv`."""
    try:
        with ctx.open_kv() as store, store.read() as root:
            return fingerprint_kv(root)
    except (KVError, DecodeError) as e:
        raise damaged(e) from None


def unfinished_import(store) -> str | None:
    """Why the store's import did not finish (``import-state`` other than complete), or None.

    A store with no ``import-state`` was not made by an import (``generate``, tests)."""
    raw = store.meta_get(META_IMPORT_STATE)
    if raw is None or raw == b"complete":
        return None
    return raw.decode("utf-8", "replace")[:200]


def refuse_unfinished_import(store, kv_path) -> None:
    why = unfinished_import(store)
    if why is not None:
        raise EngineError(f"the import into {kv_path} did not finish (import-state: {why}); "
                          "its payment buckets may be incomplete", exit_code=ExitCode.PREFLIGHT_REFUSED,
                          hint="import again: migwizard import-bbolt CHANNEL_DB --kv NEWDIR (or --yes on the source)")


def tombstone_record(ctx: Context, store=None) -> dict | None:
    """What the commit wrote into the store's metadata: the run and the target it went to.
    ``store``: the store already open (LMDB must not be opened twice in one process)."""
    try:
        if store is not None:
            raw = store.meta_get(TOMBSTONE_META_KEY)
        else:
            with ctx.open_kv() as opened:
                raw = opened.meta_get(TOMBSTONE_META_KEY)
        rec = json.loads(raw) if raw else None
        return rec if isinstance(rec, dict) else None
    except Exception:  # noqa: BLE001 - informational: the message falls back to the plain refusal
        return None


def wrong_target(ctx: Context, run: Run | None, record: dict | None = None) -> str:
    """Which target is wrong, in the words a node runner can act on: where this store
    went (its tombstone record) and what this target holds (its run record)."""
    record = record if record is not None else tombstone_record(ctx)
    if record and record.get("run_id"):
        mine = f"this store was migrated to {record.get('target') or 'another target'}, run {str(record['run_id'])[:8]}"
    else:
        mine = "this store has no migration recorded"
    if run is None:
        theirs = "this target holds no committed migration (no migwizard run at all)"
    else:
        src = f" ({run.source_path})" if run.source_path else ""
        theirs = f"this target holds run {run.run_id[:8]} ({run.state}) of a different KV store{src}"
    return f"wrong target: {mine}; {theirs}"


def foreign_run(ctx: Context, run: Run | None, record: dict | None) -> bool:
    """A committed run in the target that is not the one this store's tombstone names."""
    return bool(run is not None and record and record.get("run_id") and record["run_id"] != run.run_id)


def state_from(tomb: bool, run: Run | None, record: dict | None = None) -> RunState:
    if tomb and run is not None and record and record.get("run_id") and record["run_id"] != run.run_id:
        return RunState.TOMBSTONE_WITHOUT_SQL  # this store went elsewhere: the target's run is not ours
    if run is not None and run.state == "committed":
        return RunState.COMPLETE if tomb else RunState.COMMITTED_NO_TOMBSTONE
    if tomb:
        return RunState.TOMBSTONE_WITHOUT_SQL
    if run is not None:
        return RunState.IN_PROGRESS
    return RunState.FRESH


def kv_tombstoned(ctx: Context) -> bool:
    """One key read, no scan."""
    with ctx.open_kv() as store, store.read() as root:
        return tombstoned(root.bucket(PAYMENTS_ROOT_BUCKET))


def state(ctx: Context) -> RunState:
    tomb = kv_tombstoned(ctx)
    return state_from(tomb, ctx.run(), tombstone_record(ctx) if tomb else None)


def reconcile(ctx: Context) -> RunState:
    """Apply the safe automatic fix of the marker matrix; refuse the unsafe cell.
    A committed run whose lnd sequencer advance (channel.sqlite) did not happen gets it
    first (:func:`.lndseq.reconcile_sequencer`, never lowered, said in the log)."""
    run = ctx.run()
    if run is not None and run.state == "committed":
        from . import lndseq

        lndseq.reconcile_sequencer(ctx, run)
    st = state_from(kv_tombstoned(ctx), run)
    if st is RunState.COMMITTED_NO_TOMBSTONE:
        from . import finish  # finish commits through reconcile too

        run = ctx.run()
        assert run is not None
        if fingerprint_store(ctx).fingerprint != run.source_fingerprint:
            raise EngineError(
                f"{wrong_target(ctx, run)}; not writing a tombstone", exit_code=ExitCode.PREFLIGHT_REFUSED,
                hint="point --sql at this store's own target (or a new one), or --kv at the store that was migrated")
        ctx.log("info", "Committed migration found without a KV tombstone: writing the tombstone now.")
        finish.tombstone_after_commit(ctx, run)
        return RunState.COMPLETE
    if st is RunState.TOMBSTONE_WITHOUT_SQL:
        raise EngineError(
            f"{wrong_target(ctx, ctx.run())}; the KV store is tombstoned, so it is not migrated again",
            exit_code=ExitCode.PREFLIGHT_REFUSED,
            hint=("point --sql at the target it was migrated to (see the tombstone details with "
                  "`migwizard inspect`), or restore the KV store from the backup taken before the migration"))
    return st


def marker_check(state: RunState, run: Run | None, scan: KVScan, record: dict | None = None) -> Check:
    """The preflight line for the marker matrix cell."""
    if state is RunState.FRESH:
        return Check("markers", "Migration markers", CheckStatus.PASS, "fresh: no run, no tombstone")
    if state is RunState.IN_PROGRESS:
        assert run is not None
        if run.source_fingerprint != scan.fingerprint:
            src = f" ({run.source_path})" if run.source_path else ""
            return Check("markers", "Migration markers", CheckStatus.FAIL,
                         f"wrong target: this target holds unfinished run {run.run_id[:8]} of another KV store{src}",
                         "roll that run back (migwizard rollback with its --kv) or pick another target")
        summary = run_summary(run)
        assert summary is not None
        if run.state == "validated":
            return Check("markers", "Migration markers", CheckStatus.WARN,
                         f"run {run.run_id[:8]} is validated, ready to commit ({summary.progress_text})",
                         "commit it, or roll it back instead (migwizard rollback, or Roll back in the wizard)")
        return Check("markers", "Migration markers", CheckStatus.WARN,
                     f"unfinished run {run.run_id[:8]} ({summary.progress_text} migrated): it will resume",
                     "or roll it back instead (migwizard rollback, or Roll back in the wizard)")
    if state is RunState.COMMITTED_NO_TOMBSTONE:
        return Check("markers", "Migration markers", CheckStatus.WARN,
                     "migration committed but the KV tombstone is missing: it will be written",
                     "nothing to do; `migwizard verify` re-checks the data")
    if state is RunState.COMPLETE:
        return Check("markers", "Migration markers", CheckStatus.FAIL,
                     "already migrated: the KV store is tombstoned and the target committed",
                     "nothing to migrate; run `migwizard verify` to re-check")
    mine = (f"this store was migrated to {record.get('target') or 'another target'}, run {str(record['run_id'])[:8]}"
            if record and record.get("run_id") else "the KV store is tombstoned")
    theirs = (f"this target holds run {run.run_id[:8]}" if run is not None
              else "this target holds no committed migration (no migwizard run at all)")
    return Check("markers", "Migration markers", CheckStatus.FAIL, f"wrong target: {mine}; {theirs}",
                 "point --sql at the original target, or restore the KV store from its backup")


def imported_from(ctx: Context) -> str | None:
    """The channel.db this LMDB store was imported from, if it was (import-bbolt records it)."""
    try:
        with ctx.open_kv() as store:
            raw = store.meta_get(META_IMPORT_SOURCE)
        return json.loads(raw)["path"] if raw else None
    except Exception:  # noqa: BLE001 - informational only
        return None


def status(ctx: Context) -> EngineStatus:
    """The run, the marker state and lnd's bookkeeping, without scanning the KV store
    and without creating a SQLite target that does not exist yet."""
    from .lndside import target_case

    run = ctx.run()
    tomb = kv_tombstoned(ctx)
    lnd = target_case(ctx)
    tracker = lnd.tracker_version if lnd.state.has_migration_tracker else None
    record = tombstone_record(ctx) if tomb else None
    st = state_from(tomb, run, record)
    wrong = None
    if st is RunState.TOMBSTONE_WITHOUT_SQL or (
            st is RunState.COMMITTED_NO_TOMBSTONE and run is not None and run.source_path
            and run.source_path != str(ctx.kv_path.resolve())):
        # The second case is a hint only (a moved store looks the same): reconcile decides by fingerprint.
        wrong = wrong_target(ctx, run, record)
    return EngineStatus(
        state=st,
        run=run_summary(run),
        target=ctx.target,
        kv_path=str(ctx.kv_path),
        target_exists=not ctx.target_absent(),
        lnd_tracker_version=tracker,
        lnd_target=is_lnd_target(lnd),
        lnd_tracker_recorded=bool(run is not None and run.state == "committed" and run.stats.get("lnd_tracker")),
        imported_from=imported_from(ctx),
        wrong_target=wrong,
    )
