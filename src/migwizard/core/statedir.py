"""Where migwizard keeps its own files: one announced place, never lnd's data dir.

Reports, logs and LMDB working copies of imported sources all live under one
state directory so a node runner can find (and delete) them, and so nothing of
ours lands inside ``<lnddir>`` where lnd or a backup script might trip over it.
XDG's state directory is the right home for "history a program accumulates";
``MIGWIZ_STATE_DIR`` overrides it (the CLI's ``--state-dir`` sets that).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["state_dir", "imports_dir", "ENV_VAR"]

ENV_VAR = "MIGWIZ_STATE_DIR"


def state_dir(*, create: bool = True) -> Path:
    """The state directory (created 0700 on demand)."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override)
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(base) / "migwizard"
    if create and not path.is_dir():
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
    return path


def imports_dir(*, create: bool = True) -> Path:
    """Parent of the LMDB working copies made from bbolt / KV-over-SQL sources."""
    path = state_dir(create=create) / "imports"
    if create and not path.is_dir():
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
    return path
