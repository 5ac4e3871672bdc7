"""Other processes using the LMDB working store (issue 9, item 10).

``migwizard.lock`` only keeps other migwizard sessions out; a process that
opens the LMDB files directly (a script, ``mdb_stat``-style tools, a second
tool writing the copy) takes no such lock. Preflight therefore names every
other process with ``data.mdb`` or ``lock.mdb`` open -- a reader pins old pages
and a writer blocks our tombstone, either way the store is in use -- and every
KV write first runs the bounded writer probe of :mod:`..kv.lmdb_probe`, so the
tombstone step reports a busy store instead of hanging until the writer ends.
"""

from __future__ import annotations

from ..kv.errors import KVError
from ..kv.lmdb_probe import WriterBusyError, probe_write_lock
from ..kv.lmdb_store import DATA_FILE, LMDB_LOCK_FILE
from ..lnd.holders import FileHolders, file_holders
from .context import Context
from .results import EngineError, ExitCode


def store_users(ctx: Context) -> FileHolders:
    """Processes other than this one with the store's LMDB files open."""
    return file_holders([ctx.kv_path / DATA_FILE, ctx.kv_path / LMDB_LOCK_FILE])


def by_process(users: FileHolders) -> list[dict]:
    """One entry per process (pid, command, the store files it has open)."""
    out: dict[int, dict] = {}
    for h in users.holders:
        out.setdefault(h.pid, {"pid": h.pid, "command": h.command, "paths": []})["paths"].append(h.path)
    return list(out.values())


def describe_users(users: FileHolders) -> str:
    return "; ".join(f"process {u['pid']} ({u['command']}) has "
                     f"{' and '.join(p.rsplit('/', 1)[-1] for p in u['paths'])} open"
                     for u in by_process(users))


def ensure_no_other_writer(ctx: Context, *, doing: str) -> None:
    """Refuse (typed, within seconds) when another process holds LMDB's writer lock."""
    try:
        probe_write_lock(ctx.kv_path)
    except WriterBusyError as e:
        users = store_users(ctx)
        who = f": {describe_users(users)}" if users else ""
        raise EngineError(
            f"cannot {doing}: another process holds a write transaction on the KV store {ctx.kv_path}{who}",
            exit_code=ExitCode.PREFLIGHT_REFUSED,
            hint="stop that process (its write transaction must end), then run the same command again",
        ) from e
    except KVError as e:
        raise EngineError(f"cannot {doing}: {e}", exit_code=ExitCode.PREFLIGHT_REFUSED) from None


__all__ = ["by_process", "describe_users", "ensure_no_other_writer", "store_users"]
