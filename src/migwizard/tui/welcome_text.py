"""What the welcome screen says: the promise, the never-do list, the run states in words.

Kept apart from the screen's logic so the wording can be read (and reviewed) in one place.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from migwizard.core.engine.results import RunState

__all__ = ["INTRO", "NEVER", "RUN_STATE_TEXTS", "WILL", "refusal_reason", "run_state_texts"]

INTRO = (
    "This wizard copies your node's payment history from the KV store into SQL, "
    "checks every payment, and asks you before anything becomes final."
)
WILL = (
    "[b]Will:[/b] run read-only checks · copy payments in resumable chunks · compare every "
    "payment field by field · after you type COMMIT, mark SQL committed and tombstone the KV store.\n"
    "[b]Will not:[/b] change the KV store before that last step (it is only read), or delete anything."
)
NEVER = (
    "[b]Never do[/b]\n"
    " • run this while lnd is running\n"
    " • start without a backup of the whole lnd data/ directory\n"
    " • delete the KV store or the SQL file until lnd runs well on SQL\n"
    " • rush: every step before the commit can be rolled back"
)

#: The target's run state, for the box above the buttons (FRESH says nothing).
RUN_STATE_TEXTS: dict[RunState, str] = {
    RunState.IN_PROGRESS: "An interrupted run exists in the target. [b]Resume[/b] continues from its last "
                          "checkpoint; [b]Roll back[/b] removes what it wrote. The KV store is untouched.",
    RunState.COMMITTED_NO_TOMBSTONE: "The run is committed but the KV tombstone is missing: continue "
                                     "to finish it (the commit screen writes the tombstone).",
    RunState.COMPLETE: "This store is already migrated and tombstoned. Continue to re-verify it.",
    RunState.TOMBSTONE_WITHOUT_SQL: "The KV store carries a tombstone but the target has no committed "
                                    "run. Do not continue: restore your backup or point at the right "
                                    "target, and ask for help with the log.",
}


def run_state_texts(run: Any, *, validated: bool, wrong_target: str | None) -> dict[RunState, str]:
    """The run-state box for this target: progress in payments ("9,000 of 20,000"), a validated
    run as "validated, ready to commit" (not "interrupted"), and a wrong target named."""
    texts = dict(RUN_STATE_TEXTS)
    if run is not None and run.payments_done:
        texts[RunState.IN_PROGRESS] = (
            f"An interrupted run exists in the target ({run.progress_text} migrated). [b]Resume[/b] "
            "continues from its last checkpoint; [b]Roll back[/b] removes what it wrote. The KV store is "
            "untouched.")
    if validated and run is not None:
        texts[RunState.IN_PROGRESS] = (
            f"The target holds a run that is validated, ready to commit ({run.progress_text}). [b]Continue[/b] "
            "opens the commit screen (no preflight, migration or validation again); [b]Roll back[/b] "
            "removes what it wrote. The KV store is untouched.")
    if wrong_target:
        first = wrong_target.removeprefix("wrong target: ")
        text = (f"[b]Wrong target?[/b] {escape(first[:1].upper() + first[1:])}. Point the target at "
                "this store's own target (or a new one), or the source at the store that was migrated.")
        texts[RunState.TOMBSTONE_WITHOUT_SQL] = texts[RunState.COMMITTED_NO_TOMBSTONE] = text
    return texts


def refusal_reason(state: RunState | None, *, validated: bool, source_ok: bool, copy_blocked: str | None,
                   target_ok: bool) -> str:
    """Why ctrl+n cannot start anything now (the welcome screen says it instead of doing nothing)."""
    if state is RunState.IN_PROGRESS:
        return "a run already exists in this target: " + (
            "continue to commit (ctrl+r) or roll back (ctrl+b)" if validated
            else "resume it (ctrl+r) or roll it back (ctrl+b)")
    if not source_ok:
        return "the source is not a KV store or channel.db yet (see the message under Source)"
    if copy_blocked:
        return copy_blocked.lstrip("✗ ")
    if not target_ok:
        return "the target is not a valid URL yet (see the message under Target)"
    if state is RunState.TOMBSTONE_WITHOUT_SQL:
        return "the store carries a tombstone and this target holds no committed run of it"
    return "the source and target are being checked; try again in a moment"
