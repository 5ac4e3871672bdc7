"""Is this KV store the node's own? Facts both sides carry, compared.

When the target is lnd's own database, recording ``migration_tracker`` 14
makes lnd stop reading its KV payments for good; if the KV we migrated was
another node's, or a stale copy, the node's real history is silently lost
(issue 13). Both sides carry facts that tie them to one node:

* the node's public key: KV ``graph-node`` / ``source`` (``graph/db/kv_store.go``
  ``sourceKey``) and, once lnd's graph migration (global 10) ran, the SQL
  ``graph_source_nodes`` -> ``graph_nodes.pub_key`` (000008_graph);
* invoices: lnd's invoice migration (global 7) copied every KV invoice into
  SQL and new invoices go only to SQL afterwards, so SQL holds at least as
  many invoices as the KV does;
* payments: the KV payment index horizon and count, reported for the record
  (at tracker 13 the SQL payment tables hold nothing of lnd's own).

A mismatch carries the reason in words; a missing fact on either side is
"unknown", never a pass in disguise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..codec.keys import PAYMENTS_INDEX_BUCKET, PAYMENTS_ROOT_BUCKET
from ..kv.bucket import BucketBase
from . import _sqlutil

GRAPH_NODE_BUCKET = b"graph-node"
SOURCE_KEY = b"source"
INVOICES_BUCKET = b"invoices"
#: Invoice bodies are keyed by a 4-byte big-endian invoice number.
_INVOICE_KEY_LEN = 4


@dataclass(frozen=True)
class KVIdentity:
    node_pubkey: bytes | None
    invoice_count: int | None  # None: no invoices bucket
    payment_index_entries: int
    payment_seq_horizon: int  # highest index key, 0 when none


@dataclass(frozen=True)
class SQLIdentity:
    node_pubkeys: tuple[bytes, ...]  # graph_source_nodes (one per gossip version)
    has_graph_tables: bool
    invoice_count: int | None  # None: no invoices table
    payment_count: int | None  # None: no payments table


class Verdict(enum.Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str


@dataclass(frozen=True)
class IdentityComparison:
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> Verdict:
        """MISMATCH if any check says so, MATCH if the node key matched,
        else UNKNOWN (nothing strong enough to tell)."""
        verdicts = {c.name: c.verdict for c in self.checks}
        if Verdict.MISMATCH in verdicts.values():
            return Verdict.MISMATCH
        return Verdict.MATCH if verdicts.get("node public key") is Verdict.MATCH else Verdict.UNKNOWN

    @property
    def reasons(self) -> list[str]:
        return [c.detail for c in self.checks if c.verdict is Verdict.MISMATCH]

    def describe(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks)


def kv_identity(root: BucketBase) -> KVIdentity:
    """Read the facts from a KV root bucket (bbolt, LMDB or channeldb_kv reader)."""
    pubkey = None
    graph = root.bucket(GRAPH_NODE_BUCKET)
    if graph is not None:
        value = graph.get(SOURCE_KEY)
        pubkey = bytes(value) if value is not None else None
    invoices = root.bucket(INVOICES_BUCKET)
    invoice_count = None
    if invoices is not None:
        invoice_count = sum(
            1 for k, v in invoices.items() if v is not None and len(k) == _INVOICE_KEY_LEN
        )
    entries, horizon = 0, 0
    index = root.bucket(PAYMENTS_INDEX_BUCKET)
    if index is not None:
        for key in index.keys():
            entries += 1
            if len(key) == 8:
                horizon = max(horizon, int.from_bytes(key, "big"))
    return KVIdentity(pubkey, invoice_count, entries, horizon)


def sql_identity(conn) -> SQLIdentity:
    """Read the facts from lnd's native database (peewee, sqlite3 or psycopg)."""
    has_graph = _sqlutil.table_exists(conn, "graph_source_nodes") and _sqlutil.table_exists(conn, "graph_nodes")
    pubkeys: tuple[bytes, ...] = ()
    if has_graph:
        rows = _sqlutil.execute(
            conn,
            "SELECT n.pub_key FROM graph_source_nodes s JOIN graph_nodes n ON n.id = s.node_id "
            "ORDER BY n.version",
        ).fetchall()
        pubkeys = tuple(dict.fromkeys(bytes(r[0]) for r in rows))
    invoices = payments = None
    if _sqlutil.table_exists(conn, "invoices"):
        (invoices,) = _sqlutil.execute(conn, "SELECT COUNT(*) FROM invoices").fetchone()
    if _sqlutil.table_exists(conn, "payments"):
        (payments,) = _sqlutil.execute(conn, "SELECT COUNT(*) FROM payments").fetchone()
    return SQLIdentity(pubkeys, has_graph, invoices, payments)


def compare(kv: KVIdentity, sql: SQLIdentity) -> IdentityComparison:
    """Compare what both sides carry (see module doc for why each check holds)."""
    checks: list[Check] = []
    if kv.node_pubkey is None:
        checks.append(Check("node public key", Verdict.UNKNOWN,
                            "the KV store has no graph source node (graph-node/source)"))
    elif not sql.node_pubkeys:
        checks.append(Check("node public key", Verdict.UNKNOWN,
                            "lnd's native graph tables hold no source node (graph not migrated to SQL)"))
    elif kv.node_pubkey in sql.node_pubkeys:
        checks.append(Check("node public key", Verdict.MATCH, f"both are node {kv.node_pubkey.hex()}"))
    else:
        checks.append(Check("node public key", Verdict.MISMATCH, (
            f"the KV store belongs to node {kv.node_pubkey.hex()}, lnd's database to node "
            f"{', '.join(k.hex() for k in sql.node_pubkeys)}: this KV store is not this node's"
        )))
    if kv.invoice_count is None or sql.invoice_count is None:
        checks.append(Check("invoices", Verdict.UNKNOWN, "no invoices on one side"))
    elif sql.invoice_count >= kv.invoice_count:
        checks.append(Check("invoices", Verdict.MATCH, (
            f"lnd's database holds {sql.invoice_count} invoices, the KV store {kv.invoice_count} "
            "(lnd copied every KV invoice when it switched to native SQL)"
        )))
    else:
        checks.append(Check("invoices", Verdict.MISMATCH, (
            f"the KV store has {kv.invoice_count} invoices but lnd's database only "
            f"{sql.invoice_count}; lnd copied every KV invoice into SQL, so this KV store "
            "is not the one lnd migrated from"
        )))
    checks.append(Check("payments", Verdict.UNKNOWN, (
        f"KV payment index: {kv.payment_index_entries} entries up to sequence "
        f"{kv.payment_seq_horizon}; lnd's database: "
        f"{'no payments table' if sql.payment_count is None else f'{sql.payment_count} payments'}"
    )))
    return IdentityComparison(tuple(checks))


__all__ = [
    "Check",
    "IdentityComparison",
    "KVIdentity",
    "SQLIdentity",
    "Verdict",
    "compare",
    "kv_identity",
    "sql_identity",
]
