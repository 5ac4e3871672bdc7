"""Engine.status(): the screens' two facts without a preflight, and the small
shared pieces behind the engine split (one lnd-target rule, one id allocator,
outcomes as enums)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from migwizard.core.engine import CheckStatus, Engine, RunState
from migwizard.core.engine import markers
from migwizard.core.engine.context import is_lnd_target
from migwizard.core.engine.results import Outcome
from migwizard.core.engine.rows import SwitchIdAllocator
from migwizard.core.engine.transform import MigrationReject

from .test_engine_protocol import _make_lnd_target


def _no_scan(monkeypatch):
    def refuse(root):
        raise AssertionError("status() must not scan the KV store")

    monkeypatch.setattr(markers, "scan_kv", refuse)


def test_status_follows_the_run_without_scanning_the_kv(import_fixture, tmp_path, monkeypatch):
    kv = import_fixture("alice")
    db_path = tmp_path / "new" / "target.sqlite"
    db_path.parent.mkdir()
    url = f"sqlite:///{db_path}"
    with Engine(kv, url) as e:
        _no_scan(monkeypatch)
        st = e.status()
        assert st.state is RunState.FRESH and st.run is None
        assert not st.target_exists and not db_path.exists()  # looking does not create the file
        assert st.lnd_tracker_version is None and not st.lnd_target and st.standalone_copy
        assert st.target == url and st.kv_path == str(kv)
        monkeypatch.undo()
        res = e.migrate()
        assert res.outcome is Outcome.COMPLETE
        _no_scan(monkeypatch)
        st = e.status()
        assert st.state is RunState.IN_PROGRESS and st.target_exists
        assert st.run is not None and st.run.run_id == res.run_id and st.run.payments_done == 8
        assert st.run.state == "running" and st.run.created_schema and st.run.created_file
        monkeypatch.undo()
        assert e.validate().ok
        commit = e.commit()
        _no_scan(monkeypatch)
        st = e.status()
    assert st.state is RunState.COMPLETE and st.run.state == "committed"
    assert not commit.lnd_tracker_recorded and not st.lnd_tracker_recorded and st.standalone_copy
    doc = st.to_json()
    assert doc["state"] == "complete" and doc["standalone_copy"] is True
    json.dumps(doc)


def test_status_and_preflight_agree_on_lnds_own_database(import_fixture, target_url):
    kv = import_fixture("alice")
    _make_lnd_target(target_url)
    with Engine(kv, target_url) as e:
        st = e.status()
        assert st.lnd_tracker_version == 13 and st.lnd_target and not st.standalone_copy
        tracker = next(c for c in e.preflight().checks if c.id == "sql.lnd_tracker")
        assert tracker.status is CheckStatus.PASS
        assert e.migrate().outcome == "complete"
        assert e.validate().ok
        assert e.commit().lnd_tracker_recorded
        st = e.status()
    # lnd now stands at 14: no longer "before its migration", but it owns these rows
    assert st.lnd_tracker_version == 14 and not st.lnd_target
    assert st.lnd_tracker_recorded and not st.standalone_copy and st.state is RunState.COMPLETE


def test_one_lnd_target_rule():
    assert is_lnd_target(13)
    assert not is_lnd_target(None) and not is_lnd_target(12) and not is_lnd_target(14)


def test_switch_id_allocator_skips_zero_and_refuses_exhaustion():
    a = SwitchIdAllocator(0)
    assert [a(), a(), a()] == [1, 2, 3] and a.next == 4
    b = SwitchIdAllocator((1 << 64) - 2)
    assert b() == (1 << 64) - 2
    with pytest.raises(MigrationReject, match="exhausted"):
        b()


def test_outcomes_keep_their_plain_values():
    assert [o.value for o in Outcome] == ["complete", "cancelled", "failed"]
    assert Outcome.CANCELLED == "cancelled" and str(Outcome.FAILED) == "failed"
    assert json.dumps(asdict_of(Outcome.COMPLETE)) == '{"outcome": "complete"}'


def asdict_of(outcome: Outcome) -> dict:
    from migwizard.core.engine.results import MigrationResult, MigrationStats

    doc = asdict(MigrationResult("r", outcome, MigrationStats(), 0))
    return {"outcome": doc["outcome"]}


def test_payment_detail_by_full_hash_and_by_prefix(import_fixture, sqlite_url):
    kv = import_fixture("alice")
    with Engine(kv, sqlite_url) as e:
        e.migrate()
        ident = e.validate().payments[0].identifier
        full = e.payment_detail(ident)
        assert full.identifier == ident and full.kv is not None and full.sql is not None
        assert not full.differences
        assert e.payment_detail(ident[:12].upper()).identifier == ident
        with pytest.raises(Exception, match="ambiguous"):
            e.payment_detail("")
        with pytest.raises(Exception, match="no payment"):
            e.payment_detail("ff" * 32)
