"""Crash injection: SIGKILL at named instants (``MIGWIZ_CRASH_AT``, core/engine/crashpoints.py),
then the same command again; the tables must be identical to an uninterrupted run's and
the store tombstoned. A fast subset runs in ``make test``; every point on both dialects
under ``make stress``."""

from __future__ import annotations

import json
import signal

import pytest

from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET, PAYMENTS_TOMBSTONE_KEY
from migwizard.core.kv.lmdb_store import LmdbStore

from .common import cli_env, run_cli, tables

PAYMENTS, CHUNK = 45, 10  # 5 chunks

# Every instant, inside and between the protocol's transactions.
POINTS = [
    "start.before_schema", "start.schema_applied", "start.run_created",
    *(f"chunk.begin:{n}" for n in (1, 3)),
    *(f"chunk.rows_written:{n}" for n in (1, 2, 5)),
    *(f"chunk.checkpoint_written:{n}" for n in (1, 4, 5)),
    *(f"chunk.committed:{n}" for n in (1, 3, 5)),
    "migrate.finishing", "migrate.finished",
    "validate.saving", "validate.saved",
    "commit.before", "commit.sequences_fixed", "commit.run_saved", "commit.sql_committed",
    "tombstone.before", "tombstone.sequencer_advanced", "tombstone.written", "tombstone.committed",
]
FAST = ["chunk.rows_written:2", "chunk.committed:3", "commit.run_saved", "commit.sql_committed",
        "tombstone.written"]


def _tombstoned(kv) -> bool:
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        return rb is not None and rb.get(PAYMENTS_TOMBSTONE_KEY) == b"1"


@pytest.fixture
def pristine(generated):
    return generated("mixed", PAYMENTS, seed=7)


@pytest.fixture
def reference(pristine, tmp_path_factory):
    """The tables of one uninterrupted run (SQLite; the dumps are dialect-neutral per dialect, so
    PostgreSQL runs compare with their own uninterrupted run)."""
    cache: dict[str, dict] = {}

    def get(url_factory):
        key = url_factory.__name__
        if key not in cache:
            kv = copy_store(pristine, tmp_path_factory.mktemp("kv") / "kv")
            url = url_factory()
            p = run_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=tmp_path_factory.mktemp("st"))
            assert p.returncode == 0, p.stderr
            cache[key] = tables(url)
        return cache[key]

    return get


def crash_and_resume(kv, url, point: str, state) -> dict:
    """Kill at ``point``, rerun until done; returns what the harness counts."""
    p = run_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=state,
                env=cli_env(MIGWIZ_CRASH_AT=point))
    assert p.returncode == -signal.SIGKILL, (point, p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr
    p = run_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, "--json", state=state)
    assert p.returncode == 0, (point, p.stdout[-2000:], p.stderr[-2000:])
    assert "Traceback" not in p.stderr
    assert _tombstoned(kv), point
    doc = json.loads(p.stdout)
    return doc


def _run_points(points, pristine, url_factory, reference, tmp_path):
    ref = reference(url_factory)
    for i, point in enumerate(points):
        kv = copy_store(pristine, tmp_path / f"kv-{i}")
        url = url_factory()
        crash_and_resume(kv, url, point, tmp_path / f"st{i}")
        assert tables(url) == ref, f"tables differ after a kill at {point}"
        assert sum(len(r) for r in tables(url).values()) == sum(len(r) for r in ref.values())  # rows lost: 0


def copy_store(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.fixture
def sqlite_targets(tmp_path):
    n = [0]

    def sqlite_target():
        n[0] += 1
        return f"sqlite:///{tmp_path / f't{n[0]}.db'}"

    return sqlite_target


@pytest.fixture
def pg_targets():
    from tests.support import pg

    pg.require_pg()
    made = []

    def pg_target():
        name = pg.create_database()
        made.append(name)
        return pg.pg_url(name)

    yield pg_target
    for name in made:
        pg.drop_database(name)


def test_crash_points_fast_sqlite(pristine, sqlite_targets, reference, tmp_path):
    _run_points(FAST, pristine, sqlite_targets, reference, tmp_path)


@pytest.mark.postgres
def test_crash_point_inside_commit_postgres(pristine, pg_targets, reference, tmp_path):
    _run_points(["commit.run_saved", "tombstone.written"], pristine, pg_targets, reference, tmp_path)


@pytest.mark.stress
@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_crash_points_all(dialect, pristine, request, reference, tmp_path):
    factory = request.getfixturevalue("sqlite_targets" if dialect == "sqlite" else "pg_targets")
    _run_points(POINTS, pristine, factory, reference, tmp_path)
    _record("crash", dialect, len(POINTS))


def _record(family: str, dialect: str, n: int) -> None:
    from pathlib import Path

    out = Path(__file__).resolve().parents[2] / ".stress"
    out.mkdir(exist_ok=True)
    (out / f"{family}-{dialect}.json").write_text(json.dumps({"family": family, "dialect": dialect,
                                                               "survived": n, "rows_lost": 0}))
