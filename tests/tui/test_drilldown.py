"""The payment drill-down."""

from __future__ import annotations

from textual.widgets import Static

from migwizard.core.engine.results import PaymentDetail
from migwizard.screens.detail import PaymentDetailScreen
from migwizard.tui.flow import Step

from .helpers import text


async def test_drilldown_of_undecodable_payment_shows_the_error(mount_screen):
    error = ("payment 0a0b…: key payment-creation-info does not decode at byte offset 3: truncated "
             "value (want 8 bytes, have 3); the rest of this record cannot be read")
    detail = PaymentDetail(identifier="0a0b" * 16, kv={"error": error}, sql=None, differences=[],
                           normalisations=[], kv_error=error)
    async with mount_screen(Step.DETAIL, detail.identifier, detail=detail, offline=True) as pilot:
        assert isinstance(pilot.app.screen, PaymentDetailScreen)
        title = text(pilot.app.screen.query_one("#pd-title", Static))
        notes = text(pilot.app.screen.query_one("#pd-notes", Static))
    assert "match" not in title and "does not decode" in title
    assert error in notes.replace("\n", " ")
