"""What the wizard leaves on the terminal when it exits: the exit code's hint and,
after a commit, where the report and log are and what to do next.

Kept apart from the app so the words a node runner reads last live in one place
(and the app module stays about the session, not its epilogue).
"""

from __future__ import annotations

import textwrap
from typing import Any

from migwizard.exits import ExitCode, Outcome, exit_code_for

__all__ = ["exit_status", "commit_summary"]


def exit_status(app: Any) -> tuple[int, str]:
    """(exit code, hint for the terminal) for quitting now.

    For the current target: validation differences -> 1; a tombstone without a committed
    target -> 2; a failed migration -> 4 while its chunks are kept, 3 once rolled back.
    Otherwise 4 while any target touched in this session holds an uncommitted run.
    """
    outcome = app.outcome
    code = exit_code_for(outcome, run_pending=app.run_pending, other_pending=any(app.pending.values()))
    report = f" ({app.saved_report})" if app.saved_report else ""
    if code is ExitCode.VALIDATION_MISMATCH:
        return int(code), (
            f"migwizard: validation found differences and nothing is final yet; see the report{report}; "
            "roll back or fix and re-validate.")
    if code is ExitCode.PREFLIGHT_REFUSED:
        return int(code), (
            "migwizard: the KV store carries a tombstone but the target holds no committed run; nothing was "
            "changed. Point at the right target, or restore the store (or import channel.db again).")
    if outcome == Outcome.FAILED:
        if code is ExitCode.INTERRUPTED_RESUMABLE:
            return int(code), (
                f"migwizard: the migration stopped on an error and nothing is final yet; fix the store (see the "
                f"log: {app.log_path.resolve()}), then resume, or roll back.")
        return int(code), "migwizard: the migration failed and its run was rolled back; nothing is final."
    validated = app.last_report is not None and getattr(app.last_report, "ok", False) and app.run_pending
    if code is ExitCode.INTERRUPTED_RESUMABLE and validated and len(app.pending_targets()) <= 1:
        return int(code), (
            "migwizard: the run is validated, ready to commit, and nothing is final yet; run migwizard "
            "again to commit it (it opens the commit screen), or migwizard rollback to remove it.")
    if code is ExitCode.INTERRUPTED_RESUMABLE:
        targets = app.pending_targets()
        where = f" (in {', '.join(targets)})" if len(targets) > 1 else ""
        return int(code), (
            f"migwizard: a migration run is not finished{where} and nothing is final yet; "
            "run migwizard again to resume, or migwizard rollback to remove it.")
    return int(code), ""

def commit_summary(app: Any) -> str:
    """What a successful commit leaves behind, for the terminal after the wizard exits."""
    res = app.commit_result
    if res is None or not res.committed:
        return ""
    from migwizard.core.report import next_steps

    import textwrap

    lines = textwrap.wrap(f"migwizard: committed run {res.run_id}" + (" and tombstoned the KV store."
                                                                      if res.tombstoned else
                                                                      "; the KV tombstone is missing (run again)."),
                          79, subsequent_indent="  ")
    report = app.run_report(res.run_id)
    if report is not None:
        lines.append(f"  Report: {report}")
    lines.append(f"  Log:    {app.log_path.resolve()}")
    lines.append("Next steps:")
    for i, step in enumerate(next_steps(res), 1):  # wrapped for an 80-column terminal
        lines += textwrap.wrap(f"{i}. {step.replace('`', '')}", 79, initial_indent="  ",
                               subsequent_indent="     ")
    return "\n".join(lines)
