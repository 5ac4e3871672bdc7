"""Raw SQL access to a migrated target, for tests that tamper with rows behind the engine's back."""

from __future__ import annotations

from migwizard.core.sql.connect import open_database


def q(db, sql: str) -> str:
    return sql if db.param == "?" else sql.replace("?", "%s")


def exec_sql(url: str, sql: str, params=()):
    db = open_database(url)
    try:
        with db.atomic():
            cur = db.execute_sql(q(db, sql), params)
            try:
                return cur.fetchall()
            except Exception:  # noqa: BLE001
                return None
    finally:
        db.close()


def explain(rep) -> str:
    return f"error={rep.error!r} diffs={[(d.path, d.kv, d.sql) for d in rep.differences[:6]]}"

