"""The wizard on the real engine with the migration's KV half in a second process
(``MIGWIZ_WORKERS=2``): the child starts under Textual (whose stderr has no file descriptor),
the progress messages arrive, and the migration completes as in one process."""

from __future__ import annotations

from migwizard.core.engine import workers
from migwizard.core.engine.events import Phase
from migwizard.core.engine.results import MigrationResult
from migwizard.screens.migrate import MigrateScreen
from migwizard.tui.messages import EngineProgress

from .helpers import settle
from .test_real_engine import CHUNK, PAYMENTS, kv, real_app, steps, through_preflight  # noqa: F401


async def test_wizard_migrates_with_the_second_process(kv, monkeypatch):  # noqa: F811
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    real = workers.stream
    started = []

    def recording(target, args, **kw):
        s = real(target, args, **kw)
        started.append(s.in_child)
        return s

    monkeypatch.setattr(workers, "stream", recording)
    messages = []
    app = real_app()
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await through_preflight(pilot)
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen), app.screen
    assert started and started[0], "the KV half did not run in a second process"
    (migration,) = steps(messages, "migrate")
    assert isinstance(migration, MigrationResult)
    assert migration.outcome == "complete" and migration.stats.payments == PAYMENTS
    assert migration.stats.chunks == PAYMENTS // CHUNK
    progress = [m.event for m in messages if isinstance(m, EngineProgress) and m.event.phase is Phase.MIGRATE]
    assert progress and progress[-1].done == progress[-1].total == PAYMENTS
    assert progress[-1].chunk == PAYMENTS // CHUNK
