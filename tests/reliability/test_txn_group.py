"""Several chunks in one SQLite transaction (``MIGWIZ_TXN_ROWS``, migrate._Migration._keep_open):
a SIGKILL inside a transaction loses its chunks and their checkpoints together -- the committed
checkpoint is never ahead of the committed rows -- and the same command again resumes to the
tables of an uninterrupted run. The knobs are set so two chunks of this store share a transaction:
{1, 2}, {3, 4}, {5}."""

from __future__ import annotations

import pytest

from migwizard.core.engine import ChunkCommitted, Engine

from .common import cli_env, rows, run_cli, tables
from .test_crash import CHUNK, PAYMENTS, copy_store

GROUPED = {"MIGWIZ_TXN_ROWS": "150", "MIGWIZ_TXN_MIN_CHUNK_ROWS": "20", "MIGWIZ_WORKERS": "1"}


@pytest.fixture
def pristine(generated):
    return generated("mixed", PAYMENTS, seed=7)


@pytest.fixture
def reference(pristine, tmp_path):
    """Tables of one uninterrupted run that commits every chunk alone."""
    url = f"sqlite:///{tmp_path / 'ref.db'}"
    p = run_cli("--yes", "--kv", copy_store(pristine, tmp_path / "kv-ref"), "--sql", url, "--chunk-size", CHUNK,
                state=tmp_path / "st-ref", env=cli_env(MIGWIZ_TXN_ROWS="1"))
    assert p.returncode == 0, p.stderr
    return tables(url)


def _committed(url: str) -> tuple[int, int, int | None, int | None, int | None, int | None]:
    """(run.chunks_done, chunk records, the largest payments.id, the last chunk record's last payments.id,
    run.checkpoint_seq, the last chunk record's last_seq) as committed in the target."""
    (done, seq), = rows(url, "SELECT chunks_done, checkpoint_seq FROM migwizard_runs")
    (records, last_pid, last_seq), = rows(url, "SELECT COUNT(*), MAX(last_payment_id), MAX(last_seq) "
                                               "FROM migwizard_run_chunks")
    (max_id,), = rows(url, "SELECT MAX(id) FROM payments")
    return int(done), int(records), max_id, last_pid, seq, last_seq


# point -> chunks committed when it kills: the open transaction's chunks go with it.
KILLS = {"chunk.checkpoint_written:1": 0, "chunk.checkpoint_written:2": 0, "chunk.rows_written:3": 2,
         "chunk.checkpoint_written:4": 2, "chunk.committed:1": 2, "chunk.committed:3": 4}


@pytest.mark.parametrize("point", sorted(KILLS))
def test_kill_inside_a_multi_chunk_transaction_resumes_identical(pristine, reference, tmp_path, point):
    kv = copy_store(pristine, tmp_path / "kv")
    url = f"sqlite:///{tmp_path / 't.db'}"
    p = run_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=tmp_path / "st",
                env=cli_env(MIGWIZ_CRASH_AT=point, **GROUPED))
    assert p.returncode == -9, (point, p.returncode, p.stderr[-2000:])
    done, records, max_id, last_pid, seq, last_seq = _committed(url)
    assert done == records == KILLS[point], (point, done, records)
    assert max_id == last_pid and (seq == last_seq or done == 0), point  # checkpoint == rows committed
    p = run_cli("--yes", "--kv", kv, "--sql", url, "--chunk-size", CHUNK, state=tmp_path / "st",
                env=cli_env(**GROUPED))
    assert p.returncode == 0, (point, p.stdout[-2000:], p.stderr[-2000:])
    assert tables(url) == reference, f"tables differ after a kill at {point}"


def test_grouped_chunks_report_each_commit_and_cancel_commits_the_open_transaction(pristine, tmp_path,
                                                                                  monkeypatch, reference):
    """Each chunk still gets its ChunkCommitted, in order, once its transaction committed; a cancel
    seen mid-transaction commits the chunks written so far and stops there; resume finishes."""
    import threading

    for k, v in GROUPED.items():
        monkeypatch.setenv(k, v)
    kv = copy_store(pristine, tmp_path / "kv")
    url = f"sqlite:///{tmp_path / 't.db'}"
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def on_event(ev):
        if isinstance(ev, ChunkCommitted):
            seen.append((ev.chunk, _committed(url)[0]))  # what another connection sees committed right now
            if ev.chunk == 1:
                cancel.set()

    with Engine(kv, url, chunk_size=CHUNK, on_event=on_event) as e:
        e.preflight()
        r = e.migrate(cancel=cancel)
        assert r.outcome == "cancelled"
    assert seen == [(1, 2), (2, 2)]  # chunks 1 and 2 shared a transaction: both committed, then both reported
    done, records, max_id, last_pid, _, _ = _committed(url)
    assert (done, records) == (2, 2) and max_id == last_pid
    with Engine(kv, url, chunk_size=CHUNK, on_event=lambda ev: seen.append((getattr(ev, "chunk", 0), -1))
                if isinstance(ev, ChunkCommitted) else None) as e:
        assert e.migrate().outcome == "complete"
    assert [c for c, _ in seen[2:]] == [3, 4, 5]


def test_a_refused_chunk_rolls_its_transaction_back_and_names_the_payment(pristine, tmp_path, monkeypatch):
    """A chunk the target refuses takes the open transaction's other chunks with it (state back to
    the last commit); the payment is found from there and the resume after removing the cause
    finishes with the tables of an uninterrupted run."""
    from migwizard.core.kv.lmdb_store import LmdbStore
    from migwizard.core.sql.connect import open_database
    from migwizard.core.sql.schema import apply_migrations

    for k, v in GROUPED.items():
        monkeypatch.setenv(k, v)
    kv = copy_store(pristine, tmp_path / "kv")
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        victim = list(root.bucket(b"payments-index-bucket").items())[33][1][2:]  # in chunk 4, shared with 3
    url = f"sqlite:///{tmp_path / 't.db'}"
    db = open_database(url)
    try:
        apply_migrations(db)
        db.execute_sql("CREATE TRIGGER refuse BEFORE INSERT ON payments WHEN NEW.payment_identifier = "
                       f"x'{victim.hex()}' BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END")
    finally:
        db.close()
    with Engine(kv, url, chunk_size=CHUNK) as e:
        res = e.migrate()
    assert res.outcome == "failed" and res.failing_payment == victim.hex(), res.error
    assert "refused chunks 3..4 " in res.error and "refused by test trigger" in res.error
    done, records, max_id, last_pid, seq, last_seq = _committed(url)
    assert (done, records) == (2, 2) and max_id == last_pid and seq == last_seq
    assert res.checkpoint_seq == seq


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_decode_error_mid_transaction_commits_the_whole_chunks_before_it(pristine, tmp_path, monkeypatch, workers):
    """A payment no decoder reads, in chunk 4 while chunk 3 sits in the open transaction: chunk 3
    is committed (as a commit per chunk would have), nothing of chunk 4; from the child too."""
    from tests.engine.test_migrate_pipeline import _truncate_creation_info

    for k, v in {**GROUPED, "MIGWIZ_WORKERS": workers}.items():
        monkeypatch.setenv(k, v)
    kv = copy_store(pristine, tmp_path / "kv")
    bad = _truncate_creation_info(kv, [35])
    url = f"sqlite:///{tmp_path / 't.db'}"
    with Engine(kv, url, chunk_size=CHUNK) as e:
        res = e.migrate()
    assert res.outcome == "failed" and res.failing_payment == bad[0].hex(), res.error
    done, records, max_id, last_pid, seq, last_seq = _committed(url)
    assert (done, records) == (3, 3) and max_id == last_pid and seq == last_seq == res.checkpoint_seq
