"""A report written by the headless CLI opens in the wizard's report viewer, differences included."""

from __future__ import annotations

from migwizard.core.engine import Engine
from migwizard.core.report import load_report, write_report
from migwizard.core.generate import generate_store
from migwizard.core.sql.connect import open_database


def test_headless_report_loads_in_viewer_with_masked_details(tmp_path):
    kv = tmp_path / "kv"
    generate_store(kv, payments=0, profile="edge", seed=1)
    url = f"sqlite:///{tmp_path / 't.sqlite'}"
    with Engine(kv, url) as e:
        assert e.migrate().outcome == "complete"
        assert e.validate().ok
    db = open_database(url)
    with db.atomic():
        db.execute_sql("UPDATE payment_htlc_attempts SET session_key = X'" + "11" * 32 + "' WHERE id = 2")
    db.close()
    with Engine(kv, url) as e:
        rep = e.validate()
        assert not rep.ok
        path = write_report(tmp_path / "r.json", rep, e)
    text = path.read_text()
    assert "11" * 32 not in text  # the altered session key is a secret: masked in the diff and details
    loaded, details = load_report(path)
    assert not loaded.ok and loaded.differences_total == rep.differences_total
    bad = {d.payment for d in rep.differences}
    assert set(details) == bad
    d = next(iter(details.values()))
    assert any(x.path.endswith("session_key") for x in d.differences)
    assert all(x.kv == "<redacted>" for x in d.differences if x.path.endswith("session_key"))
