"""The welcome screen's field logic: what the typed source and target are, and where an import goes.

Pure functions over paths and URLs (no widgets), so they are tested directly; store
facts come from ``core.engine.storefacts`` (the screens never open the KV layer).
"""

from __future__ import annotations

import os
from pathlib import Path

from migwizard.core.engine.storefacts import detect_kind, import_state

__all__ = ["check_target", "copy_path", "copy_problem", "copy_state", "detect_source", "next_copy",
           "restore_secrets"]


def detect_source(path_text: str) -> tuple[str | None, str]:
    """("lmdb"|"bbolt"|None, one-line message) for the source field."""
    if not path_text:
        return None, "Enter the LMDB store directory or a bbolt channel.db."
    path = Path(path_text).expanduser()
    if not path.exists():
        return None, f"✗ {path_text}: no such file or directory."
    try:
        kind = detect_kind(path)
    except Exception as exc:  # unreadable: say so, calmly
        return None, f"✗ cannot read {path_text}: {exc}"
    if kind == "lmdb":
        return "lmdb", "✓ LMDB store."
    if kind == "bbolt":
        return "bbolt", "✓ bbolt channel.db: it is imported into an LMDB copy first (read-only)."
    return None, "✗ not an LMDB store or a bbolt channel.db."


def check_target(url: str) -> tuple[bool, str]:
    if not url:
        return False, "Enter sqlite:///path/lnd.sqlite or postgresql://user@host/db."
    if url.startswith("sqlite:///"):
        raw = url[len("sqlite:///"):].split("?", 1)[0]
        if not raw.strip():
            return False, "✗ name the SQLite file after sqlite:/// (e.g. sqlite:///lnd.sqlite)."
        path = Path(raw).expanduser()
        if path.is_dir():
            return False, f"✗ {raw} is a directory: name a file in it (e.g. sqlite:///{raw.rstrip('/')}/lnd.sqlite)."
        parent = path.parent
        if not parent.exists():
            return False, f"✗ directory {parent} does not exist; create it first."
        return True, "✓ SQLite file."
    if url.startswith("sqlite:"):
        return False, "✗ write SQLite targets as sqlite:///PATH (three slashes)."
    if url.startswith(("postgresql://", "postgres://")):
        return True, "✓ PostgreSQL URL (reachability is checked in preflight)."
    return False, "✗ use sqlite:///PATH or postgresql://USER@HOST/DB."


def copy_path(source: str | Path, import_dir: str | Path | None = None) -> Path:
    """Where the LMDB copy of a bbolt channel.db goes (next to it unless an import dir is given)."""
    src = Path(source).expanduser()
    return Path(import_dir) if import_dir else src.parent / f"{src.name}.migwizard-lmdb"


def restore_secrets(typed: str, real: str | None) -> tuple[str, str]:
    """``typed`` with the stored URL's password (and secret parameters) put back where ``***`` stands.

    The target field shows the URL redacted; editing its host or database must not turn the
    password into a literal ``***``. Returns (url, note for the user).
    """
    masks = ("***", "%2A%2A%2A")
    if not real or not any(m in typed.upper() for m in masks):
        return typed, ""
    from urllib.parse import urlsplit, urlunsplit

    try:
        t, r = urlsplit(typed), urlsplit(real)
    except ValueError:
        return typed, ""
    kept = cleared = False
    netloc = t.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at:
        user, colon, pw = userinfo.partition(":")
        if colon and pw.upper() in masks:
            r_userinfo, r_at, _ = r.netloc.rpartition("@")
            r_pw = r_userinfo.partition(":")[2] if r_at and ":" in r_userinfo else ""
            if r_pw:
                netloc, kept = f"{user}:{r_pw}@{host}", True
            else:
                netloc, cleared = f"{user}@{host}", True
    real_params = {}
    for item in (r.query.split("&") if r.query else []):
        k, _, v = item.partition("=")
        real_params[k] = v
    items = []
    for item in (t.query.split("&") if t.query else []):
        k, eq, v = item.partition("=")
        if v.upper() in masks:
            if real_params.get(k) and real_params[k].upper() not in masks:
                item, kept = f"{k}={real_params[k]}", True
            else:
                cleared = True
                continue
        items.append(item)
    url = urlunsplit((t.scheme, netloc, t.path, "&".join(items), t.fragment))
    note = ""
    if cleared:
        note = " The *** password is not a stored one and was cleared: type it, or use PGPASSWORD or ~/.pgpass."
    elif kept:
        note = " The stored password (***) is kept."
    return url, note


def next_copy(base: Path, app=None) -> tuple[Path, str] | None:
    """A copy to use instead of a tombstoned ``base``: (path, "new") for a free directory
    (``base-2``, ``base-3``, …) or (path, "reuse") for a complete, untombstoned import there."""
    for n in range(2, 100):
        cand = base.with_name(f"{base.name}-{n}")
        state = copy_state(cand, app)
        if state is None and copy_problem(cand) is None:
            return cand, "new"
        if state == "complete":
            return cand, "reuse"
    return None


def copy_state(dest: Path, app=None) -> str | None:
    """The LMDB copy at ``dest``: None (none yet, an import may create it), "complete", "tombstoned"
    (complete, but already migrated into some target), or why it is not usable."""
    engine_key = getattr(app, "_engine_key", None)
    if (engine_key and getattr(app, "engine", None) is not None and Path(engine_key[0]) == dest
            and (dest / "data.mdb").exists()):
        return "complete"  # this session's engine works on it: imported or reused earlier
    return import_state(dest)


def copy_problem(dest: Path) -> str | None:
    """Why a new copy cannot be written at ``dest`` (its directory missing or not writable), else None."""
    parent = dest.parent
    if not parent.is_dir():
        return f"{parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable for this user"
    return None
