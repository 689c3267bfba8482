"""What an audit finds, as data: a kind, a severity, the subject it is about and the words.

Severities, lowest first: ``info`` (worth knowing), ``warning`` (someone should look), ``error``
(something is broken or about to be). ``--fail-on`` picks the lowest severity that fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["FINDING_SEVERITY", "SEVERITIES", "AuditFinding", "Severity", "at_or_above"]

Severity = Literal["info", "warning", "error"]
SEVERITIES: Final[tuple[Severity, ...]] = ("info", "warning", "error")

# Each kind has one severity, so the same account always gives the same exit code.
FINDING_SEVERITY: Final[dict[str, Severity]] = {
    "missing": "error",
    "retitled": "error",
    "dangling-binding": "error",
    "token-expired": "error",
    "token-rejected": "error",
    "keyspace-violation": "error",
    "token-expiring": "warning",
    "adoptable": "warning",
    "orphan-twin": "warning",
    "undeclared-script-binding": "warning",
    "unknown-keys": "warning",
    "undeclared-prefix": "warning",
    "unexplained-operations": "warning",
    "free-tier-forecast": "warning",
    "stack-unaudited": "warning",
    "foreign": "info",
    "managed-elsewhere": "info",
    "empty": "info",
    "token-unverified": "info",
}


@dataclass(frozen=True)
class AuditFinding:
    """One thing the audit found. ``subject`` names what it is about (a namespace title, a file, a token)."""

    kind: str
    subject: str
    message: str
    namespace_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return FINDING_SEVERITY[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "subject": self.subject,
            "namespace_id": self.namespace_id,
            "message": self.message,
            "details": self.details,
        }


def at_or_above(findings: list[AuditFinding], threshold: Severity) -> list[AuditFinding]:
    """The findings whose severity is ``threshold`` or higher."""
    floor = SEVERITIES.index(threshold)
    return [f for f in findings if SEVERITIES.index(f.severity) >= floor]
