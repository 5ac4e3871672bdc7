"""The layering contracts in pyproject.toml hold, and the checker really fails on a break.

``make test`` runs ``lint-imports`` before pytest; these tests run the same
checker so that (1) the contracts hold for the code as it is and (2) each
contract demonstrably fails when a deliberate violation is written into a
temporary copy of the package (a contract that cannot fail proves nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason=f"import-linter is not installed ({LINT} missing): "
                                                          "pip install -e '.[test]'")

CONTRACTS = [c["name"] for c in tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]]

CORE, SCREENS_KV, INDEPENDENT, HEADLESS = ("core never imports a front end", "screens talk to the engine",
                                           "screens never import each other", "the headless path never imports")
# Deliberate violations: (file under src/migwizard, line appended, the contracts it must break).
VIOLATIONS = [
    ("core/engine/storefacts.py", "import textual.app  # deliberate violation", (CORE,)),
    # headless imports core.engine.results, so the wizard reaches it indirectly too
    ("core/engine/results.py", "import migwizard.tui.flow  # deliberate violation", (CORE, HEADLESS)),
    ("screens/welcome.py", "import migwizard.core.kv.lmdb_store  # deliberate violation", (SCREENS_KV,)),
    ("screens/report.py", "import migwizard.screens.commit  # deliberate violation", (INDEPENDENT,)),
    ("headless.py", "import textual.widgets  # deliberate violation", (HEADLESS,)),
]


def lint(src: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    return subprocess.run([str(LINT), "--no-logo", "--no-cache", str(CONFIG)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def verdicts(output: str) -> dict[str, str]:
    """Contract name -> "KEPT" / "BROKEN", from lint-imports' summary (names may wrap a line)."""
    flat = " ".join(output.split())
    found = {}
    for name in CONTRACTS:
        for verdict in ("KEPT", "BROKEN"):
            if f"{' '.join(name.split())} {verdict}" in flat:
                found[name] = verdict
    return found


def test_every_contract_is_kept(tmp_path):
    result = lint(ROOT / "src", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == {name: "KEPT" for name in CONTRACTS}


@pytest.mark.parametrize("rel,line,contracts", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_a_deliberate_violation_breaks_its_contract(tmp_path, rel, line, contracts):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "migwizard", src / "migwizard",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    path = src / "migwizard" / rel
    path.write_text(path.read_text() + f"\n{line}\n")
    result = lint(src, tmp_path)
    assert result.returncode != 0, result.stdout
    found = verdicts(result.stdout)
    broken = [name for name in CONTRACTS if name.startswith(contracts)]
    assert len(broken) == len(contracts), (contracts, CONTRACTS)
    assert found == {name: "BROKEN" if name in broken else "KEPT" for name in CONTRACTS}, result.stdout
    # The report names the offending module, so a developer can find the import.
    assert "migwizard." + rel.removesuffix(".py").replace("/", ".") in result.stdout, result.stdout
