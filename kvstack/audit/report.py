"""The audit report as JSON data (kvstack/schemas/audit-report.schema.json), validated before it is written.

The report never holds a token value: tokens appear by key, id and name only.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from kvstack import __version__
from kvstack.audit.findings import SEVERITIES, Severity, at_or_above
from kvstack.audit.importfile import AdoptionPlan
from kvstack.audit.run import AuditResult
from kvstack.files import atomic_write
from kvstack.schemas import describe_error, validator

__all__ = ["REPORT_SCHEMA", "build_report", "exit_code", "write_json"]

REPORT_SCHEMA: Final = "audit-report"


def exit_code(result: AuditResult, fail_on: Severity) -> int:
    """1 when a finding is at or above ``fail_on``, else 0."""
    return 1 if at_or_above(result.findings, fail_on) else 0


def _moment(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_report(result: AuditResult, plan: AdoptionPlan, fail_on: Severity) -> dict[str, Any]:
    """The whole report; raises AssertionError-free ValueError if it breaks its own schema (a kvstack bug)."""
    target = result.target
    options = target.options
    by_class = Counter(r.classification for r in result.namespaces)
    by_severity = Counter(f.severity for f in result.findings)
    usage = result.usage
    namespaces = []
    for record in result.namespaces:
        entry = record.to_json()
        stats = result.statistics.get(record.id or "")
        entry["statistics"] = stats.to_json() if stats else None
        entry["operations"] = usage.totals(record.id) if usage and record.id else None
        namespaces.append(entry)
    report: dict[str, Any] = {
        "schema_version": 1,
        "kvstack_version": __version__,
        "target": target.kind,
        "account_id": target.account_id,
        "stacks": list(target.audited),
        "started_at": _moment(result.started),
        "finished_at": _moment(result.finished),
        "duration_seconds": round(max(0.0, result.finished - result.started), 3),
        "exit_code": exit_code(result, fail_on),
        "options": {
            "sample": None if options.deep else options.sample,
            "deep": options.deep,
            "days": options.days,
            "expiry_days": options.expiry_days,
            "fail_on": fail_on,
        },
        "summary": {
            "namespaces": sum(1 for r in result.namespaces if r.classification != "missing"),
            "by_classification": dict(sorted(by_class.items())),
            "findings": {s: by_severity.get(s, 0) for s in SEVERITIES},
            "keys": sum(s.keys for s in result.statistics.values()),
            "values_read": sum(s.values_read for s in result.statistics.values()),
            "forecast": [fc.sentence() for fc in usage.forecasts.values()] if usage else [],
            "projected_monthly_cost_usd": round(usage.monthly_cost_usd, 4) if usage else None,
        },
        "namespaces": namespaces,
        "findings": [f.to_json() for f in result.findings],
        "usage": usage.to_json() if usage else None,
        "adoption": {
            "import_file": plan.document,
            "catalog_lines": plan.catalog_lines,
            "notes": list(plan.notes),
        },
        "spent": dict(result.budget),
    }
    if result.stores:
        report["stores"] = [entry.to_json() for entry in result.stores]
    errors = sorted(validator(REPORT_SCHEMA).iter_errors(report), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        where = "/".join(map(str, errors[0].absolute_path)) or "(top level)"
        raise ValueError(f"the audit report breaks {REPORT_SCHEMA}.schema.json at {where}: {describe_error(errors[0])}")
    return report


def write_json(path: Path, report: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(report, indent=2) + "\n", mode=0o644)
