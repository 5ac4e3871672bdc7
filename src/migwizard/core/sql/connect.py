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
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

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


# libpq connection parameters that carry secrets when given in the URL query.
SECRET_PARAMS = frozenset({"password", "sslpassword", "passfile_password"})


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
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise TargetURLError(
                f"unsupported target scheme {scheme!r}: use sqlite:/// or postgresql://"
            )
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:  # bad port; message holds no netloc
            raise TargetURLError(f"invalid PostgreSQL URL: {exc}") from None
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
            shown = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in self.params]
            text += "?" + urlencode(shown)
        return text

    def redacted(self) -> str:
        """The URL for display: a password, if any, shows as ``***``."""
        return self._render("***" if self.password is not None else None)

    def __str__(self) -> str:
        return self.redacted()

    def scrub(self, text: str) -> str:
        """Remove this URL's password (and PGPASSWORD) from text (driver messages)."""
        secrets = [self.password, os.environ.get("PGPASSWORD")]
        secrets += [v for k, v in self.params if k.lower() in SECRET_PARAMS]
        for secret in secrets:
            if secret:
                for form in {secret, quote(secret, safe="")}:
                    text = text.replace(form, "***")
        return text

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
        db: peewee.Database = peewee.SqliteDatabase(
            str(path),
            pragmas=list(SQLITE_PRAGMAS),
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
