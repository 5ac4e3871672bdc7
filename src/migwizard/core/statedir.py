"""Where migwizard keeps its own files: one announced place, never lnd's data dir.

Reports, logs and LMDB working copies of imported sources all live under one
state directory so a node runner can find (and delete) them, and so nothing of
ours lands inside ``<lnddir>`` where lnd or a backup script might trip over it.
XDG's state directory is the right home for "history a program accumulates";
``MIGWIZ_STATE_DIR`` overrides it (the CLI's ``--state-dir`` sets that).

The directory holds session keys and preimages (reports, imported copies), so it
must be ours alone: an existing directory owned by us is tightened to 0700; one
owned by someone else (a world-writable ``/tmp/x`` another user prepared, say) is
refused, as is a symlink at the default location (a planted link would redirect
our files). A symlink given explicitly (``--state-dir``/``MIGWIZ_STATE_DIR``) is
the user's choice: it is resolved and its target must pass the same checks.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["state_dir", "imports_dir", "private_dir", "StateDirError", "ENV_VAR"]

ENV_VAR = "MIGWIZ_STATE_DIR"


class StateDirError(ValueError):
    """The state directory (or one of its subdirectories) is not safe to use: a usage error (64)."""


def private_dir(path: Path, *, create: bool = True, follow: bool = False) -> Path:
    """``path`` as a directory only we can enter: created 0700, tightened to 0700 when ours
    and looser, refused when someone else owns it or (unless ``follow``) it is a symlink."""
    path = Path(path)
    if path.is_symlink():
        if not follow:
            raise StateDirError(f"{path} is a symlink; refusing to keep migwizard's files behind it "
                                "(name the real directory with --state-dir)")
        path = path.resolve()
    if not path.exists():
        if not create:
            return path
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        st = os.lstat(path)
    except OSError as e:
        raise StateDirError(f"{path}: {e.strerror or e}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise StateDirError(f"{path} is not a directory")
    if st.st_uid != os.geteuid():
        raise StateDirError(f"{path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}); "
                            "refusing to keep reports and imported copies there (choose another --state-dir)")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def state_dir(*, create: bool = True) -> Path:
    """The state directory (created 0700 on demand; see the module docstring for the checks)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return private_dir(Path(override), create=create, follow=True)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return private_dir(Path(base) / "migwizard", create=create)


def imports_dir(*, create: bool = True) -> Path:
    """Parent of the LMDB working copies made from bbolt / KV-over-SQL sources."""
    return private_dir(state_dir(create=create) / "imports", create=create)
