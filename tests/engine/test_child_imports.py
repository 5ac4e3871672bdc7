"""The second process imports no more of migwizard than its generator needs (issue 11:
fixed costs). It starts with a fresh interpreter and imports its target by module path,
so whatever that module pulls in -- the engine package's API, peewee, psycopg -- is paid
at the start of every two-process migration and validation."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after(stmt: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{stmt}\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_migration_child_imports_neither_the_engine_api_nor_the_sql_stack():
    mods = _modules_after("import migwizard.core.engine.migrate_kv")
    assert not {"migwizard.core.engine.api", "migwizard.core.engine.migrate", "migwizard.core.sql.connect",
                "peewee", "psycopg", "textual"} & mods


def test_the_validation_child_imports_neither_the_engine_api_nor_textual():
    mods = _modules_after("import migwizard.core.fast.kvside")
    assert not {"migwizard.core.engine.api", "migwizard.core.engine.migrate", "migwizard.core.engine.validate",
                "textual"} & mods


def test_the_engine_package_still_exports_its_names():
    import migwizard.core.engine as engine
    from migwizard.core.engine import api, events, normalisations, results

    homes = {"api": api, "events": events, "normalisations": normalisations, "results": results}
    for name in engine.__all__:
        assert getattr(engine, name) is getattr(homes[engine._EXPORTS[name]], name)
    assert set(engine.__all__) <= set(dir(engine))
    with pytest.raises(AttributeError):
        engine.no_such_name  # noqa: B018
    from migwizard.core.engine import Engine, ExitCode  # noqa: F401 - the form every caller uses
