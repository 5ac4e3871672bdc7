"""One payment's KV and SQL trees side by side, for the drill-down and the report.

Found by a direct lookup when the identifier is a full 32-byte hash (the report
loads details of every differing payment, so this must not scan the store); a
shorter prefix walks the root bucket in key order and stops early.
"""

from __future__ import annotations

from ..codec import DecodeError, fetch_payment, normalize_session_key, render_key
from ..codec.keys import PAYMENTS_ROOT_BUCKET
from ..codec.walk import find_payments
from .context import Context
from .normalised import normalised_fields
from .results import EngineError, ExitCode, FieldDiff, NormalisedField, PaymentDetail
from .rows import expected_duplicates, raw_duplicates
from .sqlread import read_payments, sql_ids_by_identifier
from .transform import MigrationReject, expected_sql_payment
from .tree import diff_trees, mask, payment_tree


def payment_detail(ctx: Context, identifier_hex: str, *, show_secrets: bool) -> PaymentDetail:
    prefix = identifier_hex.lower().strip()
    try:
        bytes.fromhex(prefix if len(prefix) % 2 == 0 else prefix[:-1])
    except ValueError:
        raise EngineError(f"not a hex payment hash: {identifier_hex!r}", exit_code=ExitCode.USAGE) from None
    kvp = None
    kv_error = None
    with ctx.open_kv() as store, store.read() as root:
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        matches = find_payments(rb, prefix)
        if not matches:
            raise EngineError(f"no payment with hash prefix {prefix}", exit_code=ExitCode.USAGE)
        if len(matches) > 1:
            raise EngineError(f"hash prefix {prefix} is ambiguous (several payments match)", exit_code=ExitCode.USAGE)
        phash = matches[0]
        try:
            kvp = fetch_payment(rb.bucket(phash), payment_id=phash, key_prefix=render_key(PAYMENTS_ROOT_BUCKET))
        except DecodeError as e:
            kv_error = str(e)
    names: list[str] = []
    normalised: list = []
    kv_tree = None
    sql_tree = None
    diffs: list[FieldDiff] = []
    sp = None
    if "payments" in ctx.tables():
        db = ctx.db()
        idmap = sql_ids_by_identifier(db, [phash])
        if phash in idmap:
            sp = read_payments(db, [idmap[phash]], ctx.dialect().ts_to_ns)[idmap[phash]]
            sql_tree = payment_tree(sp.payment, sp.duplicates)
    if kvp is not None:
        zero_map = ({normalize_session_key(h.session_key): h.attempt_id for h in sp.payment.htlcs}
                    if sp is not None else {})
        # The stored record as `inspect` decodes it, before any normalisation.
        raw_tree = payment_tree(kvp, raw_duplicates(kvp))
        try:
            t = expected_sql_payment(kvp, phash, allocate_zero_id=None, zero_id_by_session_key=zero_map,
                                     truncate_us=not ctx.url.is_sqlite, sort_remapped=True)
            names = sorted(set(t.names) - {"timestamps_truncated_to_microseconds"})
            kv_tree = payment_tree(t.payment, expected_duplicates(kvp))
            normalised = normalised_fields(raw_tree, kv_tree, sorted(set(t.names)))
            names = sorted(set(names) | {n.name for n in normalised} - {"timestamps_truncated_to_microseconds"})
        except MigrationReject as e:
            kv_tree = payment_tree(kvp, expected_duplicates(kvp))
            diffs.append(FieldDiff(phash.hex(), "payment", str(e), None))
        if sql_tree is not None:
            diffs.extend(diff_trees(kv_tree, sql_tree, phash.hex(), mask_secrets=not show_secrets))
    else:
        kv_tree = {"error": kv_error}
    if not show_secrets:
        kv_tree = mask(kv_tree) if kv_tree else kv_tree
        sql_tree = mask(sql_tree) if sql_tree else sql_tree
        normalised = [NormalisedField(n.path, _masked(n.raw, n.path), _masked(n.value, n.path), n.name)
                      for n in normalised]
    return PaymentDetail(phash.hex(), kv_tree, sql_tree, diffs, names, kv_error, normalised)


def _masked(value, path: str):
    from .tree import _show

    return _show(value, path)
