"""`migwizard inspect`: what a KV store (LMDB, a bbolt channel.db, lnd's KV-over-SQL) holds, read-only.

Decodes every payment with the migration's own codec, so anything `inspect`
reads cleanly the migration reads too; a record it cannot read is reported with
payment, key and byte offset. Secrets are masked unless --show-secrets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .core.codec import DecodeError, decide_status, fetch_payment, render_key
from .core.codec.keys import NEXT_PAYMENT_ID_KEY, PAYMENTS_ROOT_BUCKET, PAYMENTS_TOMBSTONE_KEY, TOMBSTONE_META_KEY
from .core.codec.walk import BadEntry, PaymentEntry, find_payments, walk_payment_index
from .core.engine.results import STATUS_FIELDS
from .exits import ExitCode
from .core.engine.rows import expected_duplicates
from .core.engine.tree import mask, payment_tree
from .core.kv.channeldb import channeldb_version
from .core.kv.errors import KVError
from .core.kv.markers import describe_markers, markers_of_store
from .core.kv.open import open_kv


def _open_any(path: str, kv_table: str | None):
    from .core.kv.kvsql import KvSqlReader
    from .core.kv.source import source_kind

    kind = source_kind(path)
    if kind.startswith("kvsql"):
        return KvSqlReader(path, table=kv_table)
    if kv_table is not None:
        raise KVError("--kv-table applies to a channel.sqlite or PostgreSQL KV store")
    return open_kv(path, readonly=True)


def run_inspect(path: str | Path, *, payment: str | None, show_secrets: bool, as_json: bool,
                kv_table: str | None = None) -> int:
    try:
        store = _open_any(str(path), kv_table)
    except KVError as e:
        sys.stderr.write(f"error: {e}\n")
        return int(ExitCode.PREFLIGHT_REFUSED)
    try:
        return _inspect(store, path, payment, show_secrets, as_json)
    except KVError as e:  # damage outside a payment (index, root bucket, store metadata)
        sys.stderr.write(f"error: {e}\n")
        return int(ExitCode.PREFLIGHT_REFUSED)


def _inspect(store, path: Path, payment: str | None, show_secrets: bool, as_json: bool) -> int:
    with store:
        with store.read() as root:
            rb = root.bucket(PAYMENTS_ROOT_BUCKET)
            if payment is not None:
                return _one(rb, payment, show_secrets, as_json)
            counts = {"succeeded": 0, "failed": 0, "in_flight": 0, "initiated": 0}
            attempts = hops = dups = dup_entries = 0
            errors = []
            entries = 0
            for entry in walk_payment_index(root):
                entries += 1
                if isinstance(entry, BadEntry):
                    errors.append(str(entry.error))
                    continue
                if not isinstance(entry, PaymentEntry):
                    continue  # duplicates' entries and missing buckets: LND skips them too
                try:
                    p = fetch_payment(entry.bucket, payment_id=entry.payment_hash,
                                      key_prefix=render_key(PAYMENTS_ROOT_BUCKET))
                except DecodeError as e:
                    errors.append(str(e))
                    continue
                except KVError as e:  # a damaged store entry, named by the KV layer
                    errors.append(str(e))
                    continue
                counts[STATUS_FIELDS[decide_status(p)]] += 1
                attempts += len(p.htlcs)
                hops += sum(len(h.route.hops) for h in p.htlcs)
                if p.duplicates:
                    dups += 1
                    dup_entries += len(p.duplicates)
            sb = root.bucket(NEXT_PAYMENT_ID_KEY)
            markers = markers_of_store(store, root)
            doc = {
                "path": getattr(store, "origin", None) or str(path), "kind": getattr(store, "kind", type(store).__name__),
                "channeldb_version": channeldb_version(root),
                "payments": sum(counts.values()), **counts, "attempts": attempts, "hops": hops,
                "duplicate_payments": dups, "duplicate_entries": dup_entries, "index_entries": entries,
                "payment_sequence": rb.sequence() if rb is not None else None,
                "switch_sequence": sb.sequence() if sb is not None else None,
                "tombstoned": bool(rb is not None and rb.get(PAYMENTS_TOMBSTONE_KEY) == b"1"),
                "errors": errors,
                "node_markers": markers.to_json(),
                "node_markers_text": describe_markers(markers, source_kind=getattr(store, "kind", None)),
            }
            meta_get = getattr(store, "meta_get", None)
            if meta_get is not None:
                raw = meta_get(TOMBSTONE_META_KEY)
                if raw:
                    doc["tombstone"] = json.loads(raw)
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        out = sys.stdout
        out.write(f"{doc['path']} ({doc['kind']}, channeldb version {doc['channeldb_version']})\n")
        out.write(f"payments: {doc['payments']} (succeeded {counts['succeeded']}, failed {counts['failed']}, "
                  f"in flight {counts['in_flight']}, initiated {counts['initiated']})\n")
        out.write(f"attempts: {attempts}, hops: {hops}, duplicates: {dups} payments / {dup_entries} entries, "
                  f"index entries: {entries}\n")
        out.write(f"payment sequence horizon: {doc['payment_sequence']}, switch sequencer: {doc['switch_sequence']}\n")
        for line in doc["node_markers_text"]:
            out.write(f"marker: {line}\n")
        if doc["tombstoned"]:
            out.write(f"TOMBSTONED (migrated): {json.dumps(doc.get('tombstone', {}))}\n")
        for e in errors:
            out.write(f"unreadable: {e}\n")
    return int(ExitCode.FAILED_ROLLED_BACK) if errors else 0


def _one(rb, prefix: str, show_secrets: bool, as_json: bool) -> int:
    prefix = prefix.lower()
    matches = find_payments(rb, prefix)
    if len(matches) != 1:
        sys.stderr.write(f"error: {'no' if not matches else 'several'} payments match {prefix!r}\n")
        return int(ExitCode.USAGE)
    phash = matches[0]
    try:
        p = fetch_payment(rb.bucket(phash), payment_id=phash, key_prefix=render_key(PAYMENTS_ROOT_BUCKET))
    except DecodeError as e:
        sys.stderr.write(f"error: {e}\n")
        return int(ExitCode.FAILED_ROLLED_BACK)
    tree = payment_tree(p, expected_duplicates(p))
    tree["sequence"] = p.sequence_num
    if not show_secrets:
        tree = mask(tree)
    if as_json:
        json.dump(tree, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_tree(tree, sys.stdout, 0)
    return 0


def _print_tree(node, out, depth: int, label: str | None = None) -> None:
    pad = "  " * depth
    if isinstance(node, dict):
        if label is not None:
            out.write(f"{pad}{label}:\n")
            depth += 1
            pad = "  " * depth
        for k, v in node.items():
            if isinstance(v, (dict, list)) and v:
                _print_tree(v, out, depth, str(k))
            else:
                out.write(f"{pad}{k}: {v}\n")
    elif isinstance(node, list):
        out.write(f"{pad}{label}:\n")
        for i, v in enumerate(node):
            _print_tree(v, out, depth + 1, f"[{i}]")
    else:
        out.write(f"{pad}{label}: {node}\n")
