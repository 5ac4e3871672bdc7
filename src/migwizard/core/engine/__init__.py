"""Migration engine: preflight, chunked migration, validation, commit, rollback."""

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

__all__ = [
    "DEFAULT_CHUNK_SIZE", "Engine", "ChunkCommitted", "Event", "LogRecord", "Phase", "PhaseFinished",
    "PhaseStarted", "Progress", "NORMALISATIONS", "Check", "CheckStatus", "CommitResult", "EngineError",
    "ExitCode", "MigrationResult", "MigrationStats", "PaymentDetail", "PreflightReport", "RollbackResult",
    "RunState", "StatusCounts", "ValidationReport",
]
