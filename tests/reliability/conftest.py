"""Reliability harnesses: real stores, real targets, real processes.

Engine fixtures (``generated``, ``import_fixture``, ``kv_digest``) are shared
with tests/engine; the long runs carry the ``stress`` marker (``make stress``).
"""

from tests.engine.conftest import generated, import_fixture, pg_or_sqlite_second  # noqa: F401
