"""A private copy of a cached bench store and a fresh SQLite target beside it: the
cached stores are shared and read-only (commit writes its tombstone, a run takes a lock
file in the store), so the one-off bench scripts work on a copy."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path


def work_copy(prefix: str) -> tuple[Path, Path, Path, Path]:
    """``(source store, work dir, copied kv dir, target path)`` from ``argv[1]`` and the
    optional ``argv[2]`` work dir (default: a new temp dir)."""
    src = Path(sys.argv[1])
    work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix=prefix))
    kv = work / "kv"
    if kv.exists():
        shutil.rmtree(kv)
    kv.mkdir(parents=True)
    shutil.copy2(src / "data.mdb", kv / "data.mdb")
    db = work / "target.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return src, work, kv, db
