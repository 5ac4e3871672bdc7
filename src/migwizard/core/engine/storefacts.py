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
    "SOURCE_WORDS",
    "StoreFacts",
    "classify_source",
    "copy_location",
    "count_payments",
    "describe_node_markers",
    "detect_kind",
    "import_channel_db",
    "import_state",
    "marker_lines",
    "prepare",
    "rehearsal",
    "resolve_node",
    "store_facts",
    "verdict_lines",
]

#: What each source kind is, in the words the welcome screen uses.
SOURCE_WORDS = {
    "lmdb": "migwizard LMDB store",
    "bbolt": "lnd's bbolt channel.db",
    "kvsql-sqlite": "lnd's channel.sqlite (KV over SQL)",
    "kvsql-postgres": "lnd's KV-over-SQL PostgreSQL database",
}

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


# -- every source kind (issue 8): the wizard decides as the headless path does ----------------

def classify_source(text: str) -> tuple[str | None, str]:
    """(kind or None, why not) for a typed source, without connecting anywhere.

    ``kind`` is one of :data:`SOURCE_WORDS`; a PostgreSQL URL is recognised by its
    scheme only (reaching it is the import's job, in a worker).
    """
    from migwizard.core.kv.errors import KVError
    from migwizard.core.kv.source import source_kind

    try:
        return source_kind(text), ""
    except KVError as exc:
        return None, str(exc)
    except Exception as exc:  # unreadable: say so, calmly
        return None, f"cannot read {text}: {exc}"


def _identity(kind: str, text: str, table: str | None) -> dict:
    """``core.kv.importer.source_identity`` without opening the source (it names, never reads)."""
    if kind == "bbolt":
        return {"kind": "bbolt", "path": str(Path(text).resolve())}
    ident: dict[str, Any] = {"kind": kind, "table": table or "channeldb_kv"}
    if kind == "kvsql-postgres":
        from migwizard.core.sql.connect import TargetURL

        ident["path"] = TargetURL.parse(text).redacted()
    else:
        ident["path"] = str(Path(text).resolve())
    return ident


def copy_location(kind: str, text: str, table: str | None = None, imports_base: Path | None = None) -> Path:
    """Where ``prepare`` keeps the verified LMDB copy of a non-LMDB source: under the state
    directory (or ``imports_base``), never inside lnd's data directory."""
    from migwizard.core.kv.source import copy_dir_for

    return copy_dir_for(_identity(kind, text, table), base=imports_base)


def prepare(text: str, *, kv_table: str | None = None, progress: Callable[[int], None] | None = None,
            imports_base: Path | None = None, fresh: bool = False):
    """``core.kv.source.prepare_source``: import (verified) or reuse the copy; see there."""
    from migwizard.core.kv.source import prepare_source

    return prepare_source(text, kv_table=kv_table, on_progress=progress, imports_base=imports_base, fresh=fresh)


def marker_lines(text: str, kv_table: str | None = None) -> list[str]:
    """The node's markers on ``text`` (any source kind) in words; a handful of point lookups,
    read-only. Raises the KV layer's typed errors for a source that cannot be read."""
    from migwizard.core.kv.markers import describe_markers, markers_of_store
    from migwizard.core.rehearse.run import open_readonly

    kind, _why = classify_source(text)
    kind, store = open_readonly(text, table=kv_table if kind and kind.startswith("kvsql") else None)
    with store, store.read() as root:
        markers = markers_of_store(store, root)
        if kind == "lmdb":  # an import copy speaks of its source
            raw = store.meta_get(_META_IMPORT_SOURCE)
            try:
                kind = str(json.loads(raw)["kind"]) if raw else "lmdb"
            except Exception:
                kind = "lmdb"
    return describe_markers(markers, source_kind=kind)


def describe_node_markers(prepared) -> list[str]:
    """The markers a ``prepare`` result carries, in words (``core.kv.markers.describe_markers``)."""
    from migwizard.core.kv.markers import describe_markers

    return describe_markers(prepared.markers, source_kind=prepared.kind)


def resolve_node(lnddir: str, network: str | None = None):
    """``core.lnd.lnddir.resolve_lnddir`` (raises its typed ``LndDirError``)."""
    from migwizard.core.lnd.lnddir import resolve_lnddir

    return resolve_lnddir(lnddir, network)


def rehearsal(source: str, kv_table: str | None = None):
    """What each lnd release's own payments migration would do with ``source`` (read-only);
    a ``core.rehearse.RehearsalReport``. Reads every payment: call it from a worker."""
    from migwizard.core.rehearse import rehearse

    return rehearse(source, kv_table=kv_table)


def verdict_lines(report) -> list[str]:
    """One line per lnd release, for a screen that wraps (nothing is cut short here)."""
    out = []
    for v in report.verdicts:
        f = v.failure
        if f is None:
            text = "✓ passes" + ("; " + "; ".join(v.notes) if v.notes else "")
        elif f.stage == "payments" and f.payment:
            text = f"✗ fails at payment {f.payment[:8]}… (seq {f.sequence}): {f.reason}"
        elif f.stage == "after_payments":
            text = f"✗ stops at start-up after its payments step: {f.reason}"
        else:
            text = f"✗ never reaches the payments step: {f.reason}"
        out.append(f"{v.release:<12} {text}")
    return out
