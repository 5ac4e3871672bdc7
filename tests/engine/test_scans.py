"""One cheap pass per phase instead of full scans (issue 11 item 2).

Migrate, validate and commit no longer run preflight's scan (``scan_kv``, which
peeks every payment): the facts they took from it come from the fingerprint pass,
a raw count of payments-root-bucket, validation's own index walk and a raw digest
of the payment tree. These tests pin that each of those gives what the scan gave,
that the digest still catches every kind of change between validation and commit,
that a run validated by an older migwizard commits safely, and that progress counts
payments (not index entries) and ends at exactly 100%.
"""

from __future__ import annotations

import hashlib
import threading

import pytest

from migwizard.core.codec.keys import (
    PAYMENT_CREATION_INFO_KEY,
    PAYMENT_DUPLICATE_BUCKET,
    PAYMENT_HTLCS_BUCKET,
    PAYMENTS_INDEX_BUCKET,
    PAYMENTS_ROOT_BUCKET,
)
from migwizard.core.codec.walk import walk_payment_index
from migwizard.core.engine import Engine, EngineError
from migwizard.core.engine import digest as digest_mod
from migwizard.core.engine import markers
from migwizard.core.engine import migrate as migrate_mod
from migwizard.core.engine.events import ChunkCommitted, Phase, PhaseStarted, Progress
from migwizard.core.kv.bucket import BucketBase
from migwizard.core.kv.errors import CorruptError
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.kv.rawpass import sub_bucket_count, tree_digest, values_digest
from migwizard.core.sql.transactions import write_txn

from ..reliability.common import flip_sequence_bit, payment_hashes


class _Plain(BucketBase):
    """An LMDB bucket seen only through the bucket interface: the passes' generic way."""

    def __init__(self, inner) -> None:
        self.inner, self.path = inner, inner.path

    def get(self, key):
        return self.inner.get(key)

    def bucket(self, key):
        b = self.inner.bucket(key)
        return _Plain(b) if b is not None else None

    def entries(self):
        for k, v, child in self.inner.entries():
            yield k, v, (_Plain(child) if child is not None else None)

    def sequence(self):
        return self.inner.sequence()


def _digest(kv, plain: bool = False) -> tuple[str, int]:
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        h = hashlib.sha256()
        n = tree_digest(h, _Plain(rb) if plain else rb)
        return h.hexdigest(), n


def _update(kv, fn) -> None:
    with LmdbStore.open(kv, readonly=False) as store:
        store.update(fn)


def _with_duplicates(root) -> tuple[bytes, object]:
    rb = root.bucket(PAYMENTS_ROOT_BUCKET)
    for k, v in rb.items():
        if v is None and rb.bucket(k).bucket(PAYMENT_DUPLICATE_BUCKET) is not None:
            return k, rb.bucket(k)
    raise AssertionError("the edge profile has payments with legacy duplicates")


def _with_htlcs(root):
    rb = root.bucket(PAYMENTS_ROOT_BUCKET)
    for k, v in rb.items():
        if v is None and rb.bucket(k).bucket(PAYMENT_HTLCS_BUCKET) is not None:
            return rb.bucket(k).bucket(PAYMENT_HTLCS_BUCKET)
    raise AssertionError("no payment with attempts")


def _change_attempt_value(root):  # a value two buckets down (payment -> htlcs -> ai...)
    hb = _with_htlcs(root)
    k, v = next((k, v) for k, v in hb.items() if v is not None)
    hb.put(k, v[:-1] + bytes([v[-1] ^ 1]))


def _add_key(root):
    _with_htlcs(root).put(b"zz-extra", b"")


def _remove_key(root):
    hb = _with_htlcs(root)
    hb.delete(next(k for k, v in hb.items() if v is not None))


def _set_sequence(root):
    hb = _with_htlcs(root)
    hb.set_sequence(hb.sequence() + 1)


def _change_duplicate(root):  # three buckets down: payment -> duplicates -> <seq> -> value
    _, pb = _with_duplicates(root)
    db = pb.bucket(PAYMENT_DUPLICATE_BUCKET)
    seq = next(k for k, v in db.items() if v is None)
    inner = db.bucket(seq)
    k, v = next((k, v) for k, v in inner.items() if v is not None)
    inner.put(k, v + b"\x00")


def _add_unindexed_payment(root):
    root.bucket(PAYMENTS_ROOT_BUCKET).create_bucket(b"\x01" * 32).put(PAYMENT_CREATION_INFO_KEY, b"x")


EDITS = {"attempt value": _change_attempt_value, "key added": _add_key, "key removed": _remove_key,
         "sub-bucket sequence": _set_sequence, "duplicate's value": _change_duplicate,
         "unindexed payment": _add_unindexed_payment}


@pytest.mark.parametrize("plain", [False, True], ids=["raw", "bucket-api"])
@pytest.mark.parametrize("edit", list(EDITS))
def test_tree_digest_changes_with_every_kind_of_edit(generated, edit, plain):
    kv = generated("edge", 60)
    before, n = _digest(kv, plain)
    assert (before, n) == _digest(kv, plain)  # deterministic
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        assert n == markers.count_root_payments(root.bucket(PAYMENTS_ROOT_BUCKET)) == 60
    _update(kv, EDITS[edit])
    after, n2 = _digest(kv, plain)
    assert after != before
    assert n2 == n + (edit == "unindexed payment")


def test_raw_counts_and_fingerprint_equal_the_bucket_interface(generated):
    kv = generated("edge", 60)
    _update(kv, lambda root: root.bucket(PAYMENTS_ROOT_BUCKET).put(b"payments-tombstone", b"0"))
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        assert sub_bucket_count(rb) == sub_bucket_count(_Plain(rb)) == 60  # the tombstone is a value
        ib = root.bucket(PAYMENTS_INDEX_BUCKET)
        raw, plain = hashlib.sha256(), hashlib.sha256()
        assert values_digest(raw, ib) == values_digest(plain, _Plain(ib)) == 67  # 7 duplicates' entries
        assert raw.hexdigest() == plain.hexdigest() == markers.fingerprint_kv(root).fingerprint


def test_validation_walk_gives_the_scan_facts(generated):
    """IndexFacts over a walk = scan_kv = fingerprint_kv, on a store with duplicates' entries,
    an unmatched entry (a flipped sequence bit) and missing payment buckets."""
    kv = generated("edge", 150)
    hashes = payment_hashes(kv)
    flip_sequence_bit(kv, hashes[10], bit=3)

    def drop(root):
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        for h in hashes[20:22]:
            rb.delete_bucket(h)

    _update(kv, drop)
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        full = markers.scan_kv(root)
        facts = markers.IndexFacts()
        for entry in walk_payment_index(root):
            facts.see(entry)
        walked = facts.scan(root, markers.count_root_payments(root.bucket(PAYMENTS_ROOT_BUCKET)))
        quick = markers.migration_facts(root)
    assert full.unmatched_total == 1 and full.missing_total == 2 and full.counts.duplicates
    for got in (walked, quick):
        assert got.fingerprint == full.fingerprint
        assert got.counts.index_entries == full.counts.index_entries
        assert got.root_payments == full.root_payments == 148
        assert (got.switch_sequence, got.tombstone) == (full.switch_sequence, full.tombstone)
    assert (walked.unmatched, walked.unmatched_total) == (full.unmatched, full.unmatched_total)
    assert (walked.missing, walked.missing_total, walked.root_absent) == \
        (full.missing, full.missing_total, full.root_absent)
    assert walked.counts.duplicates == full.counts.duplicates
    assert markers.missing_damage(walked) == markers.missing_damage(full)
    assert facts.payments == full.counts.payments


def _no_scans(monkeypatch):
    """Preflight's scan (peeks every payment) and the first digest (bucket by bucket)
    must not run in migrate, validate or commit; nor the backfill case's payment count."""
    def refuse(*a, **k):
        raise AssertionError("a full scan ran outside preflight")

    monkeypatch.setattr(markers, "peek_payment", refuse)
    monkeypatch.setattr(markers, "scan_kv", refuse)
    monkeypatch.setattr(digest_mod, "digest_bucket", refuse)
    # The index walk that counts payments runs only when the target may be a backfill case.
    monkeypatch.setattr(markers, "index_payment_count", refuse)
    monkeypatch.setattr(migrate_mod, "index_payment_count", refuse)


@pytest.mark.parametrize("edit", list(EDITS))
def test_change_between_validation_and_commit_is_refused(generated, target_url, monkeypatch, edit):
    kv = generated("edge", 60)
    with Engine(kv, target_url) as e:
        _no_scans(monkeypatch)
        assert e.migrate().outcome == "complete"
        assert e.validate().ok
        _update(kv, EDITS[edit])
        with pytest.raises(EngineError, match="changed since validation") as ei:
            e.commit()
        assert ei.value.exit_code == 2
        assert e.status().run.state == "validated"


def _restamp(e, **stats) -> None:
    """Rewrite the run record as another migwizard would have left it."""
    ctx = e._ctx
    run = ctx.run()
    for k, v in stats.items():
        if v is None:
            run.stats.pop(k, None)
        else:
            run.stats[k] = v
    with write_txn(ctx.db()):
        run.save(ctx.db())


def _first_digest(kv) -> str:
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        return digest_mod.content_digest_v1(root)


@pytest.mark.parametrize("tamper", [False, True])
def test_run_validated_by_an_older_migwizard_commits_safely(generated, sqlite_url, tamper):
    """No digest version in the record: the digest was computed the first way, and commit
    recomputes it that way (the new digest would never match it)."""
    kv = generated("edge", 60)
    with Engine(kv, sqlite_url) as e:
        assert e.migrate().outcome == "complete" and e.validate().ok
        assert e._ctx.run().stats["content_digest_version"] == digest_mod.CONTENT_DIGEST_VERSION
        _restamp(e, content_digest=_first_digest(kv), content_digest_version=None)
        if tamper:
            _update(kv, _change_attempt_value)
            with pytest.raises(EngineError, match="content digest mismatch"):
                e.commit()
            assert e.status().run.state == "validated"
        else:
            assert e.commit().committed


def test_digest_of_an_unknown_version_is_refused(generated, sqlite_url):
    kv = generated("mixed", 20)
    with Engine(kv, sqlite_url) as e:
        assert e.migrate().outcome == "complete" and e.validate().ok
        _restamp(e, content_digest_version=99)
        with pytest.raises(EngineError, match="unknown kind") as ei:
            e.commit()
        assert ei.value.exit_code == 2 and e.status().run.state == "validated"


class _Events:
    def __init__(self, cancel_after_chunk: int | None = None) -> None:
        self.events: list = []
        self.cancel = threading.Event()
        self.after = cancel_after_chunk

    def __call__(self, ev) -> None:
        self.events.append(ev)
        if isinstance(ev, ChunkCommitted) and self.after is not None and ev.chunk >= self.after:
            self.cancel.set()

    def progress(self, phase: Phase) -> list[Progress]:
        return [ev for ev in self.events if isinstance(ev, Progress) and ev.phase is phase]

    def started(self, phase: Phase) -> PhaseStarted:
        return next(ev for ev in self.events if isinstance(ev, PhaseStarted) and ev.phase is phase)


def test_progress_counts_payments_not_index_entries_and_ends_at_100(generated, sqlite_url, monkeypatch):
    """150 payments + 7 duplicates' index entries: 150/150, never 157/157; a resumed run
    counts on from the committed payments; validation's total is what it checks."""
    kv = generated("edge", 150)
    sink = _Events(cancel_after_chunk=1)
    with Engine(kv, sqlite_url, on_event=sink, chunk_size=40) as e:
        _no_scans(monkeypatch)
        first = e.migrate(cancel=sink.cancel)
        assert first.outcome == "cancelled" and 0 < first.stats.payments < 150
        assert sink.started(Phase.MIGRATE).total == 150
        assert all(p.total == 150 and p.done <= 150 for p in sink.progress(Phase.MIGRATE))
        assert sink.progress(Phase.MIGRATE)[-1].done == first.stats.payments
        sink.events.clear()
        sink.after = None
        second = e.migrate()
        assert second.outcome == "complete" and second.stats.payments == 150
        prog = sink.progress(Phase.MIGRATE)
        assert prog[0].done >= first.stats.payments
        assert all(p.done <= p.total == 150 for p in prog)
        assert [p.done for p in prog] == sorted(p.done for p in prog)
        assert (prog[-1].done, prog[-1].total) == (150, 150) and prog[-1].fraction == 1.0
        rep = e.validate()
        assert rep.ok and rep.payments_checked == 150
        val = sink.progress(Phase.VALIDATE)
        assert sink.started(Phase.VALIDATE).total == 150
        assert (val[-1].done, val[-1].total) == (150, 150)


def test_quarantined_payments_count_toward_progress(generated, sqlite_url):
    """A payment left behind with --quarantine is a payment handled: the migration and
    validation still end at 100% of the payment buckets."""
    from .test_quarantine import N, _corrupt

    kv = generated("mixed", N)
    _corrupt(kv)
    sink = _Events()
    with Engine(kv, sqlite_url, on_event=sink, chunk_size=6, quarantine=True) as e:
        res = e.migrate()
        assert res.outcome == "complete" and res.stats.payments == N - 2
        last = sink.progress(Phase.MIGRATE)[-1]
        assert (last.done, last.total) == (N, N)
        assert e.validate().ok
        last = sink.progress(Phase.VALIDATE)[-1]
        assert (last.done, last.total) == (N, N)


def _bad_tag(kv, where: str) -> bytes:
    """Give one record an unknown tag byte, as a damaged page would: under the root bucket
    (a payment's own entry) or two buckets down (an attempt's value)."""
    import lmdb

    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        if where == "root":
            rb = root.bucket(PAYMENTS_ROOT_BUCKET)
            key = next(k for k, v in rb.items() if v is None)
            full = rb._full(key)
        else:
            hb = _with_htlcs(root)
            key = next(k for k, v in hb.items() if v is not None)
            full = hb._full(key)
    env = lmdb.open(str(kv), max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(full, b"\x09junk", db=env.open_db(b"kv", txn=txn))
    env.close()
    return key


@pytest.mark.parametrize("where", ["root", "nested"])
def test_a_damaged_record_is_a_typed_refusal_naming_it(generated, sqlite_url, where):
    kv = generated("mixed", 20)
    with Engine(kv, sqlite_url) as e:
        assert e.migrate().outcome == "complete"
    key = _bad_tag(kv, where)
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        with pytest.raises(CorruptError, match="unknown tag 9") as ei:
            tree_digest(hashlib.sha256(), root.bucket(PAYMENTS_ROOT_BUCKET))
        assert str(ei.value).endswith(f"{key.hex() if where == 'root' else 'ai' + key[2:].hex()} has unknown tag 9")
        assert "payments-root-bucket/" in str(ei.value)
    with Engine(kv, sqlite_url) as e:
        if where == "root":
            with pytest.raises(EngineError, match="damaged.*unknown tag 9") as ei:
                e.validate()
            assert ei.value.exit_code == 2
        else:
            # Inside a payment the walk's decode meets it first: the run is not validated and
            # the report names the entry (the digest comes after the walk, in the same snapshot).
            rep = e.validate()
            assert not rep.ok
            assert "KV payment unreadable during validation" in rep.error
            assert rep.error.endswith(f"ai{key[2:].hex()} has unknown tag 9")
            assert e.status().run.state != "validated"


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_the_digest_in_steps_is_the_whole_pass(generated, step):
    """Validation's comparing process advances the digest a batch at a time: any step
    size gives the one-pass digest and count (edge: duplicates, nested buckets)."""
    kv = generated("edge", 60)
    raw = _digest(kv)
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        whole = digest_mod.payment_tree_digest(root)
        d = digest_mod.PaymentTreeDigest(root)
        for _ in range(5):
            d.advance(step)
        assert d.result() == d.result() == whole == raw and raw[1] == 60


def test_the_digest_in_steps_keeps_its_error_for_the_result(generated, sqlite_url):
    """A damaged record met while advancing is raised by ``result()`` only (where the walk's
    own digest raised it: after the payments were compared), typed as before."""
    kv = generated("mixed", 20)
    with Engine(kv, sqlite_url) as e:
        assert e.migrate().outcome == "complete"
    _bad_tag(kv, "root")
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        d = digest_mod.PaymentTreeDigest(root)
        d.advance(1000)  # meets the record: keeps it
        with pytest.raises(EngineError, match="damaged.*unknown tag 9") as ei:
            d.result()
        assert ei.value.exit_code == 2


@pytest.mark.parametrize("target", ["payment", "itself"])
def test_buckets_pointing_back_do_not_loop(generated, target):
    """A damaged store whose nested bucket points back at its payment (or at itself):
    the digest still ends, and differs from the undamaged one."""
    import lmdb

    kv = generated("mixed", 20)
    before, _ = _digest(kv)
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        for k, v in rb.items():
            hb = rb.bucket(k).bucket(PAYMENT_HTLCS_BUCKET) if v is None else None
            if hb is not None:
                break
        full = hb._full(b"zz-loop")
        pointee = rb.bucket(k)._prefix if target == "payment" else hb._prefix
    env = lmdb.open(str(kv), max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(full, b"\x01" + pointee + bytes(8), db=env.open_db(b"kv", txn=txn))
    env.close()
    out: list = []
    t = threading.Thread(target=lambda: out.append(_digest(kv)), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the digest did not end"
    assert out[0][0] != before and out[0][1] == 20
