"""A failed connection to the target, said in one sentence with the fix that applies.

Drivers report "FATAL: database "x" does not exist" or "Connection refused" in
their own words, wrapped in our "cannot open ..." prefixes; a node runner needs
to know which of a handful of things is wrong and the one command that fixes it.
Unknown errors keep the driver's text (scrubbed) with the generic hint.
"""

from __future__ import annotations

import re

from .connect import TargetURL

__all__ = ["explain_connect_error"]

GENERIC_HINT = "check the URL, that the server runs, and the credentials"


def _where(url: TargetURL) -> tuple[str, int]:
    return url.host or "localhost", url.port or 5432


def explain_connect_error(url: TargetURL, text: str) -> tuple[str, str]:
    """(one-sentence reason, specific fix) for a connection failure's ``text``."""
    if url.is_sqlite:
        path = url.sqlite_path
        if path is not None and path.is_dir():
            return (f"{path} is a directory, not a SQLite file",
                    f"name a file inside it, e.g. sqlite:///{path / 'payments.sqlite'}")
        if "readonly" in text or "permission" in text.lower():
            return (f"the SQLite file {path} cannot be written", "check its permissions and its directory's")
        return (f"cannot open the SQLite file {path}: {text.strip().splitlines()[0] if text.strip() else 'unknown error'}",
                GENERIC_HINT)
    host, port = _where(url)
    m = re.search(r'database "([^"]+)" does not exist', text)
    if m:
        return (f'PostgreSQL on {host}:{port} has no database "{m.group(1)}"',
                f"create it: createdb -h {host} -p {port}" + (f" -U {url.user}" if url.user else "")
                + f" {m.group(1)}")
    m = re.search(r'role "([^"]+)" does not exist', text)
    if m:
        return (f'PostgreSQL on {host}:{port} has no user (role) "{m.group(1)}"',
                f"create it (createuser -h {host} -p {port} {m.group(1)}) or put another user in the URL")
    if "password authentication failed" in text or "no password supplied" in text:
        return (f"PostgreSQL on {host}:{port} refused the password for user {url.user or '(default)'}",
                "set PGPASSWORD or a ~/.pgpass line for this host, port, database and user")
    if "Connection refused" in text or "connection refused" in text:
        return (f"nothing accepts connections on {host}:{port} (connection refused)",
                f"start PostgreSQL there, or fix the host and port in the URL (now {host}:{port})")
    if "could not translate host name" in text or "Name or service not known" in text:
        return f"the host name {host} does not resolve", "fix the host in the URL"
    if "timeout" in text.lower() or "timed out" in text.lower():
        return (f"PostgreSQL on {host}:{port} did not answer in time",
                "check the host, port and any firewall between here and the server")
    first = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return f"cannot open {url.redacted()}: {url.scrub(first)}", GENERIC_HINT
