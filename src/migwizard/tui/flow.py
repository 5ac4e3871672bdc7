"""The wizard's flow: which screen class stands for which step.

Screens never import each other (an import-linter ``independence`` contract
checks it): a screen asks the app to go to a *step* and the app looks the
screen class up here. The table names classes by dotted path and resolves them
on first use, so this module imports no screen and any screen may import it for
the ``Step`` names without closing an import cycle.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Any

__all__ = ["FLOW", "Step", "make_screen", "screen_class"]


class Step(StrEnum):
    """A place in the wizard; the value is what logs and tests see."""

    WELCOME = "welcome"
    IMPORT = "import"
    PREFLIGHT = "preflight"
    MIGRATE = "migrate"
    REPORT = "report"  # validation and its report (also `migwizard report FILE`)
    DETAIL = "detail"  # one payment, KV and SQL side by side
    COMMIT = "commit"
    DONE = "done"
    ROLLBACK = "rollback"
    ERROR = "error"
    QUIT_DURING_MIGRATION = "quit-during-migration"  # modal


# Step -> "module:Class". The usual path: WELCOME -> (IMPORT ->) PREFLIGHT -> MIGRATE -> REPORT
# -> COMMIT -> DONE; ROLLBACK and DETAIL are pushed over the screen they come from, ERROR
# replaces whichever step failed.
FLOW: dict[Step, str] = {
    Step.WELCOME: "migwizard.screens.welcome:WelcomeScreen",
    Step.IMPORT: "migwizard.screens.importer:ImportScreen",
    Step.PREFLIGHT: "migwizard.screens.preflight:PreflightScreen",
    Step.MIGRATE: "migwizard.screens.migrate:MigrateScreen",
    Step.REPORT: "migwizard.screens.report:ReportScreen",
    Step.DETAIL: "migwizard.screens.detail:PaymentDetailScreen",
    Step.COMMIT: "migwizard.screens.commit:CommitScreen",
    Step.DONE: "migwizard.screens.commit:DoneScreen",
    Step.ROLLBACK: "migwizard.screens.rollback:RollbackScreen",
    Step.ERROR: "migwizard.screens.error:ErrorScreen",
    Step.QUIT_DURING_MIGRATION: "migwizard.screens.confirm:QuitDuringMigration",
}

_resolved: dict[Step, type] = {}


def screen_class(step: Step | str) -> type:
    """The screen class for ``step`` (imported on first use)."""
    step = Step(step)
    cls = _resolved.get(step)
    if cls is None:
        module, _, name = FLOW[step].partition(":")
        cls = getattr(importlib.import_module(module), name)
        _resolved[step] = cls
    return cls


def make_screen(step: Step | str, *args: Any, **kwargs: Any) -> Any:
    """A new screen for ``step``; ``step == Step.ERROR`` with ``from_=...`` uses a named constructor.

    ``make_screen(Step.ERROR, from_="step", failed=msg)`` calls ``ErrorScreen.from_step(msg)``.
    """
    cls = screen_class(step)
    factory = kwargs.pop("from_", None)
    if factory:
        return getattr(cls, f"from_{factory}")(*args, **kwargs)
    return cls(*args, **kwargs)
