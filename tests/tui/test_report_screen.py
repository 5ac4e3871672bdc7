"""The report screen: where the report and log go, and starting on the first difference."""

from __future__ import annotations

import stat

from textual.widgets import DataTable

from migwizard.screens.detail import PaymentDetailScreen
from migwizard.screens.report import ReportScreen
from migwizard.tui.widgets import DiffTree

from .conftest import REPORT_NAME, results_dir
from .fake_engine import FakeStore, ident
from .helpers import fake_app, settle, to_report


async def test_report_and_log_paths(tmp_path):
    report, log = tmp_path / "out" / "mine.json", tmp_path / "logs" / "wizard.log"
    app = fake_app(tmp_path, FakeStore(), report_path=report, log_path=log)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
        assert isinstance(app.screen, ReportScreen)
    assert report.exists() and log.exists()
    assert not list(results_dir(tmp_path).glob("*.json"))
    for f in (report, log):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    app2 = fake_app(tmp_path, FakeStore())
    async with app2.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
    assert (results_dir(tmp_path) / REPORT_NAME).exists()


async def test_report_starts_on_a_difference_and_n_jumps_to_it(tmp_path):
    store = FakeStore(diff_on=(ident(5),))
    app = fake_app(tmp_path, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
        table = app.screen.query_one("#payments", DataTable)
        # differing payments are listed first, and the cursor starts on the difference
        assert table.cursor_row == 0
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == ident(5)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PaymentDetailScreen)
        await pilot.press("n")
        await pilot.pause()
        tree = app.screen.query_one("#kv", DiffTree)
        assert tree.cursor_node is not None
        assert tree.cursor_node.data == "attempts[0].route.hops[1].amt_to_forward"
        await pilot.press("p")  # the only difference: p wraps onto it
        await pilot.pause()
        assert tree.cursor_node.data == "attempts[0].route.hops[1].amt_to_forward"
