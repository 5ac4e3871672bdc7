"""The node's own markers: which copy of lnd's data is live.

Why: lndinit ``migrate-db`` leaves the old bbolt ``channel.db`` on disk with a
tombstone, and the node's data since then lives in the SQL backend. Migrating
that stale file into lnd's own database would silently drop every payment made
after the conversion. These markers are read from any bucket root (bbolt,
KV-over-SQL, an LMDB copy) and put into words for preflight, ``inspect`` and the
wizard. An LMDB copy does not hold lnd's invoices, so the importer records the
source's markers in the copy's metadata (``node-markers``) and
:func:`markers_of_store` reads them back from there.

Names (lnd ``channeldb/meta.go`` ``AddMarker`` / ``CheckMarkerPresent``, lndinit
``cmd_migrate_db.go``, lnd ``channeldb/invoices.go``):

* top-level bucket ``data-migration-tombstone`` with key ``data-migration-tombstone``
  = ``lndinit migrate-db <time>`` on the SOURCE lndinit converted;
* top-level bucket ``data-migration-already-migrated`` with the same-named key on
  the TARGET lndinit wrote (a KV-over-SQL store made by lndinit);
* ``invoices/invoice-tombstone`` = ``1``: lnd moved its invoices to native SQL;
* ``payments-root-bucket/payments-tombstone`` = ``1``: migwizard's own tombstone.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import asdict, dataclass

from ..codec.keys import PAYMENTS_ROOT_BUCKET, PAYMENTS_TOMBSTONE_KEY
from .bucket import BucketBase

__all__ = [
    "NodeMarkers",
    "read_markers",
    "markers_of_store",
    "describe_markers",
    "parse_lndinit_time",
    "LNDINIT_TOMBSTONE",
    "LNDINIT_MIGRATED",
    "INVOICE_BUCKET",
    "INVOICE_TOMBSTONE",
    "META_NODE_MARKERS",
]

LNDINIT_TOMBSTONE = b"data-migration-tombstone"
LNDINIT_MIGRATED = b"data-migration-already-migrated"
INVOICE_BUCKET = b"invoices"
INVOICE_TOMBSTONE = b"invoice-tombstone"
PAYMENTS_ROOT = PAYMENTS_ROOT_BUCKET
PAYMENTS_TOMBSTONE = PAYMENTS_TOMBSTONE_KEY
#: LMDB meta key under which an import records its source's markers
META_NODE_MARKERS = b"node-markers"
#: top-level buckets that hold markers (copied by the importer: they are tiny)
MARKER_BUCKETS: tuple[bytes, ...] = (LNDINIT_MIGRATED, LNDINIT_TOMBSTONE)

# lndinit writes "lndinit migrate-db <time>": RFC3339 in current releases, Go's
# time.Time.String() ("2006-01-02 15:04:05.999999999 -0700 MST m=+0.1") in older ones.
_GO_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.\d+)? ([+-]\d{4})")


def parse_lndinit_time(value: bytes | None) -> _dt.datetime | None:
    """The time in an lndinit marker value, or None when it cannot be read."""
    if not value:
        return None
    text = value.decode("utf-8", "replace").strip()
    if text.startswith("lndinit migrate-db "):
        text = text[len("lndinit migrate-db "):].strip()
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        pass
    m = _GO_TIME.match(text)
    if m:
        try:
            return _dt.datetime.strptime(f"{m[1]} {m[2]} {m[3]}", "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class NodeMarkers:
    """What the node's own markers say about a KV store. Raw values are kept for reports."""

    #: lndinit's source tombstone value (this store was converted away), or None
    lndinit_tombstone: str | None = None
    lndinit_tombstone_at: str | None = None  # ISO 8601 UTC, when parseable
    #: lndinit's target marker value (this store was made by lndinit), or None
    lndinit_migrated: str | None = None
    lndinit_migrated_at: str | None = None
    #: lnd moved its invoices to native SQL (``invoices/invoice-tombstone`` = 1)
    invoice_tombstone: bool = False
    #: migwizard's own payments tombstone
    payments_tombstone: bool = False

    @property
    def any(self) -> bool:
        return bool(self.lndinit_tombstone or self.lndinit_migrated or self.invoice_tombstone
                    or self.payments_tombstone)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> "NodeMarkers":
        known = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
        return cls(**known)


def _marker(root: BucketBase, name: bytes) -> tuple[str | None, str | None]:
    b = root.bucket(name)
    if b is None:
        return None, None
    raw = b.get(name)
    if raw is None:
        return None, None
    t = parse_lndinit_time(raw)
    at = t.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z") if t else None
    return raw.decode("utf-8", "replace"), at


def read_markers(root: BucketBase) -> NodeMarkers:
    """Read every marker from a bucket root (a handful of point lookups)."""
    tomb, tomb_at = _marker(root, LNDINIT_TOMBSTONE)
    mig, mig_at = _marker(root, LNDINIT_MIGRATED)
    inv = root.bucket(INVOICE_BUCKET)
    pay = root.bucket(PAYMENTS_ROOT)
    return NodeMarkers(
        lndinit_tombstone=tomb,
        lndinit_tombstone_at=tomb_at,
        lndinit_migrated=mig,
        lndinit_migrated_at=mig_at,
        invoice_tombstone=bool(inv is not None and inv.get(INVOICE_TOMBSTONE) == b"1"),
        payments_tombstone=bool(pay is not None and pay.get(PAYMENTS_TOMBSTONE) == b"1"),
    )


def markers_of_store(store, root: BucketBase) -> NodeMarkers:
    """Markers of an open store: an LMDB copy answers from what its import recorded.

    The copy's own payments tombstone (written by migwizard into the copy) is
    read from the copy itself, the node's markers from the import record.
    """
    meta_get = getattr(store, "meta_get", None)
    here = read_markers(root)
    raw = meta_get(META_NODE_MARKERS) if meta_get is not None else None
    if not raw:
        return here
    recorded = NodeMarkers.from_json(json.loads(raw))
    return NodeMarkers(**{**recorded.to_json(), "payments_tombstone": here.payments_tombstone})


def _date(at: str | None, raw: str | None) -> str:
    if at:
        return at[:10]
    return f"an unreadable date ({raw!r})" if raw else "an unknown date"


def describe_markers(m: NodeMarkers, *, source_kind: str | None = None) -> list[str]:
    """Each marker present, in words a node runner can act on."""
    what = "this channel.db" if source_kind in (None, "bbolt") else "this KV store"
    out: list[str] = []
    if m.lndinit_tombstone:
        out.append(f"{what} was converted by lndinit on {_date(m.lndinit_tombstone_at, m.lndinit_tombstone)}; "
                   "lnd refuses to open it; the node's data since then is in the SQL backend "
                   "(channel.sqlite or PostgreSQL)")
    if m.lndinit_migrated:
        out.append(f"this KV-over-SQL store was made by lndinit migrate-db on "
                   f"{_date(m.lndinit_migrated_at, m.lndinit_migrated)} (converted from a bbolt channel.db)")
    if m.invoice_tombstone:
        out.append("lnd already runs native SQL for invoices (invoices/invoice-tombstone = 1): "
                   "the node's invoices are in its SQL database")
    if m.payments_tombstone:
        out.append("migwizard already migrated these payments (payments-root-bucket/payments-tombstone = 1)")
    return out
