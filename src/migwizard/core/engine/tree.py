"""Payment models as plain trees: for the field-by-field diff, the report and the drill-down.

One conversion serves all three so the drill-down shows exactly what validation
compared. Secrets (session keys, preimages, the keysend preimage record, AMP root
shares) are masked unless the caller asks to see them; the diff runs on the
unmasked tree and masks the values it reports.
"""

from __future__ import annotations

from typing import Any

from ..codec.model import (
    KEYSEND_PREIMAGE_TYPE,
    ChannelUpdate,
    FailureMessage,
    FailureReason,
    HTLCAttempt,
    Hop,
    Payment,
)
from ..codec import decide_status, failure_name
from ..sql.values import go_time_string
from .rows import DuplicateRow
from .results import FieldDiff

SECRET_FIELDS = {"session_key", "preimage", "settle_preimage", "root_share"}
MASK = "<redacted>"


def _t(ns: int | str | None) -> str:
    """Times as Go's time.String() in UTC with full nanoseconds: exact, so diffs stay exact,
    and readable in the drill-down (None is Go's zero time, not 1970). A str is an
    unreadable stored value, shown as it is."""
    return ns if isinstance(ns, str) else go_time_string(ns)


def _hex(b: bytes | None) -> str | None:
    return None if b is None else b.hex()


def _records(recs: dict[int, bytes]) -> dict[str, str]:
    return {str(k): v.hex() for k, v in sorted(recs.items())}


def _update(u: ChannelUpdate | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "signature": u.signature.hex(), "chain_hash": u.chain_hash.hex(), "short_channel_id": u.short_channel_id,
        "timestamp": u.timestamp, "message_flags": u.message_flags, "channel_flags": u.channel_flags,
        "time_lock_delta": u.time_lock_delta, "htlc_minimum_msat": u.htlc_minimum_msat, "base_fee": u.base_fee,
        "fee_rate": u.fee_rate, "htlc_maximum_msat": u.htlc_maximum_msat,
        "inbound_fee": list(u.inbound_fee) if u.inbound_fee is not None else None,
    }


def _message(m: FailureMessage | None) -> dict[str, Any] | None:
    if m is None:
        return None
    d: dict[str, Any] = {"code": f"0x{m.code:04x}", "name": failure_name(m.code)}
    for k in ("onion_sha256", "htlc_msat", "cltv_expiry", "flags", "amount_msat", "height", "tlv_type", "tlv_offset"):
        v = getattr(m, k)
        if v is not None:
            d[k] = v.hex() if isinstance(v, bytes) else v
    if m.update is not None:
        d["channel_update"] = _update(m.update)
    if getattr(m, "extra_opaque_data", b""):
        d["extra_opaque_data"] = m.extra_opaque_data.hex()
    return d


def _hop(h: Hop) -> dict[str, Any]:
    d: dict[str, Any] = {
        "pub_key": h.pub_key.hex(), "channel_id": h.channel_id, "outgoing_time_lock": h.outgoing_time_lock,
        "amt_to_forward": h.amt_to_forward, "legacy_payload": h.legacy_payload,
        "mpp": None if h.mpp is None else {"payment_addr": h.mpp.payment_addr.hex(), "total_msat": h.mpp.total_msat},
        "amp": None if h.amp is None else {"root_share": h.amp.root_share.hex(), "set_id": h.amp.set_id.hex(),
                                           "child_index": h.amp.child_index},
        "encrypted_data": _hex(h.encrypted_data), "blinding_point": _hex(h.blinding_point),
        "total_amt_msat": h.total_amt_msat, "metadata": _hex(h.metadata),
        "custom_records": _records(h.custom_records),
    }
    return d


def _attempt(h: HTLCAttempt) -> dict[str, Any]:
    r = h.route
    d: dict[str, Any] = {
        "attempt_id": h.attempt_id, "session_key": h.session_key.hex(), "attempt_time": _t(h.attempt_time),
        "hash": _hex(h.hash),
        "route": {
            "total_time_lock": r.total_time_lock, "total_amount": r.total_amount,
            "source_pub_key": r.source_pub_key.hex(), "first_hop_amount": r.first_hop_amount,
            "first_hop_wire_custom_records": _records(r.first_hop_wire_custom_records),
            "hops": [_hop(x) for x in r.hops],
        },
        "settle": None, "failure": None,
    }
    if h.settle is not None:
        d["settle"] = {"preimage": h.settle.preimage.hex(), "settle_time": _t(h.settle.settle_time)}
    if h.failure is not None:
        f = h.failure
        d["failure"] = {"fail_time": _t(f.fail_time), "reason": f.reason, "failure_source_index": f.failure_source_index,
                        "message": _message(f.message), "failure_msg": f.raw_message.hex() if f.raw_message else None}
    return d


def payment_tree(p: Payment, duplicates: list[DuplicateRow]) -> dict[str, Any]:
    """Unmasked tree. Times are int ns (None = Go zero time)."""
    fr = p.failure_reason
    return {
        "identifier": p.info.payment_identifier.hex(),
        "status": decide_status(p).label,
        "amount_msat": p.info.value,
        "created": _t(p.info.creation_time),
        "payment_request": p.info.payment_request.decode("ascii", "backslashreplace"),
        "fail_reason": None if fr is None else (FailureReason(fr).label if 0 <= fr <= 5 else fr),
        "first_hop_custom_records": _records(p.info.first_hop_custom_records),
        "htlcs": [_attempt(h) for h in p.htlcs],
        "duplicates": [
            {"amount_msat": d.amount_msat, "created": _t(d.created_ns), "fail_reason": d.fail_reason,
             "settle_preimage": _hex(d.settle_preimage),
             "settle_time": None if d.settle_time is None else _t(d.settle_time)}
            for d in duplicates
        ],
    }


def _is_secret(path: str) -> bool:
    last = path.rsplit(".", 1)[-1]
    if last.split("[")[0] in SECRET_FIELDS:
        return True
    return path.endswith(f".{KEYSEND_PREIMAGE_TYPE}") or path.endswith(f"[{KEYSEND_PREIMAGE_TYPE}]")


def mask(tree: Any, path: str = "") -> Any:
    """A copy of ``tree`` with secret leaves replaced by MASK."""
    if isinstance(tree, dict):
        return {k: (MASK if (v is not None and _is_secret(f"{path}.{k}")) and not isinstance(v, (dict, list))
                    else mask(v, f"{path}.{k}")) for k, v in tree.items()}
    if isinstance(tree, list):
        return [mask(v, f"{path}[{i}]") for i, v in enumerate(tree)]
    return tree


def diff_trees(kv: Any, sql: Any, payment: str, path: str = "", *, mask_secrets: bool = True) -> list[FieldDiff]:
    """Every leaf that differs, with its path; secrets masked in the values reported
    unless the caller (a user who asked to see secrets) says otherwise."""
    out: list[FieldDiff] = []

    def show(v: Any, p: str) -> Any:
        return _show(v, p) if mask_secrets else v

    if isinstance(kv, dict) and isinstance(sql, dict):
        for k in list(kv) + [k for k in sql if k not in kv]:
            sub = f"{path}.{k}" if path else str(k)
            if k not in kv or k not in sql:
                out.append(FieldDiff(payment, sub, show(kv.get(k), sub), show(sql.get(k), sub)))
            else:
                out.extend(diff_trees(kv[k], sql[k], payment, sub, mask_secrets=mask_secrets))
        return out
    if isinstance(kv, list) and isinstance(sql, list):
        for i in range(max(len(kv), len(sql))):
            sub = f"{path}[{i}]"
            if i >= len(kv) or i >= len(sql):
                out.append(FieldDiff(payment, sub, show(kv[i] if i < len(kv) else None, sub),
                                     show(sql[i] if i < len(sql) else None, sub)))
            else:
                out.extend(diff_trees(kv[i], sql[i], payment, sub, mask_secrets=mask_secrets))
        return out
    if kv != sql:
        out.append(FieldDiff(payment, path, show(kv, path), show(sql, path)))
    return out


def compare_payment(identifier: str, kv_tree: dict[str, Any], sql_payment, sql_id: int | None,
                    expected_id: int | None) -> list[FieldDiff]:
    """Every difference between a payment's KV tree and what SQL holds for it.

    One rule for both validators (the engine's and the fast path's detailed leg), so
    they cannot drift: a missing row, ``payments.id`` out of KV index order (it is
    LND's sequence number), every field of the trees, and the SQL reader's problems.
    """
    if sql_payment is None:
        return [FieldDiff(identifier, "payment", "present", "missing in SQL")]
    diffs: list[FieldDiff] = []
    if expected_id is not None and sql_id != expected_id:
        diffs.append(FieldDiff(identifier, "sql_id", expected_id, sql_id))
    diffs.extend(diff_trees(kv_tree, payment_tree(sql_payment.payment, sql_payment.duplicates), identifier))
    diffs.extend(FieldDiff(identifier, p, "", prob) for p, prob in sql_payment.problems)
    return diffs


def _show(v: Any, path: str) -> Any:
    if v is not None and _is_secret(path):
        return MASK if not isinstance(v, (dict, list)) else mask(v, path)
    return mask(v, path) if isinstance(v, (dict, list)) else v
