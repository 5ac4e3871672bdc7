"""Messages the wizard's workers post to the UI thread.

Engine events arrive on the engine's (worker) thread; the app wraps each one in a
message and posts it (``post_message`` is thread-safe). Progress messages coalesce
(``can_replace``) so a fast engine cannot flood the UI, as in toolong.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from textual.message import Message

from migwizard.core.engine.events import ChunkCommitted, LogRecord, Phase, PhaseFinished, PhaseStarted, Progress


@dataclass
class EngineProgress(Message):
    """A progress sample; a later sample of the same phase replaces a queued one."""

    event: Progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EngineProgress) and message.event.phase == self.event.phase


@dataclass
class EngineLog(Message):
    event: LogRecord


@dataclass
class EngineChunk(Message):
    event: ChunkCommitted


@dataclass
class EnginePhaseStarted(Message):
    event: PhaseStarted


@dataclass
class EnginePhaseFinished(Message):
    event: PhaseFinished


class Call(StrEnum):
    """The worker calls a screen starts; the value names the step in logs and on the error screen."""

    PROBE = "probe"  # welcome: the target's run state (cheap)
    MARKERS = "markers"  # welcome: the node's markers on the source (a few lookups, no engine)
    IMPORT = "import"  # bbolt / channel.sqlite / PostgreSQL KV -> verified LMDB copy (no engine)
    PREFLIGHT = "preflight"
    REHEARSE = "rehearse"  # preflight: what each lnd release would do (reads every payment, no engine)
    MIGRATE = "migrate"
    VALIDATE = "validate"
    DETAIL = "detail"
    COMMIT_INFO = "commit-info"  # what the target is, before the commit
    COMMIT = "commit"
    ROLLBACK_INFO = "rollback-info"  # which run the target holds, before the rollback
    ROLLBACK = "rollback"


@dataclass
class StepDone(Message):
    """A worker call returned ``result`` (the engine's typed result for ``step``)."""

    step: Call | str
    result: Any


@dataclass
class StepFailed(Message):
    """A worker call raised. ``error`` is the exception (often an EngineError with a hint)."""

    step: Call | str
    error: BaseException

    @property
    def hint(self) -> str:
        return getattr(self.error, "hint", "") or ""

    @property
    def payment(self) -> str | None:
        return getattr(self.error, "payment", None)


@dataclass
class ImportProgress(Message):
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ImportProgress)


def wrap_event(event: object) -> Message | None:
    """Turn an engine event into the matching message (None for unknown events)."""
    if isinstance(event, Progress):
        return EngineProgress(event)
    if isinstance(event, LogRecord):
        return EngineLog(event)
    if isinstance(event, ChunkCommitted):
        return EngineChunk(event)
    if isinstance(event, PhaseStarted):
        return EnginePhaseStarted(event)
    if isinstance(event, PhaseFinished):
        return EnginePhaseFinished(event)
    return None


__all__ = [
    "Call",
    "EngineChunk",
    "EngineLog",
    "EnginePhaseFinished",
    "EnginePhaseStarted",
    "EngineProgress",
    "ImportProgress",
    "Phase",
    "StepDone",
    "StepFailed",
    "wrap_event",
]
