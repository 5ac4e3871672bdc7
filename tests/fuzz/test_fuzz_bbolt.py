"""Fuzz: page-level mutants of the real channel.db fixtures through the bbolt
reader's walk and through ``import_bbolt``. Only typed KV errors, each mutant
within a time budget (a hang guard, not a speed claim), memory bounded.

``make test`` runs a few hundred deterministic seeds; ``make stress`` thousands.
"""

from __future__ import annotations

import os
import shutil

import pytest

from migwizard.core.kv import BboltReader, KVError, walk
from migwizard.core.kv.importer import import_bbolt

from .harness import Tally
from .mutate import TimeBudgetExceeded, available_seeds, corpus, max_rss_mib, mutate_bbolt, time_budget

pytestmark = pytest.mark.fixtures

BUDGET_S = 10.0  # the issue saw mutants run for hours; a clean walk of these files takes milliseconds
RSS_GROWTH_MIB = 256  # the issue saw 11 GB


def _seeds():
    names = available_seeds()
    if not names:
        pytest.skip("../shared/fixtures is missing: no bbolt seed corpus")
    return names


def run_bbolt(tally: Tally, count: int, tmp_path, *, first_seed: int = 0, import_every: int = 3) -> None:
    names = _seeds()
    rss0 = max_rss_mib()
    for seed in range(first_seed, first_seed + count):
        cf = corpus(names[seed % len(names)])
        data, what = mutate_bbolt(cf, seed)
        path = tmp_path / f"m{seed}.db"
        path.write_bytes(data)
        what = f"{cf.name}:{what}"
        tally.tried += 1
        try:
            with time_budget(BUDGET_S):
                with BboltReader(path) as r, r.read() as root:
                    n = sum(1 for _ in walk(root))
                if seed % import_every == 0:
                    import_bbolt(path, tmp_path / f"kv{seed}", all_buckets=True)
            tally.ok += 1
            assert n >= 0
        except KVError as e:
            tally.typed_error(e)
        except TimeBudgetExceeded as e:
            tally.escape(seed, what, e)
        except Exception as e:  # noqa: BLE001 - exactly what the harness looks for
            tally.escape(seed, what, e)
        finally:
            path.unlink()
            shutil.rmtree(tmp_path / f"kv{seed}", ignore_errors=True)
    growth = max_rss_mib() - rss0
    if growth > RSS_GROWTH_MIB:
        tally.escape(-1, "all", f"max RSS grew by {growth:.0f} MiB over {count} mutants")


def test_bbolt_mutants(tmp_path):
    tally = Tally("fuzz-bbolt")
    run_bbolt(tally, int(os.environ.get("MIGWIZ_FUZZ_BBOLT", "300")), tmp_path)
    assert tally.tried and tally.typed, "mutants must exercise the error paths"
    assert not tally.escapes, tally.report()


@pytest.mark.stress
def test_bbolt_mutants_stress(tmp_path):
    tally = Tally("stress-bbolt")
    run_bbolt(tally, int(os.environ.get("MIGWIZ_STRESS_BBOLT", "4000")), tmp_path, first_seed=100_000)
    s = tally.write()
    print(s)
    assert not tally.escapes, tally.report()
