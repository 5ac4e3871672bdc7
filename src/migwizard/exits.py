"""Process exit codes and the one rule from a run's outcome to its code.

Scripts branch on these numbers (README table), so they are decided in one
place shared by the headless CLI and the wizard instead of being re-derived by
each front end. The engine raises ``EngineError(exit_code=...)`` with the same
enum (re-exported by ``core.engine.results``).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Documented process exit codes (README, `migwizard --help`)."""

    OK = 0
    VALIDATION_MISMATCH = 1
    PREFLIGHT_REFUSED = 2
    FAILED_ROLLED_BACK = 3
    INTERRUPTED_RESUMABLE = 4
    USAGE = 64


class Outcome(str, enum.Enum):
    """How a front end's work on one (store, target) pair ended.

    String-valued so the wizard's per-target bookkeeping and JSON output can
    carry them as plain text.
    """

    COMMITTED = "committed"
    ALREADY_COMPLETE = "already_complete"  # tombstone and committed run: nothing to do, success
    MISMATCH = "mismatch"  # validation found differences; the run stays open
    REFUSED = "refused"  # preflight (or the marker matrix) refused; nothing written
    FAILED = "failed"  # the migration stopped on an error
    INTERRUPTED = "interrupted"  # stopped by the user / not committed; resumable
    USAGE = "usage"


def exit_code_for(outcome: Outcome | str | None, *, run_pending: bool = False,
                  other_pending: bool = False) -> ExitCode:
    """The exit code for quitting after ``outcome``.

    ``run_pending``: the target still holds an uncommitted run of this store
    (so a failure is resumable, code 4, rather than rolled back, code 3).
    ``other_pending``: another target touched in this session holds one (the
    wizard can switch targets); that alone makes an otherwise clean exit 4.
    A mismatch whose run was since rolled back is no longer a mismatch.
    """
    outcome = Outcome(outcome) if outcome is not None else None
    if outcome is Outcome.MISMATCH and run_pending:
        return ExitCode.VALIDATION_MISMATCH
    if outcome is Outcome.REFUSED:
        return ExitCode.PREFLIGHT_REFUSED
    if outcome is Outcome.FAILED:
        return ExitCode.INTERRUPTED_RESUMABLE if run_pending else ExitCode.FAILED_ROLLED_BACK
    if outcome is Outcome.INTERRUPTED:
        return ExitCode.INTERRUPTED_RESUMABLE
    if outcome is Outcome.USAGE:
        return ExitCode.USAGE
    if run_pending or other_pending:
        return ExitCode.INTERRUPTED_RESUMABLE
    return ExitCode.OK


__all__ = ["ExitCode", "Outcome", "exit_code_for"]
