"""The release table: one row per release, every row cited, typos refused."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest

from migwizard.core.rehearse import ReleaseTableError, load_releases, parse_table


def _doc():
    return json.loads(resources.files("migwizard.core.rehearse").joinpath("releases.json").read_text())


def test_shipped_table_rows_and_newest_release():
    t = load_releases()
    assert [r.name for r in t.releases] == ["v0.21.0-rc1", "v0.21.0", "v0.21.1", "v0.21.2", "master"]
    assert t.newest_release.name == "v0.21.2"
    by = {r.name: r for r in t.releases}
    assert by["v0.21.0-rc1"].legacy_zero_attempt_id == "insert_zero"
    assert all(by[n].legacy_zero_attempt_id == "remap" for n in ("v0.21.0", "v0.21.1", "v0.21.2", "master"))
    assert [by[n].blinded_hop_rule for n in ("v0.21.1", "v0.21.2")] == ["insert_if_any", "drop_orphan_total_reject_point"]
    assert [by[n].missing_dbp for n in ("v0.21.1", "v0.21.2")] == ["skips_migration_35", "recovers_from_33"]
    for r in t.releases:
        assert r.cites and all(("#" in c) or any(ch.isdigit() for ch in c) for c in r.cites)


def test_a_new_release_is_one_row():
    doc = _doc()
    row = copy.deepcopy(doc["releases"][3])
    row.update(name="v0.21.3", tag="v0.21.3-beta", commit="0123456789ab")
    doc["releases"].insert(4, row)
    t = parse_table(doc)
    assert t.newest_release.name == "v0.21.3"


@pytest.mark.parametrize("field,value", [("blinded_hop_rule", "insert_always"), ("legacy_zero_attempt_id", "zero"),
                                         ("missing_dbp", "")])
def test_unknown_behaviour_flag_is_refused(field, value):
    doc = _doc()
    doc["releases"][2][field] = value
    with pytest.raises(ReleaseTableError, match=field):
        parse_table(doc)


def test_uncited_row_is_refused():
    doc = _doc()
    doc["releases"][0]["cites"] = []
    with pytest.raises(ReleaseTableError, match="cites nothing"):
        parse_table(doc)
