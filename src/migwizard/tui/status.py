"""The two facts the commit and rollback screens need about the target, from one place.

Those screens must know which run the target holds (what a rollback removes) and
whether the target is lnd's own database (what a commit records). The engine's
cheap ``Engine.status()`` answers both without scanning the KV store; engines
without it (older ones, test doubles) are asked through a preflight, whose
``sql.lnd_tracker`` check carries the lnd-target verdict. Screens read only
:class:`TargetStatus`, so switching sources happens here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migwizard.core.engine.results import CheckStatus, PreflightReport, RunSummary

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


def _first(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def from_engine_status(status: Any) -> TargetStatus:
    """The facts of an ``EngineStatus`` (``Engine.status()``)."""
    lnd = _first(status, "lnd_target", "is_lnd_target", "lnd_database")
    if lnd is None:
        standalone = _first(status, "standalone", "standalone_copy")
        lnd = None if standalone is None else not standalone
    run = _first(status, "run", "run_summary")
    run_id = _first(status, "run_id") or (run.run_id if run is not None else None)
    return TargetStatus(lnd_target=None if lnd is None else bool(lnd), run_id=run_id, run=run)


def engine_status(engine: Any) -> TargetStatus:
    """Ask ``engine`` (blocking: call from a worker): ``status()`` when it has one, else a preflight."""
    status = getattr(engine, "status", None)
    if callable(status):
        return from_engine_status(status())
    return from_preflight(engine.preflight())
