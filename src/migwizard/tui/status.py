"""The two facts the commit and rollback screens need about the target, from one place.

Those screens must know which run the target holds (what a rollback removes) and
whether the target is lnd's own database (what a commit records). The engine's
cheap ``Engine.status()`` answers both without scanning the KV store; a preflight
this session already took of the same target answers them too (its
``sql.lnd_tracker`` check carries the lnd-target verdict), so the commit screen
reuses it rather than asking again. Screens read only :class:`TargetStatus`, so
the two sources meet here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migwizard.core.engine.results import CheckStatus, EngineStatus, PreflightReport, RunSummary

__all__ = ["TargetStatus", "engine_status", "from_preflight", "from_engine_status"]

TRACKER_CHECK = "sql.lnd_tracker"


@dataclass(frozen=True)
class TargetStatus:
    """What the target is and which run it holds."""

    # True: lnd's own database right before its payments migration (the commit records it);
    # False: a standalone copy (lnd's bookkeeping left alone); None: not known.
    lnd_target: bool | None = None
    run_id: str | None = None  # the uncommitted run the target holds, if any
    run: RunSummary | None = None  # its summary, when the engine reports one
    preflight: PreflightReport | None = None  # set when the facts came from a preflight

    @property
    def standalone(self) -> bool:
        return self.lnd_target is False


def from_preflight(report: PreflightReport) -> TargetStatus:
    """The facts a preflight report carries (its tracker check decides the lnd-target verdict)."""
    tracker = next((c for c in report.checks if c.id == TRACKER_CHECK), None)
    lnd: bool | None = None
    if tracker is not None and tracker.status is CheckStatus.PASS:
        lnd = True
    elif tracker is not None and tracker.status is CheckStatus.WARN:
        lnd = False
    run = report.run
    return TargetStatus(lnd_target=lnd, run_id=run.run_id if run is not None else report.run_id, run=run,
                        preflight=report)


def from_engine_status(status: EngineStatus) -> TargetStatus:
    """The facts of ``Engine.status()``."""
    run = status.run
    return TargetStatus(lnd_target=bool(status.lnd_target), run_id=run.run_id if run is not None else None, run=run)


def engine_status(engine: Any) -> TargetStatus:
    """Ask ``engine`` (blocking: call from a worker); its ``status()`` reads no more than the run
    record, lnd's migration tracker and one KV key."""
    return from_engine_status(engine.status())
