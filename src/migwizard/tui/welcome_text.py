"""What the welcome screen says: the promise, the never-do list, the run states in words.

Kept apart from the screen's logic so the wording can be read (and reviewed) in one place.
"""

from __future__ import annotations

from migwizard.core.engine.results import RunState

__all__ = ["INTRO", "NEVER", "RUN_STATE_TEXTS", "WILL"]

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
