"""The wizard's log: one sink (the scrubbing handler), each engine line once, 0600, never through a symlink."""

from __future__ import annotations

import logging
import stat
from collections import Counter

import pytest

from migwizard.core.engine.api import Engine
from migwizard.core.files import UnsafePathError
from migwizard.core.generate import generate_store
from migwizard.core.logsink import LOGGER_NAME, ScrubbingFileHandler, install_log_file, remove_log_file
from migwizard.screens.report import ReportScreen
from migwizard.tui.app import MigWizardApp

from .conftest import StepClock, fixed_wall_clock
from .helpers import settle
from .test_real_engine import through_preflight


async def test_wizard_log_has_each_engine_line_once(tmp_path):
    generate_store(tmp_path / "kv", payments=16, seed=1, profile="mixed")
    log = tmp_path / "logs" / "wizard.log"
    app = MigWizardApp("kv", "sqlite:///lnd.sqlite", engine_factory=Engine, chunk_size=8, clock=StepClock(),
                       wall_clock=fixed_wall_clock, log_path=log)
    async with app.run_test(size=(80, 24)) as pilot:
        await through_preflight(pilot)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
    lines = log.read_text().splitlines()
    assert sum("Started run" in x for x in lines) == 1, lines
    # The app's own "session:" line is written each time it opens an engine (the welcome
    # screen's status look may open one before Start closes it): legitimately twice, in the
    # same second on a fast machine. Every other line -- the engine's -- must appear once.
    dup = [x for x, n in Counter(lines).items() if n > 1 and " session: source=" not in x]
    assert not dup, dup
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    # the handler is gone with the app: later lines of other code do not land in this file
    assert not [h for h in logging.getLogger(LOGGER_NAME).handlers if isinstance(h, ScrubbingFileHandler)]


def test_handler_scrubs_passwords_and_refuses_symlinks(tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "envsecret")
    path = tmp_path / "x.log"
    h = install_log_file(path)
    try:
        lg = logging.getLogger(LOGGER_NAME)
        lg.info("cannot open postgresql://bob:s3cr3t@db/lnd (password=hunter2) envsecret")
    finally:
        remove_log_file(h)
    text = path.read_text()
    assert "s3cr3t" not in text and "hunter2" not in text and "envsecret" not in text
    assert "postgresql://bob:***@db/lnd" in text
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    link = tmp_path / "l.log"
    link.symlink_to(victim)
    with pytest.raises(UnsafePathError):
        install_log_file(link)
    assert victim.read_text() == "keep\n"
