"""The welcome screen's field logic: what the typed source and target are, and where an import goes.

Pure functions over paths and URLs (no widgets), so they are tested directly; store
facts come from ``core.engine.storefacts`` (the screens never open the KV layer).
"""

from __future__ import annotations

import os
from pathlib import Path

from migwizard.core.engine.storefacts import SOURCE_WORDS, classify_source, copy_location, import_state

__all__ = ["check_target", "copy_message", "copy_path", "copy_problem", "copy_state", "detect_source", "redact",
           "restore_secrets"]


def redact(source: str | None) -> str:
    """A source as shown: a PostgreSQL URL without its password, a path as typed."""
    if not source or "://" not in source:
        return source or ""
    try:
        from migwizard.core.sql.connect import TargetURL

        return TargetURL.parse(source).redacted()
    except Exception:
        import re

        return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", source)


def detect_source(text: str) -> tuple[str | None, str]:
    """(kind or None, one-line message) for the source field; kinds as ``storefacts.SOURCE_WORDS``."""
    if not text:
        return None, "Enter an LMDB store, a bbolt channel.db, a channel.sqlite or a postgresql:// KV URL."
    if not text.startswith(("postgresql://", "postgres://")) and not Path(text).expanduser().exists():
        return None, f"✗ {text}: no such file or directory."
    kind, why = classify_source(str(Path(text).expanduser()) if "://" not in text else text)
    if kind is None:
        return None, f"✗ {why}"
    return kind, f"✓ {SOURCE_WORDS[kind]}."


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


def copy_path(kind: str, source: str, table: str | None = None, import_dir: str | Path | None = None) -> Path:
    """Where the verified LMDB copy of a non-LMDB source is (or goes): under the state directory
    (or ``import_dir``), never next to lnd's files."""
    text = source if "://" in source else str(Path(source).expanduser())
    return copy_location(kind, text, table, Path(import_dir) if import_dir else None)


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


def copy_state(dest: Path, app=None) -> str | None:
    """The LMDB copy at ``dest``: None (none yet, an import may create it), "complete", "tombstoned"
    (complete, but already migrated into some target), or why it is not usable."""
    engine_key = getattr(app, "_engine_key", None)
    if (engine_key and getattr(app, "engine", None) is not None and Path(engine_key[0]) == dest
            and (dest / "data.mdb").exists()):
        return "complete"  # this session's engine works on it: imported or reused earlier
    return import_state(dest)


def copy_message(what: str, shown: str, copy: Path, prepared: tuple[str, bool] | None,
                 state: str | None) -> tuple[str, str | None]:
    """(the source line, why the copy cannot be used or None) for a source that is imported:
    "will be imported" before, "imported"/"reused" once this session prepared it."""
    if prepared:
        how = "reused the verified copy" if prepared[1] else "imported and verified into"
        return f"✓ {what}: {how} {shown}; the wizard works on that copy.", None
    if state == "complete":
        return (f"✓ {what}: a verified copy is at {shown}; it is reused if the source is unchanged, "
                "else imported again."), None
    if state == "tombstoned":
        return f"✓ {what}: its copy at {shown} was already migrated and tombstoned; the source is unchanged.", None
    if state is not None:
        blocked = f"✗ an unusable LMDB copy is at {shown} ({state}): move it away (or delete it) to import again."
        return blocked, blocked
    if problem := copy_problem(copy):
        blocked = f"✗ the LMDB copy would go to {shown}, but {problem}."
        return blocked, blocked
    return (f"✓ {what}: will be imported (read-only, verified) into an LMDB copy at {shown}; "
            "the source is not changed."), None


def copy_problem(dest: Path) -> str | None:
    """Why a new copy cannot be written at ``dest`` (its directory missing or not writable), else None."""
    parent = dest.parent
    if not parent.is_dir() and not parent.parent.is_dir():
        return f"{parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable for this user"
    return None
