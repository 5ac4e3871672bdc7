"""The one way migwizard writes: ``with write_txn(db): ...``.

Why not just ``db.atomic()``: LND shipped a bug where a deferred COMMIT
swallowed the body's error, and peewee's transaction lets a failing ROLLBACK
replace the body's exception. The contract here is strict:

* the body raises -> ROLLBACK, and the *body's* exception propagates (a
  rollback failure is attached as a note, never substituted);
* COMMIT fails (deferred FK/CHECK, disk full, serialization failure) -> the
  transaction is rolled back and the commit error propagates. A write that did
  not commit never looks like it did.

SQLite transactions start with ``BEGIN IMMEDIATE`` (LND's ``_txlock=immediate``)
so the write lock is taken up front instead of failing with SQLITE_BUSY at the
first write or, worse, at COMMIT. Nested use becomes a SAVEPOINT so helpers can
be composed; only the outermost block commits.

The transaction is registered on peewee's transaction stack, so peewee code in
the body (``Model.insert(...).execute()``, ``db.atomic()``) sees it.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import peewee

log = logging.getLogger(__name__)


class CommitError(peewee.DatabaseError):
    """COMMIT failed; nothing of the transaction was written (``__cause__`` is
    the driver's error, e.g. a deferred constraint violation)."""


class _WriteTxn:
    """Marker object on peewee's transaction stack (peewee only counts depth)."""

    def __init__(self, db: peewee.Database):
        self.db = db

    # peewee's Database.rollback()/commit() helpers may call these on the top
    # transaction; a write_txn is only ended by its own context manager.
    def commit(self, begin: bool = True) -> None:  # pragma: no cover - defensive
        raise RuntimeError("commit inside write_txn is not allowed; leave the block instead")

    def rollback(self, begin: bool = True) -> None:  # pragma: no cover - defensive
        raise RuntimeError("rollback inside write_txn is not allowed; raise instead")


def _begin(db: peewee.Database) -> None:
    if isinstance(db, peewee.SqliteDatabase):
        db.execute_sql("BEGIN IMMEDIATE")
    else:
        db.execute_sql("BEGIN")


def _safe_rollback(db: peewee.Database, primary: BaseException | None) -> None:
    try:
        db.execute_sql("ROLLBACK")
    except Exception as exc:  # noqa: BLE001
        # The connection may already have ended the transaction (PostgreSQL
        # does on a failed COMMIT); never let this hide the real error.
        log.debug("rollback after failure raised %r", exc)
        if primary is not None and hasattr(primary, "add_note"):
            primary.add_note(f"(rollback afterwards also failed: {exc!r})")


def _in_txn(db: peewee.Database) -> bool:
    """Whether the driver connection is inside a transaction right now."""
    conn = db.connection()
    if isinstance(db, peewee.SqliteDatabase):
        return conn.in_transaction
    import psycopg

    return conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


@contextmanager
def write_txn(db: peewee.Database) -> Iterator[peewee.Database]:
    """Run the body in one write transaction (or a savepoint when nested)."""
    db.connect(reuse_if_open=True)
    if db.in_transaction():
        with _savepoint(db):
            yield db
        return

    _begin(db)
    db.push_transaction(_WriteTxn(db))
    try:
        yield db
    except BaseException as body_exc:
        db.pop_transaction()
        _safe_rollback(db, body_exc)
        db._clear_commit_callbacks()
        raise
    db.pop_transaction()
    try:
        db.execute_sql("COMMIT")
        if _in_txn(db):
            # A COMMIT that "succeeded" but left the transaction open did not
            # commit (seen with drivers that defer the error): treat as failure.
            raise CommitError("COMMIT returned but the transaction is still open")
    except BaseException as commit_exc:
        _safe_rollback(db, commit_exc)
        db._clear_commit_callbacks()
        if isinstance(commit_exc, CommitError):
            raise
        raise CommitError(f"COMMIT failed: {commit_exc}") from commit_exc
    db._run_commit_callbacks()


@contextmanager
def _savepoint(db: peewee.Database) -> Iterator[None]:
    sp = db.savepoint()
    sp._begin()
    try:
        yield
    except BaseException as body_exc:
        try:
            sp.rollback(begin=False)
        except Exception as exc:  # noqa: BLE001
            if hasattr(body_exc, "add_note"):
                body_exc.add_note(f"(rollback to savepoint also failed: {exc!r})")
        raise
    sp.commit(begin=False)
