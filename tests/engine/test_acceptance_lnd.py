"""Acceptance tests: LND's own migration test table (lnd-payments.md §5, rows 1-21).

Each test builds an LND-shaped KV store with :mod:`tests.engine.kvbuild`, runs
the real engine end to end (``migrate()`` then ``validate()``, ``commit()``
where the row is about the KV side effects) on SQLite and PostgreSQL, and
asserts the outcome LND's ``payments/db/migration1/sql_migration_test.go``
asserts: row counts, ids in sequence order and the exact stored values the row
names. Where LND deep-compares KV and SQL (``comparePaymentData``) we do two
things: the engine's own field-by-field validation must report zero
differences, and :func:`assert_payment_rows` independently checks every SQL
row of the payment against the model the KV store was built from (so a bug
shared by the engine's writer and its reader cannot hide).

Row 22 (``TestMigrationWithExternalDB``) is a developer tool and not covered.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

from migwizard.core.codec.model import (
    AMPRecord,
    FailureMessage,
    FailureReason,
    HTLCFailReason,
    MPPRecord,
    Payment,
)
from migwizard.core.codec.onion import encode_failure_message
from migwizard.core.codec.secp256k1 import point_mul, uncompressed
from migwizard.core.engine.api import Engine
from migwizard.core.engine.results import MigrationResult, RunState, ValidationReport

from .kvbuild import (
    BASE_TIME_NS,
    build_store,
    make_attempt,
    make_duplicate,
    make_fail_info,
    make_hops,
    make_payment,
    make_route,
    padded,
    pubkey,
    read_switch_sequence,
    read_tombstone,
    seed_hash,
    settle_info_40,
)

NS = 10**9
MINUTE = 60 * NS


# -- helpers ------------------------------------------------------------------


def _norm(v: Any) -> Any:
    return bytes(v) if isinstance(v, (memoryview, bytearray)) else v


def rows(eng: Engine, sql: str, *params: Any) -> list[tuple]:
    db = eng._ctx.db()
    if db.param != "?":
        sql = sql.replace("?", "%s")
    return [tuple(_norm(v) for v in r) for r in db.execute_sql(sql, params).fetchall()]


def scalar(eng: Engine, sql: str, *params: Any) -> Any:
    (r,) = rows(eng, sql, *params)
    return r[0]


def is_pg(url: str) -> bool:
    return url.startswith("postgres")


def expected_ts(url: str, ns: int | None) -> Any:
    """What LND's driver stores for a normalised time: Go ``time.String()`` text on
    SQLite (ns kept), a naive UTC timestamp truncated to µs on PostgreSQL; Go's zero
    time (``None``) is year 1, never NULL."""
    if ns is None:
        return datetime(1, 1, 1) if is_pg(url) else "0001-01-01 00:00:00 +0000 UTC"
    secs, frac = divmod(ns, NS)
    dt = datetime(1970, 1, 1) + timedelta(seconds=secs)
    if is_pg(url):
        return dt + timedelta(microseconds=frac // 1000)
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + " +0000 UTC"


def int32(u: int) -> int:
    u &= 0xFFFFFFFF
    return u - (1 << 32) if u >= 1 << 31 else u


def int64(u: int) -> int:
    u &= (1 << 64) - 1
    return u - (1 << 64) if u >= 1 << 63 else u


def _explain(report: ValidationReport) -> str:
    return f"error={report.error!r} diffs={[(d.payment[:8], d.path, d.kv, d.sql) for d in report.differences[:8]]}"


@dataclasses.dataclass
class Migrated:
    eng: Engine
    result: MigrationResult
    report: ValidationReport
    url: str


@contextmanager
def migrated(kv: Path, url: str, *, chunk_size: int = 2, commit: bool = False) -> Iterator[Migrated]:
    """migrate() + validate() (+ commit()), asserting each step succeeds."""
    with Engine(kv, url, chunk_size=chunk_size) as eng:
        res = eng.migrate()
        assert res.outcome == "complete", res.error
        assert res.error is None
        report = eng.validate()
        assert report.ok, _explain(report)
        assert report.differences == []
        assert report.error is None
        assert report.count_kv == report.count_sql == report.payments_checked
        if commit:
            c = eng.commit()
            assert c.committed and c.tombstoned, c.message
        yield Migrated(eng, res, report, url)


def sql_ids_in_order(eng: Engine) -> list[tuple[int, bytes]]:
    return rows(eng, "SELECT id, payment_identifier FROM payments ORDER BY id")


def status_of(m: Migrated, ident: bytes) -> str:
    (row,) = [r for r in m.report.payments if r.identifier == ident.hex()]
    return row.status


def assert_payment_rows(m: Migrated, p: Payment, sql_id: int, *, attempt_index: dict[int, int] | None = None,
                        fail_reason: Any = "same") -> None:
    """Every SQL row of ``p`` (built by kvbuild) equals what LND's migration writes (§4.4-§4.5).

    ``attempt_index`` maps KV attempt ids to their SQL attempt_index (legacy ID 0);
    ``fail_reason`` overrides the expected payments.fail_reason.
    """
    eng, url = m.eng, m.url
    ident = p.info.payment_identifier
    exp_reason = p.failure_reason if fail_reason == "same" else fail_reason
    assert rows(eng, "SELECT id, amount_msat, created_at, payment_identifier, fail_reason FROM payments WHERE id = ?",
                sql_id) == [(sql_id, int64(p.info.value), expected_ts(url, p.info.creation_time), ident, exp_reason)]
    intents = rows(eng, "SELECT intent_type, intent_payload FROM payment_intents WHERE payment_id = ?", sql_id)
    assert intents == ([(0, p.info.payment_request)] if p.info.payment_request else [])
    assert rows(eng, "SELECT key, value FROM payment_first_hop_custom_records WHERE payment_id = ? ORDER BY key",
                sql_id) == sorted(p.info.first_hop_custom_records.items())

    amap = attempt_index or {}
    exp_attempts = sorted(p.htlcs, key=lambda h: amap.get(h.attempt_id, h.attempt_id))
    got = rows(eng, "SELECT attempt_index, session_key, attempt_time, payment_hash, first_hop_amount_msat, "
                    "route_total_time_lock, route_total_amount, route_source_key FROM payment_htlc_attempts "
                    "WHERE payment_id = ? ORDER BY attempt_index", sql_id)
    assert len(got) == len(exp_attempts)
    for h, g in zip(exp_attempts, got):
        aidx = amap.get(h.attempt_id, h.attempt_id)
        r = h.route
        assert g == (aidx, h.session_key, expected_ts(url, h.attempt_time), h.hash if h.hash is not None else ident,
                     int64(r.first_hop_amount), int32(r.total_time_lock), int64(r.total_amount), r.source_pub_key)
        assert rows(eng, "SELECT key, value FROM payment_attempt_first_hop_custom_records WHERE htlc_attempt_index = ? "
                         "ORDER BY key", aidx) == sorted(r.first_hop_wire_custom_records.items())
        hops = rows(eng, "SELECT id, hop_index, pub_key, scid, outgoing_time_lock, amt_to_forward, meta_data "
                         "FROM payment_route_hops WHERE htlc_attempt_index = ? ORDER BY hop_index", aidx)
        assert len(hops) == len(r.hops)
        for i, (hop, (hid, *cols)) in enumerate(zip(r.hops, hops)):
            assert cols == [i, hop.pub_key, str(hop.channel_id), int32(hop.outgoing_time_lock),
                            int64(hop.amt_to_forward), hop.metadata], f"attempt {aidx} hop {i}"
            mpp = rows(eng, "SELECT payment_addr, total_msat FROM payment_route_hop_mpp WHERE hop_id = ?", hid)
            assert mpp == ([(hop.mpp.payment_addr, int64(hop.mpp.total_msat))] if hop.mpp else [])
            amp = rows(eng, "SELECT root_share, set_id, child_index FROM payment_route_hop_amp WHERE hop_id = ?", hid)
            assert amp == ([(hop.amp.root_share, hop.amp.set_id, int32(hop.amp.child_index))] if hop.amp else [])
            blinded = rows(eng, "SELECT encrypted_data, blinding_point, blinded_path_total_amt "
                                "FROM payment_route_hop_blinded WHERE hop_id = ?", hid)
            if hop.encrypted_data:
                bp = hop.blinding_point
                if bp is not None and len(bp) == 65:  # stored re-compressed
                    bp = bytes([2 | (bp[-1] & 1)]) + bp[1:33]
                assert blinded == [(hop.encrypted_data, bp, int64(hop.total_amt_msat) or None)]
            else:
                assert blinded == []
            assert rows(eng, "SELECT key, value FROM payment_hop_custom_records WHERE hop_id = ? ORDER BY key",
                        hid) == sorted(hop.custom_records.items())
        res = rows(eng, "SELECT resolution_type, resolution_time, settle_preimage, failure_source_index, "
                        "htlc_fail_reason, failure_msg FROM payment_htlc_attempt_resolutions WHERE attempt_index = ?",
                   aidx)
        if h.settle is not None:  # settle wins over a fail info
            assert res == [(1, expected_ts(url, h.settle.settle_time), h.settle.preimage, None, None, None)]
        elif h.failure is not None:
            f = h.failure
            msg = encode_failure_message(f.message) if f.message is not None else None
            assert res == [(2, expected_ts(url, f.fail_time), None, int32(f.failure_source_index), f.reason, msg)]
        else:
            assert res == []


# -- shared fixtures (LND's test helpers) ----------------------------------------


@pytest.fixture
def kv(tmp_path) -> Path:
    return tmp_path / "kv"


def lnd_test_payment(seq: int, hash: bytes, attempt_id: int, *, creation_time: int | None = None) -> Payment:
    """createTestPaymentInKV: value 1,000,000+seq*1000, payreq lnbc1test, one attempt over
    a 2-hop route (total 900: 850, 800), settled iff seq % 3 == 0 (else in flight)."""
    hops = make_hops(2, base_amount=850)
    hops[0].amt_to_forward, hops[1].amt_to_forward = 850, 800
    hops[0].channel_id, hops[1].channel_id = 12345, 67890
    hops[0].outgoing_time_lock, hops[1].outgoing_time_lock = 499_500, 499_000
    route = make_route(hops, total_amount=900, total_time_lock=500_000)
    ctime = creation_time if creation_time is not None else BASE_TIME_NS - 24 * 60 * MINUTE + seq * NS
    return make_payment(
        seq, hash, 1_000_000 + seq * 1000,
        creation_time=ctime,
        htlcs=[make_attempt(attempt_id, hash=hash, route=route, attempt_time=ctime + 2 * MINUTE,
                            settled=seq % 3 == 0, settle_time=ctime + 3 * MINUTE)],
    )


def five_payments() -> list[Payment]:
    """populateTestPayments(5): seqs 0-4, hash sha256(byte(i)), attempt ids 1..5."""
    return [lnd_test_payment(i, seed_hash(i), i + 1) for i in range(5)]


def feature_payment(hash: bytes, seq: int, value: int, *, payreq: str, n_hops: int, base_channel_id: int,
                    base_time_lock: int, created: datetime, configure=None, payment_custom=None,
                    attempt_custom=None, attempt_id: int = 1) -> Payment:
    """createTestPayment(paymentTestConfig): one settled attempt, hops from createTestHops."""
    ctime = int((created - datetime(1970, 1, 1)).total_seconds()) * NS
    hops = make_hops(n_hops, base_amount=value, base_channel_id=base_channel_id, base_time_lock=base_time_lock,
                     configure=configure)
    route = make_route(hops, total_amount=hops[-1].amt_to_forward, total_time_lock=base_time_lock,
                       first_hop_wire_custom_records=attempt_custom)
    return make_payment(
        seq, hash, value, payment_request=payreq.encode(), creation_time=ctime,
        first_hop_custom_records=payment_custom,
        htlcs=[make_attempt(attempt_id, hash=hash, route=route, attempt_time=ctime + MINUTE, settled=hash,
                            settle_time=ctime + 2 * MINUTE)],
    )


# -- row 1 --------------------------------------------------------------------------


def test_row01_migration_kv_to_sql(kv, target_url):
    """TestMigrationKVToSQL: 5 payments migrate; ids follow sequence order; commit
    tombstones the KV store and verify() re-checks the committed data."""
    payments = five_payments()
    build_store(kv, payments, switch_sequence=1000)
    with Engine(kv, target_url, chunk_size=2) as eng:
        assert eng.reconcile() is RunState.FRESH
        pre = eng.preflight()
        assert pre.ok, [(c.id, c.reason) for c in pre.checks if c.status.value == "fail"]
        assert (pre.counts.payments, pre.counts.succeeded, pre.counts.in_flight) == (5, 2, 3)
        assert pre.counts.index_entries == 5 and pre.counts.attempts == 5
    with migrated(kv, target_url, chunk_size=2, commit=True) as m:
        assert m.result.stats.payments == 5
        assert (m.result.stats.succeeded, m.result.stats.in_flight) == (2, 3)
        assert m.result.stats.attempts == 5 and m.result.stats.hops == 10
        assert m.result.stats.chunks == 3  # 2 + 2 + 1
        assert sql_ids_in_order(m.eng) == [(i + 1, p.info.payment_identifier) for i, p in enumerate(payments)]
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_htlc_attempts") == 5
        assert rows(m.eng, "SELECT attempt_index FROM payment_htlc_attempt_resolutions ORDER BY attempt_index") == [
            (1,), (4,)]
        assert [status_of(m, p.info.payment_identifier) for p in payments] == [
            "succeeded", "in-flight", "in-flight", "succeeded", "in-flight"]
        assert m.eng.state() is RunState.COMPLETE
        again = m.eng.verify()
        assert again.ok, _explain(again)
    assert read_tombstone(kv) == b"1"
    assert read_switch_sequence(kv) == 1000  # no legacy zero ids: untouched


# -- row 2 --------------------------------------------------------------------------


def test_row02_sequence_order_not_hash_order(kv, target_url):
    """TestMigrationSequenceOrder: hashes 03.., 02.., 01.. at seqs 0, 2, 3 plus an indexed
    duplicate of hash0 at seq 1: 3 payments in sequence order; the duplicate's index entry
    is skipped (its row goes to payment_duplicates)."""
    h0, h1, h2 = padded(b"\x03"), padded(b"\x02"), padded(b"\x01")
    p0 = lnd_test_payment(0, h0, 1)
    p0.duplicates = [make_duplicate(1, h0, 2_001_000, attempt_raw=b"\x00" * 8)]
    payments = [p0, lnd_test_payment(2, h1, 3), lnd_test_payment(3, h2, 4)]
    build_store(kv, payments)
    with migrated(kv, target_url, chunk_size=1) as m:
        assert sql_ids_in_order(m.eng) == [(1, h0), (2, h1), (3, h2)]
        assert m.result.stats.payments == 3
        assert m.result.stats.duplicate_entries == 1
        assert m.result.stats.normalisations.get("duplicate_index_entry_skipped") == 1
        assert rows(m.eng, "SELECT payment_id, amount_msat, fail_reason FROM payment_duplicates") == [
            (1, 2_001_000, int(FailureReason.ERROR))]
        for sql_id, p in enumerate(payments, start=1):
            assert_payment_rows(m, p, sql_id)


# -- row 3 --------------------------------------------------------------------------


def test_row03_data_integrity(kv, target_url):
    """TestMigrationDataIntegrity: every KV payment equals its SQL rows, field by field."""
    payments = five_payments()
    build_store(kv, payments)
    with migrated(kv, target_url, chunk_size=2) as m:
        assert m.report.payments_checked == 5
        for sql_id, p in enumerate(payments, start=1):
            assert_payment_rows(m, p, sql_id)
            detail = m.eng.payment_detail(p.info.payment_identifier.hex())
            assert detail.differences == []
            assert detail.sql is not None and detail.kv is not None


# -- row 4 --------------------------------------------------------------------------


def test_row04_legacy_payload_normalized(kv, target_url):
    """TestMigrationLegacyPayloadNormalized: two LegacyPayload hops (no TLV records) migrate;
    the flag is not stored and validation passes after clearing it."""
    h = seed_hash(0)
    hops = make_hops(2, base_amount=900_000)
    hops[1].amt_to_forward = 800_000
    for hop in hops:
        hop.legacy_payload = True
    route = make_route(hops, total_amount=1_000_000, total_time_lock=500_000)
    p = make_payment(0, h, 1_000_000, htlcs=[make_attempt(1, hash=h, route=route, settled=h)])
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert m.result.stats.normalisations.get("legacy_payload_dropped") == 2
        assert_payment_rows(m, p, 1)
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_route_hops") == 2


# -- rows 5 and 8: duplicates ------------------------------------------------------


def test_row05_duplicates(kv, target_url):
    """TestMigrationWithDuplicates: main payment seq 0; duplicates seq 1 (settled, 40-byte
    settle info) and seq 2 (no resolution), creation time in seconds. 1 payment, 2 duplicates:
    2,001,000 has the preimage and NULL fail_reason; 2,002,000 has fail_reason 2, no preimage."""
    h = seed_hash(0)
    settle_t = BASE_TIME_NS - 60 * MINUTE
    p = lnd_test_payment(0, h, 1)
    p.duplicates = [
        make_duplicate(1, h, 2_001_000, settle=settle_info_40(h, settle_t), creation_secs=1_703_900_000,
                       attempt_raw=(2).to_bytes(8, "big") + b"\x11" * 32),
        make_duplicate(2, h, 2_002_000, creation_secs=1_703_900_060, attempt_raw=(3).to_bytes(8, "big") + b"\x22" * 32),
    ]
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert scalar(m.eng, "SELECT COUNT(*) FROM payments") == 1
        assert m.report.duplicates_checked == 2
        dups = rows(m.eng, "SELECT payment_id, amount_msat, created_at, fail_reason, settle_preimage, settle_time "
                           "FROM payment_duplicates ORDER BY amount_msat")
        assert dups == [
            (1, 2_001_000, expected_ts(target_url, 1_703_900_000 * NS), None, h, expected_ts(target_url, settle_t)),
            (1, 2_002_000, expected_ts(target_url, 1_703_900_060 * NS), int(FailureReason.ERROR), None, None),
        ]
        assert_payment_rows(m, p, 1)


@pytest.mark.parametrize("settle_form", ["40-byte", "32-byte"])
def test_row08_duplicates_without_attempt_info(kv, target_url, settle_form):
    """TestDuplicatePaymentsWithoutAttemptInfo: main seq 1; duplicates 2 (settled), 3 (fail
    info NoRoute), 4 (nothing): preimage / fail_reason 1 / fail_reason 2. Also the legacy
    32-byte settle form of real migration-9 data (settle_time NULL)."""
    h = seed_hash(0)
    settle_t = BASE_TIME_NS - 60 * MINUTE
    settle = settle_info_40(h, settle_t) if settle_form == "40-byte" else h
    p = lnd_test_payment(1, h, 1)
    p.duplicates = [
        make_duplicate(2, h, 2_002_000, settle=settle),
        make_duplicate(3, h, 2_003_000, fail=bytes([FailureReason.NO_ROUTE])),
        make_duplicate(4, h, 2_004_000),
    ]
    build_store(kv, [p])
    with migrated(kv, target_url, chunk_size=1) as m:
        dups = rows(m.eng, "SELECT amount_msat, fail_reason, settle_preimage, settle_time FROM payment_duplicates "
                           "ORDER BY amount_msat")
        assert dups == [
            (2_002_000, None, h, expected_ts(target_url, settle_t) if settle_form == "40-byte" else None),
            (2_003_000, int(FailureReason.NO_ROUTE), None, None),
            (2_004_000, int(FailureReason.ERROR), None, None),
        ]
        assert m.result.stats.duplicate_payments == 1 and m.result.stats.duplicate_entries == 3


# -- rows 6 and 7: legacy attempt id 0 ---------------------------------------------


@pytest.mark.parametrize(
    ("switch_before", "expected_ids", "switch_after"),
    [
        pytest.param(0, (1, 2), 3, id="zero-switch-sequence"),
        pytest.param(10, (10, 11), 12, id="advanced-switch-sequence"),
        pytest.param(None, (1, 2), 3, id="no-switch-bucket"),
    ],
)
def test_row06_legacy_zero_attempt_ids(kv, target_url, switch_before, expected_ids, switch_after):
    """TestMigrationWithLegacyZeroAttemptIDs: two payments (seq 3, 6) each with attempt id 0.
    Switch sequence 0 -> ids 1, 2 and sequence 3; 10 -> 10, 11 and 12 (read back from the KV
    store after commit). Without the bucket it is created at 3 (§4.6)."""
    pays = []
    for seq, seed in ((3, 1), (6, 2)):
        h = seed_hash(seed)
        pays.append(make_payment(seq, h, 1_000_000, htlcs=[make_attempt(0, hash=h, settled=h)]))
    build_store(kv, pays, switch_sequence=switch_before)
    with migrated(kv, target_url, chunk_size=1, commit=True) as m:
        assert rows(m.eng, "SELECT payment_id, attempt_index FROM payment_htlc_attempts ORDER BY payment_id") == [
            (1, expected_ids[0]), (2, expected_ids[1])]
        assert m.result.stats.normalisations.get("legacy_zero_attempt_id_remapped") == 2
        for sql_id, (p, new_id) in enumerate(zip(pays, expected_ids), start=1):
            assert_payment_rows(m, p, sql_id, attempt_index={0: new_id})
    assert read_switch_sequence(kv) == switch_after


def test_row07_unresolved_legacy_zero_attempt(kv, target_url):
    """TestMigrationWithUnresolvedLegacyZeroAttemptID: an in-flight payment (seq 42) whose only
    attempt has id 0 and no resolution becomes failed (fail_reason 2), its attempt gets a
    non-zero id and a type-2 resolution with reason 0 (HTLCFailUnknown), zero time, no message;
    nothing is left in flight."""
    h = seed_hash(42)
    p = make_payment(42, h, 100_000, htlcs=[make_attempt(0, hash=h, amount=99_000)])
    build_store(kv, [p])
    with migrated(kv, target_url, commit=True) as m:
        assert rows(m.eng, "SELECT id, fail_reason FROM payments") == [(1, int(FailureReason.ERROR))]
        assert status_of(m, h) == "failed"
        (aidx,) = [r[0] for r in rows(m.eng, "SELECT attempt_index FROM payment_htlc_attempts")]
        assert aidx == 1
        assert rows(m.eng, "SELECT attempt_index, resolution_type, resolution_time, settle_preimage, "
                           "failure_source_index, htlc_fail_reason, failure_msg "
                           "FROM payment_htlc_attempt_resolutions") == [
            (1, 2, expected_ts(target_url, None), None, 0, int(HTLCFailReason.UNKNOWN), None)]
        # FetchInFlightPayments is empty: no attempt without a resolution.
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_htlc_attempts a LEFT JOIN "
                             "payment_htlc_attempt_resolutions r ON r.attempt_index = a.attempt_index "
                             "WHERE r.attempt_index IS NULL") == 0
        names = m.result.stats.normalisations
        assert names.get("legacy_zero_attempt_terminalised") == 1
        assert names.get("legacy_zero_payment_failed") == 1
    assert read_switch_sequence(kv) == 2  # bucket absent, horizon 2 > 1: created


# -- rows 9-11: MPP and AMP ---------------------------------------------------------


def test_row09_mpp(kv, target_url):
    """TestMigratePaymentWithMPP: 3 hops, MPP on the final hop (addr padded, total 50000)."""
    h = padded("test_mpp_payment_hash_12345")
    addr = padded("test_mpp_payment_address_32")

    def cfg(hop, i, final):
        if final:
            hop.mpp = MPPRecord(payment_addr=addr, total_msat=50_000)

    p = feature_payment(h, 1, 50_000, payreq="lnbc500n1test_mpp", n_hops=3, base_channel_id=100_000,
                        base_time_lock=500_000, created=datetime(2024, 1, 1, 12), configure=cfg)
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert rows(m.eng, "SELECT payment_addr, total_msat FROM payment_route_hop_mpp") == [(addr, 50_000)]
        assert rows(m.eng, "SELECT hop_index FROM payment_route_hops h JOIN payment_route_hop_mpp m "
                           "ON m.hop_id = h.id") == [(2,)]
        assert_payment_rows(m, p, 1)


def _amp_payment(child_index: int) -> tuple[Payment, bytes, bytes]:
    h = padded("test_amp_payment_hash_12345")
    root, set_id = padded("test_amp_root_share_12345678"), padded("test_amp_set_id_123456789012")

    def cfg(hop, i, final):
        if final:
            hop.amp = AMPRecord(root_share=root, set_id=set_id, child_index=child_index)

    p = feature_payment(h, 2, 75_000, payreq="lnbc750n1test_amp", n_hops=2, base_channel_id=200_000,
                        base_time_lock=600_000, created=datetime(2024, 2, 1, 10), configure=cfg)
    return p, root, set_id


def test_row10_amp(kv, target_url):
    """TestMigratePaymentWithAMP: AMP record (root share, set id, child 0) on the final hop."""
    p, root, set_id = _amp_payment(0)
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert rows(m.eng, "SELECT root_share, set_id, child_index FROM payment_route_hop_amp") == [(root, set_id, 0)]
        assert_payment_rows(m, p, 1)


def test_row11_amp_signed_child_index(kv, target_url):
    """TestMigratePaymentWithAMPSignedChildIndex: child_index 0x80000001 is stored as the
    int32 -2147483647 and reads back as 0x80000001 (validation compares the uint32)."""
    p, root, set_id = _amp_payment(0x80000001)
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert rows(m.eng, "SELECT child_index FROM payment_route_hop_amp") == [(-2147483647,)]
        assert_payment_rows(m, p, 1)
        detail = m.eng.payment_detail(p.info.payment_identifier.hex())
        assert detail.differences == []


# -- row 12: custom records -----------------------------------------------------------


def test_row12_custom_records(kv, target_url):
    """TestMigratePaymentWithCustomRecords: payment-level 65536/65537, attempt-level
    65541/65542, per-hop 65538+i."""
    h = padded("test_custom_records_hash_1234")

    def cfg(hop, i, final):
        hop.custom_records = {65538 + i: f"hop_{i}_custom_value".encode()}

    p = feature_payment(h, 3, 100_000, payreq="lnbc1m1test_custom", n_hops=3, base_channel_id=300_000,
                        base_time_lock=700_000, created=datetime(2024, 3, 1, 14), configure=cfg,
                        payment_custom={65536: b"payment_level_value_1", 65537: b"payment_level_value_2"},
                        attempt_custom={65541: b"attempt_custom_value_1", 65542: b"attempt_custom_value_2"})
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert rows(m.eng, "SELECT key, value FROM payment_first_hop_custom_records ORDER BY key") == [
            (65536, b"payment_level_value_1"), (65537, b"payment_level_value_2")]
        assert rows(m.eng, "SELECT htlc_attempt_index, key, value FROM payment_attempt_first_hop_custom_records "
                           "ORDER BY key") == [(1, 65541, b"attempt_custom_value_1"), (1, 65542, b"attempt_custom_value_2")]
        assert rows(m.eng, "SELECT h.hop_index, c.key, c.value FROM payment_hop_custom_records c "
                           "JOIN payment_route_hops h ON h.id = c.hop_id ORDER BY h.hop_index") == [
            (i, 65538 + i, f"hop_{i}_custom_value".encode()) for i in range(3)]
        assert_payment_rows(m, p, 1)


# -- rows 13-15: blinded routes --------------------------------------------------------


@pytest.mark.parametrize("point_form", ["compressed", "uncompressed"])
def test_row13_blinded_route(kv, target_url, point_form):
    """TestMigratePaymentWithBlindedRoute: 4 hops, the final hop has BlindingPoint,
    EncryptedData and TotalAmtMsat 119400 -> one payment_route_hop_blinded row. A 65-byte
    point (btcec.ParsePubKey accepts it) is stored re-compressed."""
    h = padded("test_blinded_payment_hash_123")
    ed = b"encrypted_blinded_route_data_test_value_12345"
    point = compressed_point = pubkey(0xB11D)

    def cfg(hop, i, final):
        if final:
            hop.blinding_point = point
            hop.encrypted_data = ed
            hop.total_amt_msat = 119_400

    p = feature_payment(h, 4, 120_000, payreq="lnbc1200n1test_blinded", n_hops=4, base_channel_id=400_000,
                        base_time_lock=800_000, created=datetime(2024, 4, 1, 16), configure=cfg)

    def to_uncompressed(ident, tree):
        # LND's writer always writes 33 bytes; a 65-byte form only comes from foreign data.
        htlcs = tree[b"payment-htlcs-bucket"]
        key = b"ai" + (1).to_bytes(8, "big")
        record = (12).to_bytes(8, "big") + b"\x21" + compressed_point
        assert htlcs[key].count(record) == 1
        htlcs[key] = htlcs[key].replace(record, (12).to_bytes(8, "big") + b"\x41" + uncompressed(point_mul(0xB11D)))

    build_store(kv, [p], patch_tree=to_uncompressed if point_form == "uncompressed" else None)
    with migrated(kv, target_url) as m:
        assert rows(m.eng, "SELECT h.hop_index, b.encrypted_data, b.blinding_point, b.blinded_path_total_amt "
                           "FROM payment_route_hop_blinded b JOIN payment_route_hops h ON h.id = b.hop_id") == [
            (3, ed, pubkey(0xB11D), 119_400)]
        assert_payment_rows(m, p, 1)
        if point_form == "uncompressed":
            assert m.result.stats.normalisations.get("blinding_point_recompressed") == 1


@pytest.mark.parametrize("ed", [None, b""], ids=["nil-encrypted-data", "empty-encrypted-data"])
def test_row14_orphaned_blinded_total(kv, target_url, ed):
    """TestMigrateOrphanedBlindedTotalAmount: TotalAmtMsat 119400 with nil or empty
    EncryptedData and no blinding point: migration succeeds, no blinded row (the SQL total
    is 0 / NULL), and validation passes after LND's orphaned-total normalisation."""
    h = padded("test_orphaned_total_hash_1234")

    def cfg(hop, i, final):
        if final:
            hop.encrypted_data = ed
            hop.total_amt_msat = 119_400

    p = feature_payment(h, 4, 120_000, payreq="lnbc1200n1test_orphan", n_hops=2, base_channel_id=410_000,
                        base_time_lock=800_000, created=datetime(2024, 4, 2, 16), configure=cfg)
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_route_hop_blinded") == 0
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_route_hops") == 2
        assert m.result.stats.normalisations.get("orphaned_blinded_total_dropped") == 1
        assert_payment_rows(m, p, 1)


def test_row15_blinding_point_without_encrypted_data(kv, target_url):
    """TestMigrateBlindingPointWithoutEncryptedData: a blinding point without encrypted data
    aborts the migration; the error names the *parent* payment hash (first 8 bytes), not the
    attempt hash, plus attempt_index=1, hop=0. Nothing of that payment is written, earlier
    chunks stay resumable/roll-backable, and the KV store is not touched."""
    good_h = seed_hash(7)
    good = lnd_test_payment(3, good_h, 7)
    h = padded("test_blinding_no_ed_hash_1234")
    attempt_hash = padded("a_different_attempt_hash_5678")

    def cfg(hop, i, final):
        if i == 0:
            hop.blinding_point = pubkey(0xB11D)

    bad = feature_payment(h, 4, 120_000, payreq="lnbc1200n1test_bad_blinded", n_hops=2, base_channel_id=420_000,
                          base_time_lock=800_000, created=datetime(2024, 4, 3, 16), configure=cfg)
    bad.htlcs[0].hash = attempt_hash
    bad.htlcs[0].settle.preimage = attempt_hash
    build_store(kv, [good, bad], switch_sequence=5)
    with Engine(kv, target_url, chunk_size=1) as eng:
        res = eng.migrate()
        assert res.outcome == "failed"
        err = res.error or ""
        assert "blinding point requires encrypted recipient data" in err
        assert "attempt_index=1, hop=0" in err
        assert f"payment_hash={h[:8].hex()}" in err
        assert attempt_hash[:8].hex() not in err
        assert res.failing_payment == h.hex()
        # The good payment's chunk was committed before the failure; the bad one wrote nothing.
        assert sql_ids_in_order(eng) == [(1, good_h)]
        assert scalar(eng, "SELECT COUNT(*) FROM payment_htlc_attempts") == 1
        assert eng.state() is RunState.IN_PROGRESS
        rb = eng.rollback()
        assert rb.kv_unchanged
        # A second attempt fails the same way (fail closed), still without writing it.
        res2 = eng.migrate()
        assert res2.outcome == "failed" and "blinding point requires encrypted recipient data" in (res2.error or "")
        eng.rollback()
    assert read_switch_sequence(kv) == 5
    assert read_tombstone(kv) is None


# -- rows 16-18: metadata, all features, combinations --------------------------------


def test_row16_metadata(kv, target_url):
    """TestMigratePaymentWithMetadata: metadata on every hop. Plus a second payment whose
    hops have empty (present) and absent metadata: empty blob vs NULL (§4.5)."""
    h = padded("test_metadata_payment_hash_12")

    def cfg(hop, i, final):
        hop.metadata = f"hop_{i}_metadata_value".encode()

    p = feature_payment(h, 5, 80_000, payreq="lnbc800n1test_metadata", n_hops=3, base_channel_id=500_000,
                        base_time_lock=900_000, created=datetime(2024, 5, 1, 18), configure=cfg)
    h2 = padded("test_metadata_empty_hash_1234")

    def cfg2(hop, i, final):
        hop.metadata = b"" if i == 0 else None

    p2 = feature_payment(h2, 6, 80_000, payreq="lnbc800n1test_metadata2", n_hops=2, base_channel_id=510_000,
                         base_time_lock=900_000, created=datetime(2024, 5, 1, 19), configure=cfg2, attempt_id=2)
    build_store(kv, [p, p2])
    with migrated(kv, target_url, chunk_size=1) as m:
        assert rows(m.eng, "SELECT hop_index, meta_data FROM payment_route_hops WHERE htlc_attempt_index = 1 "
                           "ORDER BY hop_index") == [(i, f"hop_{i}_metadata_value".encode()) for i in range(3)]
        assert rows(m.eng, "SELECT hop_index, meta_data FROM payment_route_hops WHERE htlc_attempt_index = 2 "
                           "ORDER BY hop_index") == [(0, b""), (1, None)]
        assert_payment_rows(m, p, 1)
        assert_payment_rows(m, p2, 2)


def test_row17_all_features(kv, target_url):
    """TestMigratePaymentWithAllFeatures: custom records at every level, metadata on every
    hop, MPP + blinded data on the final hop."""
    h = padded("test_all_features_hash_123456")
    addr = padded("all_features_mpp_addr_123456")
    ed = b"all_features_encrypted_blinded_data_123456"

    def cfg(hop, i, final):
        hop.custom_records = {65545 + i: f"all_feat_hop_{i}".encode()}
        hop.metadata = f"all_feat_metadata_{i}".encode()
        if final:
            hop.mpp = MPPRecord(payment_addr=addr, total_msat=149_250)
            hop.blinding_point = pubkey(0xA11)
            hop.encrypted_data = ed
            hop.total_amt_msat = 149_250

    p = feature_payment(h, 6, 150_000, payreq="lnbc1500n1test_all_features", n_hops=4, base_channel_id=600_000,
                        base_time_lock=1_000_000, created=datetime(2024, 6, 1, 20), configure=cfg,
                        payment_custom={65543: b"all_features_payment_custom_1", 65544: b"all_features_payment_custom_2"},
                        attempt_custom={65549: b"all_feat_attempt_custom_1", 65550: b"all_feat_attempt_custom_2"})
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_route_hop_mpp") == 1
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_route_hop_blinded") == 1
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_hop_custom_records") == 4
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_first_hop_custom_records") == 2
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_attempt_first_hop_custom_records") == 2
        assert_payment_rows(m, p, 1)


FEATURE_SETS = [
    # name, mpp, amp, custom records, blinded route, hop metadata
    ("mpp_custom", True, False, True, False, False),
    ("amp_blinded", False, True, False, True, False),
    ("custom_metadata", False, False, True, False, True),
    ("blinded_metadata", False, False, False, True, True),
    ("mpp_metadata", True, False, False, False, True),
]


def test_row18_feature_combinations(kv, target_url):
    """TestMigratePaymentFeatureCombinations: five feature combinations (seq 10-14) in one
    migration, each equal field by field."""
    base = 100_000
    payments = []
    for n, (name, mpp, amp, custom, blinded, meta) in enumerate(FEATURE_SETS):
        seq = 10 + n
        h = padded(f"combo_{name}_hash")

        def cfg(hop, i, final, mpp=mpp, amp=amp, custom=custom, blinded=blinded, meta=meta):
            hop.amt_to_forward = base - 100 * i
            hop.channel_id = 700_000 + i
            hop.outgoing_time_lock = 700_000 - 40 * i
            if custom:
                hop.custom_records = {65562 + i: f"combo_hop_{i}".encode()}
            if meta:
                hop.metadata = f"combo_metadata_{i}".encode()
            if final:
                if mpp:
                    hop.mpp = MPPRecord(payment_addr=padded("combo_mpp_payment_addr_1234"), total_msat=base - 200)
                if amp:
                    hop.amp = AMPRecord(root_share=padded("combo_amp_root_share_123456"),
                                        set_id=padded("combo_amp_set_id_12345678"), child_index=0)
                if blinded:
                    hop.blinding_point = pubkey(0xC0 + seq)
                    hop.encrypted_data = b"combo_encrypted_blinded_data"
                    hop.total_amt_msat = base - 200

        p = feature_payment(
            h, seq, base, payreq=f"lnbc_test_{name}", n_hops=3, base_channel_id=700_000, base_time_lock=700_000,
            created=datetime(2024, 7, 1, 12) + timedelta(minutes=seq), configure=cfg, attempt_id=n + 1,
            payment_custom={65560: b"combo_payment_custom_1", 65561: b"combo_payment_custom_2"} if custom else None,
            attempt_custom={65565: b"combo_attempt_custom_1", 65566: b"combo_attempt_custom_2"} if custom else None,
        )
        payments.append(p)
    build_store(kv, payments)
    with migrated(kv, target_url, chunk_size=2) as m:
        assert sql_ids_in_order(m.eng) == [(i + 1, p.info.payment_identifier) for i, p in enumerate(payments)]
        assert m.result.stats.chunks == 3
        for sql_id, p in enumerate(payments, start=1):
            assert_payment_rows(m, p, sql_id)
            assert m.eng.payment_detail(p.info.payment_identifier.hex()).differences == []
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_route_hop_mpp") == 2
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_route_hop_amp") == 1
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_route_hop_blinded") == 2


# -- row 19: failure message --------------------------------------------------------


def test_row19_failure_message(kv, target_url):
    """TestMigratePaymentWithFailureMessage: payment fail reason NoRoute; one failed attempt
    (id 500) with TemporaryChannelFailure without an update, reason HTLCFailMessage, source
    index 1: failure_msg holds the lnwire encoding 1007 0000."""
    h = padded("test_failure_message_hash_123")
    msg = FailureMessage(code=0x1007)
    fail = make_fail_info(reason=int(HTLCFailReason.MESSAGE), source_index=1, message=msg)
    p = make_payment(7, h, 100_000, failure_reason=int(FailureReason.NO_ROUTE),
                     htlcs=[make_attempt(500, hash=h, amount=100_000, failed=fail)])
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert rows(m.eng, "SELECT fail_reason FROM payments") == [(int(FailureReason.NO_ROUTE),)]
        assert status_of(m, h) == "failed"
        assert rows(m.eng, "SELECT attempt_index, resolution_type, settle_preimage, failure_source_index, "
                           "htlc_fail_reason, failure_msg FROM payment_htlc_attempt_resolutions") == [
            (500, 2, None, 1, int(HTLCFailReason.MESSAGE), bytes.fromhex("10070000"))]
        assert_payment_rows(m, p, 1)


# -- rows 20-21 ---------------------------------------------------------------------


def test_row20_legacy_nil_hash(kv, target_url):
    """TestMigrateLegacyPaymentWithNilHash: an attempt serialized without a hash gets the
    payment hash in SQL."""
    h = padded("test_legacy_nil_hash_payment")
    hops = make_hops(1, base_amount=49_000)
    route = make_route(hops, total_amount=50_000, total_time_lock=500_000)
    p = make_payment(100, h, 50_000, payment_request=b"lnbc500n1legacy_payment",
                     htlcs=[make_attempt(1, hash=None, route=route, settled=h)])
    build_store(kv, [p])
    with migrated(kv, target_url) as m:
        assert rows(m.eng, "SELECT attempt_index, payment_hash FROM payment_htlc_attempts") == [(1, h)]
        assert m.result.stats.normalisations.get("nil_hash_from_payment") == 1
        assert_payment_rows(m, p, 1)


def test_row21_in_flight_payment(kv, target_url):
    """TestMigrateInFlightPayment: one unresolved attempt (id 1) stays in flight: no
    resolution row, no fail reason, and it is what FetchInFlightPayments would return."""
    h = padded("test_inflight_payment_hash_1234")
    hops = make_hops(1, base_amount=99_000)
    route = make_route(hops, total_amount=100_000, total_time_lock=500_000)
    p = make_payment(42, h, 100_000, payment_request=b"lnbc1inflight_payment",
                     htlcs=[make_attempt(1, hash=h, route=route)])
    build_store(kv, [p], switch_sequence=1000)
    with migrated(kv, target_url, commit=True) as m:
        assert rows(m.eng, "SELECT id, fail_reason FROM payments") == [(1, None)]
        assert scalar(m.eng, "SELECT COUNT(*) FROM payment_htlc_attempt_resolutions") == 0
        assert rows(m.eng, "SELECT a.payment_id, a.attempt_index FROM payment_htlc_attempts a LEFT JOIN "
                           "payment_htlc_attempt_resolutions r ON r.attempt_index = a.attempt_index "
                           "WHERE r.attempt_index IS NULL") == [(1, 1)]
        assert status_of(m, h) == "in-flight"
        assert m.result.stats.in_flight == 1 and m.result.stats.attempts_in_flight == 1
        assert_payment_rows(m, p, 1)
    assert read_switch_sequence(kv) == 1000


# -- beyond the table: LND's test data resumed ---------------------------------------


def test_resume_after_checkpoint_at_sequence_zero(kv, target_url):
    """LND's test stores start at payment sequence 0 (rows 1, 2, 4, 5). A run cancelled after
    its first chunk has checkpoint 0; resuming must continue after it, not migrate seq 0 again.

    Engine bug (the index walk's ``after``): ``checkpoint_seq == 0`` doubles as "nothing
    committed yet", so the resumed run re-reads index key 0 and the chunk fails on
    UNIQUE(payment_identifier)."""
    import threading

    payments = five_payments()
    build_store(kv, payments)
    cancel = threading.Event()
    cancel.set()  # stop at the first chunk boundary
    with Engine(kv, target_url, chunk_size=1) as eng:
        first = eng.migrate(cancel=cancel)
        assert first.outcome == "cancelled"
        assert (first.checkpoint_seq, eng.state()) == (0, RunState.IN_PROGRESS)
        assert sql_ids_in_order(eng) == [(1, payments[0].info.payment_identifier)]
    with migrated(kv, target_url, chunk_size=2) as m:
        assert sql_ids_in_order(m.eng) == [(i + 1, p.info.payment_identifier) for i, p in enumerate(payments)]
        for sql_id, p in enumerate(payments, start=1):
            assert_payment_rows(m, p, sql_id)
