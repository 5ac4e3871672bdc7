"""A target LND itself could not use is refused through the documented EngineError."""

from __future__ import annotations

import pytest

from migwizard.core.engine.api import Engine
from migwizard.core.sql.connect import open_database

from tests.engine.kvbuild import (
    build_store,
    make_attempt,
    make_payment,
    seed_hash,
)
from tests.engine.sqlexec import q as _q


# ---------------------------------------------------------------------------
# An LND database whose own schema migration is dirty: migrate() refuses it with
# EngineError (the public API's failure type), not the SchemaError it meets inside.
# ---------------------------------------------------------------------------


def _make_dirty_lnd_target(url: str) -> None:
    from migwizard.core.sql.schema import list_migrations, render_sql, split_statements

    db = open_database(url)
    try:
        with db.atomic():
            for m in list_migrations():
                if m.version in (1, 2):
                    for stmt in split_statements(render_sql(m.up_sql, db)):
                        db.execute_sql(stmt)
            db.execute_sql("CREATE TABLE schema_migrations (version BIGINT NOT NULL, dirty BOOLEAN NOT NULL)")
            db.execute_sql(_q(db, "INSERT INTO schema_migrations (version, dirty) VALUES (?, ?)"), (11, True))
    finally:
        db.close()


def test_dirty_lnd_target_gives_engine_error_not_schema_error(tmp_path, target_url):
    from migwizard.core.engine import EngineError

    h = seed_hash(1)
    kv = build_store(tmp_path / "kv", [make_payment(1, h, 1000, htlcs=[make_attempt(1, hash=h, settled=h)])])
    _make_dirty_lnd_target(target_url)
    with Engine(kv, target_url) as eng:
        try:
            eng.migrate()
        except EngineError:
            pass  # the documented failure type
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"migrate() raised {type(e).__name__} instead of EngineError: {e}")
        else:
            pytest.fail("migrate() accepted a target with a dirty LND schema")
