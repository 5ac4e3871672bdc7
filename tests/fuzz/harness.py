"""Run mutants, classify outcomes, keep the evidence of every escape.

An *escape* is anything that is not a typed error: another exception type, a
time budget exceeded, memory beyond the bound. The tests assert there are
none; ``make stress`` writes the counts to ``.stress/<name>.json`` for
docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Tally:
    name: str
    tried: int = 0
    ok: int = 0
    typed: Counter = field(default_factory=Counter)
    escapes: list[dict] = field(default_factory=list)

    def typed_error(self, exc: BaseException) -> None:
        self.typed[type(exc).__name__] += 1

    def escape(self, seed: int, what: str, exc: BaseException | str, **extra) -> None:
        if isinstance(exc, BaseException):
            tb = traceback.extract_tb(exc.__traceback__)
            ours = [f for f in tb if "/migwizard/" in f.filename] or tb
            where = f"{ours[-1].filename.split('/src/')[-1]}:{ours[-1].lineno} {ours[-1].name}" if ours else "?"
            text = f"{type(exc).__name__}: {str(exc)[:300]}"
        else:
            where, text = "-", exc
        self.escapes.append({"seed": seed, "mutant": what, "error": text, "where": where, **extra})

    def summary(self) -> dict:
        return {
            "name": self.name,
            "tried": self.tried,
            "ok": self.ok,
            "typed_errors": sum(self.typed.values()),
            "typed_by_class": dict(self.typed.most_common()),
            "escapes": len(self.escapes),
            "escape_list": self.escapes[:50],
        }

    def write(self) -> dict:
        s = self.summary()
        out = Path(os.environ.get("MIGWIZ_STRESS_OUT", ROOT / ".stress"))
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{self.name}.json").write_text(json.dumps(s, indent=2) + "\n")
        return s

    def report(self) -> str:
        return "\n".join(f"seed {e['seed']} [{e['mutant']}] {e['error']} at {e['where']}" for e in self.escapes[:20])
