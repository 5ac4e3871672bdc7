"""Cheap facts about a KV store on disk, for front ends that must not open the KV layer.

The wizard's welcome and import screens need a handful of answers before any
engine session exists (what kind of file is this? is this LMDB copy a complete
import? was it tombstoned? how many payments did the import copy?). Those
answers live in the KV layer and the codec's key names; this module is the one
place the front ends ask, so the screens never import ``core.kv`` or
``core.codec`` themselves (an import-linter contract enforces that).

Every function here opens stores read-only and returns plain values; unreadable
stores become a value that says so, never an exception the screen must decode.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET, PAYMENTS_TOMBSTONE_KEY

__all__ = [
    "StoreFacts",
    "count_payments",
    "detect_kind",
    "import_channel_db",
    "import_state",
    "store_facts",
]

_META_IMPORT_SOURCE = b"import-source"
_META_IMPORT_STATE = b"import-state"


@dataclass(frozen=True)
class StoreFacts:
    """What an LMDB store says about itself without a payment scan."""

    tombstoned: bool = False
    imported_from: str | None = None  # the bbolt channel.db an ``import-bbolt`` copy was made from

    def __iter__(self):  # (tombstoned, imported_from), as the wizard's probe passes them on
        return iter((self.tombstoned, self.imported_from))


def detect_kind(path: str | os.PathLike[str]) -> Literal["lmdb", "bbolt"] | None:
    """``"lmdb"``, ``"bbolt"`` or None, by content (see ``core.kv.open.detect_kind``)."""
    from migwizard.core.kv.open import detect_kind as _detect

    return _detect(path)


def _open_readonly(path: Path):
    from migwizard.core.kv.lmdb_store import LmdbStore

    return LmdbStore.open(Path(path), readonly=True)


def store_facts(path: str | os.PathLike[str]) -> StoreFacts:
    """Tombstone and import origin of the LMDB store at ``path``; ``StoreFacts()`` if unreadable."""
    try:
        store = _open_readonly(Path(path))
        try:
            raw = store.meta_get(_META_IMPORT_SOURCE)
            with store.read() as root:
                rb = root.bucket(PAYMENTS_ROOT_BUCKET)
                tombstoned = bool(rb is not None and rb.get(PAYMENTS_TOMBSTONE_KEY) == b"1")
        finally:
            store.close()
    except Exception:
        return StoreFacts()
    source = None
    if raw:
        try:
            source = str(json.loads(raw)["path"])
        except Exception:
            source = raw.decode("utf-8", "replace")
    return StoreFacts(tombstoned, source)


def import_state(dest: str | os.PathLike[str]) -> str | None:
    """The LMDB copy at ``dest``: None (none yet, an import may create it), ``"complete"``,
    ``"tombstoned"`` (complete, but already migrated into some target), or why it is not usable."""
    dest = Path(dest)
    if not dest.exists():
        return None
    if not dest.is_dir():
        return "exists and is not a directory"
    if not (dest / "data.mdb").exists():
        return None if not any(dest.iterdir()) else "a non-empty directory without an LMDB store"
    try:
        store = _open_readonly(dest)
        try:
            raw = store.meta_get(_META_IMPORT_STATE)
        finally:
            store.close()
    except Exception as exc:  # unreadable: say so, calmly
        return f"unreadable: {exc}"
    state = raw.decode("utf-8", "replace") if raw else "no import record"
    if state != "complete":
        return state
    return "tombstoned" if store_facts(dest).tombstoned else "complete"


def count_payments(store_dir: str | os.PathLike[str]) -> int | None:
    """Payments in an LMDB store (sub-buckets of the payments root bucket); None if unreadable."""
    try:
        store = _open_readonly(Path(store_dir))
        try:
            with store.read() as root:
                bucket = root.bucket(PAYMENTS_ROOT_BUCKET)
                return 0 if bucket is None else sum(1 for _k, _v, child in bucket.entries() if child is not None)
        finally:
            store.close()
    except Exception:
        return None


def import_channel_db(src: str | os.PathLike[str], dest: str | os.PathLike[str],
                      progress: Callable[..., Any] | None = None) -> tuple[Any, int | None]:
    """Import ``src``'s payment buckets into a new LMDB copy at ``dest`` (verified), then count them.

    Returns (the importer's ``ImportResult``, payments copied or None if the copy cannot be read).
    Raises what the importer raises (typed KV errors naming the key).
    """
    from migwizard.core.kv.importer import import_bbolt

    result = import_bbolt(Path(src), Path(dest), all_buckets=False, progress=progress)
    return result, count_payments(dest)
