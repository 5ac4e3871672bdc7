"""Keep the stress runs out of every run that does not ask for them.

``addopts`` already says ``-m 'not stress'``, but any ``-m`` on the command
line replaces it; without this hook ``pytest -m postgres`` would start
thousands of mutants. Stress runs: ``make stress`` (``-m stress``) or
``MIGWIZ_STRESS=1``.
"""

from __future__ import annotations

import os


def pytest_collection_modifyitems(config, items):
    expr = (config.getoption("markexpr") or "").replace("not stress", "")
    if "stress" in expr or os.environ.get("MIGWIZ_STRESS") == "1":
        return
    stress = [i for i in items if i.get_closest_marker("stress")]
    if stress:
        items[:] = [i for i in items if not i.get_closest_marker("stress")]
        config.hook.pytest_deselected(items=stress)
