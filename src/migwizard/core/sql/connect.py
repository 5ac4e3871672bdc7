"""Target database URLs and connections.

The target is given as a URL on the command line and shown in the UI, logs and
reports, so the URL object never renders a password: ``str()``/``repr()`` are
the redacted form and every connection error is re-raised with a scrubbed
message and without the driver exception attached (its args can hold the DSN).

Connections mirror LND's own settings (spec §3.1): SQLite with
``foreign_keys=on``, WAL, ``synchronous=full`` and ``BEGIN IMMEDIATE`` write
transactions (see :mod:`.transactions`), PostgreSQL through peewee's native
psycopg 3 adapter, which runs the connection in autocommit mode and issues
BEGIN/COMMIT itself (peewee 4 dropped ``autorollback``: there is nothing to
roll back outside an explicit transaction).
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit

import peewee

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 10
PG_DEFAULT_PORT = 5432

#: Same pragmas, same order, as lnd's sqldb/sqlite.go. auto_vacuum only takes
#: effect on a new file, which is exactly when it matters.
SQLITE_PRAGMAS: tuple[tuple[str, object], ...] = (
    ("auto_vacuum", "incremental"),
    ("foreign_keys", 1),
    ("journal_mode", "wal"),
    ("synchronous", "full"),
    ("fullfsync", 1),
    ("busy_timeout", SQLITE_BUSY_TIMEOUT_MS),
)

#: Ours, on our connection only (nothing persists in the file): a 64 MB page cache
#: (the chunks' load runs with SQLITE_LOAD_CACHE_KIB, the index builds with
#: SQLITE_BUILD_CACHE_KIB). Not ``temp_store=MEMORY``: the
#: sorter of a post-load CREATE INDEX spills to temp files, which that pragma keeps
#: in RAM, so the heap grew with the store (124 MiB at 100k, 266 MiB at 1M payments;
#: docs/PERFORMANCE.md); on disk it stays within the cache.
SQLITE_SPEED_PRAGMAS: tuple[tuple[str, object], ...] = (
    ("cache_size", -65536),
)

#: The page cache (KiB) while LND's deferred indexes are built after the load. SQLite
#: gives a CREATE INDEX sorter as much memory as the page cache before it spills a
#: sorted run to a temp file, on top of the cache itself: with 64 MB, the sort of a
#: 1M-payment index added 64 MB of heap (183 MiB at 1M against 135 at 100k). An 8 MB
#: cache for the build hands the cached pages to the sorter and caps it at 8 MB, so the
#: heap stays at the load's level whatever the store's size (make bench: 131 MiB at
#: 100k and at 1M; 16 MB left +10 MiB of allocator fragments; the build's CPU time
#: did not change on a 1.57M-row table).
SQLITE_BUILD_CACHE_KIB = 8192


#: The page cache (KiB) while the chunks load, on SQLite. 32 MiB (branch mig1m, measured on a
#: replay of the SQL half alone) was a regression in the whole migrate phase: 1M mixed,
#: bench/migtimeline.py, interleaved A/B (branch migpar, docs/PERFORMANCE.md): parent CPU 77.0 / 85.0 s
#: with 32 MiB against 71.1 / 75.1 s with 64 MiB (several chunks per transaction), 92.0 / 88.3 against
#: 78.1 / 81.2 s (a commit per chunk); wall 123 / 218 s against 95 / 165 s.
SQLITE_LOAD_CACHE_KIB = 65536
#: ``MIGWIZ_LOAD_CACHE_KIB`` overrides SQLITE_LOAD_CACHE_KIB (read per load: a bench's A/B knob).
LOAD_CACHE_ENV = "MIGWIZ_LOAD_CACHE_KIB"


@contextmanager
def sqlite_pragma(db: peewee.Database, name: str, value: int) -> Iterator[None]:
    """An integer pragma of our SQLite connection at ``value`` for the block, then back to
    what it was (also on failure). Other databases: nothing."""
    if not isinstance(db, peewee.SqliteDatabase):
        yield
        return
    (before,) = db.execute_sql(f"PRAGMA {name}").fetchone()
    db.execute_sql(f"PRAGMA {name} = {int(value)}")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA {name} = {int(before)}")


def load_cache(db: peewee.Database):
    """SQLite: the page cache at SQLITE_LOAD_CACHE_KIB (or ``MIGWIZ_LOAD_CACHE_KIB``) while the
    chunks load."""
    return sqlite_pragma(db, "cache_size", -load_cache_kib())


def load_cache_kib() -> int:
    """The load's page cache in KiB: ``MIGWIZ_LOAD_CACHE_KIB`` when it is a positive integer."""
    raw = os.environ.get(LOAD_CACHE_ENV, "").strip()
    try:
        kib = int(raw) if raw else SQLITE_LOAD_CACHE_KIB
    except ValueError:
        kib = SQLITE_LOAD_CACHE_KIB
    return kib if kib > 0 else SQLITE_LOAD_CACHE_KIB


def small_sort_memory(db: peewee.Database):
    """SQLite: the page cache (and so the sorter's budget) at SQLITE_BUILD_CACHE_KIB
    for the block, then back to what it was."""
    return sqlite_pragma(db, "cache_size", -SQLITE_BUILD_CACHE_KIB)


#: WAL pages between checkpoints while the chunks load (SQLite's default is 1000). With
#: 4 KiB pages the WAL file grows to 128 MiB plus one chunk (preflight's space check adds
#: :func:`load_wal_bytes`). 100k mixed, load ~4, interleaved: the chunks' COMMITs 2.0-3.0 s
#: wall with 1000, 1.4-1.6 s with this (docs/PERFORMANCE.md).
LOAD_WAL_AUTOCHECKPOINT = 32768
SQLITE_PAGE_SIZE = 4096  # SQLite's default, which LND does not change


def load_wal_bytes() -> int:
    """The most the WAL holds beyond one chunk while the chunks load (SQLite targets)."""
    return LOAD_WAL_AUTOCHECKPOINT * SQLITE_PAGE_SIZE


#: ``MIGWIZ_LOAD_SYNC=full`` keeps LND's ``synchronous=full`` (and SQLite's checkpoint interval) through the load too.
LOAD_SYNC_ENV = "MIGWIZ_LOAD_SYNC"


@contextmanager
def load_synchronous(db: peewee.Database) -> Iterator[None]:
    """SQLite: ``synchronous=normal`` while the chunks are loaded, LND's ``full`` again after.

    Why it keeps every guarantee: in WAL mode ``normal`` still never corrupts the file
    (SQLite syncs the WAL before each checkpoint and the database after it); a power cut
    can only forget the last committed chunks, together with their checkpoint records, so
    a resume re-does exactly those. A process crash (SIGKILL) loses nothing: the WAL is in
    the OS's page cache. On leaving the block ``full`` is restored and a passive
    checkpoint syncs the WAL, so every chunk the run reports committed is on disk before
    the phase records its end (that commit is ``full`` as well). It spares the load one
    WAL fsync per chunk. Other databases, or ``MIGWIZ_LOAD_SYNC=full``: nothing changes.

    Within the block the WAL is also checkpointed every LOAD_WAL_AUTOCHECKPOINT pages
    instead of SQLite's 1000 (4 MB, so after every chunk): a checkpoint copies each page
    once however many chunks dirtied it, and the leaves of LND's random-keyed UNIQUE
    indexes are dirtied by nearly every chunk. The WAL file then peaks at that size plus
    one chunk (preflight counts it); durability is the WAL's either way."""
    if not isinstance(db, peewee.SqliteDatabase) or os.environ.get(LOAD_SYNC_ENV, "").strip().lower() == "full":
        yield
        return
    (before,) = db.execute_sql("PRAGMA synchronous").fetchone()
    (autockpt,) = db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()
    db.execute_sql("PRAGMA synchronous = normal")
    db.execute_sql(f"PRAGMA wal_autocheckpoint = {LOAD_WAL_AUTOCHECKPOINT}")
    try:
        yield
    finally:
        try:
            db.execute_sql(f"PRAGMA synchronous = {int(before)}")
            db.execute_sql(f"PRAGMA wal_autocheckpoint = {int(autockpt)}")
            if not db.in_transaction():
                db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except peewee.DatabaseError:
            pass  # a broken connection: the error that broke it is the one to report, and nothing commits on it


# libpq connection parameters that carry secrets when given in the URL query.
SECRET_PARAMS = frozenset({"password", "sslpassword", "passfile_password"})
MASK = "***"
_ENCODE_HINT = "percent-encode / ? # @ : in the password as %2F %3F %23 %40 %3A"

# Structural patterns for text that may carry a connection string: a URL's
# userinfo password, a conninfo / query / options ``...password...=value``.
_URL_IN_TEXT = re.compile(r"postgres(?:ql)?://[^\s'\"<>]+", re.IGNORECASE)
_USERINFO_PW = re.compile(r"(://[^/?#@:\s]*:)[^@\s]*@")
_KEYWORD_PW = re.compile(
    r"""(?ix)
    (\b[\w.\-]*pass(?:word|wd)?[\w.\-]*\s*(?:=|%3D)\s*)   # password=, sslpassword=, -c password%3D
    ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|(?:\\.|[^\s&'"\\])+)  # quoted or bare, with conninfo's backslash escapes
    """
)


def _is_secret_key(key: str) -> bool:
    k = key.lower()
    return k in SECRET_PARAMS or "password" in k


def _mask_keywords(text: str) -> str:
    """Mask the value of every ``*password*=value`` (conninfo, query, options)."""
    return _KEYWORD_PW.sub(lambda m: m.group(1) + MASK, text)


def redact_url(url: "str | None") -> str:
    """The one display form of a target URL (screens, logs, reports, errors).

    Parsed when possible, so exactly the password component is masked — the
    user or database name still shows even when it is the same string. Text
    that does not parse (a typo, a libpq conninfo string) is masked by
    structure too: userinfo password and every ``password``-like keyword.
    """
    if not url:
        return ""
    try:
        return TargetURL.parse(url).redacted()
    except Exception:  # noqa: BLE001 - any unparsable text still gets masked
        return _mask_keywords(_USERINFO_PW.sub(lambda m: m.group(1) + MASK + "@", url))


def scrub_text(text: str, url: "TargetURL | str | None" = None) -> str:
    """Driver or exception text with every password removed.

    First by structure: the target URL itself is replaced by its redacted
    form, the password component of any other PostgreSQL URL in the text is
    masked in place, and any ``password=...`` keyword (conninfo, options) too.
    Then, as a last resort for servers that echo values in free text, the
    known secret values (URL password, secret parameters, PGPASSWORD) in their
    raw and encoded forms.
    """
    if not text:
        return text
    target = None
    if url is not None:
        try:
            target = _as_url(url)
        except TargetURLError:
            target = None
        if isinstance(url, str) and url:
            text = text.replace(url, redact_url(url))
    # URLs in free text: mask their password components in place (re-rendering
    # would re-quote the rest and garble an already redacted URL).
    text = _URL_IN_TEXT.sub(lambda m: _USERINFO_PW.sub(lambda u: u.group(1) + MASK + "@", m.group(0)), text)
    text = _mask_keywords(text)
    secrets = [os.environ.get("PGPASSWORD")]
    if target is not None:
        secrets += [target.password]
        secrets += [v for k, v in target.params if _is_secret_key(k)]
        secrets += _option_secrets(target)
    for secret in secrets:
        if secret:
            for form in sorted({secret, quote(secret, safe=""), quote_plus(secret, safe=""),
                                secret.replace("\\", "\\\\").replace("'", "\\'")}, key=len, reverse=True):
                text = text.replace(form, MASK)
    return text


def _option_secrets(target: "TargetURL") -> list[str]:
    """Password values hidden inside ``options=`` (``-c password=x`` and the like)."""
    out = []
    for k, v in target.params:
        if k.lower() == "options":
            out += [m.group(2).strip("'\"") for m in _KEYWORD_PW.finditer(v)]
    return out


class TargetURLError(ValueError):
    """The target URL cannot be understood."""


class TargetConnectError(RuntimeError):
    """Connecting to the target failed. The message never contains a password."""


@dataclass(frozen=True)
class TargetURL:
    """A parsed target: ``sqlite:///rel.db``, ``sqlite:////abs.db`` or ``postgresql://...``."""

    dialect: str  # "sqlite" | "postgres"
    path: str | None = None  # sqlite only
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str) -> "TargetURL":
        if not isinstance(url, str) or not url:
            raise TargetURLError("empty target URL")
        if url.startswith("sqlite:"):
            rest = url[len("sqlite:"):]
            if not rest.startswith("///") or len(rest) == 3:
                raise TargetURLError(
                    "SQLite target must look like sqlite:///relative.db or sqlite:////absolute/path.db"
                )
            return cls(dialect="sqlite", path=unquote(rest[3:]))
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ("postgresql", "postgres"):
            # Echo the scheme only when it is one: the text before ':' of a
            # libpq conninfo string ("host=... password=...") is not.
            shown = repr(scheme) if re.fullmatch(r"[a-z][a-z0-9+.\-]{0,30}", scheme) else "(not a URL)"
            raise TargetURLError(
                f"unsupported target scheme {shown}: use sqlite:/// or postgresql://"
            )
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # urllib's message quotes the "port", which may be half a password
            raise TargetURLError(
                "invalid PostgreSQL URL: the port is not a number"
                f" ({_ENCODE_HINT})"
            ) from None
        if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
            # A '/', '?' or '#' inside an unencoded password ends the host part
            # early: the password would be read as host, port or database name
            # and shown as such. Refuse without echoing any of it.
            raise TargetURLError(f"invalid PostgreSQL URL: '@' after the host part ({_ENCODE_HINT})")
        database = unquote(parts.path.lstrip("/")) or None
        return cls(
            dialect="postgres",
            host=unquote(parts.hostname) if parts.hostname else None,
            port=port,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            database=database,
            params=tuple(parse_qsl(parts.query, keep_blank_values=True)),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgres"

    def _render(self, password: str | None) -> str:
        if self.is_sqlite:
            return f"sqlite:///{self.path}"
        auth = ""
        if self.user:
            auth = quote(self.user, safe="")
            if password is not None:
                auth += ":" + password
            auth += "@"
        elif password is not None:
            auth = ":" + password + "@"
        host = self.host or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        netloc = auth + host + (f":{self.port}" if self.port else "")
        text = f"postgresql://{netloc}/{quote(self.database or '', safe='')}"
        if self.params:
            shown = [
                (k, MASK if _is_secret_key(k) else _mask_keywords(v) if k.lower() == "options" else v)
                for k, v in self.params
            ]
            text += "?" + urlencode(shown, safe="*")
        return text

    def redacted(self) -> str:
        """The URL for display: a password, if any, shows as ``***``."""
        return self._render("***" if self.password is not None else None)

    def __str__(self) -> str:
        return self.redacted()

    def scrub(self, text: str) -> str:
        """Remove this URL's password (and PGPASSWORD) from text (driver messages); see :func:`scrub_text`."""
        return scrub_text(text, self)

    def connect_kwargs(self) -> dict:
        """Keyword arguments for psycopg/peewee. Without a password libpq falls
        back to PGPASSWORD and ~/.pgpass by itself."""
        if not self.is_postgres:
            raise TargetURLError("connect_kwargs() is for PostgreSQL targets")
        kw: dict = {"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "migwizard"}
        if self.host:
            kw["host"] = self.host
        kw["port"] = self.port or PG_DEFAULT_PORT
        if self.user:
            kw["user"] = self.user
        if self.password is not None:
            kw["password"] = self.password
        for key, value in self.params:
            kw[key] = value
        return kw

    @property
    def sqlite_path(self) -> Path:
        if not self.is_sqlite:
            raise TargetURLError("not a SQLite target")
        return Path(self.path).expanduser()


def _as_url(url: "TargetURL | str") -> TargetURL:
    return url if isinstance(url, TargetURL) else TargetURL.parse(url)


def open_database(url: "TargetURL | str", *, connect: bool = True) -> peewee.Database:
    """An open peewee database for the target.

    Connecting eagerly (the default) surfaces bad credentials here, with a
    redacted message, rather than at the first query.
    """
    target = _as_url(url)
    if target.is_sqlite:
        path = target.sqlite_path
        if str(path) != ":memory:" and not path.parent.exists():
            raise TargetConnectError(f"directory of {target.redacted()} does not exist")
        if str(path) != ":memory:":
            from .sqlitefile import create_private, refuse_symlinks

            create_private(path) if connect else refuse_symlinks(path)
        db: peewee.Database = peewee.SqliteDatabase(
            str(path),
            pragmas=list(SQLITE_PRAGMAS + SQLITE_SPEED_PRAGMAS),
            timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        )
    else:
        if not target.database:
            raise TargetConnectError(f"no database name in {target.redacted()}")
        db = peewee.PostgresqlDatabase(
            target.database, prefer_psycopg3=True, **target.connect_kwargs()
        )
    db.migwizard_target = target  # for messages that want the redacted URL
    if connect:
        try:
            db.connect(reuse_if_open=True)
        except Exception as exc:  # noqa: BLE001 - driver errors vary
            # Scrub the whole text: a password can also hide in a database
            # name the server echoes back.
            message = target.scrub(f"cannot open {target.redacted()}: {str(exc).strip()}")
            raise TargetConnectError(message) from None
    return db


def server_version(db: peewee.Database) -> str:
    """Human-readable target server version (for the run record and reports)."""
    if isinstance(db, peewee.PostgresqlDatabase):
        (version,) = db.execute_sql("SHOW server_version").fetchone()
        return f"PostgreSQL {version}"
    (version,) = db.execute_sql("SELECT sqlite_version()").fetchone()
    return f"SQLite {version}"


def sqlite_library_version() -> str:
    """Version of the SQLite library Python links (what writes the target file)."""
    return sqlite3.sqlite_version
