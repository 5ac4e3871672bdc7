"""Quarantine: leave behind the payments no lnd release can read, never silently.

A payment LND's reader rejects (spec §2.11, a codec ``DecodeError``) keeps lnd
in its start-up loop whatever the release. By default migwizard stops on it
too, naming it. With ``--quarantine`` the migration records each such payment
as skipped (reason ``quarantined``, the error text with key and byte offset),
goes on with the rest, and the raw bytes of every left-behind payment bucket
are saved beside the report in a private (0600) JSON file, so nothing is lost:

    {"kind": "migwizard-quarantine", "version": 1, "run_id": ..., "source": ...,
     "payments": [{"identifier": hex, "sequence": n, "reason": text,
                   "bucket": BUCKET}]}
    BUCKET = {"key": hex, "sequence": n, "values": [[key hex, value hex], ...],
              "buckets": [BUCKET, ...]}

``key`` is the bucket's key inside its parent (the payment hash for the
top-level one under ``payments-root-bucket``), ``sequence`` its bbolt bucket
sequence; values and sub-buckets are in key order, exactly as stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..codec import DecodeError, fetch_payment, render_key
from ..codec.keys import PAYMENTS_ROOT_BUCKET
from ..codec.walk import PaymentEntry, walk_payment_index
from ..files import write_private_atomic
from .context import Context
from .results import Check, CheckStatus

QUARANTINE_KIND = "migwizard-quarantine"
QUARANTINE_VERSION = 1
LISTED = 20  # how many a preflight line names (all are in its details)


def unreadable_payments(root) -> list[tuple[int, bytes, str]]:
    """(index sequence, identifier, error) of every payment LND's reader rejects: a full decode pass."""
    out = []
    for entry in walk_payment_index(root):
        if not isinstance(entry, PaymentEntry):
            continue
        try:
            fetch_payment(entry.bucket, payment_id=entry.payment_hash, key_prefix=render_key(PAYMENTS_ROOT_BUCKET))
        except DecodeError as e:
            out.append((entry.seq, entry.payment_hash, str(e)))
    return out


def preflight_check(ctx: Context, root) -> Check | None:
    """With --quarantine: the payments that will be left behind, by name. None when all read."""
    if not ctx.quarantine:
        return None
    bad = unreadable_payments(root)
    if not bad:
        return Check("kv.quarantine", "Quarantine", CheckStatus.PASS,
                     "every payment is readable: nothing will be left behind")
    names = "; ".join(f"{h.hex()} (sequence {s}): {err}" for s, h, err in bad[:LISTED])
    more = f"; and {len(bad) - LISTED} more" if len(bad) > LISTED else ""
    return Check("kv.quarantine", "Quarantine", CheckStatus.WARN,
                 f"{len(bad)} payment{'s' if len(bad) != 1 else ''} no lnd release can read will be left behind "
                 f"(their bytes saved beside the report): {names}{more}",
                 "lnd cannot read them either; keep the quarantine file with your backups",
                 {"payments": [{"payment": h.hex(), "sequence": s, "reason": err} for s, h, err in bad]})


def bucket_tree(key: bytes, bucket) -> dict[str, Any]:
    """A bucket's raw subtree (keys, values, sequences), hex-encoded."""
    values, subs = [], []
    for k, v, sub in bucket.entries():
        if sub is not None:
            subs.append(bucket_tree(k, sub))
        else:
            values.append([k.hex(), v.hex() if v is not None else None])
    return {"key": key.hex(), "sequence": bucket.sequence(), "values": values, "buckets": subs}


def quarantine_document(ctx: Context, run_id: str, left_behind: list[dict[str, Any]]) -> dict[str, Any]:
    """The raw KV bytes of each left-behind payment (``left_behind``: the report's ``quarantined`` list)."""
    payments = []
    with ctx.open_kv() as store, store.read() as root:
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        for item in left_behind:
            ident = bytes.fromhex(item["payment"])
            b = rb.bucket(ident) if rb is not None else None
            payments.append({"identifier": item["payment"], "sequence": item["sequence"], "reason": item["reason"],
                             "bucket": bucket_tree(ident, b) if b is not None else None})
    return {"kind": QUARANTINE_KIND, "version": QUARANTINE_VERSION, "run_id": run_id,
            "source": str(ctx.kv_path), "payments": payments}


def quarantine_path(report_path: Path) -> Path:
    """Beside the report: ``run-X.json`` -> ``run-X.quarantine.json``."""
    return report_path.with_name(report_path.stem + ".quarantine.json")


def save_quarantine(ctx: Context, report_path: Path, run_id: str, left_behind: list[dict[str, Any]]) -> Path | None:
    """Write the quarantine file beside the report (atomic, 0600, symlinks refused); None when empty."""
    if not left_behind:
        return None
    doc = quarantine_document(ctx, run_id, left_behind)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return write_private_atomic(quarantine_path(report_path), text.encode("utf-8"))
