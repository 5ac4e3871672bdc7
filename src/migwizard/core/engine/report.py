"""The report: a pgloader-style table plus LND's summary, and the JSON file.

JSON report format (``--report FILE``, written with mode 0600, secrets masked):
``{"kind": "migwizard-report", "version": 1, ...ValidationReport fields...,
"normalisations": {name: explanation}, "details": {identifier: PaymentDetail}}``
where ``details`` holds the KV/SQL trees of every payment with a difference
(at most ``MAX_DETAILS``). ``migwizard report FILE`` opens it in the wizard.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .normalisations import NORMALISATIONS
from .results import ValidationReport

REPORT_KIND = "migwizard-report"
REPORT_VERSION = 1
MAX_DETAILS = 200


def report_document(report: ValidationReport, engine: Any | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": REPORT_KIND, "version": REPORT_VERSION}
    doc.update(asdict(report))
    doc["normalisations"] = {k: NORMALISATIONS[k] for k in sorted(report.stats.normalisations) if k in NORMALISATIONS}
    details: dict[str, Any] = {}
    if engine is not None:
        for ident in sorted({d.payment for d in report.differences})[:MAX_DETAILS]:
            try:
                details[ident] = asdict(engine.payment_detail(ident, show_secrets=False))
            except Exception as e:  # noqa: BLE001 - a detail we cannot load must not lose the report
                details[ident] = {"identifier": ident, "error": str(e)}
    doc["details"] = details
    return doc


def write_report(path: Path, report: ValidationReport, engine: Any | None = None) -> Path:
    """Write atomically with mode 0600 (the report names payments and amounts)."""
    path = Path(path)
    doc = report_document(report, engine)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def render_summary(report: ValidationReport) -> str:
    s = report.stats
    lines = []
    w = 38
    lines.append(f"{'table name':>{w}}  {'errors':>7}  {'rows':>9}  {'total time':>10}")
    lines.append(f"{'-' * w}  {'-' * 7}  {'-' * 9}  {'-' * 10}")
    for t in report.tables:
        lines.append(f"{t.table:>{w}}  {t.errors:>7}  {t.rows:>9}  {t.seconds:>9.3f}s")
    lines.append(f"{'-' * w}  {'-' * 7}  {'-' * 9}  {'-' * 10}")
    total_rows = sum(t.rows for t in report.tables)
    mark = "✓" if report.ok else "✗"
    lines.append(f"{'Total migration time':>{w}}  {mark:>7}  {total_rows:>9}  {s.seconds:>9.3f}s")
    lines.append(f"{'Validation time':>{w}}  {len(report.differences):>7}  {report.payments_checked:>9}  "
                 f"{report.seconds:>9.3f}s")
    lines.append("")
    lines.append("Payments:      total {0}, succeeded {1}, failed {2}, in flight {3}, initiated {4}".format(
        s.payments, s.succeeded, s.failed, s.in_flight, s.initiated))
    lines.append("HTLC attempts: total {0}, settled {1}, failed {2}, in flight {3}".format(
        s.attempts, s.attempts_settled, s.attempts_failed, s.attempts_in_flight))
    lines.append(f"Route hops:    {s.hops}")
    lines.append(f"Skipped:       {s.skipped}")
    lines.append(f"Duplicates:    {s.duplicate_payments} payments, {s.duplicate_entries} entries")
    if s.normalisations:
        lines.append("Normalisations:")
        for k, v in sorted(s.normalisations.items()):
            lines.append(f"  {k:<40} {v}")
    lines.append(f"Validation:    {'OK' if report.ok else 'FAILED'}: {report.payments_checked} payments and "
                 f"{report.duplicates_checked} duplicates compared field by field; "
                 f"{report.differences_total or len(report.differences)} differences")
    if report.error:
        lines.append(f"               {report.error}")
    for d in report.differences[:20]:
        lines.append(f"  {d.payment[:16]}  {d.path}: kv={d.kv!r} sql={d.sql!r}")
    total = report.differences_total or len(report.differences)
    if total > 20:
        lines.append(f"  ... {total - 20} more (the report file lists up to {len(report.differences)})")
    return "\n".join(lines) + "\n"


def next_steps(commit: Any) -> list[str]:
    """What the node runner does after the commit (a CommitResult); one source for the CLI and the wizard."""
    steps: list[str] = []
    if commit.lnd_tracker_recorded:
        steps += [
            "lnd's migration_tracker now records version 14 (kv_payments_migration): lnd will not run "
            "its own payments migration again.",
            "Start lnd with the same db.backend and db.use-native-sql=true; it opens the SQL payments store.",
            "Check history: lncli listpayments should list your payments.",
        ]
    else:
        steps += [
            "This target is a standalone copy in lnd's schema: lnd's own bookkeeping was not touched, "
            "so lnd does not pick these rows up by itself.",
            "Use it to audit or rehearse; `migwizard verify` re-checks it any time.",
        ]
    if commit.imported_from:
        steps.append(f"The tombstone is in the LMDB copy ({commit.kv_path}); {commit.imported_from} itself is "
                     "unchanged. To migrate into lnd's own database, import it again into a new directory.")
    elif not commit.lnd_tracker_recorded:
        steps.append("This KV store is now tombstoned: to migrate the same history into lnd's own database, "
                     "start again from your backup of the store.")
    steps.append("Keep the backup of data/ until you are happy.")
    return steps
