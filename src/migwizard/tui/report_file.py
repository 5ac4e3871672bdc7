"""The saved validation report, and how the wizard reads it back.

Format (JSON, UTF-8, one object) — the headless CLI writes the same thing::

    {
      "kind": "migwizard-report",          # required, exactly this string
      "version": 1,                         # required, this loader reads 1
      ...every key of ValidationReport.to_json():
      "run_id", "ok", "payments_checked", "duplicates_checked", "count_kv",
      "count_sql", "differences": [FieldDiff...], "payments": [PaymentRow...],
      "tables": [TableSummary...], "stats": MigrationStats, "seconds", "error",
      "details": {                          # optional; payments with differences
        "<hex identifier>": {               # = dataclasses.asdict(PaymentDetail)
          "identifier", "kv", "sql", "differences": [FieldDiff...],
          "normalisations": [str...]
        }
      },
      "source": "...", "target": "...",   # optional, informational only (target redacted)
      "imported_from": "...", "created": "2025-01-01T00:00:00Z"
    }

Secrets inside ``details`` are always the masked form (``show_secrets=False``).
Unknown keys are ignored so newer writers stay readable. A detail the writer could
not load (``{"identifier", "error"}``, as the headless CLI writes it) loads as a
PaymentDetail with ``kv_error``. The file is written atomically with mode 0600.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Mapping

from migwizard.core.engine.results import (
    FieldDiff,
    MigrationStats,
    PaymentDetail,
    PaymentRow,
    TableSummary,
    ValidationReport,
)

KIND = "migwizard-report"
VERSION = 1


class ReportFileError(ValueError):
    """The file is not a readable migwizard report."""


def _build(cls, data: Mapping[str, Any]):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def report_to_json(report: ValidationReport, details: Mapping[str, PaymentDetail] | None = None,
                   **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": KIND, "version": VERSION}
    doc.update(report.to_json())
    doc["details"] = {k: asdict(v) for k, v in (details or {}).items()}
    doc.update({k: v for k, v in extra.items() if v is not None})
    return doc


META_KEYS = ("source", "target", "imported_from", "created")


def save_report(path: str | Path, report: ValidationReport, details: Mapping[str, PaymentDetail] | None = None,
                **extra: Any) -> Path:
    """Write the report atomically with mode 0600 (it names payments and amounts).

    Pass ``target`` already redacted; a URL with a password is redacted here anyway.
    """
    from .app import ensure_private_dir, redact_url

    path = Path(path)
    ensure_private_dir(path.parent)
    if extra.get("target"):
        extra["target"] = redact_url(str(extra["target"]))
    text = json.dumps(report_to_json(report, details, **extra), indent=2, default=str) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def report_from_json(doc: Mapping[str, Any]) -> tuple[ValidationReport, dict[str, PaymentDetail]]:
    if not isinstance(doc, Mapping) or doc.get("kind") != KIND:
        raise ReportFileError("not a migwizard report (missing \"kind\": \"migwizard-report\")")
    if doc.get("version") != VERSION:
        raise ReportFileError(f"unsupported report version {doc.get('version')!r} (this migwizard reads {VERSION})")
    try:
        data = dict(doc)
        data["differences"] = [_build(FieldDiff, d) for d in doc.get("differences", [])]
        data["payments"] = [_build(PaymentRow, p) for p in doc.get("payments", [])]
        data["tables"] = [_build(TableSummary, t) for t in doc.get("tables", [])]
        data["stats"] = _build(MigrationStats, doc.get("stats") or {})
        report = _build(ValidationReport, data)
        details = {}
        for key, d in (doc.get("details") or {}).items():
            d = dict(d)
            if "error" in d and "kv" not in d:  # the writer could not load this payment
                details[key] = PaymentDetail(d.get("identifier", key), None, None, [], [], kv_error=str(d["error"]))
                continue
            d["differences"] = [_build(FieldDiff, x) for x in d.get("differences", [])]
            details[key] = _build(PaymentDetail, d)
    except TypeError as exc:  # a required field is missing
        raise ReportFileError(f"report is incomplete: {exc}") from exc
    return report, details


def _read(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportFileError(f"cannot read {path}: {exc}") from exc


def load_report(path: str | Path) -> tuple[ValidationReport, dict[str, PaymentDetail]]:
    return report_from_json(_read(path))


def load_report_with_meta(path: str | Path) -> tuple[ValidationReport, dict[str, PaymentDetail], dict[str, str]]:
    """Like :func:`load_report`, plus the informational keys (source, target, created…) if stored."""
    doc = _read(path)
    report, details = report_from_json(doc)
    meta = {k: str(doc[k]) for k in META_KEYS if doc.get(k)}
    return report, details, meta
