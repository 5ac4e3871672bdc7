"""Fixtures for the fast-path differential tests: the engine suite's stores."""

from tests.engine.conftest import generated, generated_ro, import_fixture  # noqa: F401
