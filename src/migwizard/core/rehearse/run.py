"""``rehearse(source)``: read the node's KV once, read-only, and say what each lnd
release's payments migration would do with it.

The walk is lnd's own (spec §4.2-§4.3): the payment index in key order, missing
buckets skipped, duplicates' index entries skipped, every payment decoded with
the migration's codec. A record the codec refuses (spec §2.11) is one no lnd
release can read, so it stops every release still running, at that payment.
Payments that decode go through :class:`.simulate.InsertOrder` (where releases
differ) and through the engine's own ``expected_sql_payment`` (the newest
rules, which migwizard applies too), whose named normalisations are counted.
Nothing is written: LMDB opens read-only without a lock file, bbolt through the
read-only reader, lnd's KV-over-SQL table in a read-only snapshot.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..codec import DecodeError, decide_status, fetch_payment, render_key
from ..codec.model import PaymentStatus
from ..codec.peek import peek_payment
from ..codec.keys import NEXT_PAYMENT_ID_KEY as SWITCH_BUCKET
from ..codec.keys import PAYMENTS_INDEX_BUCKET as INDEX_BUCKET
from ..codec.keys import PAYMENTS_ROOT_BUCKET as ROOT_BUCKET
from ..codec.walk import BadEntry, MissingBucket, PaymentEntry, walk_payment_index
from ..engine.normalisations import NormalisationCounter
from ..engine.rows import SwitchIdAllocator, expected_duplicates
from ..engine.space import single_transaction_wal_bytes, sql_rows_bytes
from ..engine.transform import MigrationReject, expected_sql_payment
from ..kv.channeldb import DB_VERSION_KEY, METADATA_BUCKET, channeldb_version
from ..kv.bbolt import BboltReader
from ..kv.errors import KVError
from ..kv.kvsql import KvSqlReader
from ..kv.lmdb_store import LmdbStore
from ..kv.source import source_kind
from .model import Counts, Estimates, Failure, RehearsalReport, ReleaseVerdict
from .recommend import recommendation
from .releases import ReleaseTable, load_releases
from .simulate import InsertOrder, Texts

WAITING_PROOFS_BUCKET = b"waitingproofs"
LEGACY_PROOF_KEY_LEN = 9  # migration35 rewrites 9-byte keys into 10-byte typed ones

#: lnd's own logged migration rate (spec §6, commit e0ea1f9da: 399.2 pmt/s).
LND_PAYMENTS_PER_SECOND = 400.0
UNREADABLE_LISTED = 20


def open_readonly(source: str, *, table: str | None = None):
    """(kind, store) for any source migwizard reads, opened so that it is only read:
    LMDB without a lock file, bbolt by the read-only reader, KV-over-SQL (lnd's
    channel.sqlite or PostgreSQL) in one read-only snapshot."""
    kind = source_kind(source)  # a precise KVError for anything else
    if kind.startswith("kvsql"):
        return kind, KvSqlReader(source, table=table)
    if table is not None:
        raise KVError("--kv-table applies to a channel.sqlite or PostgreSQL KV store")
    if kind == "lmdb":
        path = Path(source)
        return kind, LmdbStore.open(path if path.is_dir() else path.parent, readonly=True, lock=False)
    return kind, BboltReader(source)


def rehearse(source: str | Path, *, table: ReleaseTable | None = None, kv_table: str | None = None,
             clock: Callable[[], float] = time.perf_counter) -> RehearsalReport:
    """Rehearse every release in ``table`` (default: the shipped one) on ``source``
    (an LMDB dir, a channel.db, a channel.sqlite or a postgresql:// URL)."""
    table = table or load_releases()
    kind, store = open_readonly(str(source), table=kv_table)
    origin = getattr(store, "origin", None) or str(source)  # a PostgreSQL URL without its password
    with store, store.read() as root:
        return _Walk(table, root, clock).run(origin, kind)


class _Walk:
    def __init__(self, table: ReleaseTable, root, clock: Callable[[], float]) -> None:
        self.table = table
        self.root = root
        self.clock = clock
        self.texts = Texts(table.texts)
        self.counts = Counts()
        self.counter = NormalisationCounter()
        self.unreadable: list[Failure] = []
        self.value_bytes = 0
        self.decode_seconds = 0.0

    def run(self, source: str, kind: str) -> RehearsalReport:
        version = channeldb_version(self.root)
        sb = self.root.bucket(SWITCH_BUCKET)
        order = InsertOrder(self.table, sb.sequence() if sb is not None else 0)
        startup, notes = self._startup_checks(kind)
        rb = self.root.bucket(ROOT_BUCKET)
        ib = self.root.bucket(INDEX_BUCKET)
        if rb is not None and ib is None:
            order.stop(order.runs, Failure("payments", "index bucket does not exist",
                                           self.texts.chained("index bucket does not exist")))
        elif rb is not None:
            self._walk(order)
        verdicts = []
        for run in order.runs:
            failure = run.failure or startup.get(run.release.name)
            verdicts.append(ReleaseVerdict(run.release.name, run.release.tag, run.release.commit,
                                           run.release.is_release, list(run.release.cites), failure,
                                           list(notes.get(run.release.name, [])) + run.notes))
        rate = self.counts.payments / self.decode_seconds if self.decode_seconds > 0 and self.counts.payments else None
        est = Estimates(
            lnd_rate=LND_PAYMENTS_PER_SECOND,
            lnd_seconds=self.counts.payments / LND_PAYMENTS_PER_SECOND,
            migwizard_rate=rate,
            migwizard_rate_note=("estimate: migwizard's decode and checks on this machine during this rehearsal; "
                                 "its SQL writes come on top"),
            kv_value_bytes=self.value_bytes,
            sql_rows_bytes=sql_rows_bytes(self.value_bytes),
            wal_bytes=single_transaction_wal_bytes(self.value_bytes),
            space_note=("lnd migrates in one transaction: the rows and indexes, and a WAL of about the same "
                        "size until its commit; migwizard's chunks keep the WAL to one chunk"),
        )
        newest = self.table.newest_release.name
        report = RehearsalReport(source, kind, version, verdicts, self.counts, est, dict(self.counter),
                                 self.unreadable, "", newest)
        report.recommendation = recommendation(report)
        return report

    # -- before and after the payments step --------------------------------------
    def _startup_checks(self, kind: str) -> tuple[dict[str, Failure], dict[str, list[str]]]:
        """#11037: metadata present without ``dbp``. Releases that skip channeldb
        migration 35 then fail at start-up decoding legacy waiting proofs, after
        their payments migration ran (newServer comes after BuildDatabase)."""
        failures: dict[str, Failure] = {}
        notes: dict[str, list[str]] = {}
        meta = self.root.bucket(METADATA_BUCKET)
        if meta is None or meta.get(DB_VERSION_KEY) is not None:
            return failures, notes
        proofs = self.root.bucket(WAITING_PROOFS_BUCKET)
        legacy = 0
        if proofs is not None:
            legacy = sum(1 for k, _v in proofs.items() if len(k) == LEGACY_PROOF_KEY_LEN)
        t = self.table.texts["waiting_proof_eof"]
        for rel in self.table.releases:
            if rel.missing_dbp != "skips_migration_35":
                notes.setdefault(rel.name, []).append(
                    "metadata/dbp is missing: this release recovers it from version 33 and runs migration 35")
                continue
            if legacy:
                failures[rel.name] = Failure(
                    "after_payments", "unexpected EOF (#11037)", {"any": t["printed"]},
                    key=render_key(METADATA_BUCKET, DB_VERSION_KEY),
                    note=f"metadata/dbp missing and {legacy} legacy waiting proof(s): channeldb migration 35 is "
                         "skipped; " + t["source"])
            elif proofs is None and kind == "lmdb":
                notes.setdefault(rel.name, []).append(
                    "metadata/dbp is missing and this copy has no waitingproofs bucket: rehearse on channel.db "
                    "to know whether this release stops with 'unexpected EOF' (#11037)")
            else:
                notes.setdefault(rel.name, []).append(
                    "metadata/dbp is missing: channeldb migration 35 is skipped; no legacy waiting proofs, "
                    "so start-up is not affected (#11037)")
        return failures, notes

    # -- the payments step -------------------------------------------------------
    def _walk(self, order: InsertOrder) -> None:
        switch = order.runs[0].next_id if order.runs else 0
        alloc = SwitchIdAllocator(switch)  # the newest rules' allocator (spec §4.6), for expected_sql_payment

        for entry in walk_payment_index(self.root):
            key = bytes(entry.key)
            self.counts.index_entries += 1
            self.value_bytes += len(key) + (len(entry.value) if entry.value else 0)
            seq = entry.seq
            if isinstance(entry, BadEntry):
                self._unreadable(order, entry.error, seq)
                continue
            if isinstance(entry, MissingBucket):
                self.counts.skipped += 1
                continue
            if not isinstance(entry, PaymentEntry):
                continue  # a legacy duplicate's entry; migrated with its main payment
            phash = entry.payment_hash
            self.value_bytes += peek_payment(entry.bucket).value_bytes
            t0 = self.clock()
            try:
                p = fetch_payment(entry.bucket, payment_id=phash, key_prefix=render_key(ROOT_BUCKET))
            except DecodeError as e:
                self._unreadable(order, e, seq)
                continue
            finally:
                self.decode_seconds += self.clock() - t0
            order.payment(p, phash, seq)
            t0 = self.clock()
            try:
                out = expected_sql_payment(p, phash, allocate_zero_id=alloc, counter=self.counter, in_place=True)
                dups = expected_duplicates(p, self.counter)
            except MigrationReject as e:
                self._refused_by_rules(order, e, phash, seq)
                continue
            finally:
                self.decode_seconds += self.clock() - t0
            self._count(out.payment, len(dups))

    def _unreadable(self, order: InsertOrder, e: DecodeError, seq: int) -> None:
        self.counts.unreadable += 1
        pid = e.payment
        pid8 = pid[:8].hex() if pid else ""
        k = e.key or ""
        if e.code == "no_sequence" or k.startswith(INDEX_BUCKET.decode()):
            inner = e.reason  # returned bare by migrateIndexEntry
        elif "payment-duplicate-bucket" in k:
            inner = f"migrate duplicates {pid8}: {e.reason}"
        else:
            inner = f"fetch payment {pid8}: {e.reason}"
        f = Failure("payments", "unreadable record (spec §2.11)", self.texts.chained(inner),
                    payment=pid.hex() if pid else None, sequence=seq, key=e.key, offset=e.offset,
                    exact=e.code == "no_sequence",
                    note="no lnd release reads it; the wording after the payment is migwizard's decoder's")
        if len(self.unreadable) < UNREADABLE_LISTED:
            self.unreadable.append(f)
        order.stop(order.alive(), f)

    def _refused_by_rules(self, order: InsertOrder, e: MigrationReject, phash: bytes, seq: int) -> None:
        """The engine refuses what the newest release refuses; the simulator should have said
        so first. If it did not, the releases with the newest rules stop here all the same."""
        newest = self.table.newest_release
        same = [r for r in order.alive() if (r.release.legacy_zero_attempt_id, r.release.blinded_hop_rule)
                == (newest.legacy_zero_attempt_id, newest.blinded_hop_rule)]
        order.stop(same, Failure("payments", "refused by the newest rules", {"any": str(e)},
                                 payment=phash.hex(), sequence=seq, exact=False,
                                 note="migwizard's wording of the rule lnd applies"))

    def _count(self, p, dups: int) -> None:
        c = self.counts
        c.payments += 1
        st = decide_status(p)
        if st is PaymentStatus.SUCCEEDED:
            c.succeeded += 1
        elif st is PaymentStatus.FAILED:
            c.failed += 1
        elif st is PaymentStatus.IN_FLIGHT:
            c.in_flight += 1
        else:
            c.initiated += 1
        c.attempts += len(p.htlcs)
        c.hops += sum(len(h.route.hops) for h in p.htlcs)
        if dups:
            c.duplicate_payments += 1
            c.duplicate_entries += dups

