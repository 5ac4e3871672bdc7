"""Generated stores built once per test session (per xdist worker), shared by read-only tests.

Generating a store costs far more than copying one, and most tests only read
theirs (migrate and validate never write the KV store; only a commit does). So
each (profile, payments, seed, options) is generated once into the session's
temp dir; read-only tests get that store itself, tests that write get a private
copy. "Read-only" is checked, not trusted: the shared store's data file is
fingerprinted and compared after every test that used it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from migwizard.core.generate import GenerateResult, generate_store

# Per-process files LMDB and migwizard keep next to the data; a copy starts without them.
_LOCK_FILES = shutil.ignore_patterns("lock.mdb", "*.lock")


def data_digest(path: Path) -> str:
    """sha256 of the store's data file (what a write, even a refused one, would change)."""
    h = hashlib.sha256()
    with open(path / "data.mdb", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class StoreCache:
    """(profile, payments, seed, options) -> (store dir, GenerateResult, data digest)."""

    def __init__(self, root_factory) -> None:
        self._mktemp = root_factory  # tmp_path_factory.mktemp
        self._stores: dict[tuple, tuple[Path, GenerateResult, str]] = {}

    def get(self, profile: str, payments: int, seed: int, **options: Any) -> tuple[Path, GenerateResult, str]:
        key = (profile, payments, seed, tuple(sorted(options.items())))
        if key not in self._stores:
            path = self._mktemp("gen") / f"kv-{profile}-{payments}-{seed}"
            result = generate_store(path, payments=payments, seed=seed, profile=profile, **options)
            self._stores[key] = (path, result, data_digest(path))
        return self._stores[key]


class SharedUse:
    """The shared stores one test used; :meth:`check` fails when the test changed one."""

    def __init__(self, cache: StoreCache) -> None:
        self.cache = cache
        self.used: dict[Path, str] = {}

    def shared(self, profile: str, payments: int, seed: int, **options: Any) -> tuple[Path, GenerateResult]:
        path, result, digest = self.cache.get(profile, payments, seed, **options)
        self.used[path] = digest
        return path, result

    def copy(self, dest: Path, profile: str, payments: int, seed: int, **options: Any) -> tuple[Path, GenerateResult]:
        path, result, _digest = self.cache.get(profile, payments, seed, **options)
        shutil.copytree(path, dest, ignore=_LOCK_FILES)
        return dest, result

    def check(self) -> None:
        for path, digest in self.used.items():
            if data_digest(path) != digest:
                raise AssertionError(
                    f"{path}: a test using the shared (read-only) generated store changed it; "
                    "ask for a private copy instead (the `generated` fixture)")
