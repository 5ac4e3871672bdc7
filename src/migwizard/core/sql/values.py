"""LND's on-disk value forms (spec lnd-payments.md §3.3).

LND never writes SQL values itself: its drivers do. modernc.org/sqlite binds a
Go ``time.Time`` as the TEXT of ``time.Time.String()``, pgx sends a
``TIMESTAMP WITHOUT TIME ZONE`` truncated to microseconds, and every unsigned
Go integer is cast to a signed one first. A migrated row is only
indistinguishable from one lnd wrote if we reproduce those forms exactly, so
this module is the single place that knows them.

Times are carried as int nanoseconds since the Unix epoch (UTC) because Python
``datetime`` cannot hold nanoseconds; ``None`` is Go's zero ``time.Time``
(year 1), which LND writes as a value, never as NULL. Note that a KV time of
0 already means the zero time: the KV decoder must map it to ``None`` before
it gets here (``0`` itself is 1970-01-01).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

NS_PER_SEC = 1_000_000_000

GO_ZERO_TIME_STRING = "0001-01-01 00:00:00 +0000 UTC"
PG_ZERO_TIME = datetime(1, 1, 1)

_EPOCH = datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# --------------------------------------------------------------------------
# Timestamps, SQLite (modernc: Go time.Time.String())
# --------------------------------------------------------------------------


def _split_ns(ns: int) -> tuple[datetime, int]:
    # Floor division keeps the fraction non-negative for pre-1970 times, the
    # way Go's time.Unix(0, ns) normalises them (-1 ns = 23:59:59.999999999).
    secs, frac = divmod(ns, NS_PER_SEC)
    return _EPOCH + timedelta(seconds=secs), frac


def go_time_string(ns: int | None) -> str:
    """Go ``time.Unix(0, ns).UTC().String()``, or the zero time for ``None``.

    Format ``2006-01-02 15:04:05.999999999 -0700 MST``: the fraction keeps
    up to 9 digits with trailing zeros trimmed and disappears when zero.
    """
    if ns is None:
        return GO_ZERO_TIME_STRING
    dt, frac = _split_ns(int(ns))
    text = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d} "
        f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    )
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + " +0000 UTC"


# Go String() output, any zone: "2006-01-02 15:04:05.999999999 -0700 MST".
_GO_STRING_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r" ([+-])(\d{2})(\d{2})(?: [A-Za-z0-9+-]+)?$"
)
# modernc's other accepted layouts: "2006-01-02 15:04:05.999999999-07:00"
# with or without the zone, with " " or "T", plus the shorter ones
# ("2006-01-02 15:04", "2006-01-02").
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(?:(Z)|([+-])(\d{2}):?(\d{2}))?$"
)
_MONOTONIC_RE = re.compile(r"\s+m=[+-]\d+(?:\.\d+)?$")


def _to_ns(y, mo, d, h, mi, s, frac, sign, oh, om) -> int:
    days = datetime(int(y), int(mo), int(d)).toordinal() - _EPOCH_ORDINAL
    secs = days * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + int(s or 0)
    if sign:
        offset = int(oh) * 3600 + int(om) * 60
        secs -= offset if sign == "+" else -offset
    return secs * NS_PER_SEC + (int(frac.ljust(9, "0")) if frac else 0)


def parse_go_time_string(text: str) -> int | None:
    """Inverse of :func:`go_time_string`, as lenient as modernc's reader.

    Returns ns since the epoch, or ``None`` for Go's zero time. Accepts any
    zone offset (``time.Now()`` writes local time plus an ``m=+...``
    monotonic suffix, which is stripped).
    """
    raw = text
    text = _MONOTONIC_RE.sub("", text.strip())
    m = _GO_STRING_RE.match(text)
    if m:
        ns = _to_ns(*m.groups())
    else:
        m = _ISO_RE.match(text)
        if not m:
            raise ValueError(f"not a Go/SQLite time string: {raw!r}")
        y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
        ns = _to_ns(y, mo, d, h, mi, s, frac, sign, oh, om)
    return None if ns == GO_ZERO_NS else ns


# --------------------------------------------------------------------------
# Timestamps, PostgreSQL (pgx: wall clock, truncated to µs)
# --------------------------------------------------------------------------


def pg_timestamp(ns: int | None) -> datetime:
    """Naive UTC ``datetime`` for ``TIMESTAMP WITHOUT TIME ZONE``.

    pgx computes ``Unix()*1e6 + Nanosecond()/1000`` and ``Nanosecond()`` is
    never negative, so this is a floor to microseconds (truncation of the
    fraction), never rounding. The zero time is year 1, not NULL.
    """
    if ns is None:
        return PG_ZERO_TIME
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)


def pg_timestamp_to_ns(value: datetime | None) -> int | None:
    """ns since the epoch for a value read from PostgreSQL (``None`` = zero time)."""
    if value is None:
        raise ValueError("NULL is not a time value")
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    if value == PG_ZERO_TIME:
        return None
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * NS_PER_SEC + delta.microseconds * 1000


def truncate_to_us(ns: int | None) -> int | None:
    """What survives a PostgreSQL round trip (LND's validation does the same)."""
    return None if ns is None else (int(ns) // 1000) * 1000


# ns value of Go's zero time, for comparisons in parsed text.
GO_ZERO_NS = (datetime(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86400 * NS_PER_SEC

# --------------------------------------------------------------------------
# Timestamps, PostgreSQL, in two halves: the KV child cannot send datetimes
# through marshal (and building them costs it ~25 ms per 50k-row chunk), so it
# puts ``pg_time_us`` ints into the rows and the writing side turns them into
# ``pg_timestamp_us`` datetimes: pg_timestamp_us(pg_time_us(ns)) == pg_timestamp(ns).
# --------------------------------------------------------------------------

PG_ZERO_US = GO_ZERO_NS // 1000
"""The floor-µs int of Go's zero time: ``pg_timestamp_us`` gives ``PG_ZERO_TIME`` for it."""

_PG_US_MAX = (datetime.max - _EPOCH) // timedelta(microseconds=1)


def pg_time_us(ns: int | None) -> int:
    """Microseconds since the epoch, floored as :func:`pg_timestamp` floors (``None``, the zero
    time, is ``PG_ZERO_US``). A value no ``datetime`` can hold raises here, in the producer, as
    :func:`pg_timestamp` would, so a bad time still fails while its payment is being decoded."""
    if ns is None:
        return PG_ZERO_US
    us = int(ns) // 1000
    if PG_ZERO_US <= us <= _PG_US_MAX:
        return us
    pg_timestamp(ns)  # raises OverflowError, the error the datetime form always gave
    raise OverflowError(f"time {ns} ns is outside the datetime range")


_ONE_US = timedelta(microseconds=1)


def pg_timestamp_us(us: int) -> datetime:
    """The naive UTC ``datetime`` for a :func:`pg_time_us` value (what psycopg binds). ``timedelta``
    times an int is exact, and a third faster than ``timedelta(microseconds=us)``, which
    normalises its keyword argument: this runs once per time value in the writing process."""
    return _EPOCH + _ONE_US * us


# --------------------------------------------------------------------------
# Integer casts (Go conversions between unsigned and signed)
# --------------------------------------------------------------------------


def int32(u32: int) -> int:
    """Go ``int32(uint32)``: 0x80000001 -> -2147483647."""
    u32 = int(u32)
    if not 0 <= u32 <= 0xFFFFFFFF:
        raise ValueError(f"not a uint32: {u32}")
    return u32 - 2**32 if u32 > _INT32_MAX else u32


def uint32(i32: int) -> int:
    """Go ``uint32(int32)``, the read-back of :func:`int32`."""
    i32 = int(i32)
    if not _INT32_MIN <= i32 <= _INT32_MAX:
        raise ValueError(f"not an int32: {i32}")
    return i32 & 0xFFFFFFFF


def int64(u64: int) -> int:
    """Go ``int64(uint64)``: values >= 2^63 wrap negative."""
    u64 = int(u64)
    if not 0 <= u64 <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"not a uint64: {u64}")
    return u64 - 2**64 if u64 > _INT64_MAX else u64


def uint64(i64: int) -> int:
    """Go ``uint64(int64)``, the read-back of :func:`int64`."""
    i64 = int(i64)
    if not _INT64_MIN <= i64 <= _INT64_MAX:
        raise ValueError(f"not an int64: {i64}")
    return i64 & 0xFFFFFFFFFFFFFFFF


def scid_text(u64: int) -> str:
    """``strconv.FormatUint(chanID, 10)``: payment_route_hops.scid is TEXT."""
    u64 = int(u64)
    if not 0 <= u64 <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"not a uint64 channel id: {u64}")
    return str(u64)


def parse_scid_text(text: str) -> int:
    """LND's reader: base-10 uint64, empty string = 0."""
    if text == "":
        return 0
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"scid is not a base-10 uint64: {text!r}")
    value = int(text)
    if value > 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"scid out of uint64 range: {text!r}")
    return value


# --------------------------------------------------------------------------
# Dialect bundle
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """The value conversions of one target, so the engine can stay dialect-blind.

    ``dialect.ts(ns)`` gives exactly what LND's driver would have bound for a
    normalised ``time.Time``; ``dialect.ts_to_ns(v)`` reads it back.
    """

    name: str  # "sqlite" or "postgres"

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    def ts(self, ns: int | None):
        return pg_timestamp(ns) if self.is_postgres else go_time_string(ns)

    def ts_to_ns(self, value) -> int | None:
        if isinstance(value, datetime):
            return pg_timestamp_to_ns(value)
        if isinstance(value, str):
            return parse_go_time_string(value)
        raise TypeError(f"unexpected stored time value {value!r}")

    def ts_precision_ns(self, ns: int | None) -> int | None:
        """``ns`` as it will read back from this target (µs on PostgreSQL)."""
        return truncate_to_us(ns) if self.is_postgres else ns

    # Casts are dialect independent but live here too so callers need one object.
    int32 = staticmethod(int32)
    uint32 = staticmethod(uint32)
    int64 = staticmethod(int64)
    uint64 = staticmethod(uint64)
    scid = staticmethod(scid_text)

    @staticmethod
    def blob(value: bytes | bytearray | memoryview | None) -> bytes | None:
        """None stays NULL, b"" stays a zero-length blob (Go nil vs empty)."""
        return None if value is None else bytes(value)


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")


def dialect_for(db) -> Dialect:
    """The :class:`Dialect` of an open peewee database."""
    import peewee

    if isinstance(db, peewee.PostgresqlDatabase):
        return POSTGRES
    if isinstance(db, peewee.SqliteDatabase):
        return SQLITE
    raise TypeError(f"unsupported database type {type(db).__name__}")
