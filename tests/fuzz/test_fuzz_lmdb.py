"""Fuzz: damaged payment values in a generated LMDB store.

(a) in process, thousands per second: the codec's ``fetch_payment`` and the
    engine's transform on one damaged value — only ``DecodeError`` /
    ``MigrationReject`` may leave;
(b) the whole headless pipeline, ``migwizard --yes`` as a subprocess: a
    documented exit code, no traceback, and never fewer payments migrated than
    the store holds without a named reason (a skip or a named normalisation).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from migwizard.core.codec.errors import DecodeError
from migwizard.core.codec.fetch import fetch_payment
from migwizard.core.codec.kvtree import DictBucket
from migwizard.core.engine.transform import MigrationReject, expected_sql_payment
from migwizard.core.kv import KVError, LmdbStore

from .harness import Tally
from .mutate import TimeBudgetExceeded, mutate_value, time_budget

ROOT_BUCKET = b"payments-root-bucket"
SRC = str(Path(__file__).resolve().parents[2] / "src")
DOCUMENTED_EXIT = {0, 1, 2, 3, 4, 64}
# Normalisations that name a payment not migrated. ``duplicate_index_entry_skipped``
# is not one: it names an index entry for a *duplicate*, so a payment lost
# under that name is lost silently (issue 9 item 9).
NOT_A_PAYMENT_SKIP = ("duplicate_index_entry_skipped",)


def _named_skips(stats: dict) -> int:
    return stats.get("skipped", 0) + sum(
        v for k, v in stats.get("normalisations", {}).items()
        if ("skipped" in k or "missing" in k) and k not in NOT_A_PAYMENT_SKIP
    )


def _tree(bucket) -> dict:
    out: dict = {}
    for key, value, child in bucket.entries():
        out[key] = _tree(child) if child is not None else value
    return out


def _value_paths(tree: dict, prefix=()) -> list[tuple[bytes, ...]]:
    paths = []
    for k, v in tree.items():
        if isinstance(v, dict):
            paths += _value_paths(v, prefix + (k,))
        else:
            paths.append(prefix + (k,))
    return paths


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from migwizard.core.generate import generate_store

    d = tmp_path_factory.mktemp("fuzz-lmdb") / "kv"
    generate_store(d, payments=60, seed=7, profile="edge")
    return d


@pytest.fixture(scope="module")
def payments(store) -> list[tuple[bytes, dict, list]]:
    with LmdbStore.open(store, readonly=True) as s, s.read() as r:
        tree = _tree(r.bucket(ROOT_BUCKET))
    return [(h, t, _value_paths(t)) for h, t in sorted(tree.items()) if isinstance(t, dict) and _value_paths(t)]


def _with_value(tree: dict, path: tuple[bytes, ...], value: bytes) -> dict:
    """Copy of ``tree`` with the value at ``path`` replaced (copies only the dicts on the path)."""
    top = dict(tree)
    node = top
    for k in path[:-1]:
        node[k] = dict(node[k])
        node = node[k]
    node[path[-1]] = value
    return top


def run_codec(tally: Tally, payments, count: int, first_seed: int = 0) -> None:
    for seed in range(first_seed, first_seed + count):
        rng = random.Random(seed)
        h, tree, paths = rng.choice(payments)
        path = rng.choice(paths)
        old = tree
        for k in path:
            old = old[k]
        new, kind = mutate_value(old, seed)
        what = f"{h[:4].hex()}/{'/'.join(p.decode('latin1') if p.isascii() else p.hex() for p in path)}:{kind}"
        tally.tried += 1
        zero = iter(range(1, 1 << 30))
        try:
            with time_budget(5.0):
                p = fetch_payment(DictBucket(_with_value(tree, path, new)), payment_id=h)
                expected_sql_payment(p, h, allocate_zero_id=lambda: next(zero))
            tally.ok += 1
        except (DecodeError, MigrationReject) as e:
            tally.typed_error(e)
        except TimeBudgetExceeded as e:
            tally.escape(seed, what, e)
        except Exception as e:  # noqa: BLE001 - exactly what the harness looks for
            tally.escape(seed, what, e)


def test_codec_value_mutants(payments):
    tally = Tally("fuzz-codec")
    run_codec(tally, payments, int(os.environ.get("MIGWIZ_FUZZ_CODEC", "2000")))
    assert tally.typed and tally.ok
    assert not tally.escapes, tally.report()


@pytest.mark.stress
def test_codec_value_mutants_stress(payments):
    tally = Tally("stress-codec")
    run_codec(tally, payments, int(os.environ.get("MIGWIZ_STRESS_CODEC", "50000")), first_seed=1_000_000)
    print(tally.write())
    assert not tally.escapes, tally.report()


# -- (b) the whole --yes pipeline ------------------------------------------------


def _damage_store(kv: Path, payments, seed: int, *, raw: bool = False) -> str:
    """Damage one payment value; ``raw`` damages the stored LMDB entry itself
    (its type tag included), as a disk error or a foreign writer would."""
    rng = random.Random(seed)
    h, tree, paths = rng.choice(payments)
    path = rng.choice(paths)
    old = tree
    for k in path:
        old = old[k]
    new, kind = mutate_value(b"\x00" + old if raw else old, seed)
    if raw:
        import lmdb

        with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
            b = root.bucket(ROOT_BUCKET).bucket(h)
            for k in path[:-1]:
                b = b.bucket(k)
            full = b._full(path[-1])

        env = lmdb.open(str(kv), max_dbs=2)
        with env.begin(write=True) as txn:
            txn.put(full, new, db=env.open_db(b"kv", txn=txn))
        env.close()
    else:
        def put(root):
            b = root.bucket(ROOT_BUCKET).bucket(h)
            for k in path[:-1]:
                b = b.bucket(k)
            b.put(path[-1], new)

        with LmdbStore.open(kv) as s:
            s.update(put)
    return f"{h[:4].hex()}/{'/'.join(p.decode('latin1') if p.isascii() else p.hex() for p in path)}:{'raw-' if raw else ''}{kind}"


def _yes(kv: Path, db: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "migwizard.cli", "--yes", "--json", "--kv", str(kv), "--sql", f"sqlite:///{db}"],
        capture_output=True, text=True, timeout=300, env=env,
    )


def run_pipeline(tally: Tally, store: Path, payments, tmp_path: Path, count: int, first_seed: int = 0,
                 *, raw: bool = False) -> None:
    env = {**os.environ, "PYTHONPATH": SRC, "XDG_STATE_HOME": str(tmp_path / "state")}
    # Baseline: the undamaged store's own count and named skips.
    shutil.copytree(store, tmp_path / "clean")
    base = _yes(tmp_path / "clean", tmp_path / "clean.db", env)
    assert base.returncode == 0, base.stderr
    base_doc = json.loads(base.stdout)
    total, base_named = base_doc["payments"], _named_skips(base_doc["stats"])
    for seed in range(first_seed, first_seed + count):
        kv = tmp_path / f"kv{seed}"
        shutil.copytree(store, kv)
        what = _damage_store(kv, payments, seed, raw=raw)
        db = tmp_path / f"t{seed}.db"
        tally.tried += 1
        try:
            p = _yes(kv, db, env)
        except subprocess.TimeoutExpired:
            tally.escape(seed, what, "timed out after 300 s")
            continue
        out = p.stdout + p.stderr
        if "Traceback" in out:
            tally.escape(seed, what, f"traceback (exit {p.returncode}): {p.stderr.strip().splitlines()[-1][:300]}",
                         where=_tb_where(p.stderr))
        elif p.returncode not in DOCUMENTED_EXIT:
            tally.escape(seed, what, f"undocumented exit code {p.returncode}")
        elif p.returncode == 0:
            doc = json.loads(p.stdout)
            named = _named_skips(doc.get("stats", {})) - base_named
            if doc["payments"] + named < total:
                norms = {k: v for k, v in doc["stats"].get("normalisations", {}).items() if "skip" in k}
                tally.escape(seed, what, f"{doc['payments']} of {total} payments migrated and committed, "
                             f"{named} named skips ({norms})", where="core/engine (count check)")
            else:
                tally.ok += 1
        else:
            tally.typed[f"exit {p.returncode}"] += 1
        q = subprocess.run([sys.executable, "-m", "migwizard.cli", "inspect", "--kv", str(kv)],
                           capture_output=True, text=True, timeout=300, env=env)
        if "Traceback" in q.stdout + q.stderr or q.returncode not in DOCUMENTED_EXIT:
            tally.escape(seed, what + " (inspect)", f"inspect exit {q.returncode}", where=_tb_where(q.stderr))
        shutil.rmtree(kv, ignore_errors=True)
        for f in tmp_path.glob(f"t{seed}.db*"):
            f.unlink()


def _tb_where(stderr: str) -> str:
    """The frame that let the exception escape: the last one above the KV layer and codec that raised it."""
    frames = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith('File "') and "/migwizard/" in ln]
    callers = [f for f in frames if "/core/kv/" not in f and "/core/codec/" not in f]
    pick = callers or frames
    return pick[-1].split("/src/")[-1] if pick else "?"


def test_pipeline_value_mutants(store, payments, tmp_path):
    tally = Tally("fuzz-pipeline")
    run_pipeline(tally, store, payments, tmp_path, int(os.environ.get("MIGWIZ_FUZZ_PIPELINE", "6")))
    assert tally.tried
    assert not tally.escapes, tally.report()


@pytest.mark.stress
def test_pipeline_value_mutants_stress(store, payments, tmp_path):
    tally = Tally("stress-pipeline")
    run_pipeline(tally, store, payments, tmp_path, int(os.environ.get("MIGWIZ_STRESS_PIPELINE", "200")),
                 first_seed=2_000_000)
    print(tally.write())
    assert not tally.escapes, tally.report()


@pytest.mark.stress
def test_pipeline_raw_entry_mutants_stress(store, payments, tmp_path):
    tally = Tally("stress-pipeline-raw")
    run_pipeline(tally, store, payments, tmp_path, int(os.environ.get("MIGWIZ_STRESS_PIPELINE_RAW", "100")),
                 first_seed=3_000_000, raw=True)
    print(tally.write())
    assert not tally.escapes, tally.report()


def _unknown_tag_store(store: Path, payments, tmp_path: Path) -> Path:
    """A store whose first payment's creation info entry carries an unknown type tag."""
    import lmdb

    kv = tmp_path / "kv-tag"
    shutil.copytree(store, kv)
    h = payments[0][0]
    with LmdbStore.open(kv, readonly=True) as s, s.read() as root:
        full = root.bucket(ROOT_BUCKET).bucket(h)._full(b"payment-creation-info")
    env = lmdb.open(str(kv), max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(full, b"\x09junk", db=env.open_db(b"kv", txn=txn))
    env.close()
    return kv


def test_inspect_names_a_damaged_entry(store, payments, tmp_path):
    kv = _unknown_tag_store(store, payments, tmp_path)
    env = {**os.environ, "PYTHONPATH": SRC, "XDG_STATE_HOME": str(tmp_path / "state")}
    q = subprocess.run([sys.executable, "-m", "migwizard.cli", "inspect", "--kv", str(kv)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert "Traceback" not in q.stdout + q.stderr and q.returncode in DOCUMENTED_EXIT
    assert "payment-creation-info has unknown tag 9" in q.stdout + q.stderr


@pytest.mark.parametrize("command", ["--yes", "preflight"])
def test_damaged_entry_is_a_typed_refusal_headless(store, payments, tmp_path, command):
    kv = _unknown_tag_store(store, payments, tmp_path)
    env = {**os.environ, "PYTHONPATH": SRC, "XDG_STATE_HOME": str(tmp_path / "state")}
    p = subprocess.run([sys.executable, "-m", "migwizard.cli", command, "--kv", str(kv),
                        "--sql", f"sqlite:///{tmp_path / 't.db'}"], capture_output=True, text=True, timeout=300, env=env)
    assert "Traceback" not in p.stdout + p.stderr
    # --yes says it on stderr; preflight's report (the failing check) is its stdout
    assert p.returncode in (2, 3) and "unknown tag 9" in (p.stderr if command == "--yes" else p.stdout)


def test_flipped_sequence_key_is_not_a_silent_drop(store, payments, tmp_path):
    tally = Tally("regression-seq-key")
    run_pipeline(tally, store, payments, tmp_path, 1, first_seed=2_000_007)
    assert tally.tried == 1
    assert not tally.escapes, tally.report()
