"""Issue 9 items 2, 3, 8, 9: whose run a rollback may touch, one session per target,
unfinished imports, index entries that match nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from migwizard.core.engine import ChunkCommitted, Engine, EngineError
from migwizard.core.engine.targetlock import sqlite_lock_path
from migwizard.core.kv.importer import META_IMPORT_STATE
from migwizard.core.kv.lmdb_store import LmdbStore

from .common import flip_sequence_bit, payment_hashes, rows, run_cli, tables


def _partial_run(kv, url, chunks=1):
    """A run left in progress after ``chunks`` committed chunks (cancelled at the boundary)."""
    cancel = threading.Event()

    def sink(ev):
        if isinstance(ev, ChunkCommitted) and ev.chunk >= chunks:
            cancel.set()

    with Engine(kv, url, chunk_size=5, on_event=sink) as e:
        assert e.migrate(cancel=cancel).outcome == "cancelled"


# -- item 2: rollback proves the run is the given store's -----------------------------------


def test_rollback_with_a_nonexistent_store_deletes_nothing(generated, target_url, tmp_path):
    kv = generated("mixed", 30)
    _partial_run(kv, target_url)
    before = tables(target_url)
    with Engine(tmp_path / "nonexistent", target_url) as e:
        with pytest.raises(EngineError) as ei:
            e.rollback()
    assert ei.value.exit_code == 2
    assert tables(target_url) == before
    p = run_cli("rollback", "--yes", "--kv", tmp_path / "nonexistent", "--sql", target_url, state=tmp_path / "st")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert tables(target_url) == before


def test_rollback_with_another_store_deletes_nothing(generated, target_url):
    kv, other = generated("mixed", 30), generated("mixed", 12, seed=2)
    _partial_run(kv, target_url)
    before = tables(target_url)
    with Engine(other, target_url) as e:
        with pytest.raises(EngineError, match="made from another KV store") as ei:
            e.rollback()
    assert ei.value.exit_code == 2
    assert tables(target_url) == before
    with Engine(kv, target_url) as e:  # its own store may
        res = e.rollback()
    assert res.run_id is not None and sum(res.rows_deleted.values()) > 0


def test_a_live_run_is_never_disturbed_by_a_rollback(generated, target_url, tmp_path):
    """A rollback while another store's run is migrating: refused by the target lock."""
    kv, other = generated("mixed", 40), generated("mixed", 12, seed=2)
    refusals = []

    def sink(ev):
        if isinstance(ev, ChunkCommitted) and ev.chunk == 2:
            for store in (other, tmp_path / "nonexistent", kv):
                try:
                    with Engine(store, target_url) as e2:
                        e2.rollback()
                except EngineError as err:
                    refusals.append((err.exit_code, str(err)))

    with Engine(kv, target_url, chunk_size=5, on_event=sink) as e:
        res = e.migrate()
        assert res.outcome == "complete", res.error
        assert e.validate().ok
    assert [c for c, _ in refusals] == [2, 2, 2]
    # the session lock (same store) or the target lock names the holder
    assert any("another migwizard session is working on the target" in m for _, m in refusals)


# -- item 3: one session per target ------------------------------------------------------


def test_second_store_into_the_same_target_is_refused_while_the_first_runs(generated, target_url):
    kv, other = generated("mixed", 40), generated("mixed", 12, seed=2)
    seen = []

    def sink(ev):
        if isinstance(ev, ChunkCommitted) and ev.chunk == 1:
            with Engine(other, target_url, chunk_size=5) as e2:
                for step in (e2.migrate, e2.validate, e2.commit, e2.rollback):
                    try:
                        step()
                    except EngineError as err:
                        seen.append((err.exit_code, str(err)))

    with Engine(kv, target_url, chunk_size=5, on_event=sink) as e:
        assert e.migrate().outcome == "complete"
        assert e.validate().ok
        assert e.commit().committed
    assert len(seen) == 4 and all(c == 2 and "working on the target" in m for c, m in seen), seen
    assert rows(target_url, "SELECT COUNT(*) FROM payments")[0][0] == 40


def test_sqlite_lock_file_is_private_and_not_followed(generated, tmp_path):
    kv = generated("mixed", 10)
    db = tmp_path / "t.db"
    victim = tmp_path / "victim"
    victim.write_text("keep")
    sqlite_lock_path(db).symlink_to(victim)
    with Engine(kv, f"sqlite:///{db}") as e:
        with pytest.raises(EngineError, match="symlink") as ei:
            e.migrate()
    assert ei.value.exit_code == 2 and victim.read_text() == "keep" and not db.exists()
    sqlite_lock_path(db).unlink()
    modes = []

    def sink(ev):
        if isinstance(ev, ChunkCommitted):
            modes.append(sqlite_lock_path(db).stat().st_mode & 0o777)

    with Engine(kv, f"sqlite:///{db}", chunk_size=5, on_event=sink) as e:
        assert e.migrate().outcome == "complete"
    assert modes and set(modes) == {0o600}  # private while held
    assert not sqlite_lock_path(db).exists()  # and nothing left beside the target afterwards


# -- item 8: an unfinished import ----------------------------------------------------------


def test_unfinished_import_is_refused(generated, target_url, tmp_path):
    kv = generated("mixed", 10)
    with LmdbStore.open(kv, readonly=False) as store:
        store.meta_put(META_IMPORT_STATE, b"in-progress")
    with Engine(kv, target_url) as e:
        pre = e.preflight()
        assert not pre.ok
        assert any(c.id == "kv.import" and c.status.value == "fail" for c in pre.checks)
        with pytest.raises(EngineError, match="did not finish") as ei:
            e.migrate()
        assert ei.value.exit_code == 2
    p = run_cli("--yes", "--kv", kv, "--sql", target_url, state=tmp_path / "st")
    assert p.returncode == 2, p.stderr
    assert "import" in (p.stderr + p.stdout) and "Traceback" not in p.stderr
    if target_url.startswith("sqlite"):
        assert not (tmp_path / "target.db").exists()
    else:
        assert rows(target_url, "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'payments'")[0][0] == 0


# -- item 9: an index entry that matches nothing -----------------------------------------


def test_flipped_sequence_bit_is_reported_loudly(import_fixture, target_url, tmp_path):
    kv = import_fixture("alice")
    hashes = payment_hashes(kv)
    assert len(hashes) == 8
    flip_sequence_bit(kv, hashes[3], bit=5)
    with Engine(kv, target_url) as e:
        pre = e.preflight()
        um = [c for c in pre.checks if c.id == "kv.unmatched"]
        assert um and um[0].status.value == "warn" and hashes[3].hex()[:16] in um[0].reason
        res = e.migrate()
        assert res.outcome == "complete"
        assert res.stats.normalisations.get("unmatched_index_entry_skipped") == 1
        assert "duplicate_index_entry_skipped" not in res.stats.normalisations
        rep = e.validate()
        assert not rep.ok and "8 payments in payments-root-bucket, 7 migrated" in rep.error
    skipped = rows(target_url, "SELECT reason FROM migwizard_skipped")
    assert [r[0] for r in skipped] == ["unmatched_index_entry"]
    with Engine(kv, target_url) as e:
        e.rollback()
    p = run_cli("--yes", "--kv", kv, "--sql", target_url, state=tmp_path / "st")
    assert p.returncode == 1, p.stderr
    assert "Validation:    OK" not in p.stdout and "7 migrated" in p.stdout
    assert "unmatched_index_entry_skipped" in p.stdout and "WARNING" in p.stdout


# -- item 10: the fingerprint covers what was validated --------------------------------------


def test_payment_changed_between_validation_and_commit_is_refused(generated, target_url):
    from migwizard.core.codec.keys import PAYMENT_CREATION_INFO_KEY, PAYMENTS_ROOT_BUCKET

    kv = generated("mixed", 20)
    victim = payment_hashes(kv)[7]
    with Engine(kv, target_url) as e:
        assert e.migrate().outcome == "complete" and e.validate().ok

        def edit(root):
            pb = root.bucket(PAYMENTS_ROOT_BUCKET).bucket(victim)
            raw = bytearray(pb.get(PAYMENT_CREATION_INFO_KEY))
            raw[-1] ^= 1  # the index is untouched: only the payment's content changes
            pb.put(PAYMENT_CREATION_INFO_KEY, bytes(raw))

        with LmdbStore.open(kv, readonly=False) as store:
            store.update(edit)
        with pytest.raises(EngineError, match="changed since validation") as ei:
            e.commit()
        assert ei.value.exit_code == 2
        assert e.status().run.state == "validated"
