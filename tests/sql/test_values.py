"""LND's on-disk value forms (spec §3.3)."""

from datetime import datetime

import pytest
from hypothesis import given, strategies as st

from migwizard.core.sql import values as v

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@pytest.mark.parametrize(
    "ns, text",
    [
        (1722824281891209181, "2024-08-05 02:18:01.891209181 +0000 UTC"),
        (1722824281907038272, "2024-08-05 02:18:01.907038272 +0000 UTC"),
        (1704110400 * 10**9, "2024-01-01 12:00:00 +0000 UTC"),
        (1704110400 * 10**9 + 500_000_000, "2024-01-01 12:00:00.5 +0000 UTC"),
        (1704110400 * 10**9 + 1_000, "2024-01-01 12:00:00.000001 +0000 UTC"),
        (0, "1970-01-01 00:00:00 +0000 UTC"),
        (-1, "1969-12-31 23:59:59.999999999 +0000 UTC"),
        (-(10**9), "1969-12-31 23:59:59 +0000 UTC"),
        (None, "0001-01-01 00:00:00 +0000 UTC"),
    ],
)
def test_go_time_string_golden(ns, text):
    assert v.go_time_string(ns) == text
    assert v.parse_go_time_string(text) == ns


@pytest.mark.parametrize(
    "text, ns",
    [
        ("2024-01-01 13:00:00 +0100 CET", 1704110400 * 10**9),
        ("2024-01-01 13:00:00.25 +0100 CET m=+0.000123456", 1704110400 * 10**9 + 250_000_000),
        ("2024-01-01 12:00:00 +0000 UTC m=-1.5", 1704110400 * 10**9),
        ("2024-01-01 12:00:00", 1704110400 * 10**9),  # CURRENT_TIMESTAMP default
        ("2024-01-01T12:00:00Z", 1704110400 * 10**9),
        ("2024-01-01 05:00:00.5-07:00", 1704110400 * 10**9 + 500_000_000),
        ("2024-01-01T05:00:00-07:00", 1704110400 * 10**9),
        ("2024-01-01 12:00", 1704110400 * 10**9),
        ("2024-01-01", 1704067200 * 10**9),
        ("0001-01-01 00:00:00", None),
    ],
)
def test_parse_modernc_forms(text, ns):
    assert v.parse_go_time_string(text) == ns


def test_parse_rejects_garbage():
    with pytest.raises(ValueError):
        v.parse_go_time_string("yesterday")


def test_pg_timestamp_truncates_not_rounds():
    assert v.pg_timestamp(1722824281891209181) == datetime(2024, 8, 5, 2, 18, 1, 891209)
    assert str(v.pg_timestamp(1722824281891209181)) == "2024-08-05 02:18:01.891209"
    assert v.pg_timestamp(1722824281999999999).microsecond == 999999
    # pgx: Unix()*1e6 + Nanosecond()/1000 with Nanosecond() >= 0: a floor.
    assert v.pg_timestamp(-1) == datetime(1969, 12, 31, 23, 59, 59, 999999)
    assert v.pg_timestamp(None) == datetime(1, 1, 1)
    assert v.pg_timestamp_to_ns(datetime(1, 1, 1)) is None


@given(INT64)
def test_sqlite_round_trip(ns):
    assert v.parse_go_time_string(v.go_time_string(ns)) == ns


@given(INT64)
def test_pg_round_trip(ns):
    assert v.pg_timestamp_to_ns(v.pg_timestamp(ns)) == (ns // 1000) * 1000 == v.truncate_to_us(ns)


def test_int32_casts():
    assert v.int32(0x80000001) == -2147483647
    assert v.int32(0xFFFFFFFF) == -1
    assert v.int32(0x7FFFFFFF) == 2147483647
    assert v.uint32(-2147483647) == 0x80000001
    assert v.uint32(-1) == 0xFFFFFFFF
    for bad in (-1, 2**32):
        with pytest.raises(ValueError):
            v.int32(bad)
    with pytest.raises(ValueError):
        v.uint32(2**31)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_int32_round_trip(u):
    assert v.uint32(v.int32(u)) == u


def test_int64_casts():
    assert v.int64(2**63 - 1) == 2**63 - 1
    assert v.int64(2**63) == -(2**63)
    assert v.int64(2**64 - 1) == -1
    assert v.uint64(-1) == 2**64 - 1
    with pytest.raises(ValueError):
        v.int64(2**64)
    with pytest.raises(ValueError):
        v.int64(-1)


def test_scid_text():
    assert v.scid_text(234195976781824) == "234195976781824"
    assert v.scid_text(2**64 - 1) == "18446744073709551615"
    assert v.parse_scid_text("234195976781824") == 234195976781824
    assert v.parse_scid_text("") == 0
    with pytest.raises(ValueError):
        v.scid_text(-1)


def test_dialect_bundle():
    ns = 1722824281891209181
    assert v.SQLITE.ts(ns) == "2024-08-05 02:18:01.891209181 +0000 UTC"
    assert v.POSTGRES.ts(ns) == datetime(2024, 8, 5, 2, 18, 1, 891209)
    assert v.SQLITE.ts_to_ns(v.SQLITE.ts(ns)) == ns
    assert v.POSTGRES.ts_to_ns(v.POSTGRES.ts(ns)) == v.POSTGRES.ts_precision_ns(ns)
    assert v.SQLITE.ts(None) == "0001-01-01 00:00:00 +0000 UTC"
    assert v.POSTGRES.ts_to_ns(v.POSTGRES.ts(None)) is None
    assert v.SQLITE.blob(None) is None and v.SQLITE.blob(b"") == b""
    assert v.POSTGRES.int32(0x80000001) == -2147483647
