"""What the engine tells its consumers while it works.

The TUI and the headless CLI are thin consumers of one engine API; they learn
everything through these events (passed to the ``on_event`` callback, from the
engine's thread) and the result objects in ``results``. Events are small frozen
dataclasses so a Textual worker can wrap them in messages and a CLI can print
them; none of them carries secrets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable


class Phase(str, enum.Enum):
    PREFLIGHT = "preflight"
    IMPORT = "import"
    MIGRATE = "migrate"
    VALIDATE = "validate"
    COMMIT = "commit"
    TOMBSTONE = "tombstone"
    ROLLBACK = "rollback"
    VERIFY = "verify"


@dataclass(frozen=True)
class PhaseStarted:
    phase: Phase
    total: int | None = None  # units of work (payments) when known


@dataclass(frozen=True)
class Progress:
    """A coalescable progress sample: later samples replace earlier ones."""

    phase: Phase
    done: int  # payments handled (migrate) or checked (validate) so far, resumed ones included;
    # never duplicates' or skipped index entries
    total: int  # payments to handle: migrate, the payment buckets; validate, what the run migrated (for %)
    attempts: int = 0
    hops: int = 0
    chunk: int = 0  # chunks committed so far (migrate phase)
    elapsed_s: float = 0.0
    payments_per_s: float = 0.0  # rolling window
    attempts_per_s: float = 0.0
    eta_s: float | None = None  # None until the window has data
    differences: int = 0  # validate/verify: differing fields found so far (payments checked = done)

    @property
    def checking(self) -> bool:
        """A validation sample: ``done`` counts payments compared, not rows written."""
        return self.phase in (Phase.VALIDATE, Phase.VERIFY)

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


@dataclass(frozen=True)
class ChunkCommitted:
    chunk: int
    checkpoint_seq: int  # last KV index sequence now durable in the target
    payments_done: int


@dataclass(frozen=True)
class LogRecord:
    level: str  # "debug" | "info" | "warning" | "error"
    message: str


@dataclass(frozen=True)
class PhaseFinished:
    phase: Phase
    ok: bool
    summary: str = ""


Event = PhaseStarted | Progress | ChunkCommitted | LogRecord | PhaseFinished
EventSink = Callable[[Event], Any]


def null_sink(_event: Event) -> None:
    return None
