"""Shared fixtures: target URLs for SQLite and PostgreSQL.

``target_url`` runs a test once per dialect (ids ``sqlite``/``postgres``);
the PostgreSQL variant carries the ``postgres`` marker and gets an empty
database of its own (``migwiz_<random>``; recycled between tests, all
dropped at the end of the session).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import pg
from tests.support.genstores import SharedUse, StoreCache

# CI explores the same examples every run (a red CI must mean a change broke something);
# developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")

#: LND's real files (``../shared/fixtures``); tests that need them skip when it is absent.
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"LND fixtures not found at {FIXTURES} (the shared/ folder is absent)")
    return FIXTURES


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'target.db'}"


@pytest.fixture(scope="session")
def pg_pool():
    pool = pg.DatabasePool()
    yield pool
    pool.close()


@pytest.fixture
def pg_url(pg_pool):
    """URL of an empty PostgreSQL database (``migwiz_<random>``), emptied
    again afterwards; see :class:`tests.support.pg.DatabasePool`."""
    name = pg_pool.acquire()
    try:
        yield pg.pg_url(name)
    finally:
        pg_pool.release(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target_url(request) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def target_db(target_url):
    """An open, empty target database (closed afterwards)."""
    from migwizard.core.sql.connect import open_database

    db = open_database(target_url)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def migrated_db(target_db):
    """A target with every migration applied."""
    from migwizard.core.sql.schema import apply_migrations

    apply_migrations(target_db)
    return target_db


def pytest_collection_modifyitems(items):
    # Tests that ask for pg_url directly need the server too.
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()) and "target_url" not in item.fixturenames:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(autouse=True)
def _cli_state_in_tmp(tmp_path, monkeypatch):
    """The state directory (log, per-run reports, imports) lives under pytest's temp dir, for CLI
    subprocesses (``MIGWIZ_TEST_STATE``) and in-process code alike (``XDG_STATE_HOME``): no test
    writes into the user's ``~/.local/state``."""
    state = str(tmp_path / "cli-state")
    monkeypatch.setenv("MIGWIZ_TEST_STATE", state)
    monkeypatch.setenv("XDG_STATE_HOME", state)
    monkeypatch.delenv("MIGWIZ_STATE_DIR", raising=False)


@pytest.fixture(scope="session")
def generated_cache(tmp_path_factory) -> StoreCache:
    """Generated stores, each built once per session (per xdist worker)."""
    return StoreCache(tmp_path_factory.mktemp)


@pytest.fixture
def generated_use(generated_cache):
    """This test's use of the cache; after it, the shared stores it read must be unchanged."""
    use = SharedUse(generated_cache)
    yield use
    use.check()
