from hypothesis import given
from hypothesis import strategies as st

from migwizard.core.fast.timefmt import sqlite_time, ts_for
from migwizard.core.sql.values import POSTGRES, SQLITE, go_time_string

EDGES = [None, 0, 1, -1, 999, 10**9, -(10**9), 1_704_110_400_123_456_789, -(2**63), 2**63 - 1,
         86_400 * 10**9 - 1, -86_400 * 10**9, 1_704_110_400_000_000_000, 1_704_110_400_100_000_000]


def test_edges_equal_go_time_string():
    for ns in EDGES:
        assert sqlite_time(ns) == go_time_string(ns), ns


@given(st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(1_500_000_000 * 10**9, 1_900_000_000 * 10**9)))
def test_any_int64_equal_go_time_string(ns):
    assert sqlite_time(ns) == go_time_string(ns)


def test_ts_for_dialects():
    assert ts_for(SQLITE) is sqlite_time
    assert ts_for(POSTGRES)(5_000) == POSTGRES.ts(5_000)
