"""The run's deferred indexes: LND's non-unique indexes a run dropped for its load.

The migration builds them in the transaction that records its last chunk; a run
interrupted in between (or recorded by an older version) still lists them, so
validation and commit call :func:`build_deferred_indexes` first. Idempotent.
"""

from __future__ import annotations

from ..sql import deferred
from ..sql.transactions import write_txn
from .context import Context
from .runs import Run
def build_deferred_indexes(ctx: Context, run: Run) -> None:
    """The non-unique indexes the run dropped for its load, built if still missing
    (normally the last chunk's transaction built them; idempotent)."""
    late = list(run.stats.get("deferred_indexes") or [])
    if not late:
        return
    db = ctx.db()
    with write_txn(db):
        deferred.build(db, late)
        run.stats["deferred_indexes"] = []
        run.save(db)
    ctx.log("info", f"Built {len(late)} deferred indexes.")
