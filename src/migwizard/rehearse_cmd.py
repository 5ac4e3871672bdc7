"""`migwizard rehearse --kv SOURCE [--json]`: what each lnd release would do.

Reads the source read-only (nothing is written anywhere, not even a lock file)
and prints the verdict table, or JSON for scripts. Exit 0 when the newest lnd
release passes, 1 when it does not, 2 when the source cannot be read, 64 for
usage errors; a refusal is one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys

from .core.codec import DecodeError
from .exits import ExitCode
from .core.kv.errors import KVError
from .core.rehearse import ReleaseTableError, rehearse, render_text


def run_rehearse(source: str, *, as_json: bool, kv_table: str | None = None) -> int:
    try:
        report = rehearse(source, kv_table=kv_table)
    except (KVError, DecodeError) as e:
        sys.stderr.write(f"error: {e}\n")
        return int(ExitCode.PREFLIGHT_REFUSED)
    except ReleaseTableError as e:
        sys.stderr.write(f"error: migwizard's lnd release table is damaged: {e}\n")
        return int(ExitCode.PREFLIGHT_REFUSED)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(report))
    return int(ExitCode.OK) if report.ok else 1
