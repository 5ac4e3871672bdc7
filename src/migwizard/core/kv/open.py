"""Open whatever KV store the user points at.

Users pass either lnd's ``channel.db`` (bbolt, which we only ever read) or a
directory made by ``migwizard import-bbolt`` (LMDB). Detection looks at bytes,
not names, so a renamed file still works and a wrong file gets a message that
says what it looks like instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from .bbolt import BboltReader, is_bbolt_header
from .errors import KVError, ReadOnlyError
from .lmdb_store import DATA_FILE, LmdbStore

__all__ = ["open_kv", "detect_kind"]

LMDB_MAGIC_LE = (0xBEEFC0DE).to_bytes(4, "little")
SQLITE_MAGIC = b"SQLite format 3\x00"


def _head(path: Path, n: int = 4096) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise KVError(f"{path}: cannot read: {e.strerror}") from None


def _lmdb_dir(path: Path) -> Path | None:
    """The env directory if ``path`` is one, or is the ``data.mdb`` inside one."""
    if path.is_dir():
        return path if (path / DATA_FILE).is_file() else None
    if path.name == DATA_FILE and _head(path, 20)[16:20] == LMDB_MAGIC_LE:
        return path.parent
    return None


def detect_kind(path: str | os.PathLike[str]) -> Literal["lmdb", "bbolt"] | None:
    """Classify ``path`` by content: ``"lmdb"``, ``"bbolt"`` or None (unknown / missing)."""
    p = Path(path)
    if not p.exists():
        return None
    if _lmdb_dir(p) is not None:
        return "lmdb"
    if p.is_file():
        head = _head(p)
        if is_bbolt_header(head):
            return "bbolt"
        # meta page 0 may be damaged; bbolt then finds meta 1 at 1024<<i
        size = p.stat().st_size
        with open(p, "rb") as f:
            for i in range(15):
                pos = 1024 << i
                if pos + 20 > size:
                    break
                f.seek(pos)
                if is_bbolt_header(f.read(20)):
                    return "bbolt"
    return None


def open_kv(path: str | os.PathLike[str], *, readonly: bool = True):
    """Open ``path`` as a :class:`BboltReader` or :class:`LmdbStore`.

    bbolt is always read-only: asking to write one is refused with a pointer to
    the import step rather than silently opening it read-only.
    """
    p = Path(path)
    if not p.exists():
        raise KVError(f"{p}: no such file or directory")
    kind = detect_kind(p)
    if kind == "lmdb":
        return LmdbStore.open(_lmdb_dir(p), readonly=readonly)
    if kind == "bbolt":
        if not readonly:
            raise ReadOnlyError(
                f"{p}: bbolt files (lnd's channel.db) are opened read-only; "
                "import it first with `migwizard import-bbolt CHANNEL_DB --kv DIR` and work on the copy"
            )
        return BboltReader(p)
    if p.is_dir():
        raise KVError(f"{p}: a directory but not a migwizard KV store (no {DATA_FILE})")
    head = _head(p, 16)
    if head.startswith(SQLITE_MAGIC):
        raise KVError(f"{p}: an SQLite database, not a bbolt file or migwizard KV store")
    if not head:
        raise KVError(f"{p}: empty file, not a bbolt file or migwizard KV store")
    raise KVError(f"{p}: neither a bbolt file (lnd channel.db) nor a migwizard KV store")
