"""The wizard's report screen loads at most DETAIL_CAP payment details, however many payments differ."""

from __future__ import annotations

import json

from migwizard.core.report import DETAIL_CAP
from migwizard.screens.report import ReportScreen

from .conftest import REPORT_NAME, results_dir
from .fake_engine import FakeEngine, FakeStore, ident
from .helpers import fake_app, to_report


async def test_report_screen_loads_capped_details(tmp_path):
    n = DETAIL_CAP + 60
    store = FakeStore(payments=n, diff_on=tuple(ident(i) for i in range(n)))
    loaded: list[str] = []

    class Counting(FakeEngine):
        def payment_detail(self, identifier_hex, *, show_secrets=False):
            loaded.append(identifier_hex)
            return super().payment_detail(identifier_hex, show_secrets=show_secrets)

    def factory(kv, sql, **kw):
        return Counting(kv, sql, store=store, **kw)

    app = fake_app(tmp_path, store, factory=factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_report(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert not app.screen.report.ok and len(app.screen.report.differences) == n
        assert len(app.screen.details) == DETAIL_CAP
    assert len(loaded) == DETAIL_CAP
    assert loaded == sorted(ident(i) for i in range(n))[:DETAIL_CAP]
    doc = json.loads((results_dir(tmp_path) / REPORT_NAME).read_text())
    assert len(doc["details"]) == DETAIL_CAP and len(doc["differences"]) == n
