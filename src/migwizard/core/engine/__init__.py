"""Migration engine: preflight, chunked migration, validation, commit, rollback.

The names below are loaded on first use (PEP 562), not when the package is: the
second process of a phase (:mod:`.workers`) imports one KV-side module of this
package, and paying for the whole engine there (the API, the SQL stack, every
phase) would be a fixed cost of every migration and validation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DEFAULT_CHUNK_SIZE": "api", "Engine": "api",
    "ChunkCommitted": "events", "Event": "events", "LogRecord": "events", "Phase": "events",
    "PhaseFinished": "events", "PhaseStarted": "events", "Progress": "events",
    "NORMALISATIONS": "normalisations",
    **{name: "results" for name in (
        "Check", "CheckStatus", "CommitResult", "EngineError", "ExitCode", "MigrationResult", "MigrationStats",
        "PaymentDetail", "PreflightReport", "RollbackResult", "RunState", "StatusCounts", "ValidationReport")},
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .api import DEFAULT_CHUNK_SIZE, Engine
    from .events import ChunkCommitted, Event, LogRecord, Phase, PhaseFinished, PhaseStarted, Progress
    from .normalisations import NORMALISATIONS
    from .results import (
        Check,
        CheckStatus,
        CommitResult,
        EngineError,
        ExitCode,
        MigrationResult,
        MigrationStats,
        PaymentDetail,
        PreflightReport,
        RollbackResult,
        RunState,
        StatusCounts,
        ValidationReport,
    )
