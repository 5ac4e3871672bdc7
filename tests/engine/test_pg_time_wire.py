"""PostgreSQL chunk times cross as ints (``sql.values.pg_time_us``) and become datetimes only in
the writer (``engine.rows.pg_times_to_datetimes``), so PG chunks marshal instead of pickling.

The second path must write exactly what the first did: the conversion pair is checked against
``pg_timestamp`` on any int (pre-1970, sub-microsecond, the zero time, outside datetime's range),
and whole migrations with the old form (datetimes built in the producer, no conversion in the
writer) are compared to the new one with one and two processes, dump for dump.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from migwizard.core.engine import migrate, migrate_kv
from migwizard.core.engine.rows import PAYMENT_TABLES, TABLE_COLUMNS, TIME_COLUMNS, pg_times_to_datetimes
from migwizard.core.fast import timefmt
from migwizard.core.sql.values import GO_ZERO_NS, PG_ZERO_TIME, pg_time_us, pg_timestamp, pg_timestamp_us

from .test_migrate_pipeline import _migrate, _observed, _produced

_MIGRATIONS = Path(migrate.__file__).resolve().parents[1] / "sql" / "migrations"


def _old_or_error(ns):
    try:
        return pg_timestamp(ns)
    except OverflowError:
        return OverflowError


def _new_or_error(ns):
    try:
        us = pg_time_us(ns)
    except OverflowError:
        return OverflowError
    assert type(us) is int
    return pg_timestamp_us(us)


@given(st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
                 st.integers(min_value=-10**12, max_value=10**12)))
@example(None)
@example(0)
@example(-1)
@example(-999)
@example(-1000)
@example(-1001)
@example(999)
@example(1_000_001)
@example(GO_ZERO_NS)
@example(GO_ZERO_NS - 1)
@example(GO_ZERO_NS + 999)
@example(253402300799999999999)  # 9999-12-31 23:59:59.999999999, the last datetime
@example(253402300800000000000)  # one ns past it
def test_the_int_then_datetime_pair_is_pg_timestamp(ns):
    assert _new_or_error(ns) == _old_or_error(ns)


def test_the_zero_time_is_year_one_not_null():
    assert pg_timestamp_us(pg_time_us(None)) == PG_ZERO_TIME == datetime(1, 1, 1)


def test_time_columns_are_the_schemas_timestamp_columns():
    """TIME_COLUMNS (positions) names every TIMESTAMP column of the payment tables, no other."""
    sql = "\n".join(p.read_text() for p in sorted(_MIGRATIONS.glob("*.up.sql")))
    stamped = set()
    for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*?)\n\);", sql, re.S):
        for col in re.findall(r"^\s*(\w+)\s+TIMESTAMP\b", body, re.M):
            stamped.add((table, col))
    mine = {(t, TABLE_COLUMNS[t][i]) for t, idx in TIME_COLUMNS.items() for i in idx}
    assert mine == {(t, c) for t, c in stamped if t in PAYMENT_TABLES}
    assert len(mine) == 5


def test_the_writer_converts_exactly_the_time_columns():
    """pg_times_to_datetimes unpacks each table by hand (speed): it must touch the TIME_COLUMNS
    positions and nothing else, NULL kept, every payment table's width respected."""
    rows = {t: [tuple(1_000_000 + 10 * i + j for j in range(len(cols)))] for i, (t, cols) in
            enumerate(TABLE_COLUMNS.items())}
    width = len(TABLE_COLUMNS["payment_duplicates"])
    rows["payment_duplicates"].append(tuple(None if j == 6 else 7 for j in range(width)))  # no settle time
    before = {t: list(r) for t, r in rows.items()}
    pg_times_to_datetimes(rows)
    for t, got in rows.items():
        for new, old in zip(got, before[t]):
            assert len(new) == len(old)
            for j, (a, b) in enumerate(zip(new, old)):
                if j in TIME_COLUMNS.get(t, ()) and b is not None:
                    assert a == pg_timestamp_us(b), (t, j)
                else:
                    assert a == b and type(a) is type(b), (t, j)


def _pg_chunks(kv, fast: bool) -> list:
    return [i for i in _produced(kv, "postgres", fast) if isinstance(i, migrate_kv.Chunk)]


@pytest.mark.parametrize("profile,count,fast", [("edge", 0, True), ("edge", 0, False), ("mixed", 120, True),
                                                ("mixed", 60, False)])
def test_a_postgres_chunk_crosses_marshalled_and_converts_as_before(generated_ro, monkeypatch, profile, count,
                                                                    fast):
    """Every PG chunk marshals and arrives equal; converted, its rows equal the rows the old
    producer built (datetimes per value), whichever decoder made them."""
    kv = generated_ro(profile, count)
    new = _pg_chunks(kv, fast)
    monkeypatch.setattr(migrate_kv, "chunk_ts_for", timefmt.ts_for)  # the old producer: datetimes
    old = _pg_chunks(kv, fast)
    assert new and len(new) == len(old)
    for chunk, before in zip(new, old):
        blob = migrate_kv.to_wire(chunk)
        assert blob is not None
        back = migrate_kv.from_wire(blob)
        assert repr(back) == repr(chunk)
        assert migrate_kv.to_wire(before) is None  # a datetime still sends a chunk the pickled way
        pg_times_to_datetimes(back.rows.rows)
        assert repr(back.rows) == repr(before.rows)
    # the store has zero times: they must have crossed as the year-1 sentinel
    flat = [r[i] for c in old for t, idx in TIME_COLUMNS.items() for r in c.rows.rows[t] for i in idx]
    assert PG_ZERO_TIME in flat or profile != "edge"


def _old_form(monkeypatch) -> None:
    """The form before this change: datetimes made in the producer, written as they came."""
    monkeypatch.setattr(migrate_kv, "chunk_ts_for", timefmt.ts_for)
    monkeypatch.setattr(migrate, "pg_times_to_datetimes", lambda rows: None)


@pytest.mark.postgres
@pytest.mark.parametrize("profile,count,fast", [("edge", 0, True), ("mixed", 300, True), ("mixed", 120, False)],
                         ids=["edge", "mixed", "mixed-full-decoder"])
def test_postgres_writes_the_same_tables_as_the_datetime_producer(generated_ro, pg_url, monkeypatch, profile,
                                                                  count, fast):
    from tests.support import pg

    kv = generated_ro(profile, count)
    monkeypatch.setenv("MIGWIZ_FASTPATH", "1" if fast else "0")
    monkeypatch.setenv("MIGWIZ_CHUNK_ROWS", "300")
    names = [pg.create_database() for _ in range(2)]
    try:
        urls = [pg.pg_url(n) for n in names]
        new_one = _observed(*_migrate(kv, pg_url, monkeypatch, 1), pg_url)
        new_two = _observed(*_migrate(kv, urls[0], monkeypatch, 2), urls[0])
        with monkeypatch.context() as m:
            _old_form(m)
            old = _observed(*_migrate(kv, urls[1], monkeypatch, 1), urls[1])
    finally:
        for n in names:
            pg.drop_database(n)
    assert old["result"][0] == "complete", old["result"]
    assert len(old["chunks_committed"]) >= 3
    assert old["tables"]["payments"]
    assert new_one == old
    assert new_two == old
