"""Turn whatever ``--kv`` names into the LMDB working store the engine runs on.

Why one function for both front ends: the headless path must work in one
command (``--yes --kv channel.sqlite``) and the wizard must make the same
decisions, so where a copy lives, when an earlier copy may be reused and what
the user is told are decided here, once.

* an LMDB directory (ours) is used as is;
* a bbolt ``channel.db``, a ``channel.sqlite`` or a ``postgresql://`` URL is
  snapshotted (verified, see :mod:`.importer`) into
  ``imports_dir()/<name>-<digest of the source identity>`` — never inside
  lnd's data directory;
* an earlier complete copy of the same source is reused when the source is
  unchanged (bbolt: same txid, size and mtime; KV-over-SQL: the same content
  digest of the copied buckets, re-read in one read-only transaction);
  otherwise the source is imported again into a fresh directory that then takes
  the copy's place. An old copy that carries migwizard's tombstone is the record
  of a committed migration: it is moved aside (``<name>.committed-<time>``),
  never deleted. ``fresh=True`` imports again even when the source is unchanged
  (for a new target after a committed migration of the same source).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .bbolt import BboltReader
from .errors import KVError
from .importer import (
    META_IMPORT_SOURCE,
    META_IMPORT_STATE,
    ImportResult,
    content_digest,
    import_from,
    SEQUENCER_BUCKET,
    selected_buckets,
    source_identity,
)
from .kvsql import DEFAULT_TABLE, KvSqlReader, is_postgres_url, is_sqlite_file
from .lmdb_store import LmdbStore
from .markers import NodeMarkers, markers_of_store
from .open import detect_kind, _lmdb_dir

__all__ = ["PreparedSource", "prepare_source", "source_kind", "copy_dir_for"]


@dataclass
class PreparedSource:
    #: "lmdb" | "bbolt" | "kvsql-sqlite" | "kvsql-postgres"
    kind: str
    #: display-safe origin: a path, or a PostgreSQL URL without its password
    origin: str
    #: the LMDB store the engine runs on
    lmdb_dir: Path
    #: an earlier verified copy was used instead of importing again
    reused: bool = False
    markers: NodeMarkers = field(default_factory=NodeMarkers)
    table: str | None = None
    #: the import that was run now (None when reused or an LMDB source)
    imported: ImportResult | None = None
    #: why an existing copy was (not) reused, in words
    note: str = ""

    @property
    def is_copy(self) -> bool:
        return self.kind != "lmdb"


def source_kind(kv_arg: str) -> str:
    """Classify ``--kv``: lmdb, bbolt, kvsql-sqlite or kvsql-postgres (typed error otherwise)."""
    if is_postgres_url(kv_arg):
        return "kvsql-postgres"
    p = Path(kv_arg)
    if not p.exists():
        raise KVError(f"{p}: no such file or directory")
    kind = detect_kind(p)
    if kind is not None:
        return kind
    if p.is_file() and is_sqlite_file(p):
        return "kvsql-sqlite"
    raise KVError(f"{p}: not a migwizard LMDB store, an lnd channel.db (bbolt) or an lnd channel.sqlite")


def _open_reader(kind: str, kv_arg: str, table: str | None):
    if kind == "bbolt":
        return BboltReader(kv_arg)
    return KvSqlReader(kv_arg, table=table or DEFAULT_TABLE)


def copy_dir_for(identity: dict, *, base: Path | None = None) -> Path:
    """``<imports dir>/<name>-<12 hex of the identity>``: stable per source, distinct across sources."""
    from migwizard.core.statedir import imports_dir

    raw = json.dumps(identity, sort_keys=True).encode()
    short = hashlib.sha256(raw).hexdigest()[:12]
    origin = identity["path"]
    if identity["kind"] == "kvsql-postgres":
        name = origin.rsplit("/", 1)[-1].split("?", 1)[0] or "postgres"
    else:
        name = Path(origin).name
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:60] or "source"
    return (base or imports_dir()) / f"{name}-{short}"


def _sequencer_of(root) -> int:
    b = root.bucket(SEQUENCER_BUCKET)
    return b.sequence() if b is not None else 0


def _read_copy_meta(path: Path) -> tuple[dict | None, str | None, bool, NodeMarkers | None, int]:
    """(import-source, import-state, tombstoned, markers, switch sequencer) of an existing
    copy; Nones if unreadable."""
    try:
        with LmdbStore.open(path, readonly=True) as store, store.read() as root:
            raw = store.meta_get(META_IMPORT_SOURCE)
            state = store.meta_get(META_IMPORT_STATE)
            markers = markers_of_store(store, root)
            seq = _sequencer_of(root)
        return (json.loads(raw) if raw else None, state.decode() if state else None,
                markers.payments_tombstone, markers, seq)
    except (KVError, ValueError):
        return None, None, False, None, 0


def _unchanged(kind: str, reader, recorded: dict, *, copy_sequencer: int, committed: bool) -> str | None:
    """None when the copy may be reused, else why not (in words)."""
    if kind == "bbolt":
        st = Path(reader.path).stat()
        same = (recorded.get("txid") == reader.meta.txid and recorded.get("size") == st.st_size
                and recorded.get("mtime_ns") == st.st_mtime_ns)
        return None if same else "the source changed since the earlier copy"
    want = recorded.get("content_sha256")
    if not want:
        return "the earlier copy records no content digest"
    top = {bytes.fromhex(k) for k in recorded.get("buckets", [])}
    with reader.read() as root:
        if set(selected_buckets(root, all_buckets=bool(recorded.get("all_buckets")))) != top:
            return "the source changed since the earlier copy"  # a payment or marker bucket appeared or vanished
        digest, _n = content_digest(root, top)
        live = _sequencer_of(root)
    if digest != want:
        return "the source changed since the earlier copy"
    # The digest leaves lnd's switch sequencer out (migwizard advances it at commit). A copy
    # holding a committed migration is the record of that migration: our own advance is why
    # the live value is higher. Any other copy would start a NEW run whose legacy-ID remaps
    # begin at the copy's sequencer: if lnd's is higher now, that start is stale.
    if not committed and live > copy_sequencer:
        return (f"the source changed: lnd's switch sequencer moved since the earlier copy "
                f"({copy_sequencer} -> {live}), so the copy's attempt-ID horizon is stale")
    return None


def prepare_source(
    kv_arg: str | os.PathLike[str],
    *,
    kv_table: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    imports_base: Path | None = None,
    fresh: bool = False,
) -> PreparedSource:
    """Resolve ``--kv`` to an LMDB working store, importing (or reusing a copy) when needed.

    ``on_progress(entries)`` is called during an import. Raises :class:`KVError`
    subclasses with display-safe messages (never a password).
    """
    text = os.fspath(kv_arg)
    kind = source_kind(text)
    if kind == "lmdb":
        d = _lmdb_dir(Path(text))
        with LmdbStore.open(d, readonly=True) as store, store.read() as root:
            markers = markers_of_store(store, root)
        return PreparedSource("lmdb", str(d), d, markers=markers)
    if kv_table is not None and kind == "bbolt":
        raise KVError("--kv-table applies to a channel.sqlite or PostgreSQL KV store, not a bbolt channel.db")
    with _open_reader(kind, text, kv_table) as reader:
        ident = source_identity(reader)
        origin = reader.origin if kind != "bbolt" else str(reader.path)
        table = getattr(reader, "table", None)
        dest = copy_dir_for(ident, base=imports_base)
        note = ""
        keep_old = False
        if (dest / "data.mdb").exists():
            recorded, state, tombstoned, markers, copy_seq = _read_copy_meta(dest)
            keep_old = tombstoned
            same_source = recorded is not None and all(recorded.get(k) == v for k, v in ident.items())
            why = None
            if not fresh and same_source and state == "complete":
                why = _unchanged(kind, reader, recorded, copy_sequencer=copy_seq, committed=tombstoned)
                if why is None:
                    return PreparedSource(kind, origin, dest, reused=True, markers=markers, table=table,
                                          note="the source is unchanged since this verified copy was made")
            if fresh:
                note = "a fresh copy was asked for; imported again"
            elif state == "complete":
                note = f"{why or 'the source changed since the earlier copy'}; imported again"
            else:
                note = f"the earlier copy was not complete ({state}); imported again"
            if keep_old:
                note += "; the earlier copy holds a committed migration and was kept"
        new_dir = dest.with_name(f"{dest.name}.new-{os.getpid()}-{int(time.time())}")
        try:
            result = import_from(reader, new_dir, progress=on_progress)
        except BaseException:
            shutil.rmtree(new_dir, ignore_errors=True)
            raise
    if dest.exists():
        stamp = time.strftime("%Y%m%dT%H%M%S")
        old = dest.with_name(f"{dest.name}.{'committed' if keep_old else 'old'}-{stamp}-{os.getpid()}")
        os.rename(dest, old)
        os.rename(new_dir, dest)
        if not keep_old:
            shutil.rmtree(old, ignore_errors=True)
        else:
            note = note.replace("was kept", f"was kept at {old}")
    else:
        os.rename(new_dir, dest)
    return PreparedSource(kind, origin, dest, reused=False, markers=result.markers, table=table,
                          imported=result, note=note)
