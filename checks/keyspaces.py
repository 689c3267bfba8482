"""Keyspaces: every key of every namespace fits its keyspace — pattern, placeholders, value schema, TTL, limits.

The checks (pytest functions) only; the scan is ``checks/resources/keyspace.py``, the rules are the
engine's (``kvstack/keyspace/``), the keyspaces themselves the project's ``keyspaces/*.yaml``.
"""

from __future__ import annotations

from checks.resources import KeyspaceResource
from kvstack.keyspace import Finding

# Findings shown in one failure message; the JSON report holds them all.
SHOWN = 20


def _where_in_value(finding: Finding) -> str:
    if finding.kind != "invalid-value":
        return ""
    return f" [JSON pointer {finding.pointer}]" if finding.pointer else " [the whole value]"


def test_namespace_holds_only_what_its_keyspace_allows(keyspace: KeyspaceResource) -> None:
    scan = keyspace.scan
    if not scan.findings:
        return
    counts = ", ".join(f"{count} {kind}" for kind, count in sorted(scan.counts_by_kind().items()))
    lines = [f"{f}{_where_in_value(f)}" for f in scan.findings[:SHOWN]]
    more = f"\n  … and {len(scan.findings) - SHOWN} more" if len(scan.findings) > SHOWN else ""
    raise AssertionError(
        f"namespace {keyspace.title} ({keyspace.namespace_id}) of {keyspace.label}, keyspace "
        f"{keyspace.keyspace.file}: expected every key to fit it; found {counts} "
        f"(scanned {scan.keys} keys, read {scan.values_read} values):\n  " + "\n  ".join(lines) + more
    )
