"""SQL rows -> payment models, the way LND's SQL store reads them back (§3.5).

Validation compares these models with the KV originals, so this reader must be
independent of the writer: it starts from whatever the tables hold and applies
LND's read rules (int32 -> uint32, non-empty checks for MPP/AMP/blinded rows,
failure_msg decoded again). Batched with IN queries so memory stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..codec import DecodeError, decode_failure_message
from ..codec.model import (
    AMPRecord,
    HTLCAttempt,
    HTLCFailInfo,
    HTLCSettleInfo,
    Hop,
    MPPRecord,
    Payment,
    PaymentCreationInfo,
    Route,
)
from ..sql.values import parse_scid_text
from .rows import DuplicateRow


def uint32(i: int) -> int:
    """Lenient read-back of an int32 column: an out-of-range value (a tampered row)
    must surface as a difference in validation, not as an exception."""
    return i & 0xFFFFFFFF


def uint64(i: int) -> int:
    return i & 0xFFFFFFFFFFFFFFFF


def _b(v: Any) -> bytes | None:
    if v is None:
        return None
    return bytes(v)


@dataclass
class SqlPayment:
    sql_id: int
    payment: Payment
    duplicates: list[DuplicateRow]
    problems: list[tuple[str, str]]  # (field path, problem) found while reading


def _in_clause(db, n: int) -> str:
    ph = "?" if db.param == "?" else "%s"
    return ",".join([ph] * n)


def _query(db, sql: str, params: Iterable[Any]) -> list[tuple]:
    if db.param != "?":
        sql = sql.replace("?", "%s")
    cur = db.execute_sql(sql, tuple(params))
    return cur.fetchall()


def read_payments(db, sql_ids: list[int], from_ts: Callable[[Any], int | None]) -> dict[int, SqlPayment]:
    """Load full payments for ``sql_ids`` (a batch) into models keyed by payments.id."""
    if not sql_ids:
        return {}
    out: dict[int, SqlPayment] = {}
    ids = list(sql_ids)
    q = _in_clause(db, len(ids))

    def ts(value: Any, pid: int, path: str) -> Any:
        # LND's driver fails the whole read on a time it cannot parse: a difference, not a crash.
        try:
            return from_ts(value)
        except (ValueError, TypeError, OverflowError):
            out[pid].problems.append((path, f"time value LND cannot read: {value!r}"))
            return f"<unreadable {value!r}>"

    def i32(value: int, pid: int, path: str) -> int:
        if not -(1 << 31) <= value < (1 << 31):
            out[pid].problems.append((path, f"{value} is outside int32: LND's scan fails"))
        return uint32(value)

    for pid, amount, created, ident, fail_reason in _query(
        db, f"SELECT id, amount_msat, created_at, payment_identifier, fail_reason FROM payments WHERE id IN ({q})", ids
    ):
        info = PaymentCreationInfo(payment_identifier=_b(ident), value=uint64(amount), creation_time=None,
                                   payment_request=b"")
        out[pid] = SqlPayment(pid, Payment(sequence_num=0, info=info, failure_reason=fail_reason), [], [])
        info.creation_time = ts(created, pid, "created")
    for pid, itype, payload in _query(
        db, f"SELECT payment_id, intent_type, intent_payload FROM payment_intents WHERE payment_id IN ({q})", ids
    ):
        if pid in out:
            if itype == 0:
                out[pid].payment.info.payment_request = _b(payload) or b""
            else:
                out[pid].problems.append(("info.payment_request", f"unknown intent_type {itype}"))
    for pid, key, value in _query(
        db,
        f"SELECT payment_id, key, value FROM payment_first_hop_custom_records WHERE payment_id IN ({q}) ORDER BY id",
        ids,
    ):
        out[pid].payment.info.first_hop_custom_records[uint64(key)] = _b(value)

    attempts: dict[int, HTLCAttempt] = {}
    attempt_rows = _query(
        db,
        "SELECT attempt_index, payment_id, session_key, attempt_time, payment_hash, first_hop_amount_msat, "
        "route_total_time_lock, route_total_amount, route_source_key FROM payment_htlc_attempts "
        f"WHERE payment_id IN ({q}) ORDER BY payment_id, attempt_index",
        ids,
    )
    for aidx, pid, skey, atime, phash, fha, ttl, tamt, src in attempt_rows:
        where = f"htlcs[attempt {aidx}]"
        route = Route(total_time_lock=i32(ttl, pid, f"{where}.route.total_time_lock"), total_amount=uint64(tamt),
                      source_pub_key=_b(src), first_hop_amount=uint64(fha))
        h = HTLCAttempt(attempt_id=aidx, session_key=_b(skey), route=route,
                        attempt_time=ts(atime, pid, f"{where}.attempt_time"), hash=_b(phash))
        attempts[aidx] = h
        out[pid].payment.htlcs.append(h)
        out[pid].payment.has_htlc_bucket = False
    owner = {aidx: pid for aidx, pid, *_ in attempt_rows}
    if attempts:
        aids = list(attempts)
        qa = _in_clause(db, len(aids))
        for aidx, key, value in _query(
            db,
            "SELECT htlc_attempt_index, key, value FROM payment_attempt_first_hop_custom_records "
            f"WHERE htlc_attempt_index IN ({qa}) ORDER BY id",
            aids,
        ):
            attempts[aidx].route.first_hop_wire_custom_records[uint64(key)] = _b(value)
        hops: dict[int, Hop] = {}
        hop_owner: dict[int, int] = {}
        hop_rows = _query(
            db,
            "SELECT id, htlc_attempt_index, hop_index, pub_key, scid, outgoing_time_lock, amt_to_forward, meta_data "
            f"FROM payment_route_hops WHERE htlc_attempt_index IN ({qa}) ORDER BY htlc_attempt_index, hop_index",
            aids,
        )
        for hid, aidx, hop_index, pub, scid, otl, amt, meta in hop_rows:
            try:
                chan = parse_scid_text(scid)
            except (ValueError, TypeError):
                chan = 0
                out[owner[aidx]].problems.append(
                    (f"htlcs[attempt {aidx}].route.hops[{hop_index}].channel_id",
                     f"scid {scid!r} is not a base-10 uint64 (strconv.ParseUint fails)"))
            otl = i32(otl, owner[aidx], f"htlcs[attempt {aidx}].route.hops[{hop_index}].outgoing_time_lock")
            hop = Hop(pub_key=_b(pub) or b"", channel_id=chan, outgoing_time_lock=otl,
                      amt_to_forward=uint64(amt), metadata=_b(meta))
            hops[hid] = hop
            hop_owner[hid] = owner[aidx]
            attempts[aidx].route.hops.append(hop)
        if hops:
            hids = list(hops)
            qh = _in_clause(db, len(hids))
            for hid, addr, total in _query(
                db, f"SELECT hop_id, payment_addr, total_msat FROM payment_route_hop_mpp WHERE hop_id IN ({qh})", hids
            ):
                if addr:
                    hops[hid].mpp = MPPRecord(payment_addr=_b(addr), total_msat=uint64(total))
            for hid, root, set_id, child in _query(
                db, f"SELECT hop_id, root_share, set_id, child_index FROM payment_route_hop_amp WHERE hop_id IN ({qh})",
                hids,
            ):
                if root:
                    hops[hid].amp = AMPRecord(root_share=_b(root), set_id=_b(set_id),
                                              child_index=i32(child, hop_owner[hid], "amp.child_index"))
            for hid, ed, bp, total in _query(
                db,
                "SELECT hop_id, encrypted_data, blinding_point, blinded_path_total_amt FROM payment_route_hop_blinded "
                f"WHERE hop_id IN ({qh})",
                hids,
            ):
                hop = hops[hid]
                if ed:
                    hop.encrypted_data = _b(ed)
                if bp:
                    hop.blinding_point = _b(bp)
                if total is not None:
                    hop.total_amt_msat = uint64(total)
            for hid, key, value in _query(
                db, f"SELECT hop_id, key, value FROM payment_hop_custom_records WHERE hop_id IN ({qh}) ORDER BY id",
                hids,
            ):
                hops[hid].custom_records[uint64(key)] = _b(value)
        for aidx, rtime, rtype, preimage, src_idx, reason, msg in _query(
            db,
            "SELECT attempt_index, resolution_time, resolution_type, settle_preimage, failure_source_index, "
            f"htlc_fail_reason, failure_msg FROM payment_htlc_attempt_resolutions WHERE attempt_index IN ({qa})",
            aids,
        ):
            h = attempts[aidx]
            where = f"htlcs[attempt {aidx}]"
            if rtype == 1:
                h.settle = HTLCSettleInfo(preimage=_b(preimage), settle_time=ts(rtime, owner[aidx], f"{where}.settle"))
            elif rtype == 2:
                message = None
                raw = _b(msg) or b""
                if raw:
                    try:
                        message = decode_failure_message(raw)
                    except DecodeError as e:
                        out[owner[aidx]].problems.append(
                            (f"htlcs[attempt {aidx}].failure.message", f"failed to decode failure message: {e.reason}")
                        )
                h.failure = HTLCFailInfo(
                    fail_time=ts(rtime, owner[aidx], f"{where}.failure.fail_time"), message=message,
                    reason=reason if reason is not None else 0,
                    failure_source_index=(i32(src_idx, owner[aidx], f"{where}.failure.failure_source_index")
                                          if src_idx is not None else 0),
                    raw_message=raw,
                )
    dups = _query(
        db,
        "SELECT payment_id, amount_msat, created_at, fail_reason, settle_preimage, settle_time FROM payment_duplicates "
        f"WHERE payment_id IN ({q}) ORDER BY id",
        ids,
    )
    for pid, amount, created, fail_reason, preimage, stime in dups:
        n = len(out[pid].duplicates)
        out[pid].duplicates.append(
            DuplicateRow(uint64(amount), ts(created, pid, f"duplicates[{n}].created"), fail_reason, _b(preimage),
                         ts(stime, pid, f"duplicates[{n}].settle_time") if stime is not None else None)
        )
    for sp in out.values():
        sp.payment.htlcs.sort(key=lambda h: h.attempt_id)
    return out


def sql_ids_by_identifier(db, identifiers: list[bytes]) -> dict[bytes, int]:
    if not identifiers:
        return {}
    q = _in_clause(db, len(identifiers))
    return {
        bytes(ident): pid
        for pid, ident in _query(db, f"SELECT id, payment_identifier FROM payments WHERE payment_identifier IN ({q})",
                                 identifiers)
    }
