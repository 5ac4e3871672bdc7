"""core/engine/storefacts: the store facts the wizard's screens ask for (they never open core.kv)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET, PAYMENTS_TOMBSTONE_KEY
from migwizard.core.engine.storefacts import (
    StoreFacts,
    count_payments,
    detect_kind,
    import_channel_db,
    import_state,
    store_facts,
)
from migwizard.core.generate import generate_store
from migwizard.core.kv.lmdb_store import LmdbStore

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
CAROL = FIXTURES / "lnd-regtest-carol-channel.db"


def test_facts_of_a_generated_store(tmp_path):
    kv = tmp_path / "kv"
    generate_store(kv, payments=7, profile="mixed", seed=3)
    assert detect_kind(kv) == "lmdb"
    assert count_payments(kv) == 7
    assert store_facts(kv) == StoreFacts(tombstoned=False, imported_from=None)
    assert import_state(kv) == "no import record"  # generated, not an import-bbolt copy
    store = LmdbStore.open(kv)
    try:
        with store.write() as root:
            root.bucket(PAYMENTS_ROOT_BUCKET).put(PAYMENTS_TOMBSTONE_KEY, b"1")
    finally:
        store.close()
    assert tuple(store_facts(kv)) == (True, None)


def test_unusable_places(tmp_path):
    assert import_state(tmp_path / "missing") is None  # an import may create it
    empty = tmp_path / "empty"
    empty.mkdir()
    assert import_state(empty) is None
    (tmp_path / "file").write_text("x")
    assert import_state(tmp_path / "file") == "exists and is not a directory"
    (empty / "notes.txt").write_text("x")
    assert import_state(empty) == "a non-empty directory without an LMDB store"
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "data.mdb").write_bytes(b"not lmdb")
    assert import_state(junk).startswith("unreadable: ")
    assert count_payments(junk) is None
    assert store_facts(junk) == StoreFacts()
    assert detect_kind(tmp_path / "file") is None


@pytest.mark.skipif(not CAROL.exists(), reason=f"LND fixture {CAROL} absent (the shared/ folder is missing)")
def test_import_channel_db_records_its_origin(tmp_path):
    channel_db = tmp_path / "channel.db"
    shutil.copyfile(CAROL, channel_db)
    dest = tmp_path / "copy"
    seen = []
    result, payments = import_channel_db(channel_db, dest, lambda done, total=None, *a, **k: seen.append(done))
    assert detect_kind(channel_db) == "bbolt"
    assert result.entries > 0 and payments == count_payments(dest) and payments is not None
    assert import_state(dest) == "complete"
    facts = store_facts(dest)
    assert not facts.tombstoned and facts.imported_from is not None and Path(facts.imported_from).name == "channel.db"
