"""Which payment broke a constraint that was added back after the load.

While a constraint is deferred (:mod:`.pgconstraints`) a bad row is not refused
inside its chunk; the database only says so when the constraint is added back,
and then only "could not create unique index" or "violates foreign key
constraint". This module asks the tables which rows are at fault and names the
payment they belong to, in a message a user can act on. Secrets are never
quoted: a repeated session key is named by its payments, not by its value.
"""

from __future__ import annotations

import peewee

from .models import MODELS_BY_TABLE
from .pgconstraints import Constraint

#: How a row of each LND table reaches its payment: extra joins and the payments.id expression.
_VIA_ATTEMPT = "LEFT JOIN payment_htlc_attempts a ON a.attempt_index = x.{col}"
_VIA_HOP = ("LEFT JOIN payment_route_hops h ON h.id = x.hop_id "
            "LEFT JOIN payment_htlc_attempts a ON a.attempt_index = h.htlc_attempt_index")
_OWNER: dict[str, tuple[str, str]] = {
    "payments": ("", "x.id"),
    "payment_intents": ("", "x.payment_id"),
    "payment_first_hop_custom_records": ("", "x.payment_id"),
    "payment_htlc_attempts": ("", "x.payment_id"),
    "payment_duplicates": ("", "x.payment_id"),
    "payment_attempt_first_hop_custom_records": (_VIA_ATTEMPT.format(col="htlc_attempt_index"), "a.payment_id"),
    "payment_route_hops": (_VIA_ATTEMPT.format(col="htlc_attempt_index"), "a.payment_id"),
    "payment_htlc_attempt_resolutions": (_VIA_ATTEMPT.format(col="attempt_index"), "a.payment_id"),
    "payment_route_hop_mpp": (_VIA_HOP, "a.payment_id"),
    "payment_route_hop_amp": (_VIA_HOP, "a.payment_id"),
    "payment_route_hop_blinded": (_VIA_HOP, "a.payment_id"),
    "payment_hop_custom_records": (_VIA_HOP, "a.payment_id"),
}
#: Values that may be quoted in a message (integers and the payment identifier, never a key).
_QUOTABLE = {"payment_identifier", "payment_id", "attempt_index", "htlc_attempt_index", "hop_index", "hop_id",
             "key", "id"}
_SAMPLE = 3


class ConstraintViolation(Exception):
    """LND's constraint ``constraint`` could not be added back: the rows violate it.

    ``payment`` is the identifier of the payment at fault (for a repeated value,
    the latest that repeats it), None for an orphan row: the missing parent was its
    way to a payment, so the message names the missing payments.id or parent key.
    """

    def __init__(self, message: str, *, constraint: str, table: str, payment: bytes | None,
                 rows: tuple[tuple[int, int | None], ...] = ()) -> None:
        super().__init__(message)
        self.constraint = constraint
        self.table = table
        self.payment = payment
        # The offending rows as (primary key in ``table``, payments.id they name), the one
        # at fault last: for a caller that can tell which chunk wrote them.
        self.rows = rows


def _pk(table: str) -> str:
    return MODELS_BY_TABLE[table]._meta.primary_key.column_name


def _show(col: str, value) -> str:
    if col not in _QUOTABLE:
        return f"{col} (not shown)"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"{col}={bytes(value).hex()}"
    return f"{col}={value}"


def _payment(ident, pid) -> str:
    if ident is None:
        return f"payments.id {pid} (no such payment)" if pid is not None else "no payment (an orphan row)"
    return f"payment {bytes(ident).hex()} (payments.id {pid})"


def _owners(db: peewee.Database, table: str, where: str, params: tuple) -> list[tuple]:
    """``(row pk, payments.id, payment_identifier)`` of the rows of ``table`` matching ``where``."""
    joins, pid = _OWNER[table]
    pk = _pk(table)
    return db.execute_sql(
        f'SELECT x."{pk}", {pid}, p.payment_identifier FROM "{table}" x {joins} '
        f"LEFT JOIN payments p ON p.id = {pid} WHERE {where} ORDER BY x.\"{pk}\"", params
    ).fetchall()


def explain(db: peewee.Database, c: Constraint, name: str) -> ConstraintViolation:
    """The violation of ``c`` (named ``name`` in the catalog) the tables hold, diagnosed;
    runs inside the caller's (still usable) transaction."""
    if c.kind == "u":
        return _duplicate(db, c, name)
    return _orphan(db, c, name)


def _duplicate(db: peewee.Database, c: Constraint, name: str) -> ConstraintViolation:
    cols = ", ".join(f'"{col}"' for col in c.columns)
    present = " AND ".join(f'"{col}" IS NOT NULL' for col in c.columns)  # NULLs never collide
    groups = db.execute_sql(
        f'SELECT {cols}, COUNT(*) FROM "{c.table}" WHERE {present} GROUP BY {cols} HAVING COUNT(*) > 1 '
        f"ORDER BY {cols} LIMIT 2"
    ).fetchall()
    head = f"LND's unique constraint {name} ({c.table}: {', '.join(c.columns)}) could not be added after the load"
    if not groups:  # the failure had another cause; say what we know
        return ConstraintViolation(f"{head}; no repeated value found", constraint=name, table=c.table, payment=None)
    values = tuple(groups[0][:len(c.columns)])
    where = " AND ".join(f'x."{col}" = %s' for col in c.columns)
    rows = _owners(db, c.table, where, values)
    shown = ", ".join(_show(col, v) for col, v in zip(c.columns, values))
    named = []
    for _pk_value, pid, ident in rows[:_SAMPLE]:
        text = _payment(ident, pid)
        if text not in named:
            named.append(text)
    later = next((r for r in reversed(rows) if r[2] is not None), None)
    culprit = bytes(later[2]) if later is not None else None
    more = f" (and {len(groups) - 1}+ more repeated values)" if len(groups) > 1 else ""
    if len(named) == 1:
        what = f"{named[0]} has {len(rows)} {c.table} rows with {shown}"
    else:
        what = f"{shown} is repeated by " + " and ".join(named)
    return ConstraintViolation(f"{head}: {what}{more}", constraint=name, table=c.table, payment=culprit,
                               rows=tuple((r[0], r[1]) for r in rows if r is not later) + (
                                   ((later[0], later[1]),) if later is not None else ()))


def _orphan(db: peewee.Database, c: Constraint, name: str) -> ConstraintViolation:
    col, (rcol,) = c.columns[0], c.ref_columns
    pk = _pk(c.table)
    rows = db.execute_sql(
        f'SELECT x."{pk}", x."{col}" FROM "{c.table}" x WHERE x."{col}" IS NOT NULL AND NOT EXISTS '
        f'(SELECT 1 FROM "{c.ref_table}" r WHERE r."{rcol}" = x."{col}") ORDER BY x."{pk}" LIMIT {_SAMPLE + 1}'
    ).fetchall()
    head = (f"LND's foreign key {name} ({c.table}.{col} -> {c.ref_table}.{rcol}) could not be added "
            "after the load")
    if not rows:
        return ConstraintViolation(f"{head}; no orphan row found", constraint=name, table=c.table, payment=None)
    row_pk, missing = rows[0]
    # The broken link is this row's way to its payment, so only a payments.id can be named.
    where = (f"payments.id {missing}, which does not exist" if c.ref_table == "payments"
             else f"{c.ref_table}.{rcol} = {missing}, which no row has")
    more = f" ({len(rows) - 1}{'+' if len(rows) > _SAMPLE else ''} more orphan rows)" if len(rows) > 1 else ""
    return ConstraintViolation(f"{head}: {c.table} row {pk}={row_pk} refers to {where}{more}",
                               constraint=name, table=c.table, payment=None,
                               rows=((row_pk, missing if c.ref_table == "payments" else None),))
