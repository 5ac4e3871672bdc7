"""Helpers of the reliability tests: running the CLI, reading and damaging stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from migwizard.core.codec.keys import PAYMENT_SEQUENCE_KEY, PAYMENTS_ROOT_BUCKET
from migwizard.core.kv.lmdb_store import LmdbStore
from migwizard.core.sql.connect import open_database
from migwizard.core.sql.dump import dump_tables

SRC = Path(__file__).resolve().parents[2] / "src"


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_cli(*args, state: Path, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migwizard.cli", "--state-dir", str(state), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env or cli_env())


def spawn_cli(*args, state: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "migwizard.cli", "--state-dir", str(state), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or cli_env())


def rows(url: str, sql: str):
    db = open_database(url)
    try:
        return db.execute_sql(sql).fetchall()
    finally:
        db.close()


def tables(url: str) -> dict:
    db = open_database(url)
    try:
        return dump_tables(db)
    finally:
        db.close()


def payment_hashes(kv: Path) -> list[bytes]:
    with LmdbStore.open(kv, readonly=True) as store, store.read() as root:
        rb = root.bucket(PAYMENTS_ROOT_BUCKET)
        return [bytes(k) for k, v in rb.items() if v is None]


def flip_sequence_bit(kv: Path, payment: bytes, bit: int = 0) -> None:
    """Flip one bit of a payment's payment-sequence-key (issue 9, item 9)."""
    def edit(root):
        pb = root.bucket(PAYMENTS_ROOT_BUCKET).bucket(payment)
        raw = bytearray(pb.get(PAYMENT_SEQUENCE_KEY))
        raw[-1 - bit // 8] ^= 1 << (bit % 8)
        pb.put(PAYMENT_SEQUENCE_KEY, bytes(raw))

    with LmdbStore.open(kv, readonly=False) as store:
        store.update(edit)
