"""The results of a run, gathered as checks finish, and the JSON report (kvstack/schemas/check-report.schema.json).

The report says what was checked (each check: kind, app, resource, outcome, message), how much of
what the catalog declares was covered (declared / checked / skipped / missing per kind), every skip
with its reason, what every keyspace scan saw, what the run spent against Cloudflare's budgets, and
whether smoke data remains. It never holds a token value or a flow secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import kvstack
from checks.context import CheckContext
from kvstack.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from kvstack.keyspace import ScanReport
from kvstack.schemas import validator

__all__ = ["CheckResult", "Outcome", "RunResults", "ScanEntry", "build_report", "write_report"]

Outcome = Literal["passed", "failed", "error", "skipped"]
REPORT_SCHEMA_VERSION: Final = 1
# Findings per namespace kept in the report; the counts by kind always cover all of them.
MAX_FINDINGS: Final = 1000


@dataclass
class CheckResult:
    nodeid: str
    name: str
    kind: str
    app: str | None
    resource: str
    outcome: Outcome = "passed"
    message: str | None = None
    # A KvstackError (configuration, API access) rather than a verdict about the resource.
    environment_error: bool = False
    warnings: list[str] = field(default_factory=list)
    duration: float = 0.0
    # The declared resource it ran over (``token[audit]``), for coverage; True when the outputs lack it.
    resource_key: str | None = None
    missing: bool = False


@dataclass(frozen=True)
class ScanEntry:
    app: str
    binding: str
    preview: bool
    title: str
    keyspace: str
    report: ScanReport


@dataclass
class RunResults:
    """Everything the plugin learns during a run; the CLI reads it for its progress and summary."""

    results: dict[str, CheckResult] = field(default_factory=dict)
    scans: list[ScanEntry] = field(default_factory=list)
    collection_errors: list[str] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # nodeid -> CheckWarnings, until merged
    smoke_written: int = 0
    smoke_remaining: list[str] = field(default_factory=list)
    smoke_errors: list[str] = field(default_factory=list)
    # Smoke data of this run found in a key that is not a smoke key (a shared log, say): never cleaned by us.
    residue: list[str] = field(default_factory=list)
    # check kind -> every resource the catalog declares for it (see checks.plugin.resource_key)
    declared: dict[str, set[str]] = field(default_factory=dict)
    resource_keys: dict[str, str] = field(default_factory=dict)  # nodeid -> resource key
    finished: float | None = None

    def ordered(self) -> list[CheckResult]:
        return list(self.results.values())

    def counts(self, results: Iterable[CheckResult] | None = None) -> dict[str, int]:
        counts = {"total": 0, "passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for result in self.ordered() if results is None else results:
            counts["total"] += 1
            counts[result.outcome] += 1
        return counts

    def by_app_and_kind(self) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str], list[CheckResult]] = {}
        for result in self.ordered():
            groups.setdefault((result.app or "(account)", result.kind), []).append(result)
        return [{"app": app, "kind": kind, **self.counts(rs)} for (app, kind), rs in groups.items()]

    def skips(self, allowed: Collection[str] = ()) -> list[dict[str, Any]]:
        """Every skipped check with its reason, and whether its kind was allowed to skip."""
        return [
            {
                "id": r.nodeid,
                "kind": r.kind,
                "app": r.app,
                "resource": r.resource,
                "reason": r.message or "",
                "allowed": r.kind in allowed,
            }
            for r in self.ordered()
            if r.outcome == "skipped"
        ]

    def coverage(self) -> list[dict[str, Any]]:
        """Per check kind: resources declared, checked (every check reached a verdict), skipped, missing, not run.

        A resource counts once per kind whatever the number of checks over it; ``not_run`` are those a
        selection (``-k``) left out.
        """
        by_key: dict[str, list[CheckResult]] = {}
        for result in self.ordered():
            if result.resource_key is not None:
                by_key.setdefault(f"{result.kind}/{result.resource_key}", []).append(result)
        rows = []
        for kind, keys in self.declared.items():
            counts = {"declared": len(keys), "checked": 0, "skipped": 0, "missing": 0, "not_run": 0}
            for key in keys:
                results = by_key.get(f"{kind}/{key}", [])
                if any(r.missing for r in results):
                    counts["missing"] += 1
                elif any(r.outcome == "skipped" for r in results):
                    counts["skipped"] += 1
                elif results:
                    counts["checked"] += 1
                else:
                    counts["not_run"] += 1
            rows.append({"kind": kind, **counts})
        return rows

    def exit_code(self, allowed_skips: Collection[str] = ()) -> int:
        """0 all passed; 2 a check could not run for a configuration or API-access reason; 1 otherwise failed.

        A skipped check fails the run unless its kind is in ``allowed_skips``: what was not checked never passes.
        """
        results = self.ordered()
        if self.collection_errors or any(r.environment_error for r in results):
            return EXIT_CONFIG
        if any(r.outcome in ("failed", "error") for r in results) or self.smoke_remaining or self.smoke_errors:
            return EXIT_FAILED
        if self.residue or any(not skip["allowed"] for skip in self.skips(allowed_skips)):
            return EXIT_FAILED
        return EXIT_OK


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _scan(entry: ScanEntry) -> dict[str, Any]:
    scan = entry.report
    return {
        "app": entry.app,
        "binding": entry.binding,
        "preview": entry.preview,
        "namespace_id": scan.namespace_id,
        "title": entry.title,
        "keyspace": entry.keyspace,
        "keys": scan.keys,
        "unknown_keys": scan.unknown,
        "values_read": scan.values_read,
        "vanished": scan.vanished,
        "smoke_keys": len(scan.smoke_keys),
        "patterns": {
            name: {"keys": stats.keys, "values_read": stats.values_read, "smoke": stats.smoke}
            for name, stats in scan.patterns.items()
        },
        "findings_by_kind": scan.counts_by_kind(),
        "findings": [
            {"kind": f.kind, "key": f.key, "pattern": f.pattern, "message": f.message, "pointer": f.pointer}
            for f in scan.findings[:MAX_FINDINGS]
        ],
        "findings_truncated": len(scan.findings) > MAX_FINDINGS,
    }


def build_report(context: CheckContext, results: RunResults, *, keyword: str | None = None) -> dict[str, Any]:
    """The JSON report of a run; valid against kvstack/schemas/check-report.schema.json."""
    options = context.options
    finished = results.finished or time.time()
    counts = results.counts()
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "kvstack_version": kvstack.__version__,
        "stack": context.catalog.stack,
        "environment": context.catalog.environment,
        "account_id": context.outputs.account_id,
        "target": context.target,
        "started_at": _iso(context.started),
        "finished_at": _iso(finished),
        "duration_seconds": round(finished - context.started, 3),
        "exit_code": results.exit_code(options.allow_skip),
        "options": {
            "apps": list(options.apps),
            "only": list(options.only),
            "sample": None if options.deep else options.sample,
            "deep": options.deep,
            "expiry_days": options.expiry_days,
            "consistency_window_seconds": options.consistency_window,
            "keyword": keyword,
            "allow_skip": list(options.allow_skip),
        },
        "summary": {
            "total": counts["total"],
            "passed": counts["passed"],
            "failed": counts["failed"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
        },
        "by_app_and_kind": [
            {
                "app": group["app"],
                "kind": group["kind"],
                "passed": group["passed"],
                "failed": group["failed"],
                "errors": group["error"],
                "skipped": group["skipped"],
            }
            for group in results.by_app_and_kind()
        ],
        "coverage": results.coverage(),
        "skips": results.skips(options.allow_skip),
        "collection_errors": list(results.collection_errors),
        "checks": [
            {
                "id": r.nodeid,
                "name": r.name,
                "kind": r.kind,
                "app": r.app,
                "resource": r.resource,
                "outcome": r.outcome,
                "message": r.message,
                "warnings": list(r.warnings),
                "duration_seconds": round(r.duration, 3),
            }
            for r in results.ordered()
        ],
        "keyspaces": [_scan(entry) for entry in results.scans],
        "spent": context.api.budget.snapshot(),
        "smoke": {
            "run_id": context.run_id,
            "keys_written": results.smoke_written,
            "remaining": list(results.smoke_remaining),
            "cleanup_errors": list(results.smoke_errors),
            "residue": list(results.residue),
        },
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Validate ``report`` against its schema (a bug if it fails) and write it as JSON."""
    validator("check-report").validate(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
