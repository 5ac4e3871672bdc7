"""The rehearsal as plain text, at most 76 columns wide (fits the wizard's panel
and an 80-column terminal): the verdict table, what each failing release
prints, the counts, the time and space lnd needs, and the advice.
"""

from __future__ import annotations

import textwrap

from .model import RehearsalReport, ReleaseVerdict
from .recommend import duration

WIDTH = 76
_COLS = (11, 39, 22)  # release, verdict, payment (sequence); 2-space gaps -> 76


def _mb(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _row(*cells: str) -> str:
    parts = [_cell(c, w).ljust(w) for c, w in zip(cells, _COLS)]
    return "  ".join(parts).rstrip()


def _verdict_cells(v: ReleaseVerdict) -> tuple[str, str, str]:
    f = v.failure
    if f is None:
        return v.release, "passes" + (" (see note)" if v.notes else ""), ""
    label = {"before_payments": "never reaches payments: ", "payments": "fails: ",
             "after_payments": "at start-up: "}[f.stage] + f.reason
    where = f"{f.payment[:12]}… ({f.sequence})" if f.payment else ""
    return v.release, label, where


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=True, break_on_hyphens=False) or [indent]


def render_text(r: RehearsalReport) -> str:
    lines = [f"Rehearsal of lnd's payments migration on {r.source_kind} store (read-only)"]
    lines += _wrap(r.source, "  ")
    lines.append("")
    lines.append(_row("lnd", "payments migration", "payment (sequence)"))
    lines.append(_row(*("-" * w for w in _COLS)))
    for v in r.verdicts:
        lines.append(_row(*_verdict_cells(v)))
    shown = set()
    for v in r.verdicts:
        f = v.failure
        if f is None and not v.notes:
            continue
        lines.append("")
        lines += _wrap(f"{v.release} ({v.tag}):" if v.tag != v.release else f"{v.release}:", "")
        if f is not None:
            if f.payment:
                lines += _wrap(f"payment {f.payment}, sequence {f.sequence}", "  ")
            if f.key:
                at = f", byte offset {f.offset}" if f.offset is not None else ""
                lines += _wrap(f"key {f.key}{at}", "  ")
            for backend, text in f.texts.items():
                key = (backend, text)
                if key in shown:
                    lines += _wrap("(same text as above)" if backend == "any" else f"{backend}: (same text as above)", "  ")
                    continue
                shown.add(key)
                lines += _wrap(f"{backend}: {text}" if backend != "any" else text, "  ")
            if not f.exact:
                lines += _wrap("(wording derived, not copied from an lnd log; see --json note)", "  ")
        for note in v.notes:
            lines += _wrap(f"note: {note}", "  ")
    c, e = r.counts, r.estimates
    lines.append("")
    lines += _wrap(f"lnd would migrate {c.payments:,} payments ({c.succeeded:,} succeeded, {c.failed:,} failed, "
                   f"{c.in_flight:,} in flight, {c.initiated:,} initiated), {c.attempts:,} attempts, "
                   f"{c.hops:,} hops, {c.duplicate_entries:,} duplicates of {c.duplicate_payments:,} payments; "
                   f"{c.skipped:,} index entries skipped, {c.unreadable:,} payments unreadable.", "")
    mw = (f"migwizard ~{e.migwizard_rate:,.0f} payments/s here (estimate: decode and checks only)"
          if e.migwizard_rate else "migwizard: nothing to measure")
    lines += _wrap(f"Time: lnd ~{duration(e.lnd_seconds)} at its logged ~{e.lnd_rate:.0f} payments/s, "
                   f"in one transaction; {mw}.", "")
    lines += _wrap(f"Space: ~{_mb(e.sql_rows_bytes)} of rows and indexes plus ~{_mb(e.wal_bytes)} of WAL "
                   f"during lnd's single transaction (from {_mb(e.kv_value_bytes)} of KV values).", "")
    if r.normalisations:
        changed = ", ".join(f"{k} {n:,}" for k, n in sorted(r.normalisations.items()))
        lines += _wrap(f"{r.newest_release} changes on the way: {changed}.", "")
    lines.append("")
    lines += _wrap(r.recommendation, "")
    return "\n".join(lines) + "\n"
