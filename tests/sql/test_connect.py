"""Target URLs, redaction, connections; a password never reaches error text."""

import traceback

import pytest

from migwizard.core.sql.connect import (
    TargetConnectError,
    TargetURL,
    TargetURLError,
    open_database,
    server_version,
    sqlite_library_version,
)

SECRET = "s3cr3t-Pa55w0rd"


def test_parse_sqlite_relative_and_absolute():
    rel = TargetURL.parse("sqlite:///data/lnd.sqlite")
    assert rel.is_sqlite and rel.path == "data/lnd.sqlite"
    ab = TargetURL.parse("sqlite:////var/lib/lnd/lnd.sqlite")
    assert ab.path == "/var/lib/lnd/lnd.sqlite"
    assert str(ab) == "sqlite:////var/lib/lnd/lnd.sqlite"
    for bad in ("sqlite://", "sqlite:///", "sqlite:relative.db", "mysql://x/y", ""):
        with pytest.raises(TargetURLError):
            TargetURL.parse(bad)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_parse_postgres(scheme):
    u = TargetURL.parse(f"{scheme}://lnd:{SECRET}@db.example:6543/lnd_payments?sslmode=require")
    assert u.is_postgres
    assert (u.host, u.port, u.user, u.password, u.database) == ("db.example", 6543, "lnd", SECRET, "lnd_payments")
    assert u.params == (("sslmode", "require"),)
    kw = u.connect_kwargs()
    assert kw["password"] == SECRET and kw["sslmode"] == "require" and kw["port"] == 6543


def test_parse_postgres_defaults_and_encoding():
    u = TargetURL.parse("postgresql://us%40er:p%40ss%2Fw@127.0.0.1/db")
    assert (u.user, u.password, u.port) == ("us@er", "p@ss/w", None)
    assert u.connect_kwargs()["port"] == 5432
    nopw = TargetURL.parse("postgresql://root@127.0.0.1:5432/test")
    assert nopw.password is None
    assert "password" not in nopw.connect_kwargs()  # libpq: PGPASSWORD / ~/.pgpass
    assert nopw.redacted() == "postgresql://root@127.0.0.1:5432/test"


def test_redaction_never_shows_password():
    u = TargetURL.parse(f"postgresql://lnd:{SECRET}@h:5432/db")
    for text in (u.redacted(), str(u), repr(u), f"{u}", f"{u!r}"):
        assert SECRET not in text
    assert u.redacted() == "postgresql://lnd:***@h:5432/db"
    assert u.scrub(f"oops {SECRET} here") == "oops *** here"


def _assert_no_secret(exc_info, secret=SECRET):
    text = "".join(traceback.format_exception(exc_info.value))
    assert secret not in text
    assert secret not in str(exc_info.value) and secret not in repr(exc_info.value)
    assert exc_info.value.__cause__ is None and exc_info.value.__suppress_context__


def test_connect_error_unreachable_hides_password():
    with pytest.raises(TargetConnectError) as info:
        open_database(f"postgresql://lnd:{SECRET}@127.0.0.1:1/db?connect_timeout=2")
    assert "postgresql://lnd:***@127.0.0.1:1/db" in str(info.value)
    _assert_no_secret(info)


@pytest.mark.postgres
def test_connect_error_from_server_hides_password(monkeypatch):
    from tests.support import pg

    user = pg.require_pg()
    with pytest.raises(TargetConnectError) as info:
        open_database(f"postgresql://{user}:{SECRET}@127.0.0.1:5432/migwiz_no_such_db_{SECRET}")
    assert "does not exist" in str(info.value)
    _assert_no_secret(info)
    monkeypatch.setenv("PGPASSWORD", "env-" + SECRET)
    with pytest.raises(TargetConnectError) as info:
        open_database(f"postgresql://{user}@127.0.0.1:5432/env-{SECRET}")
    _assert_no_secret(info, "env-" + SECRET)


def test_sqlite_missing_directory(tmp_path):
    with pytest.raises(TargetConnectError, match="does not exist"):
        open_database(f"sqlite:///{tmp_path}/nope/x.db")


def test_sqlite_pragmas_match_lnd(sqlite_url):
    db = open_database(sqlite_url)
    pragma = lambda name: db.execute_sql(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("foreign_keys") == 1
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 2  # FULL
    assert pragma("busy_timeout") >= 5000
    assert pragma("auto_vacuum") == 2  # incremental, set before the first table
    assert server_version(db).startswith("SQLite 3.")
    assert sqlite_library_version().count(".") == 2
    db.close()


def test_open_database_both_dialects(target_url):
    db = open_database(target_url)
    assert db.execute_sql("SELECT 1").fetchone()[0] == 1
    version = server_version(db)
    assert version.startswith("PostgreSQL " if target_url.startswith("postgres") else "SQLite ")
    assert db.migwizard_target.redacted() == TargetURL.parse(target_url).redacted()
    db.close()
