"""The log file: one scrubbing ``logging`` handler, the only writer of ``--log FILE``.

The engine logs to the ``migwizard`` logger; the front ends add their own lines
to the same logger. Having exactly one handler own the file is what keeps each
line in it once (an event sink that also appended to the file doubled every
engine line). Every line passes the scrubbers first: a database password must
never reach a file that outlives the session.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable

from .files import check_output_path, ensure_private_dir, open_private_append

__all__ = ["LOGGER_NAME", "ScrubbingFileHandler", "install_log_file", "remove_log_file", "scrub_secrets"]

LOGGER_NAME = "migwizard"

# user:password@ in any URL, and password-like key=value pairs (libpq options, URL queries).
_URL_PASSWORD = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")
_KV_PASSWORD = re.compile(r"(?i)(?P<pre>\b(?:password|passwd|pgpassword|sslpassword)\s*[=:]\s*)[^\s&'\"]+")


def scrub_secrets(text: str) -> str:
    """Mask what looks like a password whatever its origin (URL userinfo, ``password=``, PGPASSWORD)."""
    text = _URL_PASSWORD.sub(lambda m: m.group("pre") + "***@", text)
    text = _KV_PASSWORD.sub(lambda m: m.group("pre") + "***", text)
    pg = os.environ.get("PGPASSWORD")
    if pg:
        text = text.replace(pg, "***")
    return text


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", self.converter(record.created))


class ScrubbingFileHandler(logging.Handler):
    """Appends scrubbed lines to a 0600 file opened without following symlinks."""

    def __init__(self, path: Path, *, scrub: Callable[[str], str] | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.path = Path(path)
        self.scrub = scrub
        self._fd = open_private_append(self.path)
        self._write_lock = threading.Lock()
        self.setFormatter(_UTCFormatter("%(asctime)s %(levelname)-7s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            if self.scrub is not None:
                line = self.scrub(line)
            line = scrub_secrets(line)
            with self._write_lock:
                if self._fd >= 0:
                    os.write(self._fd, (line.replace("\n", "\n    ") + "\n").encode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - logging must never break a migration
            self.handleError(record)

    def close(self) -> None:
        with self._write_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        super().close()


def install_log_file(path: Path | str, *, scrub: Callable[[str], str] | None = None,
                     create_parent: bool = True) -> ScrubbingFileHandler:
    """Make ``path`` the one log file of the ``migwizard`` logger (replacing any previous one).

    Raises ``core.files.UnsafePathError`` (an ``OSError``) for a path we refuse
    (symlink, directory, unwritable).
    """
    path = Path(path)
    if create_parent and not path.parent.exists():
        ensure_private_dir(path.parent)
    check_output_path(path)
    handler = ScrubbingFileHandler(path, scrub=scrub)
    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if isinstance(h, ScrubbingFileHandler)]:
        remove_log_file(old)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    return handler


def remove_log_file(handler: logging.Handler) -> None:
    logging.getLogger(LOGGER_NAME).removeHandler(handler)
    handler.close()
