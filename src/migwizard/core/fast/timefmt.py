"""A faster equal of the SQLite time form (``sql.values.go_time_string``).

Go's ``time.Time.String()`` text is built per value with datetime arithmetic,
about a fifth of the fast row path. Payments cluster in time, so the date part is
cached per day; the clock part is two table lookups (1,440 "HH:MM:" and 60 "SS"
texts: no per-value formatting of hour, minute and second, ~0.4 s of CPU per 100k
payments). Identical output is checked against ``go_time_string`` in tests (epoch,
pre-1970, extremes, zero time).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable

from ..sql.values import GO_ZERO_TIME_STRING, go_time_string, pg_time_us, pg_timestamp

_NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH = date(1970, 1, 1)
_DAYS: dict[int, str] = {}
_DAYS_MAX = 100_000  # bounded: a store spanning more days than this just recomputes
_HM = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SS = tuple(f"{s:02d}" for s in range(60))


def _day(days: int) -> str:
    text = _DAYS.get(days)
    if text is None:
        d = _EPOCH + timedelta(days=days)
        text = f"{d.year:04d}-{d.month:02d}-{d.day:02d} "
        if len(_DAYS) < _DAYS_MAX:
            _DAYS[days] = text
    return text


def sqlite_time(ns: int | None) -> str:
    if ns is None:
        return GO_ZERO_TIME_STRING
    try:
        days, rem = divmod(ns, _NS_PER_DAY)
        day = _day(days)
    except OverflowError:  # outside datetime's years: the reference says what Go prints
        return go_time_string(ns)
    secs, frac = divmod(rem, 1_000_000_000)
    m, s = divmod(secs, 60)
    if frac:
        return day + _HM[m] + _SS[s] + "." + ("%09d" % frac).rstrip("0") + " +0000 UTC"
    return day + _HM[m] + _SS[s] + " +0000 UTC"


def ts_for(dialect) -> Callable[[int | None], Any]:
    """The time-form function to hand to ``append_rows``/``canon_fast`` for ``dialect``
    (PostgreSQL's directly: ``Dialect.ts`` asks for the dialect at every value, and the
    flat check converts every time of a batch)."""
    return sqlite_time if dialect.is_sqlite else pg_timestamp


def chunk_ts_for(dialect) -> Callable[[int | None], Any]:
    """The time form the migration's KV producer puts into chunk rows: SQLite's final text, or on
    PostgreSQL a ``pg_time_us`` int (not a datetime: marshal carries ints, and the parent's
    ``engine.rows.pg_times_to_datetimes`` makes the datetimes just before writing)."""
    return sqlite_time if dialect.is_sqlite else pg_time_us
