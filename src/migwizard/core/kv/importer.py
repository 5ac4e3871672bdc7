"""Copy lnd's channel.db (bbolt) into a new migwizard LMDB store, then prove the copy.

Why import at all: the bbolt file belongs to the user's node and must never be
written, while the migration wants a store it can annotate (tombstones,
fingerprints, progress) and re-read quickly. Copying only the payment buckets
keeps the store small; ``all_buckets`` copies everything for users who want a
full snapshot.

The copy is verified by walking source and copy side by side and comparing
every key, value, bucket flag and sequence: a silent difference here would
propagate into the user's SQL payment history, so it must be loud.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

from migwizard.core.codec.errors import render_key

from .bbolt import BboltReader
from .bucket import BucketBase, Entry, walk
from .channeldb import PAYMENT_BUCKETS, channeldb_version
from .errors import KVError, TargetNotEmptyError, VerifyError
from .lmdb_store import LmdbBucket, LmdbStore
from .markers import MARKER_BUCKETS, META_NODE_MARKERS, NodeMarkers, read_markers

__all__ = [
    "import_bbolt",
    "import_from",
    "ImportResult",
    "BucketCounts",
    "format_import_summary",
    "verify_copy",
    "content_digest",
    "source_identity",
    "selected_buckets",
]

DEFAULT_BATCH = 50_000
PROGRESS_EVERY = 5_000

META_IMPORT_SOURCE = b"import-source"
META_IMPORT_STATE = b"import-state"


@dataclass
class BucketCounts:
    """Counts below one top-level bucket (the bucket itself included in ``buckets``)."""

    buckets: int = 0
    values: int = 0
    value_bytes: int = 0


@dataclass
class ImportResult:
    #: the bbolt / channel.sqlite path, or a PostgreSQL URL without its password
    source: Path | str
    target: Path
    buckets: int = 0
    values: int = 0
    value_bytes: int = 0
    per_bucket: dict[bytes, BucketCounts] = field(default_factory=dict)
    duration: float = 0.0
    verified: bool = False
    all_buckets: bool = False
    #: payment buckets that were asked for but are absent in the source
    missing: list[bytes] = field(default_factory=list)
    channeldb_version: int | None = None
    page_size: int = 0
    source_txid: int = 0
    #: "bbolt" | "kvsql-sqlite" | "kvsql-postgres"
    kind: str = "bbolt"
    markers: NodeMarkers = field(default_factory=NodeMarkers)
    #: sha256 over the copied entries (see :func:`content_digest`)
    content_sha256: str = ""

    @property
    def entries(self) -> int:
        return self.buckets + self.values


def _check_target(dst: Path) -> None:
    if dst.exists():
        if not dst.is_dir():
            raise TargetNotEmptyError(f"{dst}: exists and is not a directory; choose a new directory for the KV store")
        content = sorted(x.name for x in dst.iterdir())
        if content:
            what = "an existing KV store" if "data.mdb" in content else f"{len(content)} entries"
            raise TargetNotEmptyError(
                f"{dst}: not empty ({what}); import-bbolt only writes into a new or empty directory"
            )


def import_bbolt(
    src_path: str | os.PathLike[str],
    dst_dir: str | os.PathLike[str],
    *,
    all_buckets: bool = False,
    progress: Callable[[int], None] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> ImportResult:
    """Copy ``src_path`` (bbolt) into a new LMDB store at ``dst_dir`` and verify it.

    Only the payment buckets present in the source are copied unless
    ``all_buckets``. Commits every ``batch_size`` entries so memory stays
    bounded; ``progress(entries_done)`` is called every few thousand entries.
    The store's ``meta`` records the source and ends with ``import-state`` =
    ``complete`` only after verification passed.
    """
    src = Path(src_path)
    _check_target(Path(dst_dir))
    with BboltReader(src) as reader:
        return import_from(reader, dst_dir, all_buckets=all_buckets, progress=progress, batch_size=batch_size)


def source_identity(reader) -> dict:
    """What names a source (kind, display-safe origin, table): the same for every snapshot of it."""
    if isinstance(reader, BboltReader):
        return {"kind": "bbolt", "path": str(Path(reader.path).resolve())}
    ident = {"kind": reader.kind, "table": reader.table}
    if reader.path is not None:
        ident["path"] = str(reader.path.resolve())
    else:
        ident["path"] = reader.origin  # a PostgreSQL URL without its password
    return ident


def selected_buckets(root: BucketBase, *, all_buckets: bool) -> list[bytes]:
    """Top-level buckets an import copies: the payment buckets and the (tiny) marker buckets."""
    top_keys = [k for k, _v, _c in root.entries()]
    if all_buckets:
        return top_keys
    present = set(top_keys)
    return sorted(k for k in (*PAYMENT_BUCKETS, *MARKER_BUCKETS) if k in present)


def content_digest(root: BucketBase, top) -> tuple[str, int]:
    """sha256 over the walk of ``top`` (keys, values, bucket flags, sequences) and the entry count."""
    h = hashlib.sha256()
    n = 0
    for e in walk(root, top=top):
        _hash_entry(h, e)
        n += 1
    return h.hexdigest(), n


#: lnd's switch sequencer bucket. Its SEQUENCE is left out of the content digest: migwizard
#: itself advances it in lnd's KV at commit, and the source must not then look "changed"
#: (a needless re-import, a new copy, a second tombstone). Reuse compares the live sequencer
#: with the copy's separately (:mod:`.source`), so a higher live value is never missed.
SEQUENCER_BUCKET = b"next-payment-id-key"


def _hash_entry(h, e: Entry) -> None:
    h.update(len(e.path).to_bytes(2, "big"))
    for part in e.path:
        h.update(len(part).to_bytes(4, "big") + part)
    h.update(len(e.key).to_bytes(4, "big") + e.key)
    if e.is_bucket:
        seq = 0 if (not e.path and e.key == SEQUENCER_BUCKET) else e.sequence
        h.update(b"B" + seq.to_bytes(8, "big"))
    else:
        h.update(b"V" + len(e.value).to_bytes(8, "big") + e.value)


def import_from(
    reader,
    dst_dir: str | os.PathLike[str],
    *,
    all_buckets: bool = False,
    progress: Callable[[int], None] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> ImportResult:
    """Snapshot an open source (``BboltReader`` or ``KvSqlReader``) into a new LMDB store, verified.

    The copy is created owner-only (0700 directory, 0600 files). Its ``meta``
    records where it came from (``import-source``: kind, display-safe origin,
    table, a content digest of the copied buckets) and the node's markers
    (``node-markers``), and ends with ``import-state`` = ``complete`` only after
    a second, side-by-side walk of source and copy matched entry for entry.
    """
    started = time.monotonic()
    dst = Path(dst_dir)
    _check_target(dst)
    is_bbolt = isinstance(reader, BboltReader)
    origin = str(reader.path) if is_bbolt else reader.origin
    if not is_bbolt:
        reader.check_integrity()
    with reader.read() as sroot:
        selected = selected_buckets(sroot, all_buckets=all_buckets)
        for key, value, _child in sroot.entries():
            if key in selected and value is not None:
                raise KVError(
                    f"{origin}: top-level key {render_key(key)} is a plain value; lnd's channel.db holds only buckets there"
                )
        markers = read_markers(sroot)
        result = ImportResult(
            source=Path(origin) if reader_path(reader) is not None else origin,
            target=dst,
            all_buckets=all_buckets,
            missing=[] if all_buckets else [k for k in PAYMENT_BUCKETS if k not in selected],
            channeldb_version=channeldb_version(sroot),
            page_size=reader.page_size if is_bbolt else 0,
            source_txid=reader.meta.txid if is_bbolt else 0,
            kind="bbolt" if is_bbolt else reader.kind,
            markers=markers,
        )
        sel = frozenset(selected)
        source_info = {
            **source_identity(reader),
            "channeldb_version": result.channeldb_version,
            "all_buckets": all_buckets,
            "buckets": [k.hex() for k in selected],
        }
        if is_bbolt:
            st = Path(reader.path).stat()
            source_info.update(size=st.st_size, mtime_ns=st.st_mtime_ns, page_size=reader.page_size,
                               txid=reader.meta.txid)
        _private_dir(dst)
        store = LmdbStore.open(dst, create=True)
        try:
            _private_files(dst)
            store.meta_put(META_IMPORT_SOURCE, json.dumps(source_info, sort_keys=True).encode())
            store.meta_put(META_NODE_MARKERS, json.dumps(markers.to_json(), sort_keys=True).encode())
            store.meta_put(META_IMPORT_STATE, b"in-progress")
            digest = hashlib.sha256()
            _copy(walk(sroot, top=sel), store, result, progress, batch_size, digest)
            verify_copy(sroot, store, top=sel, source_name=origin)
            result.verified = True
            result.content_sha256 = digest.hexdigest()
            source_info["content_sha256"] = result.content_sha256
            source_info["entries"] = result.entries
            store.meta_put(META_IMPORT_SOURCE, json.dumps(source_info, sort_keys=True).encode())
            store.meta_put(META_IMPORT_STATE, b"complete")
        except BaseException as exc:
            try:  # best effort: leave a readable reason next to the partial copy
                store.meta_put(META_IMPORT_STATE, f"failed: {exc}".encode()[:4000])
            except Exception:
                pass
            raise
        finally:
            store.close()
            _private_files(dst)
    result.duration = time.monotonic() - started
    return result


def reader_path(reader) -> Path | None:
    p = getattr(reader, "path", None)
    return Path(p) if p is not None else None


def _private_dir(dst: Path) -> None:
    """Create the copy's directory owner-only (it holds session keys and preimages)."""
    if dst.is_symlink():
        raise KVError(f"{dst}: is a symbolic link; choose a real directory for the KV copy")
    if not dst.exists():
        old = os.umask(0o077)
        try:
            dst.mkdir(parents=True, mode=0o700)
        finally:
            os.umask(old)
    os.chmod(dst, 0o700, follow_symlinks=False)


def _private_files(dst: Path) -> None:
    for f in dst.iterdir():
        if f.is_file() and not f.is_symlink():
            os.chmod(f, 0o600)


def _copy(entries, store: LmdbStore, result: ImportResult, progress, batch_size: int, digest=None) -> None:
    done = 0
    batch: list[Entry] = []

    def flush() -> None:
        store.update(lambda root: _apply(root, batch))
        batch.clear()

    for e in entries:
        batch.append(e)
        if digest is not None:
            _hash_entry(digest, e)
        top = e.path[0] if e.path else e.key
        counts = result.per_bucket.setdefault(top, BucketCounts())
        if e.is_bucket:
            result.buckets += 1
            counts.buckets += 1
        else:
            n = len(e.value)
            result.values += 1
            result.value_bytes += n
            counts.values += 1
            counts.value_bytes += n
        done += 1
        if len(batch) >= batch_size:
            flush()
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)
    if batch:
        flush()
    if progress is not None:
        progress(done)


def _apply(root: LmdbBucket, batch: list[Entry]) -> None:
    """Write one batch; bucket handles are cached per transaction (walk order is depth-first)."""
    handles: dict[tuple[bytes, ...], LmdbBucket] = {(): root}

    def resolve(path: tuple[bytes, ...]) -> LmdbBucket:
        b = handles.get(path)
        if b is None:
            parent = resolve(path[:-1])
            b = parent.bucket(path[-1])
            if b is None:  # cannot happen: parents precede children in the walk
                raise KVError(f"import: parent bucket {render_key(*path)} missing in the copy")
            handles[path] = b
        return b

    for e in batch:
        parent = resolve(e.path)
        if e.is_bucket:
            child = parent.create_bucket(e.key)
            if e.sequence:
                child.set_sequence(e.sequence)
            handles[e.path + (e.key,)] = child
        else:
            parent.put(e.key, e.value)


def _describe(e: Entry | None) -> str:
    if e is None:
        return "nothing (walk ended)"
    if e.is_bucket:
        return f"bucket {render_key(*e.path, e.key)} (sequence {e.sequence})"
    return f"value {render_key(*e.path, e.key)} ({len(e.value)} bytes)"


def verify_copy(
    source_root: BucketBase,
    store: LmdbStore,
    *,
    top=None,
    source_name: str = "source",
) -> int:
    """Compare the full walks of source and copy; raise :class:`VerifyError` at the first difference.

    Returns the number of entries compared. Comparing walks (not lookups) also
    checks ordering, which later layers rely on being bbolt's.
    """
    n = 0
    with store.read() as lroot:
        for a, b in zip_longest(walk(source_root, top=top), walk(lroot)):
            if a != b:
                where = a if a is not None else b
                raise VerifyError(
                    f"import verification failed at {render_key(*where.path, where.key)} (entry {n}): "
                    f"{source_name} has {_describe(a)}, the copy in {store.path} has {_describe(b)}"
                )
            n += 1
    return n


def format_import_summary(result: ImportResult) -> str:
    """Human summary for the CLI: totals, per-bucket counts, duration, verification."""
    import datetime as _dt

    import humanize

    if result.duration < 1:
        dur = f"{result.duration * 1000:.0f} ms"
    else:
        dur = humanize.precisedelta(_dt.timedelta(seconds=result.duration), minimum_unit="seconds", format="%0.1f")
    lines = [
        f"Imported {humanize.intcomma(result.entries)} entries from {result.source} into {result.target} in {dur}.",
        f"  {humanize.intcomma(result.buckets)} buckets, {humanize.intcomma(result.values)} values "
        f"({humanize.naturalsize(result.value_bytes, binary=True)} of values)",
    ]
    width = max([len(render_key(k)) for k in result.per_bucket] + [len("top-level bucket")])
    if result.per_bucket:
        lines.append(f"  {'top-level bucket':<{width}}  {'buckets':>9}  {'values':>11}  {'value size':>10}")
    for key, c in result.per_bucket.items():
        lines.append(
            f"  {render_key(key):<{width}}  {humanize.intcomma(c.buckets):>9}  "
            f"{humanize.intcomma(c.values):>11}  {humanize.naturalsize(c.value_bytes, binary=True):>10}"
        )
    if result.missing:
        lines.append("  absent in the source (nothing to copy): " + ", ".join(render_key(k) for k in result.missing))
    if result.kind == "bbolt":
        src = (f"  source: bbolt, {humanize.naturalsize(result.page_size, binary=True, format='%.0f')} pages, "
               f"txid {result.source_txid}")
    else:
        src = f"  source: {result.kind} (lnd KV-over-SQL), read in one read-only transaction"
    if result.channeldb_version is not None:
        src += f", channeldb version {result.channeldb_version}"
    lines.append(src)
    lines.append(
        "  verified: every key, value, bucket and sequence matches the source"
        if result.verified
        else "  NOT verified"
    )
    return "\n".join(lines)
